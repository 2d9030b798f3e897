// Exact Euclidean projection onto the SVM dual's feasible set
//
//     P(v) = argmin_x ||x - v||^2   s.t.  l <= x <= u,  a^T x = 0,   a in {-1, +1}^n.
//
// KKT: x_i(mu) = clip(v_i - mu a_i, l_i, u_i) for the multiplier mu that solves
// phi(mu) = sum_i a_i x_i(mu) = 0. Since a_i^2 = 1, each term is non-increasing in mu with
// slope -1 between its two breakpoints lo_i, hi_i and flat outside, so phi is monotone and
// piecewise linear with 2n breakpoints.
//
// Algorithm (a median-of-breakpoints search in the spirit of Brucker 1984 / Kiwiel 2008):
// keep a bracket (muL, muR) with phi(muL) >= 0 >= phi(muR); indices whose breakpoints all
// lie outside the bracket are folded into running sums (fixed at a bound, or free with a
// known linear contribution); evaluate phi at the median of the breakpoints still inside
// the bracket and halve it. The inside breakpoints at least halve each pass, so the total
// work is expected O(n) (nth_element is expected linear). Once no breakpoint is inside,
// phi is linear on the bracket and mu is solved for exactly; one Newton polish on the free
// set removes the rounding left in a^T x.
//
// The weighted variant projects in the metric diag(1 / d), d_i >= 0:
//
//     P_d(v) = argmin_x sum_i (x_i - v_i)^2 / d_i   s.t. the same constraints,
//
// so x_i(mu) = clip(v_i - mu d_i a_i, l_i, u_i): the breakpoints are the unweighted ones
// divided by d_i and a free coordinate contributes slope -d_i instead of -1 (a coordinate
// with d_i = 0 is fixed at clip(v_i, l_i, u_i)). The FLORAL leader uses it with
// d_i = C_i / mean(C) (per-point weights, floral_loop.hpp). Both variants are one template
// on the weights; unit weights compile to the unweighted algorithm, bit for bit (every
// multiplication and division by 1.0 is exact, and a count of free coordinates summed as
// 1.0s is exact).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common.hpp"

namespace floral {

struct ProjectionWorkspace {
    std::vector<index_t> active, next_active;
    std::vector<double> breakpoints;
};

namespace detail {

// d_i = 1 for every i, known at compile time.
struct UnitWeights {
    static constexpr bool weighted = false;
    double operator[](index_t) const { return 1.0; }
};

struct PointWeights {
    static constexpr bool weighted = true;
    const double* d;
    double operator[](index_t i) const { return d[i]; }
};

template <class W>
double project_impl(const double* v, const std::int8_t* a, const double* l, const double* u,
                    W d, index_t n, double* x, ProjectionWorkspace& ws) {
    const double inf = std::numeric_limits<double>::infinity();
    // lo_i / hi_i: the mu interval on which x_i is strictly between its bounds (only read
    // for d_i > 0: a coordinate with d_i = 0 never enters the search below).
    auto lo = [&](index_t i) { return (a[i] > 0 ? v[i] - u[i] : l[i] - v[i]) / d[i]; };
    auto hi = [&](index_t i) { return (a[i] > 0 ? v[i] - l[i] : u[i] - v[i]) / d[i]; };
    // a_i x_i for mu below lo_i (left) and above hi_i (right).
    auto left_val = [&](index_t i) { return a[i] > 0 ? u[i] : -l[i]; };
    auto right_val = [&](index_t i) { return a[i] > 0 ? l[i] : -u[i]; };

    double mu_l = -inf, mu_r = inf;
    double fixed_sum = 0.0;  // sum of a_i x_i over indices at a bound on the whole bracket
    double free_sum = 0.0;   // sum of a_i v_i over indices free on the whole bracket
    double n_free = 0.0;     // sum of d_i over the same (their count for unit weights)
    bool exact = false;
    double mu = 0.0;

    if constexpr (W::weighted) {
        ws.active.clear();
        for (index_t i = 0; i < n; ++i) {
            if (d[i] > 0.0) ws.active.push_back(i);
            else fixed_sum += a[i] * std::min(std::max(v[i], l[i]), u[i]);
        }
    } else {
        ws.active.resize(static_cast<size_t>(n));
        for (index_t i = 0; i < n; ++i) ws.active[static_cast<size_t>(i)] = i;
    }

    while (true) {
        ws.breakpoints.clear();
        ws.next_active.clear();
        for (index_t i : ws.active) {
            const double lo_i = lo(i), hi_i = hi(i);
            if (hi_i <= mu_l) {
                fixed_sum += right_val(i);
            } else if (lo_i >= mu_r) {
                fixed_sum += left_val(i);
            } else if (lo_i <= mu_l && hi_i >= mu_r) {
                free_sum += a[i] * v[i];
                n_free += d[i];
            } else {
                ws.next_active.push_back(i);
                if (lo_i > mu_l) ws.breakpoints.push_back(lo_i);
                if (hi_i < mu_r) ws.breakpoints.push_back(hi_i);
            }
        }
        ws.active.swap(ws.next_active);
        if (ws.breakpoints.empty()) break;

        auto mid = ws.breakpoints.begin() + static_cast<std::ptrdiff_t>(ws.breakpoints.size() / 2);
        std::nth_element(ws.breakpoints.begin(), mid, ws.breakpoints.end());
        const double m = *mid;
        double phi = fixed_sum + free_sum - n_free * m;
        for (index_t i : ws.active) {
            const double xi = std::min(std::max(v[i] - m * d[i] * a[i], l[i]), u[i]);
            phi += a[i] * xi;
        }
        if (phi > 0.0) {
            mu_l = m;
        } else if (phi < 0.0) {
            mu_r = m;
        } else {
            mu = m;
            exact = true;
            break;
        }
    }

    if (!exact) {
        if (n_free > 0.0) {
            // phi is linear on the bracket: fixed_sum + free_sum - n_free * mu = 0.
            mu = (fixed_sum + free_sum) / n_free;
            mu = std::min(std::max(mu, mu_l), mu_r);
        } else if (std::isfinite(mu_l) && std::isfinite(mu_r)) {
            mu = 0.5 * (mu_l + mu_r);  // phi is flat (and zero) on the whole bracket
        } else {
            mu = std::isfinite(mu_l) ? mu_l : (std::isfinite(mu_r) ? mu_r : 0.0);
        }
    }

    for (index_t i = 0; i < n; ++i)
        x[i] = std::min(std::max(v[i] - mu * d[i] * a[i], l[i]), u[i]);

    // Newton polish: the closed-form mu carries rounding of the running sums.
    double resid = 0.0;
    double n_inside = 0.0;  // phi's slope on the free set (a count for unit weights)
    for (index_t i = 0; i < n; ++i) {
        resid += a[i] * x[i];
        if (x[i] > l[i] && x[i] < u[i]) n_inside += d[i];
    }
    if (resid != 0.0 && n_inside > 0.0) {
        mu += resid / n_inside;
        for (index_t i = 0; i < n; ++i)
            x[i] = std::min(std::max(v[i] - mu * d[i] * a[i], l[i]), u[i]);
    }

    // When |v_i| dwarfs the box, v_i - mu a_i cancels and can round a free coordinate onto
    // its bound (v = (0, -1e46), a = (-1, -1), box [0, 1e-9] x [-1e46, 0] came out as
    // (1e-9, 0), a^T x = -1e-9): no coordinate counts as inside and the residual stays.
    // Only then (so every other result keeps its bits), step x itself along the
    // coordinates whose free interval [lo_i, hi_i] holds mu: phi's slope there.
    double abs_sum = 0.0;
    resid = 0.0;
    for (index_t i = 0; i < n; ++i) {
        resid += a[i] * x[i];
        abs_sum += std::abs(x[i]);
    }
    if (std::abs(resid) > 1e-12 * (1.0 + abs_sum)) {
        auto sloped = [&](index_t i) { return d[i] > 0.0 && lo(i) <= mu && mu <= hi(i); };
        double n_slope = 0.0;
        for (index_t i = 0; i < n; ++i)
            if (sloped(i)) n_slope += d[i];
        if (n_slope > 0.0) {
            const double step = resid / n_slope;
            for (index_t i = 0; i < n; ++i)
                if (sloped(i)) x[i] = std::min(std::max(x[i] - step * d[i] * a[i], l[i]), u[i]);
            mu += step;
        }
    }
    return mu;
}

}  // namespace detail

// Solves for mu and writes x (x may not alias v). Returns mu. The caller guarantees
// feasibility: sum_{a=+1} l - sum_{a=-1} u <= 0 <= sum_{a=+1} u - sum_{a=-1} l.
inline double project_box_hyperplane(const double* v, const std::int8_t* a, const double* l,
                                     const double* u, index_t n, double* x,
                                     ProjectionWorkspace& ws) {
    return detail::project_impl(v, a, l, u, detail::UnitWeights{}, n, x, ws);
}

// The projection in the metric diag(1 / d) (d_i >= 0 and finite): x_i = clip(v_i - mu d_i
// a_i, l_i, u_i) with a^T x = 0. Same contract as project_box_hyperplane, with d_i = 0 only
// where l_i = u_i (a point with C_i = 0): such a coordinate cannot move along mu.
inline double project_box_hyperplane_weighted(const double* v, const std::int8_t* a,
                                              const double* l, const double* u,
                                              const double* d, index_t n, double* x,
                                              ProjectionWorkspace& ws) {
    return detail::project_impl(v, a, l, u, detail::PointWeights{d}, n, x, ws);
}

}  // namespace floral
