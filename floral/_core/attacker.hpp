// The follower of the FLORAL game: the randomised top-k label-flip attacker.
//
// Each round it takes the candidates -- the top ceil(candidate_factor k) points by dual
// weight (sum over the problems of lam_p,i), support vectors only -- draws k of them
// uniformly at random, at most class_cap[c] of each given class c, and relabels them
// relative to the given labels y: to the other class (one binary problem) or to the
// runner-up class by decision value (one-vs-rest). The draw is a partial Fisher-Yates
// shuffle with the portable generator of rng.hpp, so a seed gives the same flips on every
// platform; floral/attacks/_flips.py's topk_sv_flip makes the same draw through sample_among().
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "common.hpp"
#include "rng.hpp"
#include "select.hpp"

namespace floral {

// ceil(candidate_factor k), at most n; 0 without a budget. Clamped to n in double:
// candidate_factor * k can exceed what index_t holds (1e18 * k), and casting such a double
// to an integer is undefined (in practice INT64_MIN: no candidates, the attacker silently
// off).
inline index_t candidate_count(index_t k, double candidate_factor, index_t n) {
    if (k <= 0) return 0;
    const double want = std::ceil(candidate_factor * static_cast<double>(k) - 1e-9);
    return static_cast<index_t>(std::min(static_cast<double>(n), want));
}

// Offers cand[0..size) to take(i) in a uniformly random order until k were taken, and
// returns how many were: a partial Fisher-Yates shuffle drawn lazily (position r becomes a
// uniform pick among the candidates left), so the taken ones are a uniform sample of those
// take() accepts. With at most k candidates there is nothing to choose: all are offered
// in order, without a draw. Reorders cand.
template <class Take>
index_t draw_uniform(index_t* cand, index_t size, index_t k, Rng& rng, Take&& take) {
    const bool shuffle = size > std::min<index_t>(k, size);
    index_t taken = 0;
    for (index_t r = 0; r < size && taken < k; ++r) {
        if (shuffle) {
            const auto left = static_cast<std::uint64_t>(size - r);
            const index_t s = r + static_cast<index_t>(rng.below(left));
            std::swap(cand[r], cand[s]);
        }
        if (take(cand[r])) ++taken;
    }
    return taken;
}

// The attacker's draw without a class cap, for a fresh generator from `seed`: afterwards
// cand[0..k) are the k picked (k <= size), in the order drawn.
inline void sample_among(index_t* cand, index_t size, index_t k, std::uint64_t seed) {
    Rng rng(seed);
    draw_uniform(cand, size, k, rng, [](index_t) { return true; });
}

class Attacker {
  public:
    // n points of n_classes classes, P problems (1, or n_classes for one-vs-rest); k flips
    // per round; class_cap: n_classes entries (a cap >= k never binds).
    Attacker(index_t n, index_t n_classes, index_t P, index_t k, double candidate_factor,
             double tol, std::uint64_t seed, const index_t* class_cap)
        : n_(n), P_(P), k_(k), n_cand_(candidate_count(k, candidate_factor, n)), tol_(tol),
          class_cap_(class_cap), rng_(seed), taken_(static_cast<size_t>(n_classes)),
          weight_sum_(P > 1 ? static_cast<size_t>(n) : 0) {}

    bool active() const { return k_ > 0; }

    // labels_new = y with the attacker's flips, given the duals lam, decision values f
    // (without intercept) and intercepts b of the round just played (problem-major).
    void attack(const double* lam, const double* f, const double* b, const std::int32_t* y,
                 std::int32_t* labels_new) {
        topk_above(weights(lam), n_, n_cand_, tol_, candidates_);
        std::fill(taken_.begin(), taken_.end(), 0);
        std::copy(y, y + n_, labels_new);
        draw_uniform(candidates_.data(), static_cast<index_t>(candidates_.size()), k_, rng_,
                     [&](index_t i) {
                         const std::int32_t cls = y[i];
                         if (taken_[cls] >= class_cap_[cls]) return false;  // its share is used
                         ++taken_[cls];
                         labels_new[i] = P_ == 1 ? 1 - cls : runner_up(f, b, i, cls);
                         return true;
                     });
    }

  private:
    // The dual weight of each point: lam itself for one problem, else the sum over problems.
    const double* weights(const double* lam) {
        if (P_ == 1) return lam;
        for (index_t i = 0; i < n_; ++i) {
            double s = 0.0;
            for (index_t q = 0; q < P_; ++q) s += lam[static_cast<size_t>(q * n_ + i)];
            weight_sum_[i] = s;
        }
        return weight_sum_.data();
    }

    // The class other than cls with the highest decision value at point i (the lowest on
    // ties): the move that costs the model most.
    std::int32_t runner_up(const double* f, const double* b, index_t i, std::int32_t cls) const {
        std::int32_t target = -1;
        double best_v = -std::numeric_limits<double>::infinity();
        for (index_t q = 0; q < P_; ++q) {
            if (q == cls) continue;
            const double val = f[static_cast<size_t>(q * n_ + i)] + b[q];
            if (target < 0 || val > best_v) {
                best_v = val;
                target = static_cast<std::int32_t>(q);
            }
        }
        return target;
    }

    index_t n_, P_, k_, n_cand_;
    double tol_;
    const index_t* class_cap_;
    Rng rng_;
    std::vector<index_t> candidates_, taken_;
    std::vector<double> weight_sum_;
};

}  // namespace floral
