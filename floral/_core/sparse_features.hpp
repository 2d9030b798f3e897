// The linear kernel in feature space on CSR features (TF-IDF and other sparse inputs):
// features.hpp's operator with X and Xt stored as compressed sparse rows.
//
// For training rows X (n x d, nnz(X) stored values) and target rows Xt (m x d):
//   matvec:       out = Xt (X^T c)                  O(nnz(X) + nnz(Xt) + d * n / 1024)
//   add_columns:  f  += Xt (X[cols]^T delta)        O(nnz(X[cols]) + nnz(Xt) + d)
// w = X^T c is kept as in features.hpp; no dense n x d array is ever formed.
//
// Same values, same numbers: every sum is the one BasicFeatureOperator<T> computes on the
// dense matrix with those values, in the same order, with the zero terms left out (adding
// a product with a zero factor leaves a finite sum unchanged, fused or not). So a CSR
// matrix and its dense twin give bitwise the same f, w and hence the same fitted model:
//   - <Xt_i, v>: the stored entries of row i in column order, entry (i, k) into lane
//     k mod 8, the lanes added pairwise (row_dots's order);
//   - X^T c: blocks of FEATURE_ROW_BLOCK coefficients, the nonzero ones in groups of
//     eight rows, each group's contribution to feature k the same tree of eight products
//     as block_sum (absent entries are zeros in a d x 8 scratch that is reset after use),
//     then the last few rows one at a time; the block partials added in block order.
// The functions are dispatched like their dense twins (FLORAL_DISPATCH, common.hpp), so
// both run the same SIMD target's version and a build with FMA fuses both alike (with
// load-time clones the CSR dots ran the FMA version while a pinned baseline target ran
// the dense dots without: intercepts 1 ulp apart). Column indices must be sorted and unique within each row
// (scipy's canonical format; the Cython layer ensures it).
#pragma once

#include <algorithm>
#include <cstring>
#include <vector>

#include "common.hpp"
#include "features.hpp"
#include "floral_loop.hpp"

namespace floral {

// A CSR matrix as three arrays (scipy's data, indices, indptr); I is the index type.
template <typename T, typename I>
struct CsrView {
    const T* data;
    const I* indices;
    const I* indptr;
    index_t rows;
};

// out[i] (+)= <A_i, v> for rows i0 <= i < i1 of the CSR matrix A (row_dots's order).
template <typename T, typename I>
FLORAL_HOT_BODY void csr_row_dots_body(CsrView<T, I> A, index_t i0, index_t i1,
                                       const double* v, double* out, bool accumulate) {
    for (index_t i = i0; i < i1; ++i) {
        double s[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
        const index_t p1 = static_cast<index_t>(A.indptr[i + 1]);
        for (index_t p = static_cast<index_t>(A.indptr[i]); p < p1; ++p) {
            const index_t k = static_cast<index_t>(A.indices[p]);
            s[k & 7] += static_cast<double>(A.data[p]) * v[k];
        }
        const double t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
        out[i] = accumulate ? out[i] + t : t;
    }
}
FLORAL_DISPATCH_T_I(csr_row_dots,
                    (CsrView<T, I> A, index_t i0, index_t i1, const double* v, double* out,
                     bool accumulate),
                    (A, i0, i1, v, out, accumulate))

// Scratch of one thread for csr_block_sum: the features a group of eight rows touches, in
// order of first touch (touched[q]; pos[k] = q, -1 when untouched), their values
// (vals[8 q + slot], zero where a row lacks the feature), and the nonzero coefficients of
// a block. Compact, so the scatter stays in cache: pos is 4 bytes per feature where a
// d x 8 table would be 64.
struct CsrScratch {
    std::vector<double> vals;
    std::vector<std::int32_t> pos;
    std::vector<index_t> touched, idx;
    bool empty() const { return pos.empty(); }
    void reserve(index_t d, index_t max_row_nnz) {
        const size_t cap = static_cast<size_t>(std::min<index_t>(d, 8 * max_row_nnz));
        vals.assign(8 * std::max<size_t>(cap, 1), 0.0);
        pos.assign(static_cast<size_t>(d), -1);
        touched.resize(std::max<size_t>(cap, 1));
        idx.resize(static_cast<size_t>(FEATURE_ROW_BLOCK));
    }
};

// part = sum over r in [r0, r1) of coef[r] X[row(r)] as block_sum sums it (see the header).
template <typename T, typename I>
FLORAL_HOT_BODY void csr_block_sum_body(CsrView<T, I> X, index_t d, const index_t* rows,
                                        const double* coef, index_t r0, index_t r1,
                                        CsrScratch& sc, double* part) {
    index_t m = 0;
    index_t* idx = sc.idx.data();
    for (index_t r = r0; r < r1; ++r)
        if (coef[r] != 0.0) idx[m++] = r;
    std::fill(part, part + d, 0.0);
    auto row = [&](index_t r) { return rows != nullptr ? rows[r] : r; };
    double* vals = sc.vals.data();
    std::int32_t* pos = sc.pos.data();
    index_t* touched = sc.touched.data();
    index_t g = 0;
    for (; g + 8 <= m; g += 8) {
        std::int32_t nt = 0;
        for (int s = 0; s < 8; ++s) {
            const index_t i = row(idx[g + s]);
            const index_t p1 = static_cast<index_t>(X.indptr[i + 1]);
            for (index_t p = static_cast<index_t>(X.indptr[i]); p < p1; ++p) {
                const index_t k = static_cast<index_t>(X.indices[p]);
                std::int32_t q = pos[k];
                if (q < 0) {
                    q = nt++;
                    pos[k] = q;
                    touched[q] = k;
                    std::fill(vals + 8 * q, vals + 8 * q + 8, 0.0);
                }
                vals[8 * q + s] = static_cast<double>(X.data[p]);
            }
        }
        const double c0 = coef[idx[g]], c1 = coef[idx[g + 1]], c2 = coef[idx[g + 2]],
                     c3 = coef[idx[g + 3]], c4 = coef[idx[g + 4]], c5 = coef[idx[g + 5]],
                     c6 = coef[idx[g + 6]], c7 = coef[idx[g + 7]];
        for (std::int32_t q = 0; q < nt; ++q) {
            const double* t = vals + 8 * q;
            const index_t k = touched[q];
            part[k] += ((c0 * t[0] + c1 * t[1]) + (c2 * t[2] + c3 * t[3])) +
                       ((c4 * t[4] + c5 * t[5]) + (c6 * t[6] + c7 * t[7]));
            pos[k] = -1;
        }
    }
    for (; g < m; ++g) {
        const index_t i = row(idx[g]);
        const double c = coef[idx[g]];
        const index_t p1 = static_cast<index_t>(X.indptr[i + 1]);
        for (index_t p = static_cast<index_t>(X.indptr[i]); p < p1; ++p)
            part[X.indices[p]] += c * static_cast<double>(X.data[p]);
    }
}
FLORAL_DISPATCH_T_I(csr_block_sum,
                    (CsrView<T, I> X, index_t d, const index_t* rows, const double* coef,
                     index_t r0, index_t r1, CsrScratch& sc, double* part),
                    (X, d, rows, coef, r0, r1, sc, part))

template <typename T, typename I>
class BasicCsrFeatureOperator {
  public:
    BasicCsrFeatureOperator(const T* data, const I* indices, const I* indptr, index_t n,
                            index_t d, const T* t_data, const I* t_indices, const I* t_indptr,
                            index_t m, int n_threads)
        : X_{data, indices, indptr, n}, Xt_{t_data, t_indices, t_indptr, m}, n_(n), m_(m),
          d_(d), n_threads_(resolve_threads(n_threads)) {
        w_.assign(static_cast<size_t>(d), 0.0);
        dw_.assign(static_cast<size_t>(d), 0.0);
        scratch_.resize(static_cast<size_t>(n_threads_));
        for (index_t i = 0; i < n; ++i)
            max_row_nnz_ = std::max<index_t>(max_row_nnz_,
                                             static_cast<index_t>(indptr[i + 1] - indptr[i]));
        scratch_[0].reserve(d, max_row_nnz_);  // the others on the first parallel sum
        nnz_t_ = static_cast<index_t>(t_indptr[m]);
    }

    index_t n() const { return n_; }
    index_t m() const { return m_; }
    index_t d() const { return d_; }
    const double* w() const { return w_.data(); }

    void matvec(const double* c, double* out) {
        if (src_ != nullptr && src_->last_is(nullptr, c, n_)) {
            std::copy(src_->w_.begin(), src_->w_.end(), w_.begin());
        } else {
            weighted_sum(nullptr, c, n_, w_.data());
            remember(nullptr, c, n_);
        }
        apply(w_.data(), out, false);
    }

    void add_columns(const index_t* cols, const double* delta, index_t k, double* f) {
        if (k == 0) return;
        if (src_ != nullptr && src_->last_is(cols, delta, k)) {
            std::copy(src_->dw_.begin(), src_->dw_.end(), dw_.begin());
        } else {
            weighted_sum(cols, delta, k, dw_.data());
            remember(cols, delta, k);
        }
        for (index_t j = 0; j < d_; ++j) w_[static_cast<size_t>(j)] += dw_[static_cast<size_t>(j)];
        apply(dw_.data(), f, true);
    }

    // The validation side: run_floral updates it with the same coefficients as the
    // training side, and X^T over them -- the costly half of a product -- does not depend
    // on the target rows. Given the training operator (same X) as source, a product whose
    // inputs equal the source's last ones (compared value by value) takes its w or dw.
    void share_from(BasicCsrFeatureOperator* src) {
        src_ = src;
        src->remember_inputs_ = true;
    }

    bool prefer_dense(index_t, double) const { return false; }

  private:
    // The inputs of the last X^T product, kept only when another operator shares it.
    void remember(const index_t* cols, const double* coef, index_t k) {
        if (!remember_inputs_) return;
        last_dense_ = cols == nullptr;
        if (cols != nullptr) last_cols_.assign(cols, cols + k);
        else last_cols_.clear();
        last_coef_.assign(coef, coef + k);
        has_last_ = true;
    }

    bool last_is(const index_t* cols, const double* coef, index_t k) const {
        if (!has_last_ || last_dense_ != (cols == nullptr) ||
            last_coef_.size() != static_cast<size_t>(k))
            return false;
        if (cols != nullptr && !std::equal(cols, cols + k, last_cols_.begin())) return false;
        // bitwise: +0.0 and -0.0 count as different, so equal inputs give equal sums
        return std::memcmp(coef, last_coef_.data(), static_cast<size_t>(k) * sizeof(double)) == 0;
    }

    void apply(const double* v, double* out, bool accumulate) {
        const index_t m = m_, nchunks = (m + FEATURE_ROW_BLOCK - 1) / FEATURE_ROW_BLOCK;
        const CsrView<T, I> A = Xt_;
#pragma omp parallel for schedule(static) num_threads(n_threads_) if (nnz_t_ + m >= PARALLEL_MIN_WORK)
        for (index_t ch = 0; ch < nchunks; ++ch) {
            const index_t i0 = ch * FEATURE_ROW_BLOCK;
            csr_row_dots(A, i0, std::min(m, i0 + FEATURE_ROW_BLOCK), v, out, accumulate);
        }
    }

    // features.hpp's weighted_sum with csr_block_sum; the same blocks and the same
    // order of the partials. The parallel test counts stored values, not n x d.
    void weighted_sum(const index_t* rows, const double* coef, index_t count, double* out) {
        const index_t d = d_, nb = (count + FEATURE_ROW_BLOCK - 1) / FEATURE_ROW_BLOCK;
        if (nb == 0) {
            std::fill(out, out + d, 0.0);
            return;
        }
        if (parts_.size() < static_cast<size_t>(nb * d)) parts_.resize(static_cast<size_t>(nb * d));
        const index_t nnz = static_cast<index_t>(X_.indptr[n_]);
        const double work = static_cast<double>(nnz) * static_cast<double>(count) /
                            static_cast<double>(std::max<index_t>(n_, 1));
        const bool par = work + static_cast<double>(nb * d) >= PARALLEL_MIN_WORK && nb > 1;
        const int nt = par ? static_cast<int>(std::min<index_t>(n_threads_, nb)) : 1;
        for (int t = 0; t < nt; ++t)
            if (scratch_[static_cast<size_t>(t)].empty())
                scratch_[static_cast<size_t>(t)].reserve(d, max_row_nnz_);
        double* parts = parts_.data();
        const CsrView<T, I> X = X_;
#pragma omp parallel num_threads(nt) if (par)
        {
            CsrScratch& sc = scratch_[static_cast<size_t>(par ? thread_num() : 0)];
#pragma omp for schedule(static)
            for (index_t b = 0; b < nb; ++b) {
                const index_t r0 = b * FEATURE_ROW_BLOCK, r1 = std::min(count, r0 + FEATURE_ROW_BLOCK);
                csr_block_sum(X, d, rows, coef, r0, r1, sc, parts + b * d);
            }
        }
        sum_block_parts(parts, nb, d, out, n_threads_);
    }

    CsrView<T, I> X_, Xt_;
    index_t n_, m_, d_, nnz_t_ = 0, max_row_nnz_ = 0;
    int n_threads_;
    std::vector<double> w_, dw_, parts_;
    std::vector<CsrScratch> scratch_;
    BasicCsrFeatureOperator* src_ = nullptr;
    bool remember_inputs_ = false, has_last_ = false, last_dense_ = false;
    std::vector<index_t> last_cols_;
    std::vector<double> last_coef_;
};

// Entry points for the Cython layer (floral_loop.hpp's run_floral and lambda_max on the
// CSR operator; the validation side maps the training rows to the validation rows).
template <typename T, typename I>
inline void run_floral_csr(BasicCsrFeatureOperator<T, I>& op,
                           BasicCsrFeatureOperator<T, I>* eval, const std::int32_t* y_eval,
                           const std::int32_t* y, index_t n_classes, const double* C,
                           const double* lam0, const index_t* class_cap, const LoopParams& p,
                           round_callback cb, void* ctx, LoopResult& res) {
    run_floral(op, Evaluation<BasicCsrFeatureOperator<T, I>>(eval, y_eval), y, n_classes, C,
               lam0, class_cap, p, cb, ctx, res);
}

template <typename T, typename I>
inline double csr_lambda_max(BasicCsrFeatureOperator<T, I>& op, index_t max_iter, double rtol,
                             index_t* iterations, const double* scale = nullptr) {
    return lambda_max(op, max_iter, rtol, iterations, scale);
}

}  // namespace floral
