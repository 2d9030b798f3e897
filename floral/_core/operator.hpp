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
#pragma once

#include <vector>

#include "kernel.hpp"
#include "matvec.hpp"

namespace floral {

// K held by a GramCache: materialised (one symmetric pass per matvec) or an LRU of rows.
class GramOperator {
  public:
    explicit GramOperator(GramCache& cache) : cache_(cache) {
        if (cache_.materialised()) symv_.emplace_back(cache_.n());
    }

    index_t n() const { return cache_.n(); }

    void matvec(const double* c, double* out) {
        gram_matvec(cache_, symv_.empty() ? nullptr : &symv_.front(), c, out, idx_, ptrs_);
    }

    void add_columns(const index_t* cols, const double* delta, index_t m, double* f) {
        floral::add_columns(cache_, cols, delta, m, f, ptrs_);
    }

    // Without the whole matrix a dense pass recomputes every row: never cheaper.
    bool prefer_dense(index_t m, double dense_fraction) const {
        return cache_.materialised() &&
               static_cast<double>(m) >= dense_fraction * static_cast<double>(cache_.n());
    }

    GramCache& cache() { return cache_; }

  private:
    GramCache& cache_;
    std::vector<SymmetricMatvec> symv_;  // zero or one: SymmetricMatvec has no default state
    std::vector<index_t> idx_;
    std::vector<const float*> ptrs_;
};

}  // namespace floral
