// The linear kernel in feature space: the kernel operator of operator.hpp without any
// n x n storage.
//
// For training features X (n x d) and target points Xt (m x d), K = Xt X^T, so
//   matvec:       out = Xt (X^T c)                         O(nnz(c) d + m d)
//   add_columns:  f  += Xt (X[cols]^T delta)               O(|cols| d + m d)
// The training case is Xt = X (m = n). w = X^T c (d numbers) is kept: matvec sets it from
// scratch and add_columns adds the same X[cols]^T delta it applies to f, so after any
// sequence of calls w = X^T c up to rounding (the round loop's refresh resets both), and a
// decision value is <x, w> + b.
//
// Every sum has an order fixed by the data: X^T c is summed in blocks of FEATURE_ROW_BLOCK
// rows (each block's rows with nonzero coefficients in groups of eight), the blocks'
// partials added in block order; each <Xt_i, v> is one thread's loop. So results
// are bitwise identical for any thread count.
//
// The features are stored as T (double, or float for float32 input: at n = 1,000,000
// Nystroem features a float64 copy of float32 features is 2 GB, and a round is two passes
// over X, so half the bytes is close to half the time). Every product and sum is double,
// a float widens to double exactly, and every sum's order is written out (row_dots), so
// float features give the float64 path's numbers bit for bit for the same values.
#pragma once

#include <algorithm>
#include <vector>

#include "common.hpp"

namespace floral {

constexpr index_t FEATURE_ROW_BLOCK = 1024;
// Features per task when the block partials are added up.
constexpr index_t FEATURE_CHUNK = 256;

// out[k] = sum over b of parts[b * d + k], the block partials of X^T c added in block order
// (b = 0, 1, ...) for every k, so the sum does not depend on the threads or on which
// operator (dense or CSR rows) produced the partials; chunks of FEATURE_CHUNK columns in
// parallel.
inline void sum_block_parts(const double* parts, index_t nb, index_t d, double* out,
                            int n_threads) {
    const index_t nchunks = (d + FEATURE_CHUNK - 1) / FEATURE_CHUNK;
#pragma omp parallel for schedule(static) num_threads(n_threads) if (nb * d >= PARALLEL_MIN_WORK)
    for (index_t ch = 0; ch < nchunks; ++ch) {
        const index_t k0 = ch * FEATURE_CHUNK, k1 = std::min(d, k0 + FEATURE_CHUNK);
        for (index_t k = k0; k < k1; ++k) out[k] = parts[k];
        for (index_t b = 1; b < nb; ++b) {
            const double* p = parts + b * d;
            for (index_t k = k0; k < k1; ++k) out[k] += p[k];
        }
    }
}

// out[i] = <A_i, v> (accumulate: out[i] += <A_i, v>) for rows i0 <= i < i1 of A
// (row-major, d columns).
//
// Each dot product is summed in eight fixed lanes (term k into lane k mod 8, the last
// d mod 8 terms too), then the lanes pairwise: an order written out rather than left to
// the vectoriser, so float and double features give bitwise the same sums (a vectorised
// reduction's order depends on how many values of the type fit a register). Every term
// is a multiply-add into its lane, which an FMA build fuses in both instantiations alike;
// a sequential tail (t += a v) was fused in one and not the other.
template <typename T>
FLORAL_HOT_BODY void row_dots_body(const T* A, index_t i0, index_t i1, index_t d,
                                   const double* v, double* out, bool accumulate) {
    for (index_t i = i0; i < i1; ++i) {
        const T* a = A + i * d;
        double s[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
        index_t k = 0;
        for (; k + 8 <= d; k += 8)
            for (int l = 0; l < 8; ++l) s[l] += static_cast<double>(a[k + l]) * v[k + l];
        for (index_t l = 0; k + l < d; ++l) s[l] += static_cast<double>(a[k + l]) * v[k + l];
        const double t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
        out[i] = accumulate ? out[i] + t : t;
    }
}
FLORAL_DISPATCH_T(row_dots,
                  (const T* A, index_t i0, index_t i1, index_t d, const double* v, double* out,
                   bool accumulate),
                  (A, i0, i1, d, v, out, accumulate))

// part = sum over r in [r0, r1) of coef[r] X[row(r)], skipping zero coefficients: the
// remaining rows in groups of eight, each group added to part as
// ((c0 x0 + c1 x1) + (c2 x2 + c3 x3)) + ((c4 x4 + c5 x5) + (c6 x6 + c7 x7)), then the last
// few one at a time. One load and store of part per eight rows keeps the loop bound by
// reading X (measured: one accumulator per row ran at half the bandwidth of a dot pass).
// idx: scratch for r1 - r0 indices.
template <typename T>
FLORAL_HOT_BODY void block_sum_body(const T* X, index_t d, const index_t* rows,
                                    const double* coef, index_t r0, index_t r1, index_t* idx,
                                    double* part) {
    index_t m = 0;
    for (index_t r = r0; r < r1; ++r)
        if (coef[r] != 0.0) idx[m++] = r;
    std::fill(part, part + d, 0.0);
    auto row = [&](index_t r) { return X + (rows != nullptr ? rows[r] : r) * d; };
    index_t g = 0;
    for (; g + 8 <= m; g += 8) {
        const T *x0 = row(idx[g]), *x1 = row(idx[g + 1]), *x2 = row(idx[g + 2]),
             *x3 = row(idx[g + 3]), *x4 = row(idx[g + 4]), *x5 = row(idx[g + 5]),
             *x6 = row(idx[g + 6]), *x7 = row(idx[g + 7]);
        const double c0 = coef[idx[g]], c1 = coef[idx[g + 1]], c2 = coef[idx[g + 2]],
                     c3 = coef[idx[g + 3]], c4 = coef[idx[g + 4]], c5 = coef[idx[g + 5]],
                     c6 = coef[idx[g + 6]], c7 = coef[idx[g + 7]];
        for (index_t k = 0; k < d; ++k)
            part[k] += ((c0 * static_cast<double>(x0[k]) + c1 * static_cast<double>(x1[k])) +
                        (c2 * static_cast<double>(x2[k]) + c3 * static_cast<double>(x3[k]))) +
                       ((c4 * static_cast<double>(x4[k]) + c5 * static_cast<double>(x5[k])) +
                        (c6 * static_cast<double>(x6[k]) + c7 * static_cast<double>(x7[k])));
    }
    for (; g < m; ++g) {
        const T* x = row(idx[g]);
        const double c = coef[idx[g]];
        for (index_t k = 0; k < d; ++k) part[k] += c * static_cast<double>(x[k]);
    }
}
FLORAL_DISPATCH_T(block_sum,
                  (const T* X, index_t d, const index_t* rows, const double* coef, index_t r0,
                   index_t r1, index_t* idx, double* part),
                  (X, d, rows, coef, r0, r1, idx, part))

template <typename T>
class BasicFeatureOperator {
  public:
    BasicFeatureOperator(const T* X, index_t n, index_t d, const T* Xt, index_t m,
                         int n_threads)
        : X_(X), Xt_(Xt), n_(n), m_(m), d_(d), n_threads_(resolve_threads(n_threads)),
          max_threads_(n_threads_) {
        w_.assign(static_cast<size_t>(d), 0.0);
        dw_.assign(static_cast<size_t>(d), 0.0);
        const index_t nb = (n + FEATURE_ROW_BLOCK - 1) / FEATURE_ROW_BLOCK;
        parts_.resize(static_cast<size_t>(std::max<index_t>(nb, 1) * d));
        idx_.resize(static_cast<size_t>(n_threads_ * FEATURE_ROW_BLOCK));
    }

    index_t n() const { return n_; }  // training points: entries of c
    index_t m() const { return m_; }  // target points: entries of out and f
    index_t d() const { return d_; }
    const double* w() const { return w_.data(); }
    // The loop's thread governor lowers the count between calls (never above the count the
    // object was built with, which sized its per-thread buffers); results do not depend on it.
    int max_threads() const { return max_threads_; }
    void set_threads(int t) { n_threads_ = t < 1 ? 1 : (t > max_threads_ ? max_threads_ : t); }

    void matvec(const double* c, double* out) {
        weighted_sum(nullptr, c, n_, w_.data());
        apply(w_.data(), out, false);
    }

    void add_columns(const index_t* cols, const double* delta, index_t k, double* f) {
        if (k == 0) return;
        weighted_sum(cols, delta, k, dw_.data());
        for (index_t j = 0; j < d_; ++j) w_[static_cast<size_t>(j)] += dw_[static_cast<size_t>(j)];
        apply(dw_.data(), f, true);
    }

    // An update over any set of columns costs at most what a product from scratch costs
    // (|cols| <= n rows of X against nnz(c); one pass over Xt either way).
    bool prefer_dense(index_t, double) const { return false; }

  private:
    // out (+)= Xt v, rows in fixed chunks.
    void apply(const double* v, double* out, bool accumulate) {
        const index_t m = m_, d = d_, nchunks = (m + FEATURE_ROW_BLOCK - 1) / FEATURE_ROW_BLOCK;
#pragma omp parallel for schedule(static) num_threads(n_threads_) if (m * d >= PARALLEL_MIN_WORK)
        for (index_t ch = 0; ch < nchunks; ++ch) {
            const index_t i0 = ch * FEATURE_ROW_BLOCK;
            row_dots(Xt_, i0, std::min(m, i0 + FEATURE_ROW_BLOCK), d, v, out, accumulate);
        }
    }

    // out = sum_r coef[r] X[rows ? rows[r] : r] over r < count, in fixed blocks.
    void weighted_sum(const index_t* rows, const double* coef, index_t count, double* out) {
        const index_t d = d_, nb = (count + FEATURE_ROW_BLOCK - 1) / FEATURE_ROW_BLOCK;
        if (nb == 0) {
            std::fill(out, out + d, 0.0);
            return;
        }
        if (parts_.size() < static_cast<size_t>(nb * d)) parts_.resize(static_cast<size_t>(nb * d));
        const bool par = count * d >= PARALLEL_MIN_WORK && nb > 1;
        const int nt = par ? static_cast<int>(std::min<index_t>(n_threads_, nb)) : 1;
        double* parts = parts_.data();
#pragma omp parallel num_threads(nt) if (par)
        {
            index_t* idx = idx_.data() + static_cast<size_t>(par ? thread_num() : 0) * FEATURE_ROW_BLOCK;
#pragma omp for schedule(static)
            for (index_t b = 0; b < nb; ++b) {
                const index_t r0 = b * FEATURE_ROW_BLOCK, r1 = std::min(count, r0 + FEATURE_ROW_BLOCK);
                block_sum(X_, d, rows, coef, r0, r1, idx, parts + b * d);
            }
        }
        sum_block_parts(parts, nb, d, out, n_threads_);
    }

    const T* X_;
    const T* Xt_;
    index_t n_, m_, d_;
    int n_threads_, max_threads_;
    std::vector<double> w_, dw_, parts_;
    std::vector<index_t> idx_;
};

using FeatureOperator = BasicFeatureOperator<double>;
using FeatureOperator32 = BasicFeatureOperator<float>;

}  // namespace floral
