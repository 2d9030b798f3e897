// Products with the Gram matrix held by a GramCache, in either of its storages.
//
// Every output element gets one summation order, fixed by the data alone: not by the thread
// count, the cache size or the storage. The two storages hold the same float32 values
// (gram_cache.hpp) and hand them to the same two out-of-line functions that do all the
// floating-point work -- symv_rows for the symmetric pass, axpy_rows for the column update --
// so results are bitwise identical for any n_jobs, any cache_size, packed or not.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "gram_cache.hpp"

namespace floral {

// Chunk of f owned by one thread in the column update (16 KiB of doubles: L1-resident).
constexpr index_t AXPY_CHUNK = 2048;
// Rows of f per task of the packed column update: a group's gathered values (8 x 256
// float) stay in L1, and the lines of the triangle rows it touches in L2 for the next group.
constexpr index_t PACKED_CHUNK = 256;

// Rows [ia, ib) of the symmetric-pass block [i0, i1), given their prefixes rows[i - ia] =
// K[i, 0..i]. Row i's prefix gives both sum_{j<i} K_ij c_j (row i's own sum, into rowdot)
// and K_ij c_i for every j < i (the upper triangle's contribution to row j, into the
// block's partial vector part[0..i1)). part is zeroed when ia == i0; a block may be fed in
// segments whose lengths are multiples of eight, which groups its rows as one call would.
// Eight rows per pass: eight independent sums, and each column partial is loaded and
// stored once per eight rows. With fewer rows the pass is compute-bound (measured: 4 rows
// reach ~2/3 of the bandwidth a plain read pass gets). O((ib - ia) * ib).
FLORAL_HOT_BODY void symv_rows_body(const float* const* rows, const double* c, index_t i0,
                                    index_t i1, index_t ia, index_t ib, double* part,
                                    double* rowdot) {
    if (ia == i0) std::fill(part, part + i1, 0.0);
    // Row i's columns inside its own block (j in [i0, i)) plus the diagonal.
    auto triangle = [&](const float* row, index_t i) {
        const double ci = c[i];
        double s = 0.0;
        for (index_t j = i0; j < i; ++j) {
            const double k = static_cast<double>(row[j]);
            s += k * c[j];
            part[j] += k * ci;
        }
        return s + static_cast<double>(row[i]) * ci;
    };
    index_t i = ia;
    for (; i + 8 <= ib; i += 8) {
        const float* const* rr = rows + (i - ia);
        const float *r0 = rr[0], *r1 = rr[1], *r2 = rr[2], *r3 = rr[3], *r4 = rr[4], *r5 = rr[5],
                    *r6 = rr[6], *r7 = rr[7];
        const double c0 = c[i], c1 = c[i + 1], c2 = c[i + 2], c3 = c[i + 3], c4 = c[i + 4],
                     c5 = c[i + 5], c6 = c[i + 6], c7 = c[i + 7];
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, s4 = 0.0, s5 = 0.0, s6 = 0.0, s7 = 0.0;
        FLORAL_SIMD_REDUCTION8(s0, s1, s2, s3, s4, s5, s6, s7)
        for (index_t j = 0; j < i0; ++j) {  // columns before the block
            const double k0 = r0[j], k1 = r1[j], k2 = r2[j], k3 = r3[j], k4 = r4[j], k5 = r5[j],
                         k6 = r6[j], k7 = r7[j];
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
        for (index_t r = 0; r < 8; ++r) rowdot[i + r] = s[r] + triangle(rr[r], i + r);
    }
    for (; i < ib; ++i) {
        const float* r0 = rows[i - ia];
        const double c0 = c[i];
        double s0 = 0.0;
        FLORAL_SIMD_REDUCTION(s0)
        for (index_t j = 0; j < i0; ++j) {
            const double k0 = r0[j];
            s0 += k0 * c[j];
            part[j] += k0 * c0;
        }
        rowdot[i] = s0 + triangle(r0, i);
    }
}
FLORAL_DISPATCH(symv_rows,
                (const float* const* rows, const double* c, index_t i0, index_t i1, index_t ia,
                 index_t ib, double* part, double* rowdot),
                (rows, c, i0, i1, ia, ib, part, rowdot))

// fc[0:len) += sum_r d[r] * rows[r][a:a+len): columns in groups of eight in the order given
// (one load/store of fc per group), the m % 8 left over one at a time after them.
FLORAL_HOT_BODY void axpy_rows_body(const float* const* rows, const double* d, index_t m,
                                    index_t a, index_t len, double* fc) {
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
FLORAL_DISPATCH(axpy_rows,
                (const float* const* rows, const double* d, index_t m, index_t a, index_t len,
                 double* fc),
                (rows, d, m, a, len, fc))

// out = K c reading only the lower triangle, each stored value once: O(n^2 / 2).
//
// Rows are taken in fixed blocks of SYMV_BLOCK; block b yields row sums for its rows and a
// partial vector part_b over the columns up to its end (symv_rows). Then, for every column j,
//     out[j] = rowdot[j] + (part_{nb-1}[j] + part_{nb-2}[j] + ... + part_{B(j)}[j])
// summed from the last block down. Packed and square storage: all blocks at once (partials
// for all: n^2/256 doubles, 1/64 of the triangle's bytes), then the sum. Row cache: waves of
// consecutive blocks from the last one down, whose prefixes the cache provides; each
// wave's partials are added into out before the next wave, so only one wave's partials
// exist (the descending order is what allows that).
class SymmetricMatvec {
  public:
    explicit SymmetricMatvec(index_t n) : n_(n), nb_((n + SYMV_BLOCK - 1) / SYMV_BLOCK) {
        rowdot_.assign(static_cast<size_t>(n), 0.0);
    }

    void apply_packed(const float* tri, const double* c, double* out, int n_threads) {
        apply_all([tri](index_t i) { return tri + GramCache::row_offset(i); }, c, out, n_threads);
    }

    void apply_rows(GramCache& cache, const double* c, double* out) {
        const index_t n = n_, nb = nb_, wave = cache.wave_rows();
        const int nt = cache.n_threads();
        if (cache.square()) {  // every row resident: one wave of all blocks, as packed
            apply_all([&cache](index_t i) { return cache.resident_row(i); }, c, out, nt);
            return;
        }
        std::fill(out, out + n, 0.0);
        ptrs_.resize(static_cast<size_t>(wave));
        if (wave >= SYMV_BLOCK) {
            const index_t W = wave / SYMV_BLOCK;
            wave_part_.resize(static_cast<size_t>(W * n));
            for (index_t hi = nb - 1; hi >= 0; hi -= W) {
                const index_t lo = std::max<index_t>(0, hi - W + 1);
                const index_t a = lo * SYMV_BLOCK, e = block_end(hi);
                cache.prefixes(a, e, ptrs_.data());
                const bool par = (e - a) * e >= PARALLEL_MIN_WORK;
                const float* const* rows = ptrs_.data();
                double* wp = wave_part_.data();
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (par)
                for (index_t b = hi; b >= lo; --b) {
                    const index_t i0 = b * SYMV_BLOCK, i1 = block_end(b);
                    symv_rows(rows + (i0 - a), c, i0, i1, i0, i1, wp + (b - lo) * n, rowdot_.data());
                }
                merge(lo, hi, [&](index_t b) { return wp + (b - lo) * n; }, out, nt, par);
            }
        } else {  // a budget below one block: each block in segments of `wave` rows
            wave_part_.resize(static_cast<size_t>(n));
            for (index_t b = nb - 1; b >= 0; --b) {
                const index_t i0 = b * SYMV_BLOCK, i1 = block_end(b);
                for (index_t ia = i0; ia < i1; ia += wave) {
                    const index_t ib = std::min(i1, ia + wave);
                    cache.prefixes(ia, ib, ptrs_.data());
                    symv_rows(ptrs_.data(), c, i0, i1, ia, ib, wave_part_.data(), rowdot_.data());
                }
                merge(b, b, [&](index_t) { return wave_part_.data(); }, out, nt, false);
            }
        }
        finish(out, nt, n * n / 2 >= PARALLEL_MIN_WORK);
    }

  private:
    index_t block_end(index_t b) const { return std::min(n_, (b + 1) * SYMV_BLOCK); }

    // All blocks at once (row_of(i) = K[i, 0..]), then one descending sum of the partials.
    template <class RowOf>
    void apply_all(RowOf row_of, const double* c, double* out, int n_threads) {
        const index_t n = n_, nb = nb_;
        if (offset_.empty()) {
            offset_.assign(static_cast<size_t>(nb + 1), 0);
            for (index_t b = 0; b < nb; ++b) offset_[b + 1] = offset_[b] + block_end(b);
            part_.assign(static_cast<size_t>(offset_[nb]), 0.0);
        }
        const bool par = n * n / 2 >= PARALLEL_MIN_WORK;
        // last blocks have the longest prefixes: hand them out first
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) if (par)
        for (index_t t = 0; t < nb; ++t) {
            const index_t b = nb - 1 - t;
            const index_t i0 = b * SYMV_BLOCK, i1 = block_end(b);
            const float* rows[SYMV_BLOCK];
            for (index_t i = i0; i < i1; ++i) rows[i - i0] = row_of(i);
            symv_rows(rows, c, i0, i1, i0, i1, part_.data() + offset_[b], rowdot_.data());
        }
        std::fill(out, out + n, 0.0);
        merge(0, nb - 1, [&](index_t b) { return part_.data() + offset_[b]; }, out, n_threads, par);
        finish(out, n_threads, par);
    }

    // acc[j] += part_b[j] for b = hi down to lo, over the columns each partial covers.
    // Threads own disjoint column chunks.
    template <class PartOf>
    void merge(index_t lo, index_t hi, PartOf part_of, double* acc, int n_threads, bool par) {
        const index_t end = block_end(hi);
        const index_t nchunks = (end + AXPY_CHUNK - 1) / AXPY_CHUNK;
#pragma omp parallel for schedule(static) num_threads(n_threads) if (par)
        for (index_t ch = 0; ch < nchunks; ++ch) {
            const index_t a = ch * AXPY_CHUNK, e = std::min(end, a + AXPY_CHUNK);
            for (index_t b = hi; b >= std::max(lo, a / SYMV_BLOCK); --b) {
                const double* p = part_of(b);
                const index_t len = std::min(e, block_end(b));
                for (index_t j = a; j < len; ++j) acc[j] += p[j];
            }
        }
    }

    void finish(double* out, int n_threads, bool par) {
        const index_t n = n_;
#pragma omp parallel for schedule(static) num_threads(n_threads) if (par)
        for (index_t j = 0; j < n; ++j) out[j] = rowdot_[j] + out[j];
    }

    index_t n_, nb_;
    std::vector<index_t> offset_;
    std::vector<double> part_, wave_part_, rowdot_;
    std::vector<const float*> ptrs_;
};

// f += K[:, cols] delta from whole rows (the row cache, or the packed storage's hot rows;
// row_slots() >= COLUMN_GROUP): K is symmetric, so column j is row j. Rows are
// fetched in batches of a multiple of COLUMN_GROUP no larger than the cache, so batching never
// changes how axpy_rows groups the columns. Threads own disjoint chunks of f. O(n m).
inline void add_columns_rows(GramCache& cache, const index_t* cols, const double* delta,
                             index_t m, double* f, std::vector<const float*>& ptrs) {
    const index_t n = cache.n();
    const index_t batch = std::max(COLUMN_GROUP, cache.row_slots() / COLUMN_GROUP * COLUMN_GROUP);
    const int nt = cache.n_threads();
    const index_t nchunks = (n + AXPY_CHUNK - 1) / AXPY_CHUNK;
    for (index_t b0 = 0; b0 < m; b0 += batch) {
        const index_t bm = std::min(batch, m - b0);
        ptrs.resize(static_cast<size_t>(bm));
        cache.fetch(cols + b0, bm, ptrs.data());
        const double* dl = delta + b0;
        const float* const* rows = ptrs.data();
#pragma omp parallel for schedule(static) num_threads(nt) if (bm * n >= PARALLEL_MIN_WORK)
        for (index_t ch = 0; ch < nchunks; ++ch) {
            const index_t a = ch * AXPY_CHUNK, e = std::min(n, a + AXPY_CHUNK);
            axpy_rows(rows, dl, bm, a, e - a, f + a);
        }
    }
}

// f += K[:, cols] delta from the packed triangle, for each chunk of f [a, e):
//  - a column j >= e - 1 has all its chunk entries in row j's prefix (K[i, j] = K[j, i],
//    i <= j): axpy_rows reads them in place, as it reads a cached row;
//  - the other columns are gathered into a buffer first: the entries with i <= j from row
//    j's prefix, those with i > j from row i's prefix, walking each row i of the chunk once
//    over the columns below it in increasing order (sequential within the row; walking a
//    column instead touches one cache line per entry);
// then axpy_rows adds them in groups of eight in the order given: the arithmetic of the row
// cache's update, on the same values. Work O(n m); traffic about m n / 2 contiguous floats
// plus, below the diagonal, the cache lines of the triangle that hold one of the columns
// (all of them once m >= n / 16). Threads own disjoint chunks of f.
class PackedColumns {
  public:
    void apply(const float* tri, index_t n, const index_t* cols, const double* delta, index_t m,
               double* f, int n_threads) {
        if (m == 0) return;
        // chunk rows: a thread's gather buffer (columns x chunk) stays within ~1 MB
        const index_t len = std::max(ROW_ALIGN, std::min(PACKED_CHUNK, (index_t(1) << 18) / m / ROW_ALIGN * ROW_ALIGN));
        const index_t nchunks = (n + len - 1) / len;
        const bool par = m * n >= PARALLEL_MIN_WORK;
        const int nt = par ? static_cast<int>(std::min<index_t>(n_threads, nchunks)) : 1;
        // the columns by index, so that a chunk's gathered columns are a prefix of this order
        order_.resize(static_cast<size_t>(m));
        for (index_t r = 0; r < m; ++r) order_[static_cast<size_t>(r)] = r;
        std::sort(order_.begin(), order_.end(), [&](index_t p, index_t q) {
            return cols[p] < cols[q] || (cols[p] == cols[q] && p < q);
        });
        sorted_.resize(static_cast<size_t>(m));
        for (index_t r = 0; r < m; ++r) sorted_[static_cast<size_t>(r)] = cols[order_[static_cast<size_t>(r)]];
        buf_.resize(nt * m * len);
        ptrs_.resize(static_cast<size_t>(nt * m));
#pragma omp parallel num_threads(nt) if (par)
        {
            const int tid = par ? thread_num() : 0;
            float* buf = buf_.data() + static_cast<size_t>(tid) * m * len;
            const float** ptr = ptrs_.data() + static_cast<size_t>(tid) * m;
#pragma omp for schedule(static)
            for (index_t ch = 0; ch < nchunks; ++ch) {
                const index_t a = ch * len, e = std::min(n, a + len);
                chunk(tri, a, e, len, cols, m, buf, ptr);
                for (index_t g0 = 0; g0 < m; g0 += COLUMN_GROUP)
                    axpy_rows(ptr + g0, delta + g0, std::min(COLUMN_GROUP, m - g0), 0, e - a, f + a);
            }
        }
    }

  private:
    void chunk(const float* tri, index_t a, index_t e, index_t len, const index_t* cols, index_t m,
               float* buf, const float** ptr) const {
        const index_t* sorted = sorted_.data();
        const index_t nbuf = static_cast<index_t>(std::lower_bound(sorted, sorted + m, e - 1) - sorted);
        for (index_t t = nbuf; t < m; ++t) {
            const index_t r = order_[static_cast<size_t>(t)];
            ptr[r] = tri + GramCache::row_offset(cols[r]) + a;
        }
        for (index_t t = 0; t < nbuf; ++t) {
            const index_t j = sorted[t];
            float* o = buf + t * len;  // o[i - a] = K[i, j]
            ptr[order_[static_cast<size_t>(t)]] = o;
            const float* pre = tri + GramCache::row_offset(j);
            for (index_t i = a; i <= j; ++i) o[i - a] = pre[i];
        }
        index_t below = static_cast<index_t>(std::lower_bound(sorted, sorted + nbuf, a) - sorted);
        for (index_t i = a; i < e; ++i) {
            while (below < nbuf && sorted[below] < i) ++below;
            const float* row = tri + GramCache::row_offset(i);
            float* o = buf + (i - a);
            for (index_t t = 0; t < below; ++t) o[t * len] = row[sorted[t]];
        }
    }

    std::vector<index_t> order_, sorted_;
    AlignedFloats buf_;
    std::vector<const float*> ptrs_;
};

}  // namespace floral
