"""floral's compiled core: C++ headers (.hpp) bound by one Cython module (_lib.pyx)."""
from ._lib import (  # noqa: F401
    EVAL,
    GEMM_MIN_FEATURES,
    HEARTBEAT,
    KERNELS,
    SNAPSHOT,
    STOP,
    FeatureRows,
    GramRows,
    bandwidth_probe,
    build_info,
    decision_function,
    floral_fit,
    project,
    rng_uint64,
    topk,
)
