// Round keeping: what the round loop records and keeps of each round, from which the Python
// layer's model assembly builds the returned model (the C++ counterpart of that step).
//
// Every round's classifier is a kernel expansion over the training points, c_p = yt_p *
// lam_p with intercepts b_p, so an average of rounds is again one model. Besides the last
// round the loop keeps, in O(n) per round, (i) the sum of the coefficients and intercepts
// over a tail of rounds (the running average) and (ii) the n_best rounds with the highest
// accuracy (or balanced accuracy, the mean recall over the classes) on a validation set,
// scored from the validation decision values the loop maintains.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "common.hpp"

namespace floral {

struct LoopHistory {
    std::vector<double> objective, mu, eta, seconds, accuracy, balanced_accuracy;
    std::vector<index_t> n_sv, n_free, n_changed, ascent, n_bound;
};

// One row of LoopHistory.
struct RoundRecord {
    double objective = 0.0, mu = 0.0, eta = 0.0, seconds = 0.0;
    double accuracy = std::numeric_limits<double>::quiet_NaN();
    double balanced_accuracy = std::numeric_limits<double>::quiet_NaN();
    index_t n_sv = 0, n_free = 0, n_changed = 0, ascent = 0, n_bound = 0;
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

// Accuracy and balanced accuracy of a round at the m validation points, weighted by
// `weight` (null: 1 each). Sums of unit weights are exact, so unweighted scores are the
// counts' ratios.
class ValidationScore {
  public:
    ValidationScore(const std::int32_t* classes, index_t m, index_t n_classes,
                    const double* weight)
        : classes_(classes), weight_(weight), m_(m), n_classes_(n_classes),
          count_(static_cast<size_t>(n_classes), 0.0), correct_(count_) {
        for (index_t j = 0; j < m; ++j) {
            const double w = weight != nullptr ? weight[j] : 1.0;
            count_[static_cast<size_t>(classes[j])] += w;
            total_ += w;
        }
        // with all classes weighing the same, balanced accuracy is the accuracy, computed
        // the same way so that the two rank rounds identically
        double first = -1.0;
        for (double c : count_) {
            if (c == 0.0) continue;
            ++present_;
            if (first < 0.0) first = c;
            equal_counts_ &= c == first;
        }
    }

    // Scores the decision values fe (m per problem, problem-major) with intercepts b of P
    // problems into r.accuracy and r.balanced_accuracy.
    void score(const double* fe, const double* b, index_t P, RoundRecord& r) {
        std::fill(correct_.begin(), correct_.end(), 0.0);
        double correct = 0.0;
        for (index_t j = 0; j < m_; ++j) {
            const std::int32_t cls = classes_[j];
            if (predict_class(&fe[j], m_, b, P) != cls) continue;
            const double w = weight_ != nullptr ? weight_[j] : 1.0;
            correct += w;
            correct_[static_cast<size_t>(cls)] += w;
        }
        r.accuracy = correct / total_;
        if (equal_counts_) {
            r.balanced_accuracy = r.accuracy;
            return;
        }
        double recall = 0.0;
        for (index_t c = 0; c < n_classes_; ++c)
            if (count_[static_cast<size_t>(c)] > 0.0)
                recall += correct_[static_cast<size_t>(c)] / count_[static_cast<size_t>(c)];
        r.balanced_accuracy = recall / static_cast<double>(present_);
    }

  private:
    const std::int32_t* classes_;
    const double* weight_;
    index_t m_, n_classes_, present_ = 0;
    std::vector<double> count_, correct_;
    double total_ = 0.0;
    bool equal_counts_ = true;
};

// Keeps, into a LoopResult, the history of every round, the running average from round
// average_from (1-based; 0 = none) and the n_best rounds by score, then the last round.
class RoundKeeper {
  public:
    RoundKeeper(LoopResult& res, index_t n, index_t P, index_t n_rounds, index_t average_from,
                index_t n_best, bool balanced)
        : res_(res), n_(n), P_(P), average_from_(average_from),
          n_best_(n_best), balanced_(balanced),
          averaging_(average_from > 0 && average_from <= n_rounds) {
        if (averaging_) {
            res.average.coef.assign(static_cast<size_t>(P * n), 0.0);
            res.average.b.assign(static_cast<size_t>(P), 0.0);
            res.flip_count.assign(static_cast<size_t>(n), 0);
        }
        LoopHistory& h = res.history;
        for (auto* v : {&h.objective, &h.mu, &h.eta, &h.seconds, &h.accuracy, &h.balanced_accuracy})
            v->reserve(static_cast<size_t>(std::min<index_t>(n_rounds, index_t(1) << 16)));
    }

    // What the round is ranked by (NaN when it was not evaluated).
    double score(const RoundRecord& r) const {
        return balanced_ ? r.balanced_accuracy : r.accuracy;
    }

    void record(const RoundRecord& r) {
        LoopHistory& h = res_.history;
        h.objective.push_back(r.objective);
        h.mu.push_back(r.mu);
        h.eta.push_back(r.eta);
        h.n_sv.push_back(r.n_sv);
        h.n_free.push_back(r.n_free);
        h.n_changed.push_back(r.n_changed);
        h.ascent.push_back(r.ascent);
        h.n_bound.push_back(r.n_bound);
        h.accuracy.push_back(r.accuracy);
        h.balanced_accuracy.push_back(r.balanced_accuracy);
        h.seconds.push_back(r.seconds);
    }

    // Round t's model (coefficients c, intercepts b, trained on `labels`; y the given
    // labels) into the running average and, by `score`, among the best.
    void keep(index_t t, const std::vector<double>& c, const std::vector<double>& b,
              const std::vector<std::int32_t>& labels, const std::int32_t* y, double score) {
        if (averaging_ && t >= average_from_) {
            for (size_t i = 0; i < c.size(); ++i) res_.average.coef[i] += c[i];
            for (index_t q = 0; q < P_; ++q) res_.average.b[q] += b[q];
            for (index_t i = 0; i < n_; ++i) res_.flip_count[i] += labels[i] != y[i];
            ++res_.n_averaged;
        }
        if (n_best_ > 0 && score == score) keep_best(t, c, b, labels, score);
    }

    // The last round played (rounds_run of them) and the state the loop ends in.
    void finish(index_t rounds_run, std::vector<double> c, std::vector<double> b,
                std::vector<std::int32_t> labels, std::vector<double> lam,
                std::vector<double> f, std::vector<double> f_eval) {
        res_.rounds_run = rounds_run;
        res_.last.coef = std::move(c);
        res_.last.b = std::move(b);
        res_.last.labels = std::move(labels);
        res_.last.round = rounds_run;
        const LoopHistory& h = res_.history;
        res_.last.score = h.accuracy.empty() ? std::numeric_limits<double>::quiet_NaN()
                                             : (balanced_ ? h.balanced_accuracy.back()
                                                          : h.accuracy.back());
        res_.lam = std::move(lam);
        res_.f = std::move(f);
        res_.f_eval = std::move(f_eval);
    }

  private:
    void keep_best(index_t t, const std::vector<double>& c, const std::vector<double>& b,
                   const std::vector<std::int32_t>& labels, double score) {
        auto& best = res_.best;
        // strictly better than the worst kept round: the earliest round wins ties
        if (static_cast<index_t>(best.size()) == n_best_ && !(score > best.back().score))
            return;
        RoundModel r;
        if (static_cast<index_t>(best.size()) == n_best_) {
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

    LoopResult& res_;
    index_t n_, P_, average_from_, n_best_;
    bool balanced_, averaging_;
};

}  // namespace floral
