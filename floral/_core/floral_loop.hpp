// The FLORAL round loop (Bal, Cevher & Muehlebach, ICLR 2025, Algorithm 1 with the
// randomised top-k attacker), as specified in floral's DESIGN.md:
//
//   f = K (yt * lam)                     kept incrementally
//   g = yt * f - 1                       gradient of D(lam) = 1/2 lam'Q lam - 1'lam
//   lam <- Proj_{0 <= lam <= C, yt'lam = 0}(lam - eta_t g)
//   b = mean over free SVs of (yt_i - f_i)    (LIBSVM's midpoint rule without free SVs)
//   yt <- y with k of the top ceil(candidate_factor k) support vectors flipped
//
// Per round: O(n) for gradient, projection and selection; O(n |J|) for the incremental
// update of f over the changed coefficients J, or one pass over half of K when J is most
// of n (the dense regime of small steps from lam = 0, where every coefficient moves).
#pragma once

#include <chrono>
#include <cmath>
#include <vector>

#include "operator.hpp"
#include "projection.hpp"
#include "rng.hpp"
#include "select.hpp"

namespace floral {

// Flags a callback returns.
constexpr int CB_SNAPSHOT = 1;  // keep the current round as the selected one
constexpr int CB_STOP = 2;      // end the loop after this round
// Reasons the loop calls back.
constexpr int CB_EVAL = 0;       // every eval_every rounds and at the last round
constexpr int CB_HEARTBEAT = 1;  // between evaluations, at most every heartbeat seconds

// Called with the round number (1-based) and the state after that round's step.
typedef int (*round_callback)(void* ctx, int reason, index_t round, const double* lam,
                              const std::int8_t* yt, double b, double objective);

struct LoopParams {
    index_t n_rounds = 500;
    double learning_rate = 1e-3;
    double lr_decay = 1.0;
    index_t lr_decay_every = 100;
    index_t flip_budget = 0;
    double candidate_factor = 2.0;
    index_t refresh = 50;
    double tol = 1e-5;
    index_t eval_every = 1;
    std::uint64_t seed = 0;
    double dense_fraction = 0.5;  // |J| / n above which a dense pass replaces the update
    double heartbeat = 0.2;       // seconds between heartbeat callbacks (Ctrl-C latency)
};

struct LoopHistory {
    std::vector<double> objective, mu, eta, seconds;
    std::vector<index_t> n_sv, n_free, n_changed;
};

struct LoopState {
    std::vector<double> lam;
    std::vector<std::int8_t> yt;
    double b = 0.0;
    index_t round = 0;
};

struct LoopResult {
    LoopState last;
    LoopState snapshot;
    bool has_snapshot = false;
    bool stopped = false;  // a callback asked to stop before n_rounds
    index_t rounds_run = 0;
    index_t dense_passes = 0;
    LoopHistory history;
    std::vector<double> f;  // K (yt * lam) as maintained incrementally, for drift tests
};

// Intercept from the KKT conditions on the free set (LIBSVM's calculate_rho with b = -rho).
inline double intercept(const double* lam, const std::int8_t* yt, const double* f,
                        const double* C, index_t n) {
    const double inf = std::numeric_limits<double>::infinity();
    double ub = inf, lb = -inf, sum_free = 0.0;
    index_t n_free = 0;
    for (index_t i = 0; i < n; ++i) {
        const double yg = f[i] - yt[i];  // yt_i * gradient_i
        if (lam[i] >= C[i]) {
            if (yt[i] < 0) ub = std::min(ub, yg); else lb = std::max(lb, yg);
        } else if (lam[i] <= 0.0) {
            if (yt[i] > 0) ub = std::min(ub, yg); else lb = std::max(lb, yg);
        } else {
            sum_free += yg;
            ++n_free;
        }
    }
    double rho;
    if (n_free > 0) rho = sum_free / static_cast<double>(n_free);
    else if (std::isfinite(ub) && std::isfinite(lb)) rho = 0.5 * (ub + lb);
    else if (std::isfinite(ub)) rho = ub;
    else if (std::isfinite(lb)) rho = lb;
    else rho = 0.0;
    return -rho;
}

// Op: the kernel operator interface of operator.hpp.
template <class Op>
void run_floral(Op& op, const std::int8_t* y, const double* C, const double* lam0,
                const LoopParams& p, round_callback cb, void* ctx, LoopResult& res) {
    using clock = std::chrono::steady_clock;
    const auto t_start = clock::now();
    auto elapsed = [&]() { return std::chrono::duration<double>(clock::now() - t_start).count(); };

    const index_t n = op.n();
    std::vector<double> lam(lam0, lam0 + n), c(static_cast<size_t>(n)), f(static_cast<size_t>(n), 0.0);
    std::vector<double> v(static_cast<size_t>(n)), lam_new(static_cast<size_t>(n)),
        zeros(static_cast<size_t>(n), 0.0), delta;
    std::vector<std::int8_t> yt(y, y + n), yt_new(static_cast<size_t>(n));
    std::vector<index_t> changed, candidates;
    ProjectionWorkspace pws;
    Rng rng(p.seed);

    bool any_nonzero = false;
    for (index_t i = 0; i < n; ++i) {
        c[i] = yt[i] * lam[i];
        any_nonzero |= lam[i] != 0.0;
    }
    if (any_nonzero) op.matvec(c.data(), f.data());

    const index_t k = p.flip_budget;
    const index_t n_cand = k > 0 ? std::min<index_t>(n, static_cast<index_t>(std::ceil(p.candidate_factor * static_cast<double>(k) - 1e-9))) : 0;
    double last_beat = 0.0;
    LoopHistory& h = res.history;
    for (auto* vec : {&h.objective, &h.mu, &h.eta, &h.seconds}) vec->reserve(static_cast<size_t>(p.n_rounds));

    index_t t = 1;
    for (; t <= p.n_rounds; ++t) {
        const double eta = p.learning_rate * std::pow(p.lr_decay, static_cast<double>(t / p.lr_decay_every));
        for (index_t i = 0; i < n; ++i) v[i] = lam[i] - eta * (yt[i] * f[i] - 1.0);
        const double mu = project_box_hyperplane(v.data(), yt.data(), zeros.data(), C, n,
                                                 lam_new.data(), pws);
        changed.clear();
        delta.clear();
        for (index_t i = 0; i < n; ++i) {
            if (lam_new[i] != lam[i]) {
                changed.push_back(i);
                delta.push_back(yt[i] * (lam_new[i] - lam[i]));
                c[i] = yt[i] * lam_new[i];
                lam[i] = lam_new[i];
            }
        }
        const index_t n_changed = static_cast<index_t>(changed.size());
        const bool dense = op.prefer_dense(n_changed, p.dense_fraction) ||
                           (p.refresh > 0 && t % p.refresh == 0);
        if (dense) {
            op.matvec(c.data(), f.data());
            ++res.dense_passes;
        } else if (n_changed > 0) {
            op.add_columns(changed.data(), delta.data(), n_changed, f.data());
        }

        const double b = intercept(lam.data(), yt.data(), f.data(), C, n);
        double quad = 0.0, lin = 0.0;
        index_t n_sv = 0, n_free = 0;
        for (index_t i = 0; i < n; ++i) {
            quad += c[i] * f[i];
            lin += lam[i];
            n_sv += lam[i] > p.tol;
            n_free += lam[i] > 0.0 && lam[i] < C[i];
        }
        const double objective = 0.5 * quad - lin;
        h.objective.push_back(objective);
        h.mu.push_back(mu);
        h.eta.push_back(eta);
        h.n_sv.push_back(n_sv);
        h.n_free.push_back(n_free);
        h.n_changed.push_back(n_changed);
        h.seconds.push_back(elapsed());

        int flags = 0;
        if (cb != nullptr) {
            if (t % p.eval_every == 0 || t == p.n_rounds) {
                flags = cb(ctx, CB_EVAL, t, lam.data(), yt.data(), b, objective);
                last_beat = elapsed();
            } else if (elapsed() - last_beat >= p.heartbeat) {
                flags = cb(ctx, CB_HEARTBEAT, t, lam.data(), yt.data(), b, objective);
                last_beat = elapsed();
            }
        }
        if (flags & CB_SNAPSHOT) {
            res.snapshot.lam = lam;
            res.snapshot.yt = yt;
            res.snapshot.b = b;
            res.snapshot.round = t;
            res.has_snapshot = true;
        }
        res.last.b = b;
        if ((flags & CB_STOP) && t < p.n_rounds) {
            res.stopped = true;
            break;
        }
        if (t == p.n_rounds || k == 0) continue;

        // Attacker: k of the top n_cand support vectors by lam, flips relative to y.
        topk_above(lam.data(), n, n_cand, p.tol, candidates);
        const index_t n_pick = std::min<index_t>(k, static_cast<index_t>(candidates.size()));
        if (static_cast<index_t>(candidates.size()) > n_pick) {
            // partial Fisher-Yates: the first n_pick entries become a uniform sample
            for (index_t r = 0; r < n_pick; ++r) {
                const index_t s = r + static_cast<index_t>(rng.below(static_cast<std::uint64_t>(candidates.size() - r)));
                std::swap(candidates[static_cast<size_t>(r)], candidates[static_cast<size_t>(s)]);
            }
        }
        std::copy(y, y + n, yt_new.begin());
        for (index_t r = 0; r < n_pick; ++r) {
            const index_t i = candidates[static_cast<size_t>(r)];
            yt_new[i] = static_cast<std::int8_t>(-y[i]);
        }
        changed.clear();
        delta.clear();
        for (index_t i = 0; i < n; ++i) {
            if (yt_new[i] != yt[i]) {
                if (lam[i] != 0.0) {
                    changed.push_back(i);
                    delta.push_back((yt_new[i] - yt[i]) * lam[i]);
                    c[i] = yt_new[i] * lam[i];
                }
                yt[i] = yt_new[i];
            }
        }
        if (!changed.empty()) {
            const index_t m = static_cast<index_t>(changed.size());
            if (op.prefer_dense(m, p.dense_fraction)) {
                op.matvec(c.data(), f.data());
                ++res.dense_passes;
            } else {
                op.add_columns(changed.data(), delta.data(), m, f.data());
            }
        }
    }
    res.rounds_run = std::min(t, p.n_rounds);
    res.last.lam = lam;
    res.last.yt = yt;
    res.last.round = res.rounds_run;
    res.f = f;
}

inline void run_floral(GramCache& cache, const std::int8_t* y, const double* C,
                       const double* lam0, const LoopParams& p, round_callback cb, void* ctx,
                       LoopResult& res) {
    GramOperator op(cache);
    run_floral(op, y, C, lam0, p, cb, ctx, res);
}

// f = K (yt * lam) recomputed densely: used by tests to measure the drift of the
// incremental updates.
inline void dense_decision_values(GramCache& cache, const double* coef, double* out) {
    GramOperator op(cache);
    op.matvec(coef, out);
}

}  // namespace floral
