"""floral's compiled core: C++ headers (.hpp) bound by one Cython module (_lib.pyx).

The hot kernels exist in one version per SIMD target (``SIMD_TARGETS``: baseline x86-64,
AVX2+FMA, AVX-512; other builds have the baseline only). The best one this CPU runs is
used unless the environment variable ``FLORAL_CPU_TARGET`` names another, read once, here,
at import (like NumPy's ``NPY_DISABLE_CPU_FEATURES``): ``baseline``, ``avx2``, ``avx512``
or ``auto`` (the default). A name this CPU cannot run, or an unknown one, is an error at
import rather than a silent fallback: running the tests "on AVX-512" must mean that.
"""
import os

from ._lib import (  # noqa: F401
    GEMM_MIN_FEATURES,
    HEARTBEAT,
    KERNELS,
    MAX_THREADS,
    SIMD_TARGETS,
    STOP,
    FeatureRows,
    GramRows,
    bandwidth_probe,
    build_info,
    decision_function,
    effective_threads,
    floral_fit,
    kernel_lambda_max,
    project,
    rng_uint64,
    sample_among,
    select_simd_target,
    simd_info,
    topk,
)

CPU_TARGET_VARIABLE = "FLORAL_CPU_TARGET"


def _pin_simd_target():
    requested = os.environ.get(CPU_TARGET_VARIABLE, "").strip().lower()
    if requested in ("", "auto"):
        return None
    try:
        select_simd_target(requested)
    except ValueError as exc:
        raise RuntimeError(f"{CPU_TARGET_VARIABLE}={requested!r}: {exc}") from None
    return requested


# the target named by FLORAL_CPU_TARGET, or None when the best supported one runs
PINNED_SIMD_TARGET = _pin_simd_target()
