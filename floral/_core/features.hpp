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
// rows (each block's rows into four interleaved accumulators, then (a0 + a1) + (a2 + a3)),
// the blocks' partials added in block order; each <Xt_i, v> is one thread's loop. So results
// are bitwise identical for any thread count. Everything is float64.
#pragma once

#include <algorithm>
#include <vector>

#include "common.hpp"

namespace floral {

constexpr index_t FEATURE_ROW_BLOCK = 1024;
// Features per task when the block partials are added up.
constexpr index_t FEATURE_CHUNK = 256;

// out[i] = <A_i, v> (accumulate: out[i] += <A_i, v>) for rows i0 <= i < i1 of A
// (row-major, d columns).
FLORAL_HOT inline void row_dots(const double* A, index_t i0, index_t i1, index_t d,
                                const double* v, double* out, bool accumulate) {
    for (index_t i = i0; i < i1; ++i) {
        const double* a = A + i * d;
        double s = 0.0;
        FLORAL_SIMD_REDUCTION(s)
        for (index_t k = 0; k < d; ++k) s += a[k] * v[k];
        out[i] = accumulate ? out[i] + s : s;
    }
}

// part = sum over r in [r0, r1) of coef[r] X[row(r)] into four accumulators by r mod 4,
// then (a0 + a1) + (a2 + a3). Rows with a zero coefficient are skipped. acc: 4 d doubles.
FLORAL_HOT inline void block_sum(const double* X, index_t d, const index_t* rows,
                                 const double* coef, index_t r0, index_t r1, double* acc,
                                 double* part) {
    std::fill(acc, acc + 4 * d, 0.0);
    for (index_t r = r0; r < r1; ++r) {
        const double cr = coef[r];
        if (cr == 0.0) continue;
        const double* x = X + (rows != nullptr ? rows[r] : r) * d;
        double* a = acc + ((r - r0) & 3) * d;
        for (index_t k = 0; k < d; ++k) a[k] += cr * x[k];
    }
    const double *a0 = acc, *a1 = acc + d, *a2 = acc + 2 * d, *a3 = acc + 3 * d;
    for (index_t k = 0; k < d; ++k) part[k] = (a0[k] + a1[k]) + (a2[k] + a3[k]);
}

class FeatureOperator {
  public:
    FeatureOperator(const double* X, index_t n, index_t d, const double* Xt, index_t m,
                    int n_threads)
        : X_(X), Xt_(Xt), n_(n), m_(m), d_(d), n_threads_(resolve_threads(n_threads)) {
        w_.assign(static_cast<size_t>(d), 0.0);
        dw_.assign(static_cast<size_t>(d), 0.0);
        const index_t nb = (n + FEATURE_ROW_BLOCK - 1) / FEATURE_ROW_BLOCK;
        parts_.resize(static_cast<size_t>(std::max<index_t>(nb, 1) * d));
        acc_.resize(static_cast<size_t>(n_threads_ * 4 * d));
    }

    index_t n() const { return n_; }  // training points: entries of c
    index_t m() const { return m_; }  // target points: entries of out and f
    index_t d() const { return d_; }
    const double* w() const { return w_.data(); }

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
            double* acc = acc_.data() + static_cast<size_t>(par ? thread_num() : 0) * 4 * d;
#pragma omp for schedule(static)
            for (index_t b = 0; b < nb; ++b) {
                const index_t r0 = b * FEATURE_ROW_BLOCK, r1 = std::min(count, r0 + FEATURE_ROW_BLOCK);
                block_sum(X_, d, rows, coef, r0, r1, acc, parts + b * d);
            }
        }
        const index_t nchunks = (d + FEATURE_CHUNK - 1) / FEATURE_CHUNK;
#pragma omp parallel for schedule(static) num_threads(n_threads_) if (nb * d >= PARALLEL_MIN_WORK)
        for (index_t ch = 0; ch < nchunks; ++ch) {
            const index_t k0 = ch * FEATURE_CHUNK, k1 = std::min(d, k0 + FEATURE_CHUNK);
            for (index_t k = k0; k < k1; ++k) out[k] = parts[k];
            for (index_t b = 1; b < nb; ++b) {
                const double* p = parts + b * d;
                for (index_t k = k0; k < k1; ++k) out[k] += p[k];
            }
        }
    }

    const double* X_;
    const double* Xt_;
    index_t n_, m_, d_;
    int n_threads_;
    std::vector<double> w_, dw_, parts_, acc_;
};

}  // namespace floral
