// Decision values h_p(x) = sum_j coef_pj K(sv_j, x) + b_p of n_out problems (one, or one
// per class for one-vs-rest) for many test points, in tiles of test rows so memory stays
// O(tile * n_sv) per thread whatever the test-set size. Each kernel block is computed once
// for all problems. coef is n_out x n_sv (problem-major); out is m x n_out (row-major).
#pragma once

#include <algorithm>
#include <vector>

#include "kernel.hpp"

namespace floral {

constexpr index_t DECISION_TILE = 64;

inline void decision_function(const double* Xt, index_t m, const double* SV, index_t n_sv,
                              index_t d, const double* coef, const double* b, index_t n_out,
                              KernelSpec spec, int n_threads, dgemm_fn gemm, double* out) {
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
                for (index_t q = 0; q < n_out; ++q) {
                    const double* cq = coef + q * n_sv;
                    double s = 0.0;
                    for (index_t j = 0; j < n_sv; ++j) s += cq[j] * kr[j];
                    out[(r0 + r) * n_out + q] = s + b[q];
                }
            }
        }
    }
}

}  // namespace floral
