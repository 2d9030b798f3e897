// The FLORAL round loop (Bal, Cevher & Muehlebach, ICLR 2025, Algorithm 1 with the
// randomised top-k attacker), as specified in floral's DESIGN.md, for one binary problem
// or for K one-vs-rest problems that share the kernel and one attacker.
//
// Labels are class indices ỹ_i in [0, n_classes). Problem p sees yt_p,i = +1 if ỹ_i is
// p's positive class (class 1 for the binary problem, class p for one-vs-rest) else -1.
// Per round, for every problem p (Leader::step):
//
//   f_p = K (yt_p * lam_p)                  kept incrementally (DecisionValues)
//   g   = yt_p * f_p - 1                    gradient of D(lam) = 1/2 lam'Q lam - 1'lam
//   lam_p <- Proj_{0 <= lam <= C, yt_p'lam = 0}(lam_p - eta_t g)
//
// With unequal boxes C_i (class_weight, sample_weight) the step and the projection are
// preconditioned by d_i = C_i / mean(C) (LoopParams::scale): lam_p - eta_t d * g, projected
// in the metric diag(1 / d), so a point with a larger box also moves faster towards it and
// the weights act from the first round rather than only once a box binds. Equal boxes pass
// no scale and run the unpreconditioned step above, bit for bit.
//   b_p = mean over free SVs of (yt_i - f_i)    (LIBSVM's midpoint rule without free SVs)
//
// then the round is scored on the validation set and kept (rounds.hpp: history, running
// average, best rounds), and the attacker (attacker.hpp) relabels k points relative to the
// given labels; the next round trains on them.
//
// Per round: O(n) per problem for gradient, projection, intercept and selection; O(n |J|)
// for the incremental update of f over the changed coefficients J, or one dense product
// when J is most of n (the regime of small steps from lam = 0, where every coefficient
// moves); the same |J| columns for the validation points (O(m |J|)).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "attacker.hpp"
#include "evaluation.hpp"
#include "features.hpp"
#include "governor.hpp"
#include "operator.hpp"
#include "projection.hpp"
#include "rounds.hpp"

namespace floral {

// Flags a callback returns.
constexpr int CB_STOP = 2;  // end the loop after this round
// Reasons the loop calls back.
constexpr int CB_HEARTBEAT = 1;  // at most every `heartbeat` seconds, and after the last round

// Called with the round number (1-based), the summed objective of the problems and the
// validation score of that round (NaN when it was not evaluated).
typedef int (*round_callback)(void* ctx, int reason, index_t round, double objective,
                              double accuracy);

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
    index_t average_from = 0;     // first round (1-based) of the running average; 0 = none
    index_t n_best = 0;           // validation-best rounds to keep (needs an evaluator)
    bool balanced = false;        // rank rounds by balanced accuracy instead of accuracy
    const double* eval_weight = nullptr;  // weights of the m validation points; null = 1
    bool adaptive_threads = false;  // n_jobs=None: ThreadGovernor picks 1 or all threads
    // d_i = C_i / mean(C) (n values, 0 only where C_i = 0); null: equal boxes, no scale
    const double* scale = nullptr;
};

// The validation side: an operator from the training points to m validation points (null:
// none) and their classes.
template <class EvalOp>
struct Evaluation {
    Evaluation(EvalOp* op_, const std::int32_t* classes_) : op(op_), classes(classes_) {}
    EvalOp* op;
    const std::int32_t* classes;  // class indices of the m points
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

// The decision values f_p = K c_p at the training points and fe_p = K(Xv, X) c_p at the m
// validation points (n and m per problem, problem-major), kept incrementally: a change of
// the coefficients by delta on the columns J adds K[:, J] delta, or one dense product
// replaces the update when J is most of n (or on a refresh, which bounds the drift).
// Under n_jobs=None each product's thread count comes from timing (governor.hpp), one
// governor for dense passes and one for column updates (their costs per unit of work
// differ).
template <class Op, class EvalOp>
class DecisionValues {
  public:
    DecisionValues(Op& op, EvalOp* ev, index_t P, const LoopParams& p, index_t& dense_passes)
        : f(static_cast<size_t>(P * op.n()), 0.0),
          fe(static_cast<size_t>(P * (ev != nullptr ? ev->m() : 0)), 0.0), op_(op), ev_(ev),
          n_(op.n()), m_(ev != nullptr ? ev->m() : 0), adaptive_(p.adaptive_threads),
          dense_fraction_(p.dense_fraction), dense_passes_(dense_passes),
          governor_{ThreadGovernor(adaptive_ ? op_max_threads(op) : 1),
                    ThreadGovernor(adaptive_ ? op_max_threads(op) : 1)} {}

    index_t m() const { return m_; }

    // From scratch for problem q, whose coefficients are c (n of them).
    void compute(index_t q, const double* c) {
        timed(0, n_ * (n_ + 1) / 2 + m_ * n_, [&]() {
            op_.matvec(c, &f[q * n_]);
            if (m_ > 0) ev_->matvec(c, &fe[q * m_]);
        });
    }

    // After problem q's coefficients (now c) changed by delta on the columns `changed`;
    // force_dense recomputes both sides from scratch.
    void update(index_t q, const double* c, const std::vector<index_t>& changed,
                const std::vector<double>& delta, bool force_dense) {
        const index_t nc = static_cast<index_t>(changed.size());
        const bool dense = force_dense || op_.prefer_dense(nc, dense_fraction_);
        const index_t work =
            dense ? n_ * (n_ + 1) / 2 + m_ * (force_dense ? n_ : nc) : nc * (n_ + m_);
        timed(dense ? 0 : 1, work, [&]() {
            if (dense) {
                op_.matvec(c, &f[q * n_]);
                ++dense_passes_;
            } else if (nc > 0) {
                op_.add_columns(changed.data(), delta.data(), nc, &f[q * n_]);
            }
            if (m_ > 0) {
                // m |J| for the update against m n for a fresh product: only refreshes recompute
                if (force_dense) ev_->matvec(c, &fe[q * m_]);
                else if (nc > 0) ev_->add_columns(changed.data(), delta.data(), nc, &fe[q * m_]);
            }
        });
    }

    // Gives the operators their full thread count back.
    void release_threads() {
        op_set_threads(&op_, op_max_threads(op_));
        op_set_threads(ev_, op_max_threads(op_));
    }

    std::vector<double> f, fe;

  private:
    template <class Call>
    void timed(int kind, index_t work, Call&& call) {
        if (!adaptive_) {
            call();
            return;
        }
        const int nt = governor_[kind].threads(work);
        op_set_threads(&op_, nt);
        op_set_threads(ev_, nt);
        const auto t0 = std::chrono::steady_clock::now();
        call();
        governor_[kind].record(
            work, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }

    Op& op_;
    EvalOp* ev_;
    index_t n_, m_;
    bool adaptive_;
    double dense_fraction_;
    index_t& dense_passes_;
    ThreadGovernor governor_[2];
};

// The leader: the duals lam_p of the P problems, the labels yt_p in {-1, +1} each trains
// on, the coefficients c_p = yt_p * lam_p and the intercepts b_p (problem-major, n per
// problem). C: the per-sample box; d: the step's per-point scale (null: none).
class Leader {
  public:
    Leader(const double* lam0, const std::int32_t* labels, index_t n, index_t P,
           const double* C, const double* d)
        : lam(lam0, lam0 + P * n), c(static_cast<size_t>(P * n)), b(static_cast<size_t>(P), 0.0),
          yt(static_cast<size_t>(P * n)), n_(n), P_(P), C_(C), d_(d), v_(static_cast<size_t>(n)),
          lam_new_(static_cast<size_t>(n)), zeros_(static_cast<size_t>(n), 0.0) {
        for (index_t q = 0; q < P; ++q) {
            for (index_t i = 0; i < n; ++i) {
                const size_t qi = static_cast<size_t>(q * n + i);
                yt[qi] = positive(labels[i], q) ? 1 : -1;
                c[qi] = yt[qi] * lam[qi];
            }
        }
    }

    // f = K c from the starting duals (nothing to compute for a problem at lam = 0).
    template <class Values>
    void start(Values& values) const {
        for (index_t q = 0; q < P_; ++q) {
            const double* lq = &lam[q * n_];
            if (std::any_of(lq, lq + n_, [](double l) { return l != 0.0; }))
                values.compute(q, &c[q * n_]);
        }
    }

    // One projected gradient step on problem q's dual with step eta, the update of its
    // decision values (refresh: from scratch) and its intercept; adds the problem's
    // objective and counts to r. Returns the projection's multiplier mu.
    template <class Values>
    double step(index_t q, double eta, bool refresh, Values& values, RoundRecord& r) {
        double* lq = &lam[q * n_];
        double* cq = &c[q * n_];
        const double* fq = &values.f[q * n_];
        const std::int8_t* yq = &yt[q * n_];
        // D before the step under this round's labels: a step below 2 / lambda_max(K)
        // (2 / lambda_max(D^1/2 K D^1/2) when preconditioned by D = diag(d)) never raises
        // it (descent lemma), so a rise flags a step that is too large.
        double quad0 = 0.0, lin0 = 0.0, scale = 0.0;
        for (index_t i = 0; i < n_; ++i) {
            quad0 += cq[i] * fq[i];
            lin0 += lq[i];
            scale += std::abs(cq[i] * fq[i]);
        }
        double mu;
        if (d_ == nullptr) {
            for (index_t i = 0; i < n_; ++i) v_[i] = lq[i] - eta * (yq[i] * fq[i] - 1.0);
            mu = project_box_hyperplane(v_.data(), yq, zeros_.data(), C_, n_, lam_new_.data(),
                                        pws_);
        } else {
            for (index_t i = 0; i < n_; ++i)
                v_[i] = lq[i] - eta * d_[i] * (yq[i] * fq[i] - 1.0);
            mu = project_box_hyperplane_weighted(v_.data(), yq, zeros_.data(), C_, d_, n_,
                                                 lam_new_.data(), pws_);
        }
        changed_.clear();
        delta_.clear();
        for (index_t i = 0; i < n_; ++i) {
            if (lam_new_[i] != lq[i]) {
                changed_.push_back(i);
                delta_.push_back(yq[i] * (lam_new_[i] - lq[i]));
                cq[i] = yq[i] * lam_new_[i];
                lq[i] = lam_new_[i];
            }
        }
        r.n_changed += static_cast<index_t>(changed_.size());
        values.update(q, cq, changed_, delta_, refresh);

        b[q] = intercept(lq, yq, fq, C_, n_);
        double quad = 0.0, lin = 0.0;
        for (index_t i = 0; i < n_; ++i) {
            quad += cq[i] * fq[i];
            lin += lq[i];
            r.n_free += lq[i] > 0.0 && lq[i] < C_[i];
            r.n_bound += lq[i] >= C_[i] && C_[i] > 0.0;
        }
        const double before = 0.5 * quad0 - lin0, after = 0.5 * quad - lin;
        r.objective += after;
        if (after > before + 1e-7 * (0.5 * scale + lin0) || !std::isfinite(after)) ++r.ascent;
        return mu;
    }

    // Points with lam_p,i > tol in some problem.
    index_t count_sv(double tol) const {
        index_t n_sv = 0;
        for (index_t i = 0; i < n_; ++i) {
            bool sv = false;
            for (index_t q = 0; q < P_; ++q) sv |= lam[static_cast<size_t>(q * n_ + i)] > tol;
            n_sv += sv;
        }
        return n_sv;
    }

    // Trains from now on on `labels` (class indices): the signs yt and coefficients c of
    // the relabelled support vectors change, and the decision values with them.
    template <class Values>
    void train_on(const std::vector<std::int32_t>& labels, Values& values) {
        for (index_t q = 0; q < P_; ++q) {
            changed_.clear();
            delta_.clear();
            for (index_t i = 0; i < n_; ++i) {
                const std::int8_t now = positive(labels[i], q) ? 1 : -1;
                const size_t qi = static_cast<size_t>(q * n_ + i);
                if (now != yt[qi]) {
                    if (lam[qi] != 0.0) {
                        changed_.push_back(i);
                        delta_.push_back((now - yt[qi]) * lam[qi]);
                        c[qi] = now * lam[qi];
                    }
                    yt[qi] = now;
                }
            }
            if (!changed_.empty()) values.update(q, &c[q * n_], changed_, delta_, false);
        }
    }

    std::vector<double> lam, c, b;
    std::vector<std::int8_t> yt;

  private:
    bool positive(std::int32_t cls, index_t q) const {
        return P_ == 1 ? cls == 1 : cls == static_cast<std::int32_t>(q);
    }

    index_t n_, P_;
    const double* C_;
    const double* d_;
    std::vector<double> v_, lam_new_, zeros_, delta_;
    std::vector<index_t> changed_;
    ProjectionWorkspace pws_;
};

// y: given class indices; C: per-sample box; lam0: n_problems x n starting duals (feasible
// for the given labels); class_cap: the most points of each class the attacker may relabel
// in one round (n_classes entries; a cap >= flip_budget never binds).
template <class Op, class EvalOp>
void run_floral(Op& op, Evaluation<EvalOp> ev, const std::int32_t* y, index_t n_classes,
                const double* C, const double* lam0, const index_t* class_cap,
                const LoopParams& p, round_callback cb, void* ctx, LoopResult& res) {
    using clock = std::chrono::steady_clock;
    const auto t_start = clock::now();
    auto elapsed = [&]() { return std::chrono::duration<double>(clock::now() - t_start).count(); };

    const index_t n = op.n();
    const index_t P = n_classes > 2 ? n_classes : 1;  // problems
    std::vector<std::int32_t> labels(y, y + n), labels_new(static_cast<size_t>(n));
    Leader leader(lam0, y, n, P, C, p.scale);
    DecisionValues<Op, EvalOp> values(op, ev.op, P, p, res.dense_passes);
    leader.start(values);
    ValidationScore validation(ev.classes, values.m(), n_classes, p.eval_weight);
    RoundKeeper keeper(res, n, P, p.n_rounds, p.average_from, p.n_best, p.balanced);
    Attacker attacker(n, n_classes, P, p.flip_budget, p.candidate_factor, p.tol, p.seed,
                      class_cap);

    double last_beat = 0.0;
    index_t t = 1;
    for (; t <= p.n_rounds; ++t) {
        RoundRecord r;
        r.eta = p.learning_rate * std::pow(p.lr_decay, static_cast<double>(t / p.lr_decay_every));
        const bool refresh = p.refresh > 0 && t % p.refresh == 0;
        // the leader's projected gradient step, decision values and intercept per problem
        for (index_t q = 0; q < P; ++q) {
            const double mu = leader.step(q, r.eta, refresh, values, r);
            if (q == 0) r.mu = mu;
        }
        // record the round, and keep it for the average and among the best by its score
        r.n_sv = leader.count_sv(p.tol);
        if (values.m() > 0 && (t % p.eval_every == 0 || t == p.n_rounds))
            validation.score(values.fe.data(), leader.b.data(), P, r);
        r.seconds = elapsed();
        keeper.record(r);
        const double score = keeper.score(r);
        keeper.keep(t, leader.c, leader.b, labels, y, score);

        int flags = 0;
        if (cb != nullptr && (t == p.n_rounds || elapsed() - last_beat >= p.heartbeat)) {
            flags = cb(ctx, CB_HEARTBEAT, t, r.objective, score);
            last_beat = elapsed();
        }
        if ((flags & CB_STOP) && t < p.n_rounds) {
            res.stopped = true;
            break;
        }
        if (t == p.n_rounds || !attacker.active()) continue;

        // the follower's move against this round's model; the next round trains on it
        attacker.attack(leader.lam.data(), values.f.data(), leader.b.data(), y,
                        labels_new.data());
        leader.train_on(labels_new, values);
        labels.swap(labels_new);
    }
    values.release_threads();
    keeper.finish(std::min(t, p.n_rounds), leader.c, leader.b, labels, leader.lam, values.f,
                  values.fe);
}

// lambda_max(K) by power iteration (K is symmetric positive semidefinite for the kernels
// that give a convex dual): the Rayleigh quotient of K^t v0, stopped when it changes by
// less than rtol. The start mixes a constant vector (close to the Perron vector of an RBF
// Gram matrix, whose entries are all positive) with fixed pseudo-random noise (a component
// along the top eigenvector for any kernel). Each iteration is one matvec.
template <class Op>
double lambda_max(Op& op, index_t max_iter, double rtol, index_t* iterations) {
    const index_t n = op.n();
    std::vector<double> v(static_cast<size_t>(n)), w(static_cast<size_t>(n));
    Rng rng(0x5EEDF10A1ULL);
    for (auto& x : v) x = 1.0 + (rng.uniform() - 0.5);
    double norm = 0.0;
    for (double x : v) norm += x * x;
    norm = std::sqrt(norm);
    for (auto& x : v) x /= norm;
    double lam = 0.0;
    index_t it = 0;
    InterruptPoll interrupt;  // each product can take a second at n = 30,000
    while (it < max_iter) {
        if (interrupt.poll()) throw Interrupted();
        op.matvec(v.data(), w.data());
        ++it;
        double rq = 0.0, ww = 0.0;
        for (index_t i = 0; i < n; ++i) {
            rq += v[i] * w[i];
            ww += w[i] * w[i];
        }
        const bool done = it > 1 && std::abs(rq - lam) <= rtol * std::abs(rq);
        lam = rq;
        if (done || ww == 0.0 || !std::isfinite(ww)) break;
        const double inv = 1.0 / std::sqrt(ww);
        for (index_t i = 0; i < n; ++i) v[i] = w[i] * inv;
    }
    if (iterations != nullptr) *iterations = it;
    return lam;
}

// D^1/2 K D^1/2 for K = op and D = diag(d): the matrix whose lambda_max bounds the
// preconditioned step (the Leader with a scale).
template <class Op>
class ScaledOperator {
  public:
    ScaledOperator(Op& op, const double* d)
        : op_(op), r_(static_cast<size_t>(op.n())), t_(static_cast<size_t>(op.n())) {
        for (index_t i = 0; i < op.n(); ++i) r_[i] = std::sqrt(d[i]);
    }
    index_t n() const { return op_.n(); }
    void matvec(const double* x, double* y) {
        const index_t n = op_.n();
        for (index_t i = 0; i < n; ++i) t_[i] = r_[i] * x[i];
        op_.matvec(t_.data(), y);
        for (index_t i = 0; i < n; ++i) y[i] *= r_[i];
    }

  private:
    Op& op_;
    std::vector<double> r_, t_;
};

// lambda_max of K (scale null) or of D^1/2 K D^1/2 (D = diag(scale)).
template <class Op>
double lambda_max(Op& op, index_t max_iter, double rtol, index_t* iterations,
                  const double* scale) {
    if (scale == nullptr) return lambda_max(op, max_iter, rtol, iterations);
    ScaledOperator<Op> scaled(op, scale);
    return lambda_max(scaled, max_iter, rtol, iterations);
}

// Entry points for the Cython layer, which binds concrete types only.
inline void run_floral_gram(GramCache& cache, CrossKernel* eval, const std::int32_t* y_eval,
                            const std::int32_t* y, index_t n_classes, const double* C,
                            const double* lam0, const index_t* class_cap, const LoopParams& p,
                            round_callback cb, void* ctx, LoopResult& res) {
    GramOperator op(cache);
    run_floral(op, Evaluation<CrossKernel>(eval, y_eval), y, n_classes, C, lam0, class_cap, p,
               cb, ctx, res);
}

inline double gram_lambda_max(GramCache& cache, index_t max_iter, double rtol,
                              index_t* iterations, const double* scale = nullptr) {
    GramOperator op(cache);
    return lambda_max(op, max_iter, rtol, iterations, scale);
}

// The linear kernel in feature space; the validation side is a FeatureOperator from the
// training points to the validation points.
template <typename T>
inline void run_floral_features(BasicFeatureOperator<T>& op, BasicFeatureOperator<T>* eval,
                                const std::int32_t* y_eval, const std::int32_t* y,
                                index_t n_classes, const double* C, const double* lam0,
                                const index_t* class_cap, const LoopParams& p,
                                round_callback cb, void* ctx, LoopResult& res) {
    run_floral(op, Evaluation<BasicFeatureOperator<T>>(eval, y_eval), y, n_classes, C, lam0,
               class_cap, p, cb, ctx, res);
}

template <typename T>
inline double features_lambda_max(BasicFeatureOperator<T>& op, index_t max_iter, double rtol,
                                  index_t* iterations, const double* scale = nullptr) {
    return lambda_max(op, max_iter, rtol, iterations, scale);
}

}  // namespace floral
