// Decision values h(x) = sum_j coef_j K(sv_j, x) + b for many test points, in tiles of
// test rows so memory stays O(tile * n_sv) per thread whatever the test-set size.
#pragma once

#include <algorithm>
#include <vector>

#include "kernel.hpp"

namespace floral {

constexpr index_t DECISION_TILE = 64;

inline void decision_function(const double* Xt, index_t m, const double* SV, index_t n_sv,
                              index_t d, const double* coef, double b, KernelSpec spec,
                              int n_threads, dgemm_fn gemm, double* out) {
    const KernelBlock kb(SV, n_sv, d, spec, gemm);
    const index_t ntiles = (m + DECISION_TILE - 1) / DECISION_TILE;
    const int nt = resolve_threads(n_threads);
    const size_t per = static_cast<size_t>(DECISION_TILE * (n_sv + 1));
    std::vector<double> scratch(static_cast<size_t>(nt) * per);  // allocated outside the region
#pragma omp parallel num_threads(nt) if (m * n_sv * d >= PARALLEL_MIN_WORK)
    {
        double* buf = scratch.data() + static_cast<size_t>(thread_num()) * per;
        double* norms = buf + DECISION_TILE * n_sv;
#pragma omp for schedule(dynamic, 1)
        for (index_t tile = 0; tile < ntiles; ++tile) {
            const index_t r0 = tile * DECISION_TILE, rm = std::min(DECISION_TILE, m - r0);
            if (kb.uses_gemm()) {
                for (index_t r = 0; r < rm; ++r) norms[r] = kb.sqnorm(Xt + (r0 + r) * d);
                kb.rows_gemm(Xt + r0 * d, rm, norms, n_sv, buf, n_sv);
            } else {
                for (index_t r = 0; r < rm; ++r) kb.row(Xt + (r0 + r) * d, n_sv, buf + r * n_sv);
            }
            for (index_t r = 0; r < rm; ++r) {
                const double* kr = buf + r * n_sv;
                double s = 0.0;
                for (index_t j = 0; j < n_sv; ++j) s += coef[j] * kr[j];
                out[r0 + r] = s + b;
            }
        }
    }
}

}  // namespace floral
