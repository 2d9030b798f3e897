// Decision values at validation points, kept by the round loop like the training ones.
//
// CrossKernel is an operator in the sense of operator.hpp from the n training points to m
// validation points: matvec gives out = K(Xv, X) c and add_columns gives
// f += K(Xv, X[cols]) delta. Row j of the stored matrix is K(x_j, Xv) (n x m, float32,
// like the Gram rows), so a changed coefficient costs one contiguous pass over m floats.
// When the n x m matrix does not fit its budget the rows of the changed coefficients are
// computed on the fly instead (O(|J| m d) per update).
#pragma once

#include <algorithm>
#include <vector>

#include "kernel.hpp"
#include "matvec.hpp"

namespace floral {

// fc[0:len) += sum_r d[r] * rows[r][a:a+len) like axpy_rows, but each group of eight
// products is summed in float and only the group's sum is added in double: twice the
// SIMD width of the float->double path. The validation values only decide signs
// (accuracy, round selection); a group's float rounding (~1e-7 of a coefficient change)
// is far below any margin that matters, and each refresh recomputes them.
FLORAL_HOT_BODY void axpy_rows_f32_body(const float* const* rows, const double* d, index_t m,
                                        index_t a, index_t len, double* fc) {
    index_t r = 0;
    for (; r + 8 <= m; r += 8) {
        const float *r0 = rows[r] + a, *r1 = rows[r + 1] + a, *r2 = rows[r + 2] + a,
                    *r3 = rows[r + 3] + a, *r4 = rows[r + 4] + a, *r5 = rows[r + 5] + a,
                    *r6 = rows[r + 6] + a, *r7 = rows[r + 7] + a;
        const float d0 = static_cast<float>(d[r]), d1 = static_cast<float>(d[r + 1]),
                    d2 = static_cast<float>(d[r + 2]), d3 = static_cast<float>(d[r + 3]),
                    d4 = static_cast<float>(d[r + 4]), d5 = static_cast<float>(d[r + 5]),
                    d6 = static_cast<float>(d[r + 6]), d7 = static_cast<float>(d[r + 7]);
        for (index_t i = 0; i < len; ++i)
            fc[i] += static_cast<double>(((d0 * r0[i] + d1 * r1[i]) + (d2 * r2[i] + d3 * r3[i])) +
                                         ((d4 * r4[i] + d5 * r5[i]) + (d6 * r6[i] + d7 * r7[i])));
    }
    for (; r < m; ++r) {
        const float* r0 = rows[r] + a;
        const double d0 = d[r];
        for (index_t i = 0; i < len; ++i) fc[i] += d0 * static_cast<double>(r0[i]);
    }
}
FLORAL_DISPATCH(axpy_rows_f32,
                (const float* const* rows, const double* d, index_t m, index_t a, index_t len,
                 double* fc),
                (rows, d, m, a, len, fc))

class CrossKernel {
  public:
    CrossKernel(const double* X, index_t n, const double* Xv, index_t m, index_t d,
                KernelSpec spec, bool store, int n_threads, dgemm_fn gemm)
        : X_(X), n_(n), m_(m), d_(d), kb_(Xv, m, d, spec, gemm),
          n_threads_(resolve_threads(n_threads)), max_threads_(n_threads_) {
        if (store) {
            data_.resize(static_cast<size_t>(n_ * m_));
            std::vector<index_t> all(static_cast<size_t>(n_));
            for (index_t j = 0; j < n_; ++j) all[static_cast<size_t>(j)] = j;
            compute(all.data(), n_, data_.data());
            stored_ = true;
        }
    }

    index_t n() const { return n_; }
    index_t m() const { return m_; }
    bool stored() const { return stored_; }
    // The loop's thread governor lowers the count between calls (never above the count the
    // object was built with, which sized its per-thread buffers); results do not depend on it.
    int max_threads() const { return max_threads_; }
    void set_threads(int t) { n_threads_ = t < 1 ? 1 : (t > max_threads_ ? max_threads_ : t); }

    void matvec(const double* c, double* out) {
        cols_.clear();
        coef_.clear();
        for (index_t j = 0; j < n_; ++j) {
            if (c[j] != 0.0) {  // coefficients of non-support vectors add nothing
                cols_.push_back(j);
                coef_.push_back(c[j]);
            }
        }
        std::fill(out, out + m_, 0.0);
        accumulate(cols_.data(), coef_.data(), static_cast<index_t>(cols_.size()), out);
    }

    void add_columns(const index_t* cols, const double* delta, index_t k, double* f) {
        accumulate(cols, delta, k, f);
    }

    bool prefer_dense(index_t, double) const { return false; }

  private:
    // f += sum_r delta_r K(x_cols[r], Xv), in blocks of rows; each element of f receives
    // the rows in the order given (axpy_rows), whatever the thread count.
    void accumulate(const index_t* cols, const double* delta, index_t k, double* f) {
        if (k == 0) return;
        const index_t block = stored_ ? k : std::max<index_t>(1, ROW_BLOCK);
        for (index_t r0 = 0; r0 < k; r0 += block) {
            const index_t bm = std::min(block, k - r0);
            ptrs_.resize(static_cast<size_t>(bm));
            if (stored_) {
                for (index_t r = 0; r < bm; ++r)
                    ptrs_[static_cast<size_t>(r)] = data_.data() + cols[r0 + r] * m_;
            } else {
                scratch_.resize(static_cast<size_t>(bm * m_));
                compute(cols + r0, bm, scratch_.data());
                for (index_t r = 0; r < bm; ++r)
                    ptrs_[static_cast<size_t>(r)] = scratch_.data() + r * m_;
            }
            const index_t nchunks = (m_ + AXPY_CHUNK - 1) / AXPY_CHUNK;
            const float* const* rows = ptrs_.data();
            const double* dl = delta + r0;
#pragma omp parallel for schedule(static) num_threads(n_threads_) if (bm * m_ >= PARALLEL_MIN_WORK)
            for (index_t ch = 0; ch < nchunks; ++ch) {
                const index_t a = ch * AXPY_CHUNK, e = std::min(m_, a + AXPY_CHUNK);
                axpy_rows_f32(rows, dl, bm, a, e - a, f + a);
            }
        }
    }

    // out[r, :] = K(x_rows[r], Xv) as float32, rows in parallel.
    void compute(const index_t* rows, index_t count, float* out) {
        const index_t m = m_, d = d_;
        if (kb_.uses_gemm()) {
            const index_t nblocks = (count + GEMM_ROW_BLOCK - 1) / GEMM_ROW_BLOCK;
            const int nt = static_cast<int>(std::min<index_t>(n_threads_, nblocks));
            const size_t per = static_cast<size_t>(GEMM_ROW_BLOCK * (d + 1 + m));
            std::vector<double> scratch(static_cast<size_t>(nt) * per);
#pragma omp parallel num_threads(nt) if (count * m * d >= PARALLEL_MIN_WORK)
            {
                double* a = scratch.data() + static_cast<size_t>(thread_num()) * per;
                double* an = a + GEMM_ROW_BLOCK * d;
                double* buf = an + GEMM_ROW_BLOCK;
#pragma omp for schedule(dynamic, 1)
                for (index_t blk = 0; blk < nblocks; ++blk) {
                    const index_t r0 = blk * GEMM_ROW_BLOCK;
                    const index_t bm = std::min(GEMM_ROW_BLOCK, count - r0);
                    for (index_t r = 0; r < bm; ++r) {
                        const double* x = X_ + rows[r0 + r] * d;
                        std::copy(x, x + d, a + r * d);
                        an[r] = kb_.sqnorm(x);
                    }
                    kb_.rows_gemm(a, bm, an, m, buf, m);
                    for (index_t r = 0; r < bm; ++r) {
                        float* dst = out + (r0 + r) * m;
                        const double* src = buf + r * m;
                        for (index_t j = 0; j < m; ++j) dst[j] = static_cast<float>(src[j]);
                    }
                }
            }
        } else {
            const int nt = static_cast<int>(std::min<index_t>(n_threads_, count));
            std::vector<double> scratch(static_cast<size_t>(nt) * static_cast<size_t>(m));
#pragma omp parallel num_threads(nt) if (count * m * d >= PARALLEL_MIN_WORK)
            {
                double* buf = scratch.data() + static_cast<size_t>(thread_num()) * m;
#pragma omp for schedule(dynamic, 16)
                for (index_t r = 0; r < count; ++r) {
                    kb_.row(X_ + rows[r] * d, m, buf);
                    float* dst = out + r * m;
                    for (index_t j = 0; j < m; ++j) dst[j] = static_cast<float>(buf[j]);
                }
            }
        }
    }

    static constexpr index_t ROW_BLOCK = 256;  // rows computed at once without storage

    const double* X_;
    index_t n_, m_, d_;
    KernelBlock kb_;
    int n_threads_, max_threads_;
    bool stored_ = false;
    std::vector<float> data_, scratch_;
    std::vector<index_t> cols_;
    std::vector<double> coef_;
    std::vector<const float*> ptrs_;
};

}  // namespace floral
