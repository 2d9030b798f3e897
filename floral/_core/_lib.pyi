"""Type stubs for floral's compiled core, ``floral._core._lib`` (built from _lib.pyx).

Signatures follow the ``def`` functions and ``cdef class`` of _lib.pyx. Array arguments
accept anything NumPy converts (``ArrayLike``); the core converts them to contiguous
float64 / int8 / int64 itself. The ``_Name`` TypedDicts exist only here, to describe the
dicts the core returns; they are not importable at run time. ``floral_fit`` returns the
dataclasses of floral/_core/_result.py. tests/test_build.py runs ``mypy.stubtest`` on this
file against the compiled module.
"""
from collections.abc import Callable
from typing import Final, TypedDict

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._result import FitResult

KERNELS: Final[dict[str, int]]
STOP: Final[int]
HEARTBEAT: Final[int]
GEMM_MIN_FEATURES: Final[int]

class _BuildInfo(TypedDict):
    openmp: bool
    openmp_version: int
    compiler: str
    max_threads: int

class _CacheStats(TypedDict):
    hits: int
    misses: int
    rows_computed: int

# callback(reason, round, objective, accuracy) -> STOP to end the loop (or 0 / None)
_RoundCallback = Callable[[int, int, float, float], int | None]

def build_info() -> _BuildInfo: ...

SIMD_TARGETS: tuple[str, ...]
MAX_THREADS: int

def effective_threads(n_jobs: int | None) -> int: ...

def simd_info() -> tuple[str, tuple[str, ...]]: ...
def select_simd_target(name: str) -> None: ...

def project(
    v: ArrayLike,
    a: ArrayLike,
    lower: ArrayLike,
    upper: ArrayLike,
    scale: ArrayLike | None = None,
) -> tuple[NDArray[np.float64], float]: ...
def topk(values: ArrayLike, k: int, threshold: float = ...) -> NDArray[np.int64]: ...
def sample_among(candidates: ArrayLike, k: int, seed: int) -> NDArray[np.int64]: ...
def floral_fit(
    X: ArrayLike,
    y: ArrayLike,
    C: ArrayLike,
    lam0: ArrayLike,
    *,
    n_classes: int = 2,
    kernel: str = "rbf",
    gamma: float = 1.0,
    degree: int = 3,
    coef0: float = 0.0,
    n_rounds: int = 500,
    learning_rate: float | None = 1e-3,
    step_scale: float = 1.0,
    lr_decay: float = 1.0,
    lr_decay_every: int = 100,
    flip_budget: int = 0,
    candidate_factor: float = 2.0,
    class_cap: ArrayLike | None = None,
    refresh: int = 50,
    tol: float = 1e-5,
    eval_every: int = 1,
    seed: int = 0,
    cache_size: float = 1024.0,
    n_jobs: int | None = None,
    callback: _RoundCallback | None = None,
    dense_fraction: float = 0.5,
    X_eval: ArrayLike | None = None,
    y_eval: ArrayLike | None = None,
    w_eval: ArrayLike | None = None,
    eval_cache_size: float = 256.0,
    average_from: int = 0,
    n_best: int = 0,
    scoring: str = "accuracy",
    power_max_iter: int = 200,
    power_rtol: float = 1e-7,
    storage: str = "gram",
    diagnostics: bool = False,
    scale: ArrayLike | None = None,
) -> FitResult: ...
def kernel_rows_seconds(
    X: ArrayLike,
    n_rows: int,
    *,
    kernel: str = "rbf",
    gamma: float = 1.0,
    degree: int = 3,
    coef0: float = 0.0,
    cache_size: float = 1024.0,
    n_jobs: int | None = None,
) -> float: ...
def decision_function(
    X: ArrayLike,
    SV: ArrayLike,
    coef: ArrayLike,
    b: float | ArrayLike,
    *,
    kernel: str = "rbf",
    gamma: float = 1.0,
    degree: int = 3,
    coef0: float = 0.0,
    n_jobs: int | None = None,
) -> NDArray[np.float64]: ...
