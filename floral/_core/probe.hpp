// A memory-bandwidth probe for the benchmarks (bench/bench_runtime.py core); nothing in the round
// loop uses it. It lives apart from the hot-path headers so they hold only what fit runs.
#pragma once

#include <algorithm>

#include "common.hpp"

namespace floral {

// One read pass over `count` floats, in parallel: the memory-bandwidth bound that the
// dense round (which reads the lower half of K once) is compared against in bench/. It
// gets the same clones as the kernels so the bound is not limited by instruction set.
// Each 4096-float block is summed as eight interleaved 512-float streams in float: one
// double accumulator is bound by add latency and float->double conversion (~9 GB/s per
// core where a copy reaches twice that), which would make the "bound" slower than the
// round it bounds. Float sums are exact here: the probe's data is all ones and a stream
// sums 512 of them.
FLORAL_HOT inline double read_pass(const float* data, index_t count, int n_threads) {
    constexpr index_t kBlock = 4096, kStream = kBlock / 8;
    double total = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : total) num_threads(n_threads)
    for (index_t b = 0; b < (count + kBlock - 1) / kBlock; ++b) {
        const float* p = data + b * kBlock;
        const index_t len = std::min(kBlock, count - b * kBlock);
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f, s4 = 0.0f, s5 = 0.0f, s6 = 0.0f,
              s7 = 0.0f;
        if (len == kBlock) {
            FLORAL_SIMD_REDUCTION8(s0, s1, s2, s3, s4, s5, s6, s7)
            for (index_t i = 0; i < kStream; ++i) {
                s0 += p[i];
                s1 += p[i + kStream];
                s2 += p[i + 2 * kStream];
                s3 += p[i + 3 * kStream];
                s4 += p[i + 4 * kStream];
                s5 += p[i + 5 * kStream];
                s6 += p[i + 6 * kStream];
                s7 += p[i + 7 * kStream];
            }
        } else {
            for (index_t i = 0; i < len; ++i) s0 += p[i];
        }
        total += static_cast<double>(((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)));
    }
    return total;
}

}  // namespace floral
