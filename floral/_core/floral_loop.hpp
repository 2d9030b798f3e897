// The FLORAL round loop (Bal, Cevher & Muehlebach, ICLR 2025, Algorithm 1 with the
// randomised top-k attacker), as specified in floral's DESIGN.md, for one binary problem
// or for K one-vs-rest problems that share the kernel and one attacker.
//
// Labels are class indices ỹ_i in [0, n_classes). Problem p sees yt_p,i = +1 if ỹ_i is
// p's positive class (class 1 for the binary problem, class p for one-vs-rest) else -1.
// Per round, for every problem p:
//
//   f_p = K (yt_p * lam_p)                  kept incrementally
//   g   = yt_p * f_p - 1                    gradient of D(lam) = 1/2 lam'Q lam - 1'lam
//   lam_p <- Proj_{0 <= lam <= C, yt_p'lam = 0}(lam_p - eta_t g)
//   b_p = mean over free SVs of (yt_i - f_i)    (LIBSVM's midpoint rule without free SVs)
//
// then the attacker: among the top ceil(candidate_factor k) points by total dual weight
// sum_p lam_p,i (support vectors only), k chosen uniformly at random, subject to a cap per
// class, are relabelled relative to the given labels: to the other class (binary) or to
// the runner-up class by decision value (one-vs-rest). The next round trains on them.
//
// Besides the last round the loop keeps, in O(n) per round, (i) the average of the
// coefficients c_p = yt_p * lam_p and intercepts over a tail of rounds and (ii) the
// n_best rounds with the highest accuracy (or balanced accuracy, the mean recall over the
// classes) on a validation set, whose decision values it maintains like the training ones
// (an evaluation operator over the validation points).
//
// Per round: O(n) per problem for gradient, projection, intercept and selection; O(n |J|)
// for the incremental update of f over the changed coefficients J, or one dense product
// when J is most of n (the regime of small steps from lam = 0, where every coefficient
// moves); the same |J| columns for the validation points (O(m |J|)).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "evaluation.hpp"
#include "features.hpp"
#include "operator.hpp"
#include "projection.hpp"
#include "rng.hpp"
#include "select.hpp"

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
};

// Work (kernel entries touched) below which a product in the round loop runs on one
// thread under the governor. Every parallel region ends at a barrier; when another process
// holds a core, the thread that the OS has descheduled makes that barrier wait for a
// scheduler time slice (measured: 5-30 ms per region on a loaded 2-core machine), which
// dwarfs a product of this size (about 5 ms on one core: the dense pass at n ~ 5,800).
constexpr index_t GOVERNED_MIN_WORK = index_t(1) << 24;

// Whether an operator lets the loop change its thread count (one without it keeps its own).
template <class Op, class = void>
struct has_set_threads : std::false_type {};
template <class Op>
struct has_set_threads<Op, std::void_t<decltype(std::declval<Op&>().set_threads(1))>>
    : std::true_type {};

template <class Op>
int op_max_threads(Op& op) {
    if constexpr (has_set_threads<Op>::value) return op.max_threads();
    else return 1;
}
template <class Op>
void op_set_threads(Op* op, int t) {
    if constexpr (has_set_threads<Op>::value) {
        if (op != nullptr) op->set_threads(t);
    }
}

// Picks, for one kind of product (dense pass or column update), between one thread and all
// of them by timing the products themselves: seconds per unit of work for each choice, the
// current one refreshed by every call, the other by occasional probes. A probe of the
// other choice is made once the time spent since the last one exceeds `patience` times
// what the last losing probe cost, and patience doubles after each losing probe, so probes
// cost a bounded, shrinking fraction of the run. When the current choice becomes slower
// than the other's last measurement (load appeared or went away) the governor switches at
// once. Which threads compute a product never changes its result (matvec.hpp), so the
// choice changes only the time.
class ThreadGovernor {
  public:
    explicit ThreadGovernor(int max_threads) : max_t_(max_threads) {}

    // Threads for a call of this much work.
    int threads(index_t work) {
        if (max_t_ <= 1 || work < GOVERNED_MIN_WORK) {
            probing_ = false;
            return 1;
        }
        probing_ = since_probe_ >= patience_ * probe_cost_ && calls_ >= 1;
        const int use = probing_ ? 1 - cur_ : cur_;
        return use == 1 ? max_t_ : 1;
    }

    // Reports the call just made with threads(work).
    void record(index_t work, double seconds) {
        if (max_t_ <= 1 || work < GOVERNED_MIN_WORK) return;
        ++calls_;
        const double r = seconds / static_cast<double>(work);
        if (probing_) {
            const int other = 1 - cur_;
            rate_[other] = r;
            since_probe_ = 0.0;
            if (r < rate_[cur_]) {  // the probe won: switch, and look back soon
                cur_ = other;
                patience_ = 4.0;
                probe_cost_ = 0.0;
            } else {
                probe_cost_ = (r - rate_[cur_]) * static_cast<double>(work);
                patience_ = std::min(1024.0, 2.0 * patience_);
            }
            probing_ = false;
            return;
        }
        rate_[cur_] = r;
        since_probe_ += seconds;
        if (rate_[1 - cur_] < r) cur_ = 1 - cur_;  // NaN (never measured) compares false
    }

  private:
    int max_t_;
    int cur_ = 0;  // 0: one thread, 1: max_t_; starts on one (cheap to be wrong about)
    double rate_[2] = {std::numeric_limits<double>::quiet_NaN(),
                       std::numeric_limits<double>::quiet_NaN()};
    double since_probe_ = 0.0, probe_cost_ = 0.0, patience_ = 4.0;
    index_t calls_ = 0;
    bool probing_ = false;
};

struct LoopHistory {
    std::vector<double> objective, mu, eta, seconds, accuracy, balanced_accuracy;
    std::vector<index_t> n_sv, n_free, n_changed, ascent, n_bound;
};

// One classifier: coef (n_problems x n, problem-major) and intercepts (n_problems).
struct RoundModel {
    std::vector<double> coef;
    std::vector<double> b;
    std::vector<std::int32_t> labels;  // the labels the round trained on (empty for averages)
    index_t round = 0;
    double score = std::numeric_limits<double>::quiet_NaN();  // what the round was ranked by
};

struct LoopResult {
    RoundModel last;
    std::vector<double> lam;           // lam of the last round, problem-major
    RoundModel average;                // sum (not yet divided) over the averaged rounds
    index_t n_averaged = 0;
    std::vector<index_t> flip_count;   // rounds of the average in which each point was flipped
    std::vector<RoundModel> best;      // by score desc, round asc
    bool stopped = false;              // a callback asked to stop before n_rounds
    index_t rounds_run = 0;
    index_t dense_passes = 0;
    LoopHistory history;
    std::vector<double> f;             // K c_p as maintained incrementally, for drift tests
    std::vector<double> f_eval;        // the same at the validation points
};

// The validation side: decision values at m points, accuracy against their classes.
template <class EvalOp>
struct Evaluation {
    Evaluation(EvalOp* op_, const std::int32_t* classes_)
        : op(op_), classes(classes_), m(op_ != nullptr ? op_->m() : 0) {}
    EvalOp* op;
    const std::int32_t* classes;  // class indices of the m points
    index_t m;
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

// Predicted class at a point from the problems' decision values (stride between problems).
// Binary: class 1 where the decision is positive. One-vs-rest: the argmax, lowest class on
// ties, as numpy.argmax.
inline std::int32_t predict_class(const double* f, index_t stride, const double* b,
                                  index_t n_problems) {
    if (n_problems == 1) return f[0] + b[0] > 0.0 ? 1 : 0;
    std::int32_t best = 0;
    double best_v = f[0] + b[0];
    for (index_t p = 1; p < n_problems; ++p) {
        const double v = f[p * stride] + b[p];
        if (v > best_v) {
            best_v = v;
            best = static_cast<std::int32_t>(p);
        }
    }
    return best;
}

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
    const index_t m = ev.op != nullptr ? ev.m : 0;
    const size_t N = static_cast<size_t>(n), PN = static_cast<size_t>(P * n);
    auto positive = [P](std::int32_t cls, index_t prob) {
        return P == 1 ? cls == 1 : cls == static_cast<std::int32_t>(prob);
    };

    std::vector<double> lam(lam0, lam0 + PN), c(PN), f(PN, 0.0), fe(static_cast<size_t>(P * m), 0.0);
    std::vector<double> b(static_cast<size_t>(P), 0.0), v(N), lam_new(N), zeros(N, 0.0), delta;
    std::vector<std::int32_t> labels(y, y + n), labels_new(N);
    std::vector<std::int8_t> yt(PN);
    std::vector<index_t> changed, candidates, taken(static_cast<size_t>(n_classes));
    std::vector<double> weight_sum(P > 1 ? N : 0);
    ProjectionWorkspace pws;
    Rng rng(p.seed);
    // n_jobs=None: every product's thread count from timing, one governor for dense passes
    // and one for column updates (their costs per unit of work differ)
    const int gov_threads = p.adaptive_threads ? op_max_threads(op) : 1;
    ThreadGovernor governor[2] = {ThreadGovernor(gov_threads), ThreadGovernor(gov_threads)};
    auto timed = [&](int kind, index_t work, auto&& call) {
        if (!p.adaptive_threads) {
            call();
            return;
        }
        const int nt = governor[kind].threads(work);
        op_set_threads(&op, nt);
        op_set_threads(ev.op, nt);
        const auto t0 = clock::now();
        call();
        governor[kind].record(work, std::chrono::duration<double>(clock::now() - t0).count());
    };

    for (index_t q = 0; q < P; ++q) {
        bool any_nonzero = false;
        for (index_t i = 0; i < n; ++i) {
            const size_t qi = static_cast<size_t>(q * n + i);
            yt[qi] = positive(labels[i], q) ? 1 : -1;
            c[qi] = yt[qi] * lam[qi];
            any_nonzero |= lam[qi] != 0.0;
        }
        if (any_nonzero) {
            timed(0, n * (n + 1) / 2 + m * n, [&]() {
                op.matvec(&c[q * n], &f[q * n]);
                if (m > 0) ev.op->matvec(&c[q * n], &fe[q * m]);
            });
        }
    }

    const bool averaging = p.average_from > 0 && p.average_from <= p.n_rounds;
    if (averaging) {
        res.average.coef.assign(PN, 0.0);
        res.average.b.assign(static_cast<size_t>(P), 0.0);
        res.flip_count.assign(N, 0);
    }
    const index_t k = p.flip_budget;
    // clamped to n in double: candidate_factor * k can exceed what index_t holds (1e18 * k),
    // and casting such a double to an integer is undefined (in practice INT64_MIN: no
    // candidates, the attacker silently off)
    const index_t n_cand = k > 0 ? static_cast<index_t>(std::min(static_cast<double>(n), std::ceil(p.candidate_factor * static_cast<double>(k) - 1e-9))) : 0;
    double last_beat = 0.0;
    LoopHistory& h = res.history;
    for (auto* vec : {&h.objective, &h.mu, &h.eta, &h.seconds, &h.accuracy, &h.balanced_accuracy})
        vec->reserve(static_cast<size_t>(std::min<index_t>(p.n_rounds, index_t(1) << 16)));
    // validation points per class, and whether they are all equal (then balanced accuracy
    // is the accuracy, computed the same way so that the two rank rounds identically)
    // (weighted by eval_weight; sums of unit weights are exact, so unweighted scores are
    // the counts' ratios)
    const double* wv = p.eval_weight;
    std::vector<double> val_count(static_cast<size_t>(n_classes), 0.0), val_correct(val_count);
    double val_total = 0.0;
    for (index_t j = 0; j < m; ++j) {
        const double w = wv != nullptr ? wv[j] : 1.0;
        val_count[static_cast<size_t>(ev.classes[j])] += w;
        val_total += w;
    }
    index_t present = 0;
    double first_count = -1.0;
    bool equal_counts = true;
    for (double c : val_count) {
        if (c == 0.0) continue;
        ++present;
        if (first_count < 0.0) first_count = c;
        equal_counts &= c == first_count;
    }

    // f (and the validation values) += K[:, cols] delta for problem q, densely when cheaper.
    auto update = [&](index_t q, bool force_dense) {
        const index_t nc = static_cast<index_t>(changed.size());
        const bool dense = force_dense || op.prefer_dense(nc, p.dense_fraction);
        const index_t work = dense ? n * (n + 1) / 2 + m * (force_dense ? n : nc) : nc * (n + m);
        timed(dense ? 0 : 1, work, [&]() {
            if (dense) {
                op.matvec(&c[q * n], &f[q * n]);
                ++res.dense_passes;
            } else if (nc > 0) {
                op.add_columns(changed.data(), delta.data(), nc, &f[q * n]);
            }
            if (m > 0) {
                // m |J| for the update against m n for a fresh product: only refreshes recompute
                if (force_dense) ev.op->matvec(&c[q * n], &fe[q * m]);
                else if (nc > 0) ev.op->add_columns(changed.data(), delta.data(), nc, &fe[q * m]);
            }
        });
    };

    index_t t = 1;
    for (; t <= p.n_rounds; ++t) {
        const double eta = p.learning_rate * std::pow(p.lr_decay, static_cast<double>(t / p.lr_decay_every));
        const bool refresh = p.refresh > 0 && t % p.refresh == 0;
        double objective = 0.0, mu0 = 0.0;
        index_t n_changed = 0, n_free = 0, ascent = 0, n_bound = 0;
        for (index_t q = 0; q < P; ++q) {
            double* lq = &lam[q * n];
            double* cq = &c[q * n];
            const double* fq = &f[q * n];
            const std::int8_t* yq = &yt[q * n];
            // D before the step under this round's labels: a step below 2 / lambda_max(K)
            // never raises it (descent lemma), so a rise flags a step that is too large.
            double quad0 = 0.0, lin0 = 0.0, scale = 0.0;
            for (index_t i = 0; i < n; ++i) {
                quad0 += cq[i] * fq[i];
                lin0 += lq[i];
                scale += std::abs(cq[i] * fq[i]);
                v[i] = lq[i] - eta * (yq[i] * fq[i] - 1.0);
            }
            const double mu = project_box_hyperplane(v.data(), yq, zeros.data(), C, n,
                                                     lam_new.data(), pws);
            if (q == 0) mu0 = mu;
            changed.clear();
            delta.clear();
            for (index_t i = 0; i < n; ++i) {
                if (lam_new[i] != lq[i]) {
                    changed.push_back(i);
                    delta.push_back(yq[i] * (lam_new[i] - lq[i]));
                    cq[i] = yq[i] * lam_new[i];
                    lq[i] = lam_new[i];
                }
            }
            n_changed += static_cast<index_t>(changed.size());
            update(q, refresh);

            b[q] = intercept(lq, yq, fq, C, n);
            double quad = 0.0, lin = 0.0;
            for (index_t i = 0; i < n; ++i) {
                quad += cq[i] * fq[i];
                lin += lq[i];
                n_free += lq[i] > 0.0 && lq[i] < C[i];
                n_bound += lq[i] >= C[i] && C[i] > 0.0;
            }
            const double before = 0.5 * quad0 - lin0, after = 0.5 * quad - lin;
            objective += after;
            if (after > before + 1e-7 * (0.5 * scale + lin0) || !std::isfinite(after)) ++ascent;
        }
        index_t n_sv = 0;
        for (index_t i = 0; i < n; ++i) {
            bool sv = false;
            for (index_t q = 0; q < P; ++q) sv |= lam[static_cast<size_t>(q * n + i)] > p.tol;
            n_sv += sv;
        }

        double accuracy = std::numeric_limits<double>::quiet_NaN(), balanced = accuracy;
        if (m > 0 && (t % p.eval_every == 0 || t == p.n_rounds)) {
            std::fill(val_correct.begin(), val_correct.end(), 0.0);
            double correct = 0.0;
            for (index_t j = 0; j < m; ++j) {
                const std::int32_t cls = ev.classes[j];
                if (predict_class(&fe[j], m, b.data(), P) != cls) continue;
                const double w = wv != nullptr ? wv[j] : 1.0;
                correct += w;
                val_correct[static_cast<size_t>(cls)] += w;
            }
            accuracy = correct / val_total;
            if (equal_counts) {
                balanced = accuracy;
            } else {
                double recall = 0.0;
                for (index_t c = 0; c < n_classes; ++c)
                    if (val_count[static_cast<size_t>(c)] > 0.0)
                        recall += val_correct[static_cast<size_t>(c)] /
                                  val_count[static_cast<size_t>(c)];
                balanced = recall / static_cast<double>(present);
            }
        }
        const double score = p.balanced ? balanced : accuracy;
        h.objective.push_back(objective);
        h.mu.push_back(mu0);
        h.eta.push_back(eta);
        h.n_sv.push_back(n_sv);
        h.n_free.push_back(n_free);
        h.n_changed.push_back(n_changed);
        h.ascent.push_back(ascent);
        h.n_bound.push_back(n_bound);
        h.accuracy.push_back(accuracy);
        h.balanced_accuracy.push_back(balanced);
        h.seconds.push_back(elapsed());

        if (averaging && t >= p.average_from) {
            for (size_t i = 0; i < PN; ++i) res.average.coef[i] += c[i];
            for (index_t q = 0; q < P; ++q) res.average.b[q] += b[q];
            for (index_t i = 0; i < n; ++i) res.flip_count[i] += labels[i] != y[i];
            ++res.n_averaged;
        }
        if (p.n_best > 0 && score == score) {
            auto& best = res.best;
            // strictly better than the worst kept round: the earliest round wins ties
            if (static_cast<index_t>(best.size()) < p.n_best || score > best.back().score) {
                RoundModel r;
                if (static_cast<index_t>(best.size()) == p.n_best) {
                    r = std::move(best.back());
                    best.pop_back();
                }
                r.coef = c;
                r.b = b;
                r.labels = labels;
                r.round = t;
                r.score = score;
                auto pos = std::upper_bound(best.begin(), best.end(), score,
                                            [](double a, const RoundModel& e) { return a > e.score; });
                best.insert(pos, std::move(r));
            }
        }

        int flags = 0;
        if (cb != nullptr && (t == p.n_rounds || elapsed() - last_beat >= p.heartbeat)) {
            flags = cb(ctx, CB_HEARTBEAT, t, objective, score);
            last_beat = elapsed();
        }
        if ((flags & CB_STOP) && t < p.n_rounds) {
            res.stopped = true;
            break;
        }
        if (t == p.n_rounds || k == 0) continue;

        // Attacker: k of the top n_cand support vectors by dual weight, flips relative to y.
        const double* weight = lam.data();
        if (P > 1) {
            for (index_t i = 0; i < n; ++i) {
                double s = 0.0;
                for (index_t q = 0; q < P; ++q) s += lam[static_cast<size_t>(q * n + i)];
                weight_sum[i] = s;
            }
            weight = weight_sum.data();
        }
        topk_above(weight, n, n_cand, p.tol, candidates);
        const index_t size = static_cast<index_t>(candidates.size());
        const bool shuffle = size > std::min<index_t>(k, size);
        std::fill(taken.begin(), taken.end(), 0);
        std::copy(y, y + n, labels_new.begin());
        index_t picked = 0;
        for (index_t r = 0; r < size && picked < k; ++r) {
            if (shuffle) {
                // partial Fisher-Yates, drawn lazily: position r becomes a uniform pick
                // among those left, so the accepted picks are a uniform sample
                const index_t s = r + static_cast<index_t>(rng.below(static_cast<std::uint64_t>(size - r)));
                std::swap(candidates[static_cast<size_t>(r)], candidates[static_cast<size_t>(s)]);
            }
            const index_t i = candidates[static_cast<size_t>(r)];
            const std::int32_t cls = y[i];
            if (taken[cls] >= class_cap[cls]) continue;  // this class has lost its share
            ++taken[cls];
            ++picked;
            if (P == 1) {
                labels_new[i] = 1 - cls;
            } else {
                // the runner-up class by decision value: the move that costs the model most
                std::int32_t target = -1;
                double best_v = -std::numeric_limits<double>::infinity();
                for (index_t q = 0; q < P; ++q) {
                    if (q == cls) continue;
                    const double val = f[static_cast<size_t>(q * n + i)] + b[q];
                    if (target < 0 || val > best_v) {
                        best_v = val;
                        target = static_cast<std::int32_t>(q);
                    }
                }
                labels_new[i] = target;
            }
        }
        for (index_t q = 0; q < P; ++q) {
            changed.clear();
            delta.clear();
            for (index_t i = 0; i < n; ++i) {
                const std::int8_t now = positive(labels_new[i], q) ? 1 : -1;
                const size_t qi = static_cast<size_t>(q * n + i);
                if (now != yt[qi]) {
                    if (lam[qi] != 0.0) {
                        changed.push_back(i);
                        delta.push_back((now - yt[qi]) * lam[qi]);
                        c[qi] = now * lam[qi];
                    }
                    yt[qi] = now;
                }
            }
            if (!changed.empty()) update(q, false);
        }
        labels.swap(labels_new);
    }
    op_set_threads(&op, op_max_threads(op));
    op_set_threads(ev.op, op_max_threads(op));
    res.rounds_run = std::min(t, p.n_rounds);
    res.last.coef = c;
    res.last.b = b;
    res.last.labels = labels;
    res.last.round = res.rounds_run;
    res.last.score = h.accuracy.empty() ? std::numeric_limits<double>::quiet_NaN()
                                        : (p.balanced ? h.balanced_accuracy.back() : h.accuracy.back());
    res.lam = lam;
    res.f = f;
    res.f_eval = fe;
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
                              index_t* iterations) {
    GramOperator op(cache);
    return lambda_max(op, max_iter, rtol, iterations);
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
                                  index_t* iterations) {
    return lambda_max(op, max_iter, rtol, iterations);
}

// f = K (yt * lam) recomputed densely: used by tests to measure the drift of the
// incremental updates.
inline void dense_decision_values(GramCache& cache, const double* coef, double* out) {
    GramOperator op(cache);
    op.matvec(coef, out);
}

}  // namespace floral
