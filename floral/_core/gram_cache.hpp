// The Gram matrix of a training set under a byte budget: GramCache and its storage.
//
// Entries come from kernel.hpp's KernelBlock (float64 arithmetic), stored as float32. The
// products the round loop takes with this storage are in matvec.hpp and operator.hpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

#include "common.hpp"
#include "kernel.hpp"

namespace floral {

// Rows per block of the symmetric pass (matvec.hpp). The row cache sizes its dense-pass
// waves in whole blocks.
constexpr index_t SYMV_BLOCK = 128;
// The column update adds columns in groups of this many (matvec.hpp's axpy_rows); the row
// cache serves columns in batches that are multiples of it, so batching never regroups.
constexpr index_t COLUMN_GROUP = 8;

// Stored rows start on 64-byte boundaries (16 floats): the symmetric pass streams eight rows
// at once, and with rows at arbitrary float offsets every AVX-512 load straddles two cache
// lines (measured: the dense pass 1.5x slower at n = 10,000).
constexpr index_t ROW_ALIGN = 16;

inline index_t align_up(index_t x, index_t a) { return (x + a - 1) / a * a; }

// A float array whose first element sits on a 64-byte boundary, zero-filled like a vector.
// calloc rather than std::vector: a large block comes from the OS already zero and its
// pages are touched first by the threads that compute the kernel into them, where
// vector's resize wrote the whole 1.8 GB triangle of n = 30,000 on one thread first
// (seconds, before any kernel value, and not interruptible).
class AlignedFloats {
  public:
    AlignedFloats() = default;
    AlignedFloats(const AlignedFloats&) = delete;
    AlignedFloats& operator=(const AlignedFloats&) = delete;
    ~AlignedFloats() { std::free(raw_); }

    // Keeps the first min(old, new) values, like std::vector::resize.
    void resize(index_t count) {
        const size_t size = static_cast<size_t>(count + ROW_ALIGN);
        float* raw = static_cast<float*>(std::calloc(size, sizeof(float)));
        if (raw == nullptr) throw std::bad_alloc();
        float* data = raw + (64 - reinterpret_cast<std::uintptr_t>(raw) % 64) % 64 / sizeof(float);
        if (raw_ != nullptr)
            std::copy(data_, data_ + std::min(count_, count), data);
        std::free(raw_);
        raw_ = raw;
        data_ = data;
        count_ = count;
    }
    float* data() { return data_; }
    const float* data() const { return data_; }

  private:
    float* raw_ = nullptr;
    float* data_ = nullptr;
    index_t count_ = 0;
};

struct CacheStats {
    index_t hits = 0;
    index_t misses = 0;
    index_t rows_computed = 0;
};

// The Gram matrix of the training set under a byte budget, in one of three storages.
//
// Square: if all n whole rows fit the budget they are computed once and kept (the row
// cache below with every row resident). The column update then reads each column as one
// contiguous row; measured, that keeps rounds whose update touches n/8 to n/2 columns (a
// sparse regime of many free support vectors) 4-6x faster than the packed storage's
// gathered columns, at twice its memory. Only an explicit budget that large selects it.
//
// Packed: else, if the lower triangle fits, it is computed once: row i's prefix K[i, 0..i],
// padded to a multiple of 16 floats, at row_offset(i) -- n^2/2 + O(8n) float32, half the
// square, and the symmetric pass of the round loop reads exactly these prefixes. With what
// the budget leaves (up to n/8 rows) it keeps an LRU of "hot" whole rows copied out of the
// triangle for column updates small enough to fit them.
//
// Row cache: otherwise whole rows live in an LRU cache of `capacity` rows (the LIBSVM
// design), filled by fetch(), which the column update uses. The dense pass reads row
// prefixes through prefixes(): resident rows are used as they are, missing rows go into
// free slots as whole rows while the cache has room, and after that only their prefixes are
// computed, into a scratch area of wave_rows() rows. The dense pass never evicts: it scans
// every row, and LRU replacement under a cyclic scan longer than the cache evicts each row
// just before its next use, so no pass would ever hit.
//
// All storages hold bitwise the same values: the scalar path sums each entry in a fixed
// order, and the dgemm path computes every entry inside a tile of one fixed shape
// (GEMM_ROW_BLOCK x GEMM_COL_TILE) at a fixed column offset.
class GramCache {
  public:
    GramCache(const double* X, index_t n, index_t d, KernelSpec spec, double budget_bytes,
              int n_threads, dgemm_fn gemm)
        : X_(X), n_(n), d_(d), spec_(spec), kb_(X, n, d, spec, gemm),
          n_threads_(resolve_threads(n_threads)), max_threads_(n_threads_) {
        stride_ = align_up(n_, ROW_ALIGN);
        const double packed_bytes = 4.0 * static_cast<double>(packed_size(n_));
        const double square_bytes = 4.0 * static_cast<double>(stride_) * static_cast<double>(n_);
        if (square_bytes <= budget_bytes) {
            square_ = true;
            capacity_ = wave_rows_ = n_;
            setup_slots(n_);
            clear_jobs();
            for (index_t i = 0; i < n_; ++i) {
                insert(i, used_++);
                add_job(i, slot(i), n_);
            }
            InterruptPoll interrupt;
            run_jobs(&interrupt);
            interrupt.throw_if_stopped();
        } else if (packed_bytes <= budget_bytes) {
            packed_ = true;
            capacity_ = n_;
            tri_.resize(packed_size(n_));
            InterruptPoll interrupt;
            materialise(&interrupt);
            interrupt.throw_if_stopped();
            // what the budget leaves, up to n/8 rows (a quarter of the triangle's bytes)
            const index_t hot = static_cast<index_t>(std::min(
                (budget_bytes - packed_bytes) / (4.0 * static_cast<double>(stride_)),
                static_cast<double>(n_ / 8)));
            setup_slots(hot >= COLUMN_GROUP ? hot / COLUMN_GROUP * COLUMN_GROUP : 0);
        } else {
            setup_rows(budget_bytes);
        }
    }

    // sum_{k<i} align_up(k + 1, 16) in closed form, with i = 16q + r:
    // 16 * sum_{t=1..i} ceil(t / 16) = 16 (q + 1)(8q + r).
    static index_t row_offset(index_t i) {
        const index_t q = i / ROW_ALIGN, r = i % ROW_ALIGN;
        return ROW_ALIGN * (q + 1) * (8 * q + r);
    }
    static index_t packed_size(index_t n) { return row_offset(n); }

    index_t n() const { return n_; }
    // The whole matrix is stored (packed or square): nothing is ever recomputed.
    bool materialised() const { return packed_ || square_; }
    bool is_packed() const { return packed_; }
    // Every whole row resident, computed once (capacity() == n).
    bool square() const { return square_; }
    // Row i of the square storage, without LRU bookkeeping.
    const float* resident_row(index_t i) const {
        FLORAL_ASSERT(square_);
        return slots_.data() + slot_of_[static_cast<size_t>(i)] * stride_;
    }
    // Rows the storage holds at once (n when packed).
    index_t capacity() const { return capacity_; }
    // Slots for whole rows that fetch() serves: the row cache's capacity, or, when packed,
    // the hot rows that the budget leaves beside the triangle (possibly none).
    index_t row_slots() const { return slots_n_; }
    // Rows per call of prefixes() (row cache only).
    index_t wave_rows() const { return wave_rows_; }
    const CacheStats& stats() const { return stats_; }
    const float* packed() const { return packed_ ? tri_.data() : nullptr; }
    int n_threads() const { return n_threads_; }
    // The loop's thread governor lowers the count between calls (never above the count the
    // object was built with, which sized its per-thread buffers); results do not depend on it.
    int max_threads() const { return max_threads_; }
    void set_threads(int t) { n_threads_ = t < 1 ? 1 : (t > max_threads_ ? max_threads_ : t); }

    // Packed storage: the whole row K[i, :] into out (n floats); the part right of the
    // diagonal is column i of the triangle, one float per stored row.
    void full_row(index_t i, float* out) const {
        FLORAL_ASSERT(packed_ && i >= 0 && i < n_);
        const float* tri = tri_.data();
        std::copy(tri + row_offset(i), tri + row_offset(i) + i + 1, out);
        for (index_t j = i + 1; j < n_; ++j) out[j] = tri[row_offset(j) + i];
    }

    // Makes rows[0..count) resident as whole rows in the LRU slots and writes their
    // addresses to out; count <= row_slots(). Hits are moved to the front before anything
    // is evicted, so a batch never evicts one of its own rows. Misses are computed in
    // parallel, or, when packed, copied out of the triangle (full_row: a cache line per
    // entry right of the diagonal, which is why the column update keeps rows it reuses --
    // the attacker's candidates come back round after round).
    void fetch(const index_t* rows, index_t count, const float** out) {
        FLORAL_ASSERT(count <= slots_n_);
        for (index_t r = 0; r < count; ++r) {
            const index_t i = rows[r];
            FLORAL_ASSERT(i >= 0 && i < n_);
            if (slot_of_[static_cast<size_t>(i)] >= 0) {
                ++stats_.hits;
                touch(slot_of_[static_cast<size_t>(i)]);
            }
        }
        clear_jobs();
        for (index_t r = 0; r < count; ++r) {
            const index_t i = rows[r];
            if (slot_of_[static_cast<size_t>(i)] >= 0) continue;  // hit, or repeated in batch
            ++stats_.misses;
            const index_t s = take_slot();
            insert(i, s);
            add_job(i, slot(s), n_);
        }
        if (packed_) copy_jobs();
        else run_jobs();
        for (index_t r = 0; r < count; ++r) out[r] = slot(slot_of_[static_cast<size_t>(rows[r])]);
    }

    // Row cache: addresses of the prefixes K[i, 0..i] of rows a <= i < b (b - a <=
    // wave_rows()) into out, valid until the next call. Resident rows count as hits;
    // missing rows are computed (in parallel) whole into free slots while there are any,
    // then as prefixes into the scratch area. Never evicts (see the class comment).
    void prefixes(index_t a, index_t b, const float** out) {
        FLORAL_ASSERT(!packed_ && 0 <= a && a <= b && b <= n_ && b - a <= wave_rows_);
        clear_jobs();
        index_t scratch_used = 0;
        for (index_t i = a; i < b; ++i) {
            index_t s = slot_of_[static_cast<size_t>(i)];
            if (s >= 0) {
                ++stats_.hits;
                touch(s);
                out[i - a] = slot(s);
                continue;
            }
            ++stats_.misses;
            if (used_ < slots_n_) {
                s = used_++;
                insert(i, s);
                out[i - a] = slot(s);
                add_job(i, slot(s), n_);
            } else {
                float* dst = scratch_.data() + scratch_used++ * stride_;
                out[i - a] = dst;
                add_job(i, dst, i + 1);
            }
        }
        run_jobs();
    }

  private:
    float* slot(index_t s) { return slots_.data() + s * stride_; }

    // Sizes the row cache. Of the budget, up to an eighth (at least COLUMN_GROUP rows, at
    // most one symmetric-pass block per thread) is the dense pass's scratch, and each block
    // of a wave also needs a partial sum of up to n doubles (two rows' worth, matvec.hpp);
    // the rest holds whole rows, never fewer than COLUMN_GROUP.
    void setup_rows(double budget_bytes) {
        const double row_bytes = 4.0 * static_cast<double>(stride_);
        const index_t rows_budget =
            static_cast<index_t>(std::min(budget_bytes / row_bytes, 4.0 * static_cast<double>(n_)));
        const index_t n8 = (n_ + COLUMN_GROUP - 1) / COLUMN_GROUP * COLUMN_GROUP;
        index_t wave = std::min<index_t>(SYMV_BLOCK * n_threads_, rows_budget / 8);
        wave = wave >= SYMV_BLOCK ? wave / SYMV_BLOCK * SYMV_BLOCK : wave / COLUMN_GROUP * COLUMN_GROUP;
        wave_rows_ = std::min(n8, std::max(COLUMN_GROUP, wave));
        const index_t wave_blocks = std::max<index_t>(1, wave_rows_ / SYMV_BLOCK);
        capacity_ = std::max(COLUMN_GROUP, std::min(n_, rows_budget - wave_rows_ - 2 * wave_blocks));
        scratch_.resize(wave_rows_ * stride_);
        setup_slots(capacity_);
    }

    void setup_slots(index_t count) {
        slots_n_ = count;
        slots_.resize(count * stride_);
        slot_of_.assign(static_cast<size_t>(n_), -1);
        row_of_.assign(static_cast<size_t>(count), -1);
        prev_.assign(static_cast<size_t>(count), -1);
        next_.assign(static_cast<size_t>(count), -1);
    }

    // Packed storage: the queued rows out of the triangle, in parallel over rows.
    void copy_jobs() {
        const index_t count = static_cast<index_t>(job_row_.size());
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads_) if (count * n_ >= PARALLEL_MIN_WORK)
        for (index_t r = 0; r < count; ++r)
            full_row(job_row_[static_cast<size_t>(r)], job_dst_[static_cast<size_t>(r)]);
    }

    // The lower triangle, row prefixes written in place.
    void materialise(InterruptPoll* interrupt) {
        clear_jobs();
        for (index_t i = 0; i < n_; ++i) add_job(i, tri_.data() + row_offset(i), i + 1);
        run_jobs(interrupt);
    }

    void clear_jobs() {
        job_row_.clear();
        job_dst_.clear();
        job_len_.clear();
    }
    void add_job(index_t row, float* dst, index_t len) {
        job_row_.push_back(row);
        job_dst_.push_back(dst);
        job_len_.push_back(len);
    }

    // Computes K[row, 0..len) into dst for every job, in parallel over (group of rows,
    // column tile) tasks, so that even one missing row is split across the threads.
    // dgemm path: groups of GEMM_ROW_BLOCK consecutive jobs, tiles of GEMM_COL_TILE columns
    // up to the group's longest prefix. Scalar path: one task per job and SCALAR_COL_CHUNK
    // columns. Cost O(sum(len) d), the tile padding aside. With `interrupt` (building the
    // storage), tasks left when it stops are skipped: the storage is then incomplete and
    // the caller must throw.
    void run_jobs(InterruptPoll* interrupt = nullptr) {
        const index_t count = static_cast<index_t>(job_row_.size());
        if (count == 0) return;
        const bool gemm = kb_.uses_gemm();
        const index_t G = gemm ? GEMM_ROW_BLOCK : 1;
        const index_t T = gemm ? GEMM_COL_TILE : SCALAR_COL_CHUNK;
        const index_t ngroups = (count + G - 1) / G;
        task_first_.assign(static_cast<size_t>(ngroups + 1), 0);
        double work = 0.0;
        for (index_t g = 0; g < ngroups; ++g) {
            index_t longest = 0;
            for (index_t r = g * G; r < std::min(count, g * G + G); ++r)
                longest = std::max(longest, job_len_[static_cast<size_t>(r)]);
            task_first_[static_cast<size_t>(g + 1)] = task_first_[static_cast<size_t>(g)] + (longest + T - 1) / T;
            work += static_cast<double>(longest) * static_cast<double>(G);
        }
        const index_t ntasks = task_first_[static_cast<size_t>(ngroups)];
        const int nt = static_cast<int>(std::max<index_t>(1, std::min<index_t>(n_threads_, ntasks)));
        const bool par = work * static_cast<double>(d_) >= static_cast<double>(PARALLEL_MIN_WORK);
        // per-thread scratch allocated here: an exception inside a parallel region would
        // terminate the process instead of surfacing as MemoryError
        const size_t per = gemm ? static_cast<size_t>(G * d_ + G + G * T) : static_cast<size_t>(T);
        work_.resize(static_cast<size_t>(nt) * per);
        const index_t* first = task_first_.data();
#pragma omp parallel num_threads(nt) if (par)
        {
            double* buf = work_.data() + static_cast<size_t>(par ? thread_num() : 0) * per;
#pragma omp for schedule(dynamic, 1)
            for (index_t t = 0; t < ntasks; ++t) {
                if (interrupt != nullptr && interrupt->poll()) continue;
                const index_t g = static_cast<index_t>(std::upper_bound(first, first + ngroups + 1, t) - first) - 1;
                const index_t c0 = (t - first[g]) * T;
                if (gemm) tile_task(g, c0, buf);
                else scalar_task(g, c0, buf);
            }
        }
        stats_.rows_computed += count;
    }

    void tile_task(index_t g, index_t c0, double* buf) const {
        const index_t G = GEMM_ROW_BLOCK, count = static_cast<index_t>(job_row_.size());
        const index_t r0 = g * G, m = std::min(G, count - r0), w = std::min(GEMM_COL_TILE, n_ - c0);
        double* A = buf;
        double* an = A + G * d_;
        double* out = an + G;
        for (index_t r = 0; r < G; ++r) {
            if (r < m) {
                const index_t i = job_row_[static_cast<size_t>(r0 + r)];
                std::copy(X_ + i * d_, X_ + (i + 1) * d_, A + r * d_);
                an[r] = kb_.norms()[i];
            } else {  // padding keeps the call shape fixed; its output is discarded
                std::fill(A + r * d_, A + (r + 1) * d_, 0.0);
                an[r] = 0.0;
            }
        }
        kb_.tile_gemm(A, an, c0, w, out, GEMM_COL_TILE);
        for (index_t r = 0; r < m; ++r) {
            const size_t q = static_cast<size_t>(r0 + r);
            const index_t i = job_row_[q], e = std::min(c0 + w, job_len_[q]);
            float* dst = job_dst_[q];
            const double* src = out + r * GEMM_COL_TILE - c0;
            for (index_t j = c0; j < e; ++j) dst[j] = static_cast<float>(src[j]);
            // exact, unlike n_i + n_i - 2<x_i, x_i>
            if (spec_.type == KERNEL_RBF && i >= c0 && i < e) dst[i] = 1.0f;
        }
    }

    void scalar_task(index_t r, index_t j0, double* buf) const {
        const size_t q = static_cast<size_t>(r);
        const index_t j1 = std::min(job_len_[q], j0 + SCALAR_COL_CHUNK);
        kb_.row_range(X_ + job_row_[q] * d_, j0, j1, buf);
        float* dst = job_dst_[q];
        for (index_t j = j0; j < j1; ++j) dst[j] = static_cast<float>(buf[j - j0]);
    }

    // LRU list over slots: head_ = most recently used.
    void insert(index_t i, index_t s) {
        slot_of_[static_cast<size_t>(i)] = s;
        row_of_[static_cast<size_t>(s)] = i;
        push_front(s);
    }
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
        if (used_ < slots_n_) return used_++;
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
    int n_threads_, max_threads_;
    bool packed_ = false, square_ = false;
    index_t capacity_ = 0, wave_rows_ = 0, stride_ = 0, slots_n_ = 0;
    AlignedFloats tri_;              // packed lower triangle
    AlignedFloats slots_, scratch_;  // whole rows (LRU); the dense pass's prefixes
    CacheStats stats_;
    std::vector<index_t> slot_of_, row_of_, prev_, next_;
    index_t head_ = -1, tail_ = -1, used_ = 0;
    // rows to compute: row, destination, number of leading entries
    std::vector<index_t> job_row_, job_len_, task_first_;
    std::vector<float*> job_dst_;
    std::vector<double> work_;
};

}  // namespace floral
