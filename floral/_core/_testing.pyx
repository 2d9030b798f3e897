# distutils: language = c++
"""Test bindings of floral's C++ core: the kernel storage and operators as objects, the
generator's raw stream and a memory-bandwidth probe, which the tests check against NumPy
and the benchmarks time. Nothing in floral imports this module; the shipped bindings
(_lib) hold only what the package uses.

The two modules are separate extension modules, each with its own copy of the core's
process-wide settings where the platform does not merge them: every entry point here
first takes the SIMD target that _lib runs, and Ctrl-C is handled as in _lib.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport uint64_t
from libc.string cimport memcpy
from libcpp cimport bool as cbool
from libcpp.vector cimport vector
from scipy.linalg.cython_blas cimport dgemm as _scipy_dgemm

from floral._core._decl cimport (
    BasicFeatureOperator, CacheStats, GramCache, GramOperator, KernelSpec, Rng,
    _check_signals_pending, dgemm_fn, g_interrupt_check, gram_lambda_max, gram_row_offset,
    index_t, resolve_threads, set_simd_target)
from floral._core import _lib

cnp.import_array()

cdef extern from "probe.hpp" namespace "floral":
    double read_pass(const float* data, index_t count, int n_threads) nogil

ctypedef BasicFeatureOperator[double] FeatureOperator
ctypedef BasicFeatureOperator[float] FeatureOperator32

cdef dgemm_fn _gemm = <dgemm_fn>_scipy_dgemm


cdef cbool _interrupt_check() noexcept with gil:
    # as _lib's: True leaves the KeyboardInterrupt pending for Cython's `except +`
    return _check_signals_pending() != 0


g_interrupt_check = _interrupt_check


cdef int _threads(n_jobs) except? -2:
    # the kernels here run the SIMD version that _lib runs (FLORAL_CPU_TARGET is applied
    # there, at import), and as many threads as _lib would
    set_simd_target(_lib.SIMD_TARGETS.index(_lib.simd_info()[0]))
    return _lib.effective_threads(n_jobs)


cdef KernelSpec _spec(str kernel, double gamma, int degree, double coef0) except *:
    if kernel not in _lib.KERNELS:
        raise ValueError(f"kernel must be one of {sorted(_lib.KERNELS)}, got {kernel!r}")
    cdef KernelSpec s
    s.type = _lib.KERNELS[kernel]
    s.gamma = gamma
    s.degree = degree
    s.coef0 = coef0
    return s


def _update_args(f, index_t m, cols, delta, index_t n):
    """(a copy of f, cols, delta) checked for an add_columns of the test helpers: f has m
    entries, cols index the n training points."""
    f = np.array(_lib._as_1d(f, m, np.float64, "f"), copy=True)
    cols = np.ascontiguousarray(cols, dtype=np.int64).reshape(-1)
    delta = _lib._as_1d(delta, cols.shape[0], np.float64, "delta")
    if cols.shape[0] and (np.min(cols) < 0 or np.max(cols) >= n):
        raise IndexError("cols out of range")
    return f, cols, delta


cdef class GramRows:
    """Kernel rows of a training set under a byte budget (float32 storage).

    Parameters mirror scikit-learn's SVC: ``kernel``, ``gamma``, ``degree``, ``coef0``;
    ``cache_size`` is in MB. Used by tests and benchmarks; the estimator builds its own.
    """
    cdef GramCache* cache
    cdef object X
    cdef readonly index_t n
    cdef readonly str kernel

    def __cinit__(self, X, str kernel="rbf", double gamma=1.0, int degree=3, double coef0=0.0,
                  double cache_size=1024.0, n_jobs=None):
        self.X = _lib._as_2d(X, "X")
        cdef KernelSpec spec = _spec(kernel, gamma, degree, coef0)
        if not cache_size > 0:
            raise ValueError(f"cache_size must be > 0 (MB), got {cache_size!r}")
        cdef int nt = _threads(n_jobs)
        cdef const double[:, ::1] Xv = self.X
        cdef index_t n = Xv.shape[0], d = Xv.shape[1]
        cdef double budget = cache_size * 1024.0 * 1024.0
        self.n = n
        self.kernel = kernel
        with _lib._blas_single_thread(d):
            with nogil:
                self.cache = new GramCache(&Xv[0, 0], n, d, spec, budget, nt, _gemm)

    def __dealloc__(self):
        if self.cache != NULL:
            del self.cache

    @property
    def materialised(self):
        """Whether the whole matrix is stored (packed triangle or square), nothing
        recomputed."""
        return bool(self.cache.materialised())

    @property
    def layout(self):
        """The storage: packed (lower triangle), square (every whole row, from a budget of
        at least n x n float32) or rows (an LRU cache of rows)."""
        if self.cache.is_packed():
            return "packed"
        return "square" if self.cache.square() else "rows"

    @property
    def capacity(self):
        """Rows the cache holds at once (n when materialised)."""
        return int(self.cache.capacity())

    @property
    def stats(self):
        cdef const CacheStats* s = &self.cache.stats()
        return {"hits": int(s.hits), "misses": int(s.misses), "rows_computed": int(s.rows_computed)}

    @property
    def hot_rows(self):
        """Whole rows kept beside the packed triangle for column updates (0 when not
        materialised)."""
        return int(self.cache.row_slots()) if self.cache.is_packed() else 0

    @property
    def wave_rows(self):
        """Rows per wave of the row cache's dense pass (0 when materialised)."""
        return 0 if self.cache.materialised() else int(self.cache.wave_rows())

    def packed(self):
        """The stored lower triangle, row by row without the core's padding: row i's
        K[i, :i+1] at offset i(i+1)/2 of a float32 array of n(n+1)/2."""
        if not self.cache.is_packed():
            raise ValueError(f"the Gram matrix is not stored packed (layout {self.layout!r})")
        out = np.empty(self.n * (self.n + 1) // 2, dtype=np.float32)
        cdef float[::1] ov = out
        cdef const float* tri = self.cache.packed()
        cdef index_t i
        for i in range(self.n):
            memcpy(&ov[i * (i + 1) // 2], tri + gram_row_offset(i), (i + 1) * sizeof(float))
        return out

    def rows(self, indices):
        """K[indices, :] as float32 (from the triangle, or fetched in batches of at most
        ``capacity`` rows)."""
        cdef const index_t[::1] idx = np.ascontiguousarray(indices, dtype=np.int64).reshape(-1)
        cdef index_t m = idx.shape[0], i, b0, bm, r
        for i in range(m):
            if idx[i] < 0 or idx[i] >= self.n:
                raise IndexError(f"row index {idx[i]} out of range for n={self.n}")
        out = np.empty((m, self.n), dtype=np.float32)
        cdef float[:, ::1] ov = out
        cdef vector[const float*] ptrs
        cdef index_t cap = self.cache.capacity()
        if self.cache.is_packed():
            with nogil:
                for r in range(m):
                    self.cache.full_row(idx[r], &ov[r, 0])
            return out
        with _lib._blas_single_thread(self.X.shape[1]):
            b0 = 0
            while b0 < m:
                bm = min(cap, m - b0)
                ptrs.resize(bm)
                with nogil:
                    self.cache.fetch(&idx[b0], bm, ptrs.data())
                for r in range(bm):
                    memcpy(&ov[b0 + r, 0], ptrs[r], self.n * sizeof(float))
                b0 += bm
        return out

    def matvec(self, coef):
        """K @ coef in float64 from the stored float32 values (the loop's dense pass)."""
        cdef const double[::1] c = _lib._as_1d(coef, self.n, np.float64, "coef")
        out = np.empty(self.n, dtype=np.float64)
        cdef double[::1] ov = out
        cdef GramOperator* op = new GramOperator(self.cache[0])
        try:
            with _lib._blas_single_thread(self.X.shape[1]):
                with nogil:
                    op.matvec(&c[0], &ov[0])
        finally:
            del op
        return out

    def add_columns(self, f, cols, delta):
        """Returns f + K[:, cols] @ delta, computed by the incremental update."""
        f_arr, cols_arr, delta_arr = _update_args(f, self.n, cols, delta, self.n)
        cdef double[::1] fv = f_arr
        cdef const index_t[::1] cv = cols_arr
        cdef const double[::1] dv = delta_arr
        if not cv.shape[0]:
            return np.asarray(fv)
        cdef GramOperator* op = new GramOperator(self.cache[0])
        try:
            with _lib._blas_single_thread(self.X.shape[1]):
                with nogil:
                    op.add_columns(&cv[0], &dv[0], cv.shape[0], &fv[0])
        finally:
            del op
        return np.asarray(fv)


cdef class FeatureRows:
    """The linear kernel K = Xt X^T in feature space (features.hpp's FeatureOperator).

    ``X`` (n x d) are the training points whose coefficients the products take, ``Xt``
    (m x d, default ``X``) the points the products are evaluated at; float32 ``X`` is
    stored as float32 (``Xt`` is then converted to float32), anything else as float64.
    Used by tests; the estimator builds its own.
    """
    cdef FeatureOperator* op
    cdef FeatureOperator32* op32
    cdef object X, Xt
    cdef readonly index_t n, m, d

    def __cinit__(self, X, Xt=None, n_jobs=None):
        self.X = _lib._as_2d(X, "X", keep_float32=True)
        self.Xt = self.X if Xt is None else np.ascontiguousarray(_lib._as_2d(Xt, "Xt"),
                                                                 dtype=self.X.dtype)
        if self.Xt.shape[1] != self.X.shape[1]:
            raise ValueError(f"Xt must have {self.X.shape[1]} columns, got {self.Xt.shape[1]}")
        self.n, self.d, self.m = self.X.shape[0], self.X.shape[1], self.Xt.shape[0]
        cdef const double[:, ::1] Xv
        cdef const double[:, ::1] Tv
        cdef const float[:, ::1] Xf
        cdef const float[:, ::1] Tf
        if self.X.dtype == np.float32:
            Xf = self.X
            Tf = self.Xt
            self.op32 = new FeatureOperator32(&Xf[0, 0], self.n, self.d, &Tf[0, 0], self.m,
                                              _threads(n_jobs))
        else:
            Xv = self.X
            Tv = self.Xt
            self.op = new FeatureOperator(&Xv[0, 0], self.n, self.d, &Tv[0, 0], self.m,
                                          _threads(n_jobs))

    def __dealloc__(self):
        if self.op != NULL:
            del self.op
        if self.op32 != NULL:
            del self.op32

    @property
    def dtype(self):
        """The dtype the features are stored in."""
        return self.X.dtype

    @property
    def w(self):
        """X^T c as kept by the last products."""
        cdef const double* w = self.op.w() if self.op != NULL else self.op32.w()
        return np.array(<const double[:self.d]> w, copy=True)

    def matvec(self, coef):
        """Xt @ (X.T @ coef), from scratch (sets w)."""
        cdef const double[::1] c = _lib._as_1d(coef, self.n, np.float64, "coef")
        out = np.empty(self.m, dtype=np.float64)
        cdef double[::1] ov = out
        with nogil:
            if self.op != NULL:
                self.op.matvec(&c[0], &ov[0])
            else:
                self.op32.matvec(&c[0], &ov[0])
        return out

    def add_columns(self, f, cols, delta):
        """Returns f + Xt @ (X[cols].T @ delta), the incremental update (updates w)."""
        f_arr, cols_arr, delta_arr = _update_args(f, self.m, cols, delta, self.n)
        cdef double[::1] fv = f_arr
        cdef const index_t[::1] cv = cols_arr
        cdef const double[::1] dv = delta_arr
        if cv.shape[0]:
            with nogil:
                if self.op != NULL:
                    self.op.add_columns(&cv[0], &dv[0], cv.shape[0], &fv[0])
                else:
                    self.op32.add_columns(&cv[0], &dv[0], cv.shape[0], &fv[0])
        return np.asarray(fv)


def bandwidth_probe(index_t n_floats, n_jobs=None, int repeats=5):
    """Seconds for the fastest of ``repeats`` parallel read passes over n_floats float32.

    For benchmarks: the dense round of the loop reads half of the float32 Gram matrix
    once, so this pass over n*(n+1)/2 floats is its memory-bandwidth bound.
    """
    import time

    if n_floats < 1 or repeats < 1:
        raise ValueError("n_floats and repeats must be >= 1")
    cdef int nt = resolve_threads(_threads(n_jobs))
    data = np.ones(n_floats, dtype=np.float32)  # written once so pages are resident
    cdef const float[::1] dv = data
    cdef double total = 0.0
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        with nogil:
            total = read_pass(&dv[0], n_floats, nt)
        best = min(best, time.perf_counter() - t0)
    if total != n_floats:
        raise RuntimeError("bandwidth probe read wrong data")
    return best


def rng_uint64(uint64_t seed, Py_ssize_t size):
    """The first ``size`` outputs of the core's xoshiro256** stream for ``seed``."""
    cdef Rng* rng = new Rng(seed)
    out = np.empty(size, dtype=np.uint64)
    cdef uint64_t[::1] ov = out
    cdef Py_ssize_t i
    for i in range(size):
        ov[i] = rng.next()
    del rng
    return out


def kernel_lambda_max(X, *, str kernel="rbf", double gamma=1.0, int degree=3,
                      double coef0=0.0, double cache_size=1024.0, n_jobs=None,
                      index_t max_iter=200, double rtol=1e-7):
    """(lambda_max, iterations): the largest eigenvalue of the (float32-stored) kernel
    matrix of X by the power iteration that ``floral_fit(learning_rate=None)`` runs."""
    X = _lib._as_2d(X, "X")
    cdef index_t n = X.shape[0], d = X.shape[1]
    cdef KernelSpec spec = _spec(kernel, gamma, degree, coef0)
    cdef int nt = _threads(n_jobs)
    cdef const double[:, ::1] Xv = X
    cdef double budget = cache_size * 1024.0 * 1024.0
    cdef GramCache* cache = NULL
    cdef double lmax = 0.0
    cdef index_t iters = 0
    try:
        with _lib._blas_single_thread(d):
            with nogil:
                cache = new GramCache(&Xv[0, 0], n, d, spec, budget, nt, _gemm)
                lmax = gram_lambda_max(cache[0], max_iter, rtol, &iters, NULL)
    finally:
        if cache != NULL:
            del cache
    return float(lmax), int(iters)
