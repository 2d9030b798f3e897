// Kernel evaluation (the Gram matrix's storage is gram_cache.hpp).
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
#include <vector>

#include "common.hpp"

namespace floral {

enum KernelType : int { KERNEL_LINEAR = 0, KERNEL_RBF = 1, KERNEL_POLY = 2, KERNEL_SIGMOID = 3 };

// The kernels' names, indexed by KernelType: the bindings build floral._core.KERNELS from
// them, and a test checks that list against the Python layer's table (floral/_kernels.py).
constexpr int N_KERNELS = 4;
inline const char* kernel_name(int type) {
    static const char* const names[N_KERNELS] = {"linear", "rbf", "poly", "sigmoid"};
    return type >= 0 && type < N_KERNELS ? names[type] : "";
}

struct KernelSpec {
    int type = KERNEL_RBF;
    double gamma = 1.0;
    double coef0 = 0.0;
    int degree = 3;
};

// Below this many features a scalar loop over a feature-major copy (vectorised across the
// columns) beats BLAS call overhead; above it, blocks of rows go through dgemm.
constexpr index_t GEMM_MIN_FEATURES = 32;
// The Gram storage computes entries by dgemm only in tiles of exactly GEMM_ROW_BLOCK rows
// (zero rows pad a short group) by the GEMM_COL_TILE columns that start at a multiple of
// GEMM_COL_TILE (fewer in the last tile). BLAS rounds an entry differently depending on the
// call's shape (OpenBLAS 0.3.30 does: a row computed alone differs in the last bits from the
// same row computed among 64, at d = 768), and fixed shapes are what make the packed
// triangle and the row cache hold the same float32 values. Where the entry sits inside a
// tile of one fixed shape did not change it in any measurement (d = 32 ... 768).
constexpr index_t GEMM_ROW_BLOCK = 64;
constexpr index_t GEMM_COL_TILE = 256;
// Columns per task of the scalar path (values do not depend on the split).
constexpr index_t SCALAR_COL_CHUNK = 4096;

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
    const double* norms() const { return norms_.data(); }

    double sqnorm(const double* x) const {
        double s = 0.0;
        for (index_t k = 0; k < d_; ++k) s += x[k] * x[k];
        return s;
    }

    // Scalar path: out[j] = K(a, b_j) for j < ncols. `buf` needs ncols doubles.
    void row(const double* a, index_t ncols, double* out) const { row_range(a, 0, ncols, out); }

    // Scalar path: out[j - j0] = K(a, b_j) for j0 <= j < j1. Each entry is summed over the
    // features in the same order whatever the range, so any split gives the same values.
    void row_range(const double* a, index_t j0, index_t j1, double* out) const {
        FLORAL_ASSERT(!use_gemm_ && 0 <= j0 && j0 <= j1 && j1 <= n_b_);
        const index_t len = j1 - j0;
        std::fill(out, out + len, 0.0);
        if (spec_.type == KERNEL_RBF) {
            for (index_t k = 0; k < d_; ++k) {
                const double ak = a[k];
                const double* col = BT_.data() + k * n_b_ + j0;
                for (index_t j = 0; j < len; ++j) {
                    const double diff = ak - col[j];
                    out[j] += diff * diff;
                }
            }
        } else {
            for (index_t k = 0; k < d_; ++k) {
                const double ak = a[k];
                const double* col = BT_.data() + k * n_b_ + j0;
                for (index_t j = 0; j < len; ++j) out[j] += ak * col[j];
            }
        }
        transform(out, len);
    }

    // GEMM path: out (m x ncols, leading dimension ld) = K(A_r, b_j) for the m rows of A
    // (row-major, d columns) whose squared norms are a_norms.
    void rows_gemm(const double* A, index_t m, const double* a_norms, index_t ncols, double* out,
                   index_t ld) const {
        gemm_block(A, m, a_norms, 0, ncols, out, ld);
    }

    // GEMM path, the Gram storage's one call shape: out (GEMM_ROW_BLOCK x w, leading
    // dimension ld) = K(A_r, b_j) for c0 <= j < c0 + w, A holding GEMM_ROW_BLOCK rows.
    void tile_gemm(const double* A, const double* a_norms, index_t c0, index_t w, double* out,
                   index_t ld) const {
        FLORAL_ASSERT(c0 % GEMM_COL_TILE == 0 && w == std::min(GEMM_COL_TILE, n_b_ - c0));
        gemm_block(A, GEMM_ROW_BLOCK, a_norms, c0, w, out, ld);
    }

  private:
    void gemm_block(const double* A, index_t m, const double* a_norms, index_t c0, index_t w,
                    double* out, index_t ld) const {
        FLORAL_ASSERT(use_gemm_ && c0 >= 0 && c0 + w <= n_b_);
        // Row-major out = A B^T is column-major out^T = B A^T: transa='T' on B (d x w
        // column-major), transb='N' on A (d x m column-major).
        char ta = 'T', tb = 'N';
        int M = static_cast<int>(w), N = static_cast<int>(m), K = static_cast<int>(d_);
        int lda = static_cast<int>(d_), ldb = static_cast<int>(d_), ldc = static_cast<int>(ld);
        double alpha = 1.0, beta = 0.0;
        gemm_(&ta, &tb, &M, &N, &K, &alpha, const_cast<double*>(B_ + c0 * d_), &lda,
              const_cast<double*>(A), &ldb, &beta, out, &ldc);
        for (index_t r = 0; r < m; ++r) {
            double* o = out + r * ld;
            if (spec_.type == KERNEL_RBF) {
                const double an = a_norms[r];
                const double* bn = norms_.data() + c0;
                for (index_t j = 0; j < w; ++j) o[j] = std::max(an + bn[j] - 2.0 * o[j], 0.0);
            }
            transform(o, w);
        }
    }

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

}  // namespace floral
