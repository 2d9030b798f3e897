// Kernel evaluation and the Gram-row cache.
//
// Kernels use scikit-learn's formulas and parameter names:
//   linear  <x, z>
//   rbf     exp(-gamma ||x - z||^2)
//   poly    (gamma <x, z> + coef0)^degree
//   sigmoid tanh(gamma <x, z> + coef0)
// Values are accumulated in float64 and stored in float32 (half the memory traffic of the
// round loop, which is bandwidth-bound); all arithmetic on them is float64.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <new>
#include <vector>

#include "common.hpp"

namespace floral {

enum KernelType : int { KERNEL_LINEAR = 0, KERNEL_RBF = 1, KERNEL_POLY = 2, KERNEL_SIGMOID = 3 };

struct KernelSpec {
    int type = KERNEL_RBF;
    double gamma = 1.0;
    double coef0 = 0.0;
    int degree = 3;
};

// Below this many features a scalar loop over a feature-major copy (vectorised across the
// columns) beats BLAS call overhead; above it, blocks of rows go through dgemm.
constexpr index_t GEMM_MIN_FEATURES = 32;
// Rows per dgemm block: 64 x n doubles per thread stays in L2/L3 for moderate n.
constexpr index_t GEMM_ROW_BLOCK = 64;

inline double int_pow(double base, int exp) {
    double result = 1.0;
    while (exp > 0) {
        if (exp & 1) result *= base;
        base *= base;
        exp >>= 1;
    }
    return result;
}

// Evaluates K(a, b_j) for a set of "column" points B (n_b x d, row-major). Single-threaded:
// callers parallelise over the rows they ask for.
class KernelBlock {
  public:
    KernelBlock(const double* B, index_t n_b, index_t d, KernelSpec spec, dgemm_fn gemm)
        : B_(B), n_b_(n_b), d_(d), spec_(spec), gemm_(gemm) {
        use_gemm_ = gemm_ != nullptr && d_ >= GEMM_MIN_FEATURES;
        norms_.resize(static_cast<size_t>(n_b_));
        for (index_t j = 0; j < n_b_; ++j) norms_[static_cast<size_t>(j)] = sqnorm(B_ + j * d_);
        if (!use_gemm_) {
            // feature-major copy so the inner loop runs over contiguous columns
            BT_.resize(static_cast<size_t>(n_b_ * d_));
            for (index_t j = 0; j < n_b_; ++j)
                for (index_t k = 0; k < d_; ++k) BT_[static_cast<size_t>(k * n_b_ + j)] = B_[j * d_ + k];
        }
    }

    bool uses_gemm() const { return use_gemm_; }
    index_t n_cols() const { return n_b_; }
    const double* norms() const { return norms_.data(); }

    double sqnorm(const double* x) const {
        double s = 0.0;
        for (index_t k = 0; k < d_; ++k) s += x[k] * x[k];
        return s;
    }

    // Scalar path: out[j] = K(a, b_j) for j < ncols. `buf` needs ncols doubles.
    void row(const double* a, index_t ncols, double* out) const {
        FLORAL_ASSERT(!use_gemm_ && ncols <= n_b_);
        std::fill(out, out + ncols, 0.0);
        if (spec_.type == KERNEL_RBF) {
            for (index_t k = 0; k < d_; ++k) {
                const double ak = a[k];
                const double* col = BT_.data() + k * n_b_;
                for (index_t j = 0; j < ncols; ++j) {
                    const double diff = ak - col[j];
                    out[j] += diff * diff;
                }
            }
        } else {
            for (index_t k = 0; k < d_; ++k) {
                const double ak = a[k];
                const double* col = BT_.data() + k * n_b_;
                for (index_t j = 0; j < ncols; ++j) out[j] += ak * col[j];
            }
        }
        transform(out, ncols);
    }

    // GEMM path: out (m x ncols, leading dimension ld) = K(A_r, b_j) for the m rows of A
    // (row-major, d columns) whose squared norms are a_norms.
    void rows_gemm(const double* A, index_t m, const double* a_norms, index_t ncols, double* out,
                   index_t ld) const {
        FLORAL_ASSERT(use_gemm_ && ncols <= n_b_);
        // Row-major out = A B^T is column-major out^T = B A^T: transa='T' on B (d x ncols
        // column-major), transb='N' on A (d x m column-major).
        char ta = 'T', tb = 'N';
        int M = static_cast<int>(ncols), N = static_cast<int>(m), K = static_cast<int>(d_);
        int lda = static_cast<int>(d_), ldb = static_cast<int>(d_), ldc = static_cast<int>(ld);
        double alpha = 1.0, beta = 0.0;
        gemm_(&ta, &tb, &M, &N, &K, &alpha, const_cast<double*>(B_), &lda, const_cast<double*>(A),
              &ldb, &beta, out, &ldc);
        for (index_t r = 0; r < m; ++r) {
            double* o = out + r * ld;
            if (spec_.type == KERNEL_RBF) {
                const double an = a_norms[r];
                for (index_t j = 0; j < ncols; ++j)
                    o[j] = std::max(an + norms_[static_cast<size_t>(j)] - 2.0 * o[j], 0.0);
            }
            transform(o, ncols);
        }
    }

  private:
    // Turns squared distances (rbf) or inner products (others) into kernel values in place.
    void transform(double* v, index_t ncols) const {
        switch (spec_.type) {
            case KERNEL_RBF:
                for (index_t j = 0; j < ncols; ++j) v[j] = std::exp(-spec_.gamma * v[j]);
                break;
            case KERNEL_POLY:
                for (index_t j = 0; j < ncols; ++j)
                    v[j] = int_pow(spec_.gamma * v[j] + spec_.coef0, spec_.degree);
                break;
            case KERNEL_SIGMOID:
                for (index_t j = 0; j < ncols; ++j) v[j] = std::tanh(spec_.gamma * v[j] + spec_.coef0);
                break;
            default:
                break;
        }
    }

    const double* B_;
    index_t n_b_, d_;
    KernelSpec spec_;
    dgemm_fn gemm_;
    bool use_gemm_ = false;
    std::vector<double> norms_;
    std::vector<double> BT_;
};

struct CacheStats {
    index_t hits = 0;
    index_t misses = 0;
    index_t rows_computed = 0;
};

// Kernel rows K[i, :] of the training set under a byte budget.
//
// If n*n float32 values fit the budget the matrix is materialised once, computing only the
// lower triangle and mirroring it. Otherwise rows live in an LRU cache of `capacity` rows
// (the LIBSVM design): a fetch of a batch pins nothing explicitly but never evicts a row of
// the same batch, because hits are moved to the front before any eviction from the back.
class GramCache {
  public:
    GramCache(const double* X, index_t n, index_t d, KernelSpec spec, double budget_bytes,
              int n_threads, dgemm_fn gemm)
        : X_(X), n_(n), d_(d), spec_(spec), kb_(X, n, d, spec, gemm),
          n_threads_(resolve_threads(n_threads)) {
        const double row_bytes = 4.0 * static_cast<double>(n_);
        const double full_bytes = row_bytes * static_cast<double>(n_);
        if (full_bytes <= budget_bytes) {
            materialised_ = true;
            capacity_ = n_;
            data_.resize(static_cast<size_t>(n_ * n_));
            materialise();
        } else {
            index_t cap = static_cast<index_t>(budget_bytes / row_bytes);
            capacity_ = std::max<index_t>(2, std::min(cap, n_));
            data_.resize(static_cast<size_t>(capacity_ * n_));
            slot_of_.assign(static_cast<size_t>(n_), -1);
            row_of_.assign(static_cast<size_t>(capacity_), -1);
            prev_.assign(static_cast<size_t>(capacity_), -1);
            next_.assign(static_cast<size_t>(capacity_), -1);
        }
    }

    index_t n() const { return n_; }
    bool materialised() const { return materialised_; }
    index_t capacity() const { return capacity_; }
    const CacheStats& stats() const { return stats_; }
    const float* full() const { return materialised_ ? data_.data() : nullptr; }
    const KernelBlock& kernel() const { return kb_; }
    int n_threads() const { return n_threads_; }

    // Makes rows[0..count) resident and writes their addresses to out. count <= capacity().
    void fetch(const index_t* rows, index_t count, const float** out) {
        FLORAL_ASSERT(count <= capacity_);
        if (materialised_) {
            for (index_t r = 0; r < count; ++r) {
                FLORAL_ASSERT(rows[r] >= 0 && rows[r] < n_);
                out[r] = data_.data() + rows[r] * n_;
            }
            stats_.hits += count;
            return;
        }
        missing_.clear();
        missing_slots_.clear();
        for (index_t r = 0; r < count; ++r) {
            const index_t i = rows[r];
            FLORAL_ASSERT(i >= 0 && i < n_);
            if (slot_of_[static_cast<size_t>(i)] >= 0) {
                ++stats_.hits;
                touch(slot_of_[static_cast<size_t>(i)]);
            }
        }
        for (index_t r = 0; r < count; ++r) {
            const index_t i = rows[r];
            if (slot_of_[static_cast<size_t>(i)] >= 0) continue;  // hit, or repeated in batch
            ++stats_.misses;
            const index_t s = take_slot();
            slot_of_[static_cast<size_t>(i)] = s;
            row_of_[static_cast<size_t>(s)] = i;
            push_front(s);
            missing_.push_back(i);
            missing_slots_.push_back(s);
        }
        compute_rows(missing_.data(), static_cast<index_t>(missing_.size()), missing_slots_.data());
        for (index_t r = 0; r < count; ++r)
            out[r] = data_.data() + slot_of_[static_cast<size_t>(rows[r])] * n_;
    }

  private:
    // Lower triangle (j <= i) of every row, in parallel, then mirrored in tiles.
    void materialise() {
        float* K = data_.data();
        const index_t n = n_;
        if (kb_.uses_gemm()) {
            const index_t nblocks = (n + GEMM_ROW_BLOCK - 1) / GEMM_ROW_BLOCK;
            // per-thread scratch allocated here: an exception inside a parallel region
            // would terminate the process instead of surfacing as MemoryError
            std::vector<double> scratch(static_cast<size_t>(n_threads_ * GEMM_ROW_BLOCK * n));
#pragma omp parallel num_threads(n_threads_) if (n * n >= PARALLEL_MIN_WORK)
            {
                double* buf = scratch.data() + static_cast<size_t>(thread_num()) * GEMM_ROW_BLOCK * n;
#pragma omp for schedule(dynamic, 1)
                for (index_t blk = 0; blk < nblocks; ++blk) {
                    const index_t r0 = blk * GEMM_ROW_BLOCK;
                    const index_t m = std::min(GEMM_ROW_BLOCK, n - r0);
                    const index_t ncols = r0 + m;
                    kb_.rows_gemm(X_ + r0 * d_, m, kb_.norms() + r0, ncols, buf, ncols);
                    for (index_t r = 0; r < m; ++r) {
                        const index_t i = r0 + r;
                        const double* src = buf + r * ncols;
                        float* dst = K + i * n;
                        for (index_t j = 0; j <= i; ++j) dst[j] = static_cast<float>(src[j]);
                        if (spec_.type == KERNEL_RBF) dst[i] = 1.0f;  // exact, unlike n_i+n_i-2<x,x>
                    }
                }
            }
        } else {
            std::vector<double> scratch(static_cast<size_t>(n_threads_ * n));
#pragma omp parallel num_threads(n_threads_) if (n * n >= PARALLEL_MIN_WORK)
            {
                double* buf = scratch.data() + static_cast<size_t>(thread_num()) * n;
#pragma omp for schedule(dynamic, 16)
                for (index_t i = 0; i < n; ++i) {
                    kb_.row(X_ + i * d_, i + 1, buf);
                    float* dst = K + i * n;
                    for (index_t j = 0; j <= i; ++j) dst[j] = static_cast<float>(buf[j]);
                }
            }
        }
        constexpr index_t T = 64;
        const index_t nt = (n + T - 1) / T;
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads_) if (n * n >= PARALLEL_MIN_WORK)
        for (index_t bi = 0; bi < nt; ++bi) {
            for (index_t bj = bi; bj < nt; ++bj) {
                // copy K[j][i] (j > i, lower) into K[i][j] (upper) for tile rows bi, cols bj
                const index_t i0 = bi * T, i1 = std::min(n, i0 + T);
                const index_t j0 = bj * T, j1 = std::min(n, j0 + T);
                for (index_t i = i0; i < i1; ++i)
                    for (index_t j = std::max(j0, i + 1); j < j1; ++j) K[i * n + j] = K[j * n + i];
            }
        }
        stats_.rows_computed += n;
    }

    // Full rows for the given rows into the given slots, in parallel.
    void compute_rows(const index_t* rows, index_t count, const index_t* slots) {
        if (count == 0) return;
        float* base = data_.data();
        const index_t n = n_;
        if (kb_.uses_gemm()) {
            const index_t nblocks = (count + GEMM_ROW_BLOCK - 1) / GEMM_ROW_BLOCK;
            const int nt = static_cast<int>(std::min<index_t>(n_threads_, nblocks));
            const size_t per = static_cast<size_t>(GEMM_ROW_BLOCK * (d_ + 1 + n));
            std::vector<double> scratch(static_cast<size_t>(nt) * per);
#pragma omp parallel num_threads(nt) if (count * n * d_ >= PARALLEL_MIN_WORK)
            {
                double* a = scratch.data() + static_cast<size_t>(thread_num()) * per;
                double* an = a + GEMM_ROW_BLOCK * d_;
                double* buf = an + GEMM_ROW_BLOCK;
#pragma omp for schedule(dynamic, 1)
                for (index_t blk = 0; blk < nblocks; ++blk) {
                    const index_t r0 = blk * GEMM_ROW_BLOCK;
                    const index_t m = std::min(GEMM_ROW_BLOCK, count - r0);
                    for (index_t r = 0; r < m; ++r) {
                        const index_t i = rows[r0 + r];
                        std::copy(X_ + i * d_, X_ + (i + 1) * d_, a + r * d_);
                        an[r] = kb_.norms()[i];
                    }
                    kb_.rows_gemm(a, m, an, n, buf, n);
                    for (index_t r = 0; r < m; ++r) {
                        const index_t i = rows[r0 + r];
                        float* dst = base + slots[r0 + r] * n;
                        const double* src = buf + r * n;
                        for (index_t j = 0; j < n; ++j) dst[j] = static_cast<float>(src[j]);
                        if (spec_.type == KERNEL_RBF) dst[i] = 1.0f;
                    }
                }
            }
        } else {
            const int nt = static_cast<int>(std::min<index_t>(n_threads_, count));
            std::vector<double> scratch(static_cast<size_t>(nt) * static_cast<size_t>(n));
#pragma omp parallel num_threads(nt) if (count * n * d_ >= PARALLEL_MIN_WORK)
            {
                double* buf = scratch.data() + static_cast<size_t>(thread_num()) * n;
#pragma omp for schedule(dynamic, 4)
                for (index_t r = 0; r < count; ++r) {
                    kb_.row(X_ + rows[r] * d_, n, buf);
                    float* dst = base + slots[r] * n;
                    for (index_t j = 0; j < n; ++j) dst[j] = static_cast<float>(buf[j]);
                }
            }
        }
        stats_.rows_computed += count;
    }

    // LRU list over slots: head_ = most recently used.
    void unlink(index_t s) {
        const index_t p = prev_[static_cast<size_t>(s)], q = next_[static_cast<size_t>(s)];
        if (p >= 0) next_[static_cast<size_t>(p)] = q; else head_ = q;
        if (q >= 0) prev_[static_cast<size_t>(q)] = p; else tail_ = p;
        prev_[static_cast<size_t>(s)] = next_[static_cast<size_t>(s)] = -1;
    }
    void push_front(index_t s) {
        prev_[static_cast<size_t>(s)] = -1;
        next_[static_cast<size_t>(s)] = head_;
        if (head_ >= 0) prev_[static_cast<size_t>(head_)] = s;
        head_ = s;
        if (tail_ < 0) tail_ = s;
    }
    void touch(index_t s) {
        if (head_ == s) return;
        unlink(s);
        push_front(s);
    }
    index_t take_slot() {
        if (used_ < capacity_) return used_++;
        const index_t s = tail_;
        FLORAL_ASSERT(s >= 0);
        unlink(s);
        slot_of_[static_cast<size_t>(row_of_[static_cast<size_t>(s)])] = -1;
        row_of_[static_cast<size_t>(s)] = -1;
        return s;
    }

    const double* X_;
    index_t n_, d_;
    KernelSpec spec_;
    KernelBlock kb_;
    int n_threads_;
    bool materialised_ = false;
    index_t capacity_ = 0;
    std::vector<float> data_;
    CacheStats stats_;
    // LRU bookkeeping (unused when materialised)
    std::vector<index_t> slot_of_, row_of_, prev_, next_;
    index_t head_ = -1, tail_ = -1, used_ = 0;
    std::vector<index_t> missing_, missing_slots_;
};

}  // namespace floral
