"""floral's compiled core: C++ headers (.hpp) bound by one Cython module (_lib.pyx)."""
from ._lib import (  # noqa: F401
    GEMM_MIN_FEATURES,
    HEARTBEAT,
    KERNELS,
    STOP,
    FeatureRows,
    GramRows,
    bandwidth_probe,
    build_info,
    decision_function,
    floral_fit,
    kernel_lambda_max,
    project,
    rng_uint64,
    sample_among,
    topk,
)
