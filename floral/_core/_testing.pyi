"""Type stubs for floral's test bindings, ``floral._core._testing`` (built from
_testing.pyx): the kernel storage and operators as objects, the generator's raw stream and
a memory-bandwidth probe. Not used by the package itself."""
from typing import TypedDict

import numpy as np
from numpy.typing import ArrayLike, NDArray
from typing_extensions import Self, disjoint_base

class _CacheStats(TypedDict):
    hits: int
    misses: int
    rows_computed: int

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
def rng_uint64(seed: int, size: int) -> NDArray[np.uint64]: ...
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
