// The thread count of the round loop's products under n_jobs=None (floral_loop.hpp).
#pragma once

#include <algorithm>
#include <limits>
#include <type_traits>
#include <utility>

#include "common.hpp"

namespace floral {

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

}  // namespace floral
