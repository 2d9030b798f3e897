// The kernel matrix as the round loop uses it.
//
// The loop needs two products with K and nothing else, so any storage that provides them
// can drive it (floral_loop.hpp's run_floral is a template over this interface):
//
//   index_t n() const;                       rows of K (training points)
//   void matvec(const double* c, double* out);
//       out = K c, all n entries, from scratch
//   void add_columns(const index_t* cols, const double* delta, index_t m, double* f);
//       f += K[:, cols] delta  (the incremental update over the m changed coefficients)
//   bool prefer_dense(index_t m, double dense_fraction) const;
//       whether one matvec is cheaper than add_columns over m columns
//
// Both products must give every output element a summation order that does not depend on
// the thread count (results are bitwise identical for any n_jobs).
// features.hpp's FeatureOperator is the other implementation (the linear kernel as X X^T).
#pragma once

#include <vector>

#include "gram_cache.hpp"
#include "matvec.hpp"

namespace floral {

// K held by a GramCache: the packed lower triangle, all rows, or an LRU cache of rows. All
// give bitwise the same products (matvec.hpp), so the choice of storage -- which
// cache_size makes -- never changes a result.
class GramOperator {
  public:
    explicit GramOperator(GramCache& cache) : cache_(cache), symv_(cache.n()) {}

    index_t n() const { return cache_.n(); }

    void matvec(const double* c, double* out) {
        if (cache_.is_packed()) symv_.apply_packed(cache_.packed(), c, out, cache_.n_threads());
        else symv_.apply_rows(cache_, c, out);
    }

    // Packed: whole hot rows when all m fit in the hot slots (rows the attacker flips recur,
    // and a row read whole costs a sixteenth of the cache lines of a gathered column),
    // the gather otherwise. Either way the same values reach the same arithmetic.
    void add_columns(const index_t* cols, const double* delta, index_t m, double* f) {
        if (m == 0) return;
        if (cache_.is_packed() && m > cache_.row_slots())
            packed_.apply(cache_.packed(), cache_.n(), cols, delta, m, f, cache_.n_threads());
        else
            add_columns_rows(cache_, cols, delta, m, f, ptrs_);
    }

    // One rule for all storages: the choice changes how f is rounded, so a storage-
    // dependent rule would make results depend on cache_size. In stored floats touched: a
    // dense pass reads (or, in the row cache, recomputes) n^2/2; the update reads m n from
    // whole rows (square, hot or cached rows), so they cross at m = n/2, the default
    // dense_fraction. The packed gather alone would cross earlier (it touches about the whole
    // triangle once m > n/16), which is the regime where the square is worth its memory.
    bool prefer_dense(index_t m, double dense_fraction) const {
        return static_cast<double>(m) >= dense_fraction * static_cast<double>(cache_.n());
    }

    int max_threads() const { return cache_.max_threads(); }
    void set_threads(int t) { cache_.set_threads(t); }

  private:
    GramCache& cache_;
    SymmetricMatvec symv_;
    std::vector<const float*> ptrs_;
    PackedColumns packed_;
};

}  // namespace floral
