// Products with the Gram matrix held by a GramCache.
//
// Both routines give every output element a summation order that depends only on the
// data, never on the thread count, so results are bitwise reproducible for any n_jobs.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernel.hpp"

namespace floral {

// Rows per block of the dense symmetric pass.
constexpr index_t SYMV_BLOCK = 128;
// Chunk of f owned by one thread in the column update (16 KiB of doubles: L1-resident).
constexpr index_t AXPY_CHUNK = 2048;

// out = K c reading only the lower triangle of a materialised K: half the bytes of a
// plain matrix-vector product, each byte once. Row i's prefix K[i, :i] gives both
// sum_{j<i} K_ij c_j (row i's own sum) and K_ij c_i for every j < i (the upper triangle's
// contribution to row j). Rows are taken in fixed blocks; each block streams its rows'
// prefixes contiguously, four rows at a time, and adds the column contributions into a
// partial vector of its own. A final pass adds the partials in block order, so every
// element's summation order is independent of the thread count.
class SymmetricMatvec {
  public:
    explicit SymmetricMatvec(index_t n) : n_(n) {
        nb_ = (n + SYMV_BLOCK - 1) / SYMV_BLOCK;
        offset_.resize(static_cast<size_t>(nb_ + 1), 0);
        for (index_t b = 0; b < nb_; ++b) offset_[b + 1] = offset_[b] + std::min(n, (b + 1) * SYMV_BLOCK);
        part_.assign(static_cast<size_t>(offset_[nb_]), 0.0);
        rowdot_.assign(static_cast<size_t>(n), 0.0);
    }

    void apply(const float* K, const double* c, double* out, int n_threads) {
        const index_t n = n_, nb = nb_;
        const bool par = n * n / 2 >= PARALLEL_MIN_WORK;
        // last blocks have the longest prefixes: hand them out first
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) if (par)
        for (index_t t = 0; t < nb; ++t) {
            const index_t b = nb - 1 - t;
            const index_t i0 = b * SYMV_BLOCK, i1 = std::min(n, i0 + SYMV_BLOCK);
            block(K, c, i0, i1, n, part_.data() + offset_[b], rowdot_.data());
        }
        const index_t nchunks = (n + AXPY_CHUNK - 1) / AXPY_CHUNK;
#pragma omp parallel for schedule(static) num_threads(n_threads) if (par)
        for (index_t ch = 0; ch < nchunks; ++ch) {
            const index_t a = ch * AXPY_CHUNK, e = std::min(n, a + AXPY_CHUNK);
            for (index_t j = a; j < e; ++j) out[j] = rowdot_[j];
            // column j receives from every block whose rows lie past it
            for (index_t b = a / SYMV_BLOCK; b < nb; ++b) {
                const double* p = part_.data() + offset_[b];
                const index_t len = std::min(e, offset_[b + 1] - offset_[b]);
                for (index_t j = a; j < len; ++j) out[j] += p[j];
            }
        }
    }

  private:
    FLORAL_HOT static void block(const float* K, const double* c, index_t i0, index_t i1,
                                 index_t n, double* part, double* rowdot) {
        std::fill(part, part + i1, 0.0);
        index_t i = i0;
        // Eight rows per pass: eight independent sums, and each column partial is loaded
        // and stored once per eight rows. With fewer rows the pass is compute-bound
        // (measured: 4 rows reach ~2/3 of the bandwidth a plain read pass gets).
        for (; i + 8 <= i1; i += 8) {
            const float* r0 = K + i * n;
            const float *r1 = r0 + n, *r2 = r1 + n, *r3 = r2 + n, *r4 = r3 + n, *r5 = r4 + n,
                        *r6 = r5 + n, *r7 = r6 + n;
            const double c0 = c[i], c1 = c[i + 1], c2 = c[i + 2], c3 = c[i + 3], c4 = c[i + 4],
                         c5 = c[i + 5], c6 = c[i + 6], c7 = c[i + 7];
            double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, s4 = 0.0, s5 = 0.0, s6 = 0.0, s7 = 0.0;
            FLORAL_SIMD_REDUCTION8(s0, s1, s2, s3, s4, s5, s6, s7)
            for (index_t j = 0; j < i0; ++j) {  // columns before the block
                const double k0 = r0[j], k1 = r1[j], k2 = r2[j], k3 = r3[j], k4 = r4[j],
                             k5 = r5[j], k6 = r6[j], k7 = r7[j];
                const double x = c[j];
                s0 += k0 * x;
                s1 += k1 * x;
                s2 += k2 * x;
                s3 += k3 * x;
                s4 += k4 * x;
                s5 += k5 * x;
                s6 += k6 * x;
                s7 += k7 * x;
                part[j] += ((k0 * c0 + k1 * c1) + (k2 * c2 + k3 * c3)) +
                           ((k4 * c4 + k5 * c5) + (k6 * c6 + k7 * c7));
            }
            const double s[8] = {s0, s1, s2, s3, s4, s5, s6, s7};
            for (index_t r = 0; r < 8; ++r)
                rowdot[i + r] = s[r] + triangle(K + (i + r) * n, c, i0, i + r, part);
        }
        for (; i < i1; ++i) {
            const float* r0 = K + i * n;
            const double c0 = c[i];
            double s0 = 0.0;
            FLORAL_SIMD_REDUCTION(s0)
            for (index_t j = 0; j < i0; ++j) {
                const double k0 = r0[j];
                s0 += k0 * c[j];
                part[j] += k0 * c0;
            }
            rowdot[i] = s0 + triangle(r0, c, i0, i, part);
        }
    }

    // Row i's columns inside its own block (j in [i0, i)) plus the diagonal.
    static double triangle(const float* row, const double* c, index_t i0, index_t i, double* part) {
        const double ci = c[i];
        double s = 0.0;
        for (index_t j = i0; j < i; ++j) {
            const double k = static_cast<double>(row[j]);
            s += k * c[j];
            part[j] += k * ci;
        }
        return s + static_cast<double>(row[i]) * ci;
    }

    index_t n_, nb_;
    std::vector<index_t> offset_;
    std::vector<double> part_, rowdot_;
};

// fc[0:len) += sum_r d[r] * rows[r][a:a+len), eight rows per load/store of fc.
FLORAL_HOT inline void axpy_rows(const float* const* rows, const double* d, index_t m, index_t a,
                                 index_t len, double* fc) {
    index_t r = 0;
    for (; r + 8 <= m; r += 8) {
        const float *r0 = rows[r] + a, *r1 = rows[r + 1] + a, *r2 = rows[r + 2] + a,
                    *r3 = rows[r + 3] + a, *r4 = rows[r + 4] + a, *r5 = rows[r + 5] + a,
                    *r6 = rows[r + 6] + a, *r7 = rows[r + 7] + a;
        const double d0 = d[r], d1 = d[r + 1], d2 = d[r + 2], d3 = d[r + 3], d4 = d[r + 4],
                     d5 = d[r + 5], d6 = d[r + 6], d7 = d[r + 7];
        for (index_t i = 0; i < len; ++i)
            fc[i] += ((d0 * static_cast<double>(r0[i]) + d1 * static_cast<double>(r1[i])) +
                      (d2 * static_cast<double>(r2[i]) + d3 * static_cast<double>(r3[i]))) +
                     ((d4 * static_cast<double>(r4[i]) + d5 * static_cast<double>(r5[i])) +
                      (d6 * static_cast<double>(r6[i]) + d7 * static_cast<double>(r7[i])));
    }
    for (; r < m; ++r) {
        const float* r0 = rows[r] + a;
        const double d0 = d[r];
        for (index_t i = 0; i < len; ++i) fc[i] += d0 * static_cast<double>(r0[i]);
    }
}

// f += sum_{j in cols} K[:, j] * delta_j (K symmetric, so column j is row j), fetching rows
// through the cache in batches no larger than its capacity. Threads own disjoint chunks of
// f and add the columns in the order given, so the order per element is fixed.
inline void add_columns(GramCache& cache, const index_t* cols, const double* delta, index_t m,
                        double* f, std::vector<const float*>& ptrs) {
    const index_t n = cache.n();
    const index_t batch = std::max<index_t>(1, cache.capacity());
    const int nt = cache.n_threads();
    for (index_t b0 = 0; b0 < m; b0 += batch) {
        const index_t bm = std::min(batch, m - b0);
        ptrs.resize(static_cast<size_t>(bm));
        cache.fetch(cols + b0, bm, ptrs.data());
        const index_t nchunks = (n + AXPY_CHUNK - 1) / AXPY_CHUNK;
        const double* dl = delta + b0;
        const float* const* rows = ptrs.data();
#pragma omp parallel for schedule(static) num_threads(nt) if (bm * n >= PARALLEL_MIN_WORK)
        for (index_t ch = 0; ch < nchunks; ++ch) {
            const index_t a = ch * AXPY_CHUNK, e = std::min(n, a + AXPY_CHUNK);
            axpy_rows(rows, dl, bm, a, e - a, f + a);
        }
    }
}

// out = K c from scratch: the tile pass when K is materialised, otherwise all rows through
// the cache (each row's dot product in a fixed order).
inline void gram_matvec(GramCache& cache, SymmetricMatvec* symv, const double* c, double* out,
                        std::vector<index_t>& idx, std::vector<const float*>& ptrs) {
    const index_t n = cache.n();
    if (cache.materialised()) {
        symv->apply(cache.full(), c, out, cache.n_threads());
        return;
    }
    const index_t batch = std::max<index_t>(1, cache.capacity());
    idx.resize(static_cast<size_t>(n));
    for (index_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
    for (index_t b0 = 0; b0 < n; b0 += batch) {
        const index_t bm = std::min(batch, n - b0);
        ptrs.resize(static_cast<size_t>(bm));
        cache.fetch(idx.data() + b0, bm, ptrs.data());
        const float* const* rows = ptrs.data();
#pragma omp parallel for schedule(static) num_threads(cache.n_threads()) \
    if (bm * n >= PARALLEL_MIN_WORK)
        for (index_t r = 0; r < bm; ++r) {
            const float* row = rows[r];
            double s = 0.0;
            FLORAL_SIMD_REDUCTION(s)
            for (index_t j = 0; j < n; ++j) s += static_cast<double>(row[j]) * c[j];
            out[b0 + r] = s;
        }
    }
}

}  // namespace floral
