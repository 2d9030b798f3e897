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

// Tile edge of the dense symmetric pass: a 256 x 256 float32 tile (256 KiB) stays in L2
// while both of its products are formed.
constexpr index_t SYMV_TILE = 256;
// Chunk of f owned by one thread in the column update (16 KiB of doubles: L1-resident).
constexpr index_t AXPY_CHUNK = 2048;

// out = K c reading only the lower triangle of a materialised K: half the bytes of a
// plain matrix-vector product. Tile (I, J), J < I, contributes K_IJ c_J to rows I and
// K_IJ^T c_I to rows J; each tile writes its own partial vectors and a final pass adds
// them in a fixed order.
class SymmetricMatvec {
  public:
    explicit SymmetricMatvec(index_t n) : n_(n) {
        nb_ = (n + SYMV_TILE - 1) / SYMV_TILE;
        const index_t ntiles = nb_ * (nb_ + 1) / 2;
        row_part_.assign(static_cast<size_t>(ntiles * SYMV_TILE), 0.0);
        col_part_.assign(static_cast<size_t>(ntiles * SYMV_TILE), 0.0);
    }

    void apply(const float* K, const double* c, double* out, int n_threads) {
        const index_t n = n_, nb = nb_, ntiles = nb_ * (nb_ + 1) / 2;
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
        for (index_t t = 0; t < ntiles; ++t) {
            // tile t enumerates (I, J) with J <= I row by row: t = I(I+1)/2 + J
            index_t I = static_cast<index_t>((std::sqrt(8.0 * static_cast<double>(t) + 1.0) - 1.0) / 2.0);
            while (I * (I + 1) / 2 > t) --I;
            while ((I + 1) * (I + 2) / 2 <= t) ++I;
            const index_t J = t - I * (I + 1) / 2;
            tile(K, c, I, J, row_part_.data() + t * SYMV_TILE, col_part_.data() + t * SYMV_TILE, n);
        }
#pragma omp parallel for schedule(static) num_threads(n_threads)
        for (index_t I = 0; I < nb; ++I) {
            const index_t i0 = I * SYMV_TILE, m = std::min(SYMV_TILE, n - i0);
            for (index_t r = 0; r < m; ++r) {
                double s = 0.0;
                for (index_t J = 0; J <= I; ++J) s += row_part_[static_cast<size_t>((I * (I + 1) / 2 + J) * SYMV_TILE + r)];
                for (index_t I2 = I; I2 < nb; ++I2) s += col_part_[static_cast<size_t>((I2 * (I2 + 1) / 2 + I) * SYMV_TILE + r)];
                out[i0 + r] = s;
            }
        }
    }

  private:
    static void tile(const float* K, const double* c, index_t I, index_t J, double* rp, double* cp,
                     index_t n) {
        const index_t i0 = I * SYMV_TILE, i1 = std::min(n, i0 + SYMV_TILE);
        const index_t j0 = J * SYMV_TILE, j1 = std::min(n, j0 + SYMV_TILE);
        std::fill(rp, rp + SYMV_TILE, 0.0);
        std::fill(cp, cp + SYMV_TILE, 0.0);
        const double* cj = c + j0;
        for (index_t i = i0; i < i1; ++i) {
            const float* row = K + i * n + j0;
            // strictly below the diagonal only; the diagonal tile's diagonal is added once
            const index_t jend = (I == J) ? i - j0 : j1 - j0;
            const double ci = c[i];
            double s = 0.0;
            FLORAL_SIMD_REDUCTION(s)
            for (index_t j = 0; j < jend; ++j) {
                const double k = static_cast<double>(row[j]);
                s += k * cj[j];
                cp[j] += k * ci;
            }
            if (I == J) s += static_cast<double>(row[i - j0]) * ci;
            rp[i - i0] = s;
        }
    }

    index_t n_, nb_;
    std::vector<double> row_part_, col_part_;
};

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
#pragma omp parallel for schedule(static) num_threads(nt)
        for (index_t ch = 0; ch < nchunks; ++ch) {
            const index_t a = ch * AXPY_CHUNK, e = std::min(n, a + AXPY_CHUNK);
            double* fc = f + a;
            for (index_t r = 0; r < bm; ++r) {
                const double d = dl[r];
                const float* row = rows[r] + a;
                for (index_t i = 0; i < e - a; ++i) fc[i] += d * static_cast<double>(row[i]);
            }
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
#pragma omp parallel for schedule(static) num_threads(cache.n_threads())
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
