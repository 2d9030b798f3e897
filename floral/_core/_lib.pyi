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
from typing_extensions import Self, disjoint_base

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

@disjoint_base
class GramRows:
    """Kernel rows of a training set under a byte budget (float32 storage)."""

    @property
    def n(self) -> int: ...
    @property
    def kernel(self) -> str: ...
    # constructed by __cinit__ (a C-level __new__), hence __new__ here
    def __new__(
        cls,
        X: ArrayLike,
        kernel: str = "rbf",
        gamma: float = 1.0,
        degree: int = 3,
        coef0: float = 0.0,
        cache_size: float = 1024.0,
        n_jobs: int | None = None,
    ) -> Self: ...
    @property
    def materialised(self) -> bool: ...
    @property
    def capacity(self) -> int: ...
    @property
    def layout(self) -> str: ...
    @property
    def hot_rows(self) -> int: ...
    @property
    def wave_rows(self) -> int: ...
    @property
    def stats(self) -> _CacheStats: ...
    def packed(self) -> NDArray[np.float32]: ...
    def rows(self, indices: ArrayLike) -> NDArray[np.float32]: ...
    def matvec(self, coef: ArrayLike) -> NDArray[np.float64]: ...
    def add_columns(
        self, f: ArrayLike, cols: ArrayLike, delta: ArrayLike
    ) -> NDArray[np.float64]: ...

@disjoint_base
class FeatureRows:
    """The linear kernel K = Xt X^T in feature space (features.hpp's FeatureOperator)."""

    @property
    def n(self) -> int: ...
    @property
    def m(self) -> int: ...
    @property
    def d(self) -> int: ...
    def __new__(
        cls, X: ArrayLike, Xt: ArrayLike | None = None, n_jobs: int | None = None
    ) -> Self: ...
    @property
    def dtype(self) -> np.dtype[np.float32] | np.dtype[np.float64]: ...
    @property
    def w(self) -> NDArray[np.float64]: ...
    def matvec(self, coef: ArrayLike) -> NDArray[np.float64]: ...
    def add_columns(
        self, f: ArrayLike, cols: ArrayLike, delta: ArrayLike
    ) -> NDArray[np.float64]: ...

def bandwidth_probe(n_floats: int, n_jobs: int | None = None, repeats: int = 5) -> float: ...
def project(
    v: ArrayLike, a: ArrayLike, lower: ArrayLike, upper: ArrayLike
) -> tuple[NDArray[np.float64], float]: ...
def topk(values: ArrayLike, k: int, threshold: float = ...) -> NDArray[np.int64]: ...
def rng_uint64(seed: int, size: int) -> NDArray[np.uint64]: ...
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
) -> FitResult: ...
def kernel_lambda_max(
    X: ArrayLike,
    *,
    kernel: str = "rbf",
    gamma: float = 1.0,
    degree: int = 3,
    coef0: float = 0.0,
    cache_size: float = 1024.0,
    n_jobs: int | None = None,
    max_iter: int = 200,
    rtol: float = 1e-7,
) -> tuple[float, int]: ...
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
