// Top-k selection for the attacker: the k largest values above a threshold.
//
// Partial selection (nth_element, expected O(n)) followed by a sort of the k winners only,
// O(n + k log k); a full sort of n values would be O(n log n) every round.
#pragma once

#include <algorithm>
#include <vector>

#include "common.hpp"

namespace floral {

// Writes to `out` the indices of the min(k, #{v_i > threshold}) largest entries of v that
// exceed `threshold`, ordered by value descending, ties by lower index first.
inline void topk_above(const double* v, index_t n, index_t k, double threshold,
                       std::vector<index_t>& out) {
    out.clear();
    if (k <= 0) return;
    for (index_t i = 0; i < n; ++i)
        if (v[i] > threshold) out.push_back(i);
    auto before = [v](index_t a, index_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); };
    if (static_cast<index_t>(out.size()) > k) {
        std::nth_element(out.begin(), out.begin() + (k - 1), out.end(), before);
        out.resize(static_cast<size_t>(k));
    }
    std::sort(out.begin(), out.end(), before);
}

}  // namespace floral
