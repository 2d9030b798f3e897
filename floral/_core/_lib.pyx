# distutils: language = c++
"""Bindings of floral's C++ core (see the .hpp files beside this one).

This module only converts arrays, checks what protects memory (shapes, dtypes, finiteness,
index ranges, sizes and divisors the C++ relies on), releases the GIL and calls C++.
Defaults, documentation and the validation of user parameters live in the Python layer
(floral._validation and the estimators' parameter constraints).
"""
import math
import operator
import os

import numpy as np
import scipy.sparse
cimport numpy as cnp
from libc.stdint cimport int8_t, int32_t, int64_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.vector cimport vector
from scipy.linalg.cython_blas cimport dgemm as _scipy_dgemm

from floral._core._decl cimport (
    CB_HEARTBEAT, CB_STOP, GOVERNED_MIN_WORK, BasicCsrFeatureOperator, BasicFeatureOperator,
    CrossKernel, GramCache, KernelSpec, LoopParams, LoopResult,
    ProjectionWorkspace, PyErr_CheckSignals, RoundModel, _check_signals_pending,
    c_decision_function, c_GEMM_MIN_FEATURES, c_sample_among, compiler_version, csr_lambda_max,
    dgemm_fn, features_lambda_max, g_interrupt_check, gram_lambda_max, index_t, max_threads,
    openmp_enabled, openmp_version, project_box_hyperplane, project_box_hyperplane_weighted,
    run_floral_csr,
    run_floral_features, run_floral_gram, set_simd_target, simd_target,
    simd_target_supported, topk_above)

cnp.import_array()


cdef extern from "kernel.hpp" namespace "floral":
    const int c_N_KERNELS "floral::N_KERNELS"
    const char* c_kernel_name "floral::kernel_name"(int type)


# name -> KernelType, from the names kernel.hpp gives its kernels
KERNELS = {c_kernel_name(i).decode("ascii"): i for i in range(c_N_KERNELS)}
STOP = CB_STOP
HEARTBEAT = CB_HEARTBEAT
# inputs with at least this many features get their kernel rows from BLAS dgemm
GEMM_MIN_FEATURES = int(c_GEMM_MIN_FEATURES)

cdef dgemm_fn _gemm = <dgemm_fn>_scipy_dgemm


def build_info():
    """Facts about this build: OpenMP on/off and version, compiler, default threads."""
    return {
        "openmp": bool(openmp_enabled()),
        "openmp_version": int(openmp_version()),
        "compiler": compiler_version().decode("utf-8", "replace"),
        "max_threads": int(max_threads()),
    }


# the hot kernels' SIMD versions, in the order of common.hpp's SimdTarget
SIMD_TARGETS = ("baseline", "avx2", "avx512")


def simd_info():
    """(active target, targets this CPU and build can run), by name (SIMD_TARGETS)."""
    return (SIMD_TARGETS[simd_target()],
            tuple(t for i, t in enumerate(SIMD_TARGETS) if simd_target_supported(i)))


def select_simd_target(str name):
    """Run the hot kernels' ``name`` version from now on (process-wide; call it before
    any work). ValueError when ``name`` is not a target or this CPU cannot run it."""
    if name not in SIMD_TARGETS:
        raise ValueError(f"SIMD target must be one of {SIMD_TARGETS}, got {name!r}")
    if not set_simd_target(SIMD_TARGETS.index(name)):
        raise ValueError(f"this CPU cannot run the {name!r} SIMD target; it runs "
                         f"{simd_info()[1]}")


cdef cbool _interrupt_check() noexcept with gil:
    # see InterruptPoll (common.hpp): True leaves the KeyboardInterrupt pending, and the
    # C++ exception thrown next is translated to it by Cython's `except +`
    return _check_signals_pending() != 0


g_interrupt_check = _interrupt_check


def _cpu_count():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# The most threads a call runs: the CPUs this process may use. More never helps (the
# loops are memory- or compute-bound per core) and n_jobs = 100,000 asked libgomp for
# that many threads (a crash). Read at import; n_jobs above it is clamped to it.
MAX_THREADS = _cpu_count()

# After fork() the child has one thread, and libgomp's pool, left from the parent's
# parallel regions, deadlocks the child's first parallel region. A forked child (e.g.
# multiprocessing's "fork" start method) therefore runs the core serially.
cdef bint _in_forked_child = False


def _after_fork_in_child():
    global _in_forked_child
    _in_forked_child = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def effective_threads(n_jobs):
    """The OpenMP threads a call with ``n_jobs`` runs: None = all (OMP_NUM_THREADS or the
    CPUs), -1 all, -2 all but one, ..., never more than ``MAX_THREADS``; 1 in a process
    forked from one that had imported floral."""
    return _threads(n_jobs)


cdef int _threads(n_jobs) except? -2:
    if _in_forked_child:
        return 1
    cdef int available = min(max_threads(), MAX_THREADS)
    if n_jobs is None:
        return available
    n_jobs = operator.index(n_jobs)
    if n_jobs < 0:
        # joblib's convention: -1 = all cores, -2 = all but one, ...
        return max(1, available + 1 + n_jobs)
    # 0: all (the estimators refuse it; the core always took it so)
    return min(n_jobs, MAX_THREADS) if n_jobs > 0 else available


cdef KernelSpec _spec(str kernel, double gamma, int degree, double coef0) except *:
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {sorted(KERNELS)}, got {kernel!r}")
    cdef KernelSpec s
    s.type = KERNELS[kernel]
    s.gamma = gamma
    s.degree = degree
    s.coef0 = coef0
    return s


def _as_2d(X, name, keep_float32=False):
    # float32 stays float32 only where the caller handles both (feature storage)
    as_float32 = keep_float32 and getattr(X, "dtype", None) == np.float32
    X = np.ascontiguousarray(X, dtype=np.float32 if as_float32 else np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinity")
    return X


def _as_1d(a, n, dtype, name):
    a = np.ascontiguousarray(a, dtype=dtype)
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {a.shape}")
    return a


def _as_signs(a, n, name):
    a = np.asarray(a)
    a8 = _as_1d(a, n, np.int8, name)
    if not np.all((a8 == 1) | (a8 == -1)) or not np.array_equal(a8, a):
        raise ValueError(f"{name} must contain only -1 and +1")
    return a8


cdef str _layout(GramCache& cache):
    return "packed" if cache.is_packed() else ("square" if cache.square() else "rows")


class _blas_single_thread:
    """dgemm runs inside our OpenMP loops, one call per row block: BLAS's own threads
    would oversubscribe the cores and make results depend on its thread count."""

    def __init__(self, d):
        self.limiter = None
        self.active = d >= GEMM_MIN_FEATURES

    def __enter__(self):
        if self.active:
            from threadpoolctl import threadpool_limits
            self.limiter = threadpool_limits(limits=1, user_api="blas")
        return self

    def __exit__(self, *exc):
        if self.limiter is not None:
            self.limiter.restore_original_limits()
        return False


def project(v, a, lower, upper, scale=None):
    """Euclidean projection of v onto {lower <= x <= upper, a^T x = 0}, a in {-1, +1}^n.

    Returns ``(x, mu)`` with ``x_i = clip(v_i - mu a_i, lower_i, upper_i)``. With
    ``scale`` (d, n finite values >= 0) the projection is in the metric diag(1 / d) (the
    FLORAL leader's with unequal boxes): ``x_i = clip(v_i - mu d_i a_i, lower_i, upper_i)``;
    ``d_i = 0`` is meant for a pinned box (``lower_i == upper_i``).
    """
    cdef const double[::1] vv = np.ascontiguousarray(v, dtype=np.float64).reshape(-1)
    cdef index_t n = vv.shape[0]
    if n == 0:
        raise ValueError("v must be non-empty")
    cdef const int8_t[::1] av = _as_signs(a, n, "a")
    lo = np.array(np.broadcast_to(np.asarray(lower, dtype=np.float64), (n,)))
    up = np.array(np.broadcast_to(np.asarray(upper, dtype=np.float64), (n,)))
    cdef const double[::1] lv = lo
    cdef const double[::1] uv = up
    if not (np.all(np.isfinite(vv)) and np.all(np.isfinite(lo)) and np.all(np.isfinite(up))):
        raise ValueError("v, lower and upper must be finite")
    if np.any(lo > up):
        raise ValueError("lower must be <= upper elementwise")
    a_np = np.asarray(av)
    # math.fsum rounds the exact sum once, so its sign is the exact sign: np.sum's
    # rounding would misjudge sets within rounding of empty
    lo_sum = math.fsum(np.where(a_np > 0, lo, -up))
    hi_sum = math.fsum(np.where(a_np > 0, up, -lo))
    if lo_sum > 0 or hi_sum < 0:
        raise ValueError("the set {lower <= x <= upper, a^T x = 0} is empty")
    cdef const double[::1] dv
    if scale is not None:
        d_arr = np.array(np.broadcast_to(np.asarray(scale, dtype=np.float64), (n,)))
        if not np.all(np.isfinite(d_arr)) or np.any(d_arr < 0):
            raise ValueError("scale must be finite and >= 0")
        if np.any((d_arr == 0) & (lo < up)):
            # such a coordinate cannot move along the multiplier: the set could be out of
            # reach, and mu unbounded
            raise ValueError("scale may be 0 only where lower == upper")
        dv = d_arr
    x = np.empty(n, dtype=np.float64)
    cdef double[::1] xv = x
    cdef ProjectionWorkspace ws
    cdef double mu
    if scale is None:
        with nogil:
            mu = project_box_hyperplane(&vv[0], &av[0], &lv[0], &uv[0], n, &xv[0], ws)
    else:
        with nogil:
            mu = project_box_hyperplane_weighted(&vv[0], &av[0], &lv[0], &uv[0], &dv[0], n,
                                                 &xv[0], ws)
    return x, mu


def topk(values, k, threshold=-np.inf):
    """Indices of the k largest values above threshold, by value desc then index asc."""
    cdef const double[::1] vv = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if np.any(np.isnan(vv)):
        raise ValueError("values contains NaN")
    cdef vector[index_t] out
    cdef index_t kk = k, n = vv.shape[0]
    cdef double thr = threshold
    with nogil:
        topk_above(&vv[0] if n else NULL, n, kk, thr, out)
    return np.asarray([out[i] for i in range(out.size())], dtype=np.int64)


def sample_among(candidates, index_t k, uint64_t seed):
    """k of ``candidates`` drawn as the round loop's attacker draws them (attacker.hpp,
    no class cap): a partial Fisher-Yates shuffle with the core's generator for ``seed``,
    so topk_sv_flip and FloralSVC's first round pick alike. Fewer than k+1 candidates are
    all taken, in order, without a draw, as in the loop."""
    out = np.array(candidates, dtype=np.int64).reshape(-1)
    cdef int64_t[::1] ov = out
    cdef index_t size = ov.shape[0]
    if not 0 <= k <= size:
        raise ValueError(f"k must be in [0, {size}], got {k}")
    if size == k:
        return out
    with nogil:
        c_sample_among(&ov[0], size, k, seed)
    return out[:k].copy()


cdef class _LoopContext:
    cdef object callback
    cdef object exception


cdef int _trampoline(void* ctx, int reason, index_t rnd, double objective,
                     double accuracy) noexcept with gil:
    cdef _LoopContext c = <_LoopContext>ctx
    try:
        PyErr_CheckSignals()
        if c.callback is None:
            return 0
        return int(c.callback(reason, rnd, objective, accuracy) or 0)
    except BaseException as exc:  # KeyboardInterrupt included: re-raised by the caller
        c.exception = exc
        return CB_STOP


def _as_labels(y, index_t n, index_t n_classes):
    """Class indices as int32: y in {-1, +1} for two classes, else 0 .. n_classes - 1."""
    y = np.asarray(y)
    if n_classes == 2:
        y = _as_signs(y, n, "y")
        return ((y.astype(np.int32) + 1) // 2).astype(np.int32)
    yi = _as_1d(y, n, np.int32, "y")
    if not np.array_equal(yi, y) or np.any(yi < 0) or np.any(yi >= n_classes):
        raise ValueError(f"y must hold class indices in [0, {n_classes})")
    return yi


cdef object _model(const RoundModel& r, index_t P, index_t n, round_model):
    coef = np.asarray(r.coef, dtype=np.float64).reshape(P, n)
    return round_model(
        coef=coef[0].copy() if P == 1 else coef,
        b=np.asarray(r.b, dtype=np.float64),
        labels=np.asarray(r.labels, dtype=np.int32),
        round=int(r.round),
        score=float(r.score),
    )


ctypedef fused feature_t:
    float
    double


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_kernel_finite(str kernel, double gamma, int degree, double coef0, bint float32,
                         *blocks):
    """ValueError naming the cause when a kernel value between rows of ``blocks`` can be
    inf or NaN: in float64 arithmetic, or beyond float32's range where ``float32`` (the
    Gram storage). The bounds are attained (on the diagonal, or by x and -x), so nothing
    that computes finite values is refused. O(n d)."""
    top = 0.0
    for B in blocks:
        if B is not None and B.shape[0] and B.shape[1]:
            if scipy.sparse.issparse(B):  # CSR rows (the linear kernel's sparse path)
                values = B.data
                sq = np.asarray(B.multiply(B).sum(axis=1), dtype=np.float64).ravel()
            else:
                values = B
                sq = np.einsum("ij,ij->i", B, B, dtype=np.float64)
            if not np.all(np.isfinite(sq)):
                raise ValueError(
                    "the features are too large: squared norms of rows of X overflow float64 "
                    f"(largest |value| {float(np.max(np.abs(values))):.3g}); scale X, e.g. "
                    "with sklearn.preprocessing.StandardScaler")
            top = max(top, float(sq.max()))
    limit = _FLOAT32_MAX if float32 else float(np.finfo(np.float64).max)
    where = "float32, in which the Gram matrix is stored" if float32 else "float64"
    if kernel == "rbf" and not math.isfinite(4.0 * top):
        # ||x - z||^2 = ||x||^2 + ||z||^2 - 2 <x, z> must be finite
        raise ValueError(f"the features are too large: squared distances overflow float64 "
                         f"(largest squared norm {top:.3g}); scale X")
    if kernel in ("linear", "poly"):
        base = top if kernel == "linear" else gamma * top + abs(coef0)
        try:
            bound = base if kernel == "linear" else base ** degree
        except OverflowError:
            bound = math.inf
        if not bound <= limit:
            params = ("scale X" if kernel == "linear"
                      else "lower gamma, degree or coef0, or scale X")
            raise ValueError(
                f"kernel={kernel!r} values reach {bound:.3g} on this data, beyond {where} "
                f"(largest finite {limit:.3g}): {params}")


cdef double _auto_step(double lmax, double step_scale) except -1.0:
    if not math.isfinite(lmax):
        raise ValueError(f"the kernel matrix is not finite (power iteration gave {lmax}): "
                         "its values overflow; scale X or lower gamma, degree or coef0")
    if not lmax > 0:
        raise ValueError(f"the kernel matrix has no positive eigenvalue "
                         f"(power iteration gave {lmax}); pass a float learning_rate")
    return step_scale / lmax


cdef tuple _features_loop(const feature_t[:, ::1] X, const feature_t[:, ::1] X_eval, index_t m,
                          int nt, bint auto_step, double step_scale, index_t power_max_iter,
                          double power_rtol, LoopParams& p, const int32_t* y_eval,
                          const int32_t* y, index_t n_classes, const double* C,
                          const double* lam0, const index_t* class_cap, _LoopContext ctx,
                          LoopResult& res, bint keep_w):
    """floral_fit's loop in feature space, for features stored as feature_t (X_eval is
    read only when m > 0): (lambda_max, power iterations, w = X^T c or None)."""
    cdef index_t n = X.shape[0], d = X.shape[1]
    cdef BasicFeatureOperator[feature_t]* op = NULL
    cdef BasicFeatureOperator[feature_t]* ev = NULL
    cdef double lmax = float("nan")
    cdef index_t iters = 0
    w = None
    try:
        with nogil:
            op = new BasicFeatureOperator[feature_t](&X[0, 0], n, d, &X[0, 0], n, nt)
            if m > 0:
                ev = new BasicFeatureOperator[feature_t](&X[0, 0], n, d, &X_eval[0, 0], m, nt)
            if auto_step:
                lmax = features_lambda_max(op[0], power_max_iter, power_rtol, &iters,
                                           p.scale)
        if auto_step:
            p.learning_rate = _auto_step(lmax, step_scale)
        with nogil:
            run_floral_features(op[0], ev, y_eval, y, n_classes, C, lam0, class_cap, p,
                                _trampoline, <void*>ctx, res)
        if keep_w:
            w = np.array(<const double[:d]> op.w(), copy=True)
    finally:
        del op
        del ev
    return lmax, iters, w


ctypedef fused csr_index_t:
    int32_t
    int64_t


def _is_sparse(X):
    return hasattr(X, "tocsr") and hasattr(X, "nnz")


def _as_csr(X, name, index_dtype=None, keep_float32=False, n_features=None):
    """X as a canonical CSR matrix (sorted, unique column indices per row: the order the
    CSR operator sums in) of float64 (float32 kept with keep_float32), with index arrays
    of one dtype; a copy wherever X is not already that, so the caller's matrix is never
    modified. Checks what the C++ reads without bounds: indptr, the index range, and
    finiteness."""
    import scipy.sparse as sp

    dtype = np.float32 if keep_float32 and X.dtype == np.float32 else np.float64
    X = sp.csr_matrix(X, dtype=dtype, copy=False)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty and 2-D, got shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} columns, got {X.shape[1]}")
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()  # also sorts the indices
    if index_dtype is None:
        index_dtype = np.int32 if X.indices.dtype == np.int32 and X.indptr.dtype == np.int32 \
            else np.int64
    if X.indices.dtype != index_dtype or X.indptr.dtype != index_dtype:
        X = sp.csr_matrix((X.data, X.indices.astype(index_dtype),
                           X.indptr.astype(index_dtype)), shape=X.shape, copy=False)
    indptr, indices = X.indptr, X.indices
    if (indptr.shape[0] != X.shape[0] + 1 or indptr[0] != 0 or np.any(np.diff(indptr) < 0)
            or indptr[X.shape[0]] != indices.shape[0] or X.data.shape[0] != indices.shape[0]):
        raise ValueError(f"{name} is not a valid CSR matrix (indptr)")
    if indices.shape[0] and (indices.min() < 0 or indices.max() >= X.shape[1]):
        raise ValueError(f"{name} has column indices out of range")
    if not np.all(np.isfinite(X.data)):
        raise ValueError(f"{name} contains NaN or infinity")
    return X


cdef tuple _csr_loop(const feature_t[::1] data, const csr_index_t[::1] indices,
                     const csr_index_t[::1] indptr, index_t n, index_t d,
                     const feature_t[::1] e_data, const csr_index_t[::1] e_indices,
                     const csr_index_t[::1] e_indptr, index_t m, int nt, bint auto_step,
                     double step_scale, index_t power_max_iter, double power_rtol,
                     LoopParams& p, const int32_t* y_eval, const int32_t* y,
                     index_t n_classes, const double* C, const double* lam0,
                     const index_t* class_cap, _LoopContext ctx, LoopResult& res,
                     bint keep_w):
    """floral_fit's loop on CSR features (sparse_features.hpp), as _features_loop: data,
    indices, indptr of X and of the validation rows (read only when m > 0)."""
    cdef BasicCsrFeatureOperator[feature_t, csr_index_t]* op = NULL
    cdef BasicCsrFeatureOperator[feature_t, csr_index_t]* ev = NULL
    cdef double lmax = float("nan")
    cdef index_t iters = 0
    # a matrix without stored values has empty data/indices; the operator never reads them
    cdef const feature_t* dp = &data[0] if data.shape[0] else NULL
    cdef const csr_index_t* ip = &indices[0] if indices.shape[0] else NULL
    cdef const feature_t* edp = &e_data[0] if e_data.shape[0] else NULL
    cdef const csr_index_t* eip = &e_indices[0] if e_indices.shape[0] else NULL
    w = None
    try:
        with nogil:
            op = new BasicCsrFeatureOperator[feature_t, csr_index_t](
                dp, ip, &indptr[0], n, d, dp, ip, &indptr[0], n, nt)
            if m > 0:
                ev = new BasicCsrFeatureOperator[feature_t, csr_index_t](
                    dp, ip, &indptr[0], n, d, edp, eip, &e_indptr[0], m, nt)
                ev.share_from(op)  # X^T over the changed rows is computed once
            if auto_step:
                lmax = csr_lambda_max(op[0], power_max_iter, power_rtol, &iters, p.scale)
        if auto_step:
            p.learning_rate = _auto_step(lmax, step_scale)
        with nogil:
            run_floral_csr(op[0], ev, y_eval, y, n_classes, C, lam0, class_cap, p,
                           _trampoline, <void*>ctx, res)
        if keep_w:
            w = np.array(<const double[:d]> op.w(), copy=True)
    finally:
        del op
        del ev
    return lmax, iters, w


def floral_fit(X, y, C, lam0, *, index_t n_classes=2, str kernel="rbf", double gamma=1.0,
               int degree=3, double coef0=0.0, index_t n_rounds=500, learning_rate=1e-3,
               double step_scale=1.0, double lr_decay=1.0, index_t lr_decay_every=100,
               index_t flip_budget=0, double candidate_factor=2.0, class_cap=None,
               index_t refresh=50, double tol=1e-5, index_t eval_every=1, uint64_t seed=0,
               double cache_size=1024.0, n_jobs=None, callback=None,
               double dense_fraction=0.5, X_eval=None, y_eval=None, w_eval=None,
               double eval_cache_size=256.0, index_t average_from=0, index_t n_best=0,
               str scoring="accuracy", index_t power_max_iter=200, double power_rtol=1e-7,
               str storage="gram", bint diagnostics=False, scale=None):
    """Run the FLORAL round loop in C++ (see floral_loop.hpp for the algorithm).

    ``y`` is in {-1, +1} for two classes (one problem), or holds class indices
    0 .. n_classes - 1 for n_classes >= 3 (one-vs-rest problems); ``lam0`` is (n,) or
    (n_classes, n). ``learning_rate=None`` takes ``step_scale / lambda_max(K)``, with
    lambda_max from power iteration on the kernel. ``class_cap`` (n_classes ints) bounds
    the points of each given class relabelled per round. With ``X_eval``/``y_eval``
    (labels coded like y) the loop keeps validation decision values, records accuracy and
    balanced accuracy every ``eval_every`` rounds and keeps the ``n_best`` rounds with the
    highest ``scoring`` ("accuracy" or "balanced_accuracy"; weighted by ``w_eval``, m
    non-negative floats, when given); rounds from ``average_from``
    (1-based, 0 = none) are averaged.

    ``scale`` (n finite values >= 0, or None) preconditions the leader's step and
    projection by d = scale (floral_loop.hpp; FloralSVC passes d_i = C_i / mean(C) when the
    boxes differ), and ``learning_rate=None`` then takes ``step_scale / lambda_max(D^1/2 K
    D^1/2)``; None is the unpreconditioned step.

    ``storage="gram"`` keeps the kernel matrix (packed triangle, square or row cache, by
    ``cache_size``); ``storage="features"`` (``kernel="linear"`` only) works on X itself,
    keeping w = X^T c instead of any n x n storage (features.hpp), for the training and
    the validation points alike; there float32 ``X`` is used as it is (no float64 copy;
    products and sums are float64) and ``X_eval`` is converted to ``X``'s dtype. A
    scipy.sparse ``X`` with ``storage="features"`` runs on its CSR rows
    (sparse_features.hpp; ``X_eval`` is made CSR too), bitwise as the dense twin would.

    ``callback(reason, round, objective, accuracy) -> flags`` is called about every 0.2 s
    and after the last round; returning STOP ends the loop. An exception raised inside it
    stops the loop and is returned as ``result.exception`` with the state reached.

    Returns a ``FitResult`` (floral/_core/_result.py); ``diagnostics=True`` also fills its
    ``diagnostics`` (final duals, decision values, loop counters) for tests and benchmarks.
    """
    # the result types: imported here, not while this module initialises (a Ctrl-C landing
    # in Python code run by an extension's initialisation can vanish or kill the CLI)
    from ._result import Average, FitDiagnostics, FitResult, History
    from ._result import RoundModel as _RoundModel
    if storage not in ("gram", "features"):
        raise ValueError(f"storage must be 'gram' or 'features', got {storage!r}")
    if storage == "features" and kernel != "linear":
        raise ValueError(f"storage='features' needs kernel='linear', got {kernel!r}")
    # sparse X (scipy.sparse, any format) runs the feature space on CSR rows
    cdef bint csr = storage == "features" and _is_sparse(X)
    if csr:
        X = _as_csr(X, "X", keep_float32=True)
    else:
        X = _as_2d(X, "X", keep_float32=storage == "features")
    cdef bint f32 = X.dtype == np.float32
    cdef index_t n = X.shape[0], d = X.shape[1]
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    cdef index_t P = n_classes if n_classes > 2 else 1
    labels = _as_labels(y, n, n_classes)
    cdef const int32_t[::1] yv = labels
    C_arr = _as_1d(C, n, np.float64, "C")
    if not np.all(np.isfinite(C_arr)) or np.any(C_arr < 0):
        raise ValueError("C must be finite and >= 0 for every sample")
    cdef const double[::1] Cv = C_arr
    lam_arr = np.ascontiguousarray(lam0, dtype=np.float64)
    lam_shape = (int(n),) if P == 1 else (int(P), int(n))
    if lam_arr.shape != lam_shape:
        raise ValueError(f"lam0 must have shape {lam_shape}, got {lam_arr.shape}")
    if not np.all(np.isfinite(lam_arr)) or np.any(lam_arr < 0) or np.any(lam_arr > C_arr):
        raise ValueError("lam0 must satisfy 0 <= lam0 <= C")
    lam_arr = lam_arr.reshape(-1)
    cdef const double[::1] lv = lam_arr
    cdef const double[::1] sv
    cdef const double* scale_ptr = NULL
    if scale is not None:
        scale_arr = _as_1d(scale, n, np.float64, "scale")
        if not np.all(np.isfinite(scale_arr)) or np.any(scale_arr < 0):
            raise ValueError("scale must be finite and >= 0 for every sample")
        if np.any((scale_arr == 0) & (C_arr > 0)):
            raise ValueError("scale may be 0 only where C is 0 (a dual that cannot move)")
        sv = scale_arr
        scale_ptr = &sv[0]
    cdef KernelSpec spec = _spec(kernel, gamma, degree, coef0)
    cdef bint auto_step = learning_rate is None
    # sizes, divisors and the candidate count: wrong values here would be undefined
    # behaviour in C++ (the step sizes and tolerances are the estimator's to validate)
    if n_rounds < 1:
        raise ValueError(f"n_rounds must be >= 1, got {n_rounds}")
    if lr_decay_every < 1:
        raise ValueError(f"lr_decay_every must be >= 1, got {lr_decay_every}")
    if not 0 <= flip_budget <= n:
        raise ValueError(f"flip_budget must be in [0, n={n}], got {flip_budget}")
    if not candidate_factor >= 1:
        raise ValueError(f"candidate_factor must be >= 1, got {candidate_factor}")
    if eval_every < 1:
        raise ValueError(f"eval_every must be >= 1, got {eval_every}")
    if not cache_size > 0:
        raise ValueError(f"cache_size must be > 0 (MB), got {cache_size}")
    if not 0 < dense_fraction:
        raise ValueError(f"dense_fraction must be > 0, got {dense_fraction}")
    if average_from < 0 or n_best < 0:
        raise ValueError("average_from and n_best must be >= 0")
    if scoring not in ("accuracy", "balanced_accuracy"):
        raise ValueError(f"scoring must be 'accuracy' or 'balanced_accuracy', got {scoring!r}")
    if class_cap is None:
        cap_arr = np.full(n_classes, flip_budget, dtype=np.int64)
    else:
        cap_arr = _as_1d(class_cap, n_classes, np.int64, "class_cap")
        if np.any(cap_arr < 0):
            raise ValueError("class_cap must be >= 0")
    cdef const index_t[::1] capv = cap_arr
    cdef int nt = _threads(n_jobs)
    cdef bint serial_power = n_jobs is None and n * (n + 1) // 2 < GOVERNED_MIN_WORK

    cdef index_t m = 0
    cdef const double[:, ::1] Xev
    cdef const int32_t[::1] yev
    cdef CrossKernel* ev = NULL
    cdef cbool store_eval = True
    cdef const int32_t* yev_ptr = NULL
    cdef const double[::1] wev
    cdef const double* wev_ptr = NULL
    if X_eval is not None:
        if csr:
            X_eval = _as_csr(X_eval, "X_eval", index_dtype=X.indices.dtype,
                             keep_float32=f32, n_features=d).astype(X.dtype, copy=False)
        else:
            X_eval = np.ascontiguousarray(_as_2d(X_eval, "X_eval"), dtype=X.dtype)
        if X_eval.shape[1] != d:
            raise ValueError(f"X_eval must have {d} columns, got {X_eval.shape[1]}")
        m = X_eval.shape[0]
        y_eval_arr = _as_labels(y_eval, m, n_classes)
        yev = y_eval_arr
        yev_ptr = &yev[0]
        if w_eval is not None:
            w_eval_arr = _as_1d(w_eval, m, np.float64, "w_eval")
            if not np.all(np.isfinite(w_eval_arr)) or np.any(w_eval_arr < 0):
                raise ValueError("w_eval must be finite and >= 0")
            wev = w_eval_arr
            wev_ptr = &wev[0]
        store_eval = 4.0 * n * m <= eval_cache_size * 1024.0 * 1024.0
    elif n_best > 0:
        raise ValueError("n_best > 0 needs X_eval and y_eval")
    # inf or NaN kernel values would give a NaN model that predicts one class
    _check_kernel_finite(kernel, gamma, degree, coef0, storage == "gram", X, X_eval)

    cdef LoopParams p
    p.n_rounds = n_rounds
    p.learning_rate = 1.0 if auto_step else learning_rate
    p.lr_decay = lr_decay
    p.lr_decay_every = lr_decay_every
    p.flip_budget = flip_budget
    p.candidate_factor = candidate_factor
    p.refresh = refresh
    p.tol = tol
    p.eval_every = eval_every
    p.seed = seed
    p.dense_fraction = dense_fraction
    p.heartbeat = 0.2
    p.average_from = average_from
    p.n_best = n_best
    p.balanced = scoring == "balanced_accuracy"
    p.eval_weight = wev_ptr
    # n_jobs=None: up to all cores, each product on one thread or all by timing
    p.adaptive_threads = n_jobs is None
    p.scale = scale_ptr

    cdef _LoopContext ctx = _LoopContext()
    ctx.callback = callback
    ctx.exception = None
    cdef const double[:, ::1] Xv
    cdef double budget = cache_size * 1024.0 * 1024.0
    cdef GramCache* cache = NULL
    cdef LoopResult res
    cdef double lmax = float("nan")
    cdef index_t power_iters = 0
    w = None
    if csr:
        Xe = X if X_eval is None else X_eval
        if f32 and X.indices.dtype == np.int32:
            lmax, power_iters, w = _csr_loop[float, int32_t](
                X.data, X.indices, X.indptr, n, d, Xe.data, Xe.indices, Xe.indptr, m, nt,
                auto_step, step_scale, power_max_iter, power_rtol, p, yev_ptr, &yv[0],
                n_classes, &Cv[0], &lv[0], &capv[0], ctx, res, P == 1)
        elif f32:
            lmax, power_iters, w = _csr_loop[float, int64_t](
                X.data, X.indices, X.indptr, n, d, Xe.data, Xe.indices, Xe.indptr, m, nt,
                auto_step, step_scale, power_max_iter, power_rtol, p, yev_ptr, &yv[0],
                n_classes, &Cv[0], &lv[0], &capv[0], ctx, res, P == 1)
        elif X.indices.dtype == np.int32:
            lmax, power_iters, w = _csr_loop[double, int32_t](
                X.data, X.indices, X.indptr, n, d, Xe.data, Xe.indices, Xe.indptr, m, nt,
                auto_step, step_scale, power_max_iter, power_rtol, p, yev_ptr, &yv[0],
                n_classes, &Cv[0], &lv[0], &capv[0], ctx, res, P == 1)
        else:
            lmax, power_iters, w = _csr_loop[double, int64_t](
                X.data, X.indices, X.indptr, n, d, Xe.data, Xe.indices, Xe.indptr, m, nt,
                auto_step, step_scale, power_max_iter, power_rtol, p, yev_ptr, &yv[0],
                n_classes, &Cv[0], &lv[0], &capv[0], ctx, res, P == 1)
        stats = {"storage": "csr", "hits": 0, "misses": 0, "rows_computed": 0,
                 "materialised": False, "layout": None, "capacity": 0, "row_slots": 0,
                 "eval_stored": None}
    elif storage == "features":
        Xe = X if X_eval is None else X_eval
        # with several problems the operator's w mixes them (P == 1: keep w)
        if f32:
            lmax, power_iters, w = _features_loop[float](
                X, Xe, m, nt, auto_step, step_scale, power_max_iter, power_rtol, p, yev_ptr,
                &yv[0], n_classes, &Cv[0], &lv[0], &capv[0], ctx, res, P == 1)
        else:
            lmax, power_iters, w = _features_loop[double](
                X, Xe, m, nt, auto_step, step_scale, power_max_iter, power_rtol, p, yev_ptr,
                &yv[0], n_classes, &Cv[0], &lv[0], &capv[0], ctx, res, P == 1)
        stats = {"storage": "features", "hits": 0, "misses": 0, "rows_computed": 0,
                 "materialised": False, "layout": None, "capacity": 0, "row_slots": 0,
                 "eval_stored": None}
    else:
        Xv = X
        if m > 0:
            Xev = X_eval
        try:
            with _blas_single_thread(d):
                with nogil:
                    cache = new GramCache(&Xv[0, 0], n, d, spec, budget, nt, _gemm)
                    if m > 0:
                        ev = new CrossKernel(&Xv[0, 0], n, &Xev[0, 0], m, d, spec, store_eval,
                                             nt, _gemm)
                    if auto_step:
                        # n_jobs=None: the loop's rule for small products (one thread
                        # below GOVERNED_MIN_WORK entries) holds for the power iteration
                        if serial_power:
                            cache.set_threads(1)
                        lmax = gram_lambda_max(cache[0], power_max_iter, power_rtol,
                                               &power_iters, p.scale)
                        cache.set_threads(cache.max_threads())
            if auto_step:
                p.learning_rate = _auto_step(lmax, step_scale)
            with _blas_single_thread(d):
                with nogil:
                    run_floral_gram(cache[0], ev, yev_ptr, &yv[0], n_classes, &Cv[0], &lv[0],
                                    &capv[0], p, _trampoline, <void*>ctx, res)
            s = cache.stats()
            stats = {"storage": "gram", "hits": int(s.hits), "misses": int(s.misses),
                     "rows_computed": int(s.rows_computed),
                     "materialised": bool(cache.materialised()), "layout": _layout(cache[0]),
                     "capacity": int(cache.capacity()), "row_slots": int(cache.row_slots()),
                     "eval_stored": bool(ev.stored()) if ev != NULL else None}
        finally:
            del cache
            del ev

    h = res.history
    last = _model(res.last, P, n, _RoundModel)
    if not (np.all(np.isfinite(last.coef)) and np.all(np.isfinite(last.b))):
        # the kernel is finite (checked above) and the duals are in their box, so only
        # K (y lam) can have overflowed
        raise ValueError("the model is not finite: its decision values overflow float64 "
                         "(C * sample_weight times the kernel values); lower C or scale X")
    average = None
    if res.n_averaged > 0:
        avg = _model(res.average, P, n, _RoundModel)
        k = float(res.n_averaged)
        average = Average(coef=avg.coef / k, b=avg.b / k, n=int(res.n_averaged),
                          flip_count=np.asarray(res.flip_count, dtype=np.int64))
    extra = None
    if diagnostics:
        lam = np.asarray(res.lam, dtype=np.float64).reshape(P, n)
        f = np.asarray(res.f, dtype=np.float64).reshape(P, n)
        extra = FitDiagnostics(
            lam=lam[0].copy() if P == 1 else lam,
            yt=(2 * last.labels - 1).astype(np.int8) if P == 1 else None,
            f=f[0] if P == 1 else f,
            f_eval=np.asarray(res.f_eval, dtype=np.float64).reshape(P, m),
            stopped=bool(res.stopped),
            dense_passes=int(res.dense_passes),
            power_iterations=int(power_iters),
            w=w,
        )
    return FitResult(
        coef=last.coef,
        b=float(last.b[0]) if P == 1 else last.b,
        labels=last.labels,
        round=last.round,
        rounds_run=int(res.rounds_run),
        exception=ctx.exception,
        cache=stats,
        learning_rate=float(p.learning_rate),
        lambda_max=float(lmax),
        history=History(
            objective=np.asarray(h.objective, dtype=np.float64),
            mu=np.asarray(h.mu, dtype=np.float64),
            eta=np.asarray(h.eta, dtype=np.float64),
            seconds=np.asarray(h.seconds, dtype=np.float64),
            accuracy=np.asarray(h.accuracy, dtype=np.float64),
            balanced_accuracy=np.asarray(h.balanced_accuracy, dtype=np.float64),
            n_sv=np.asarray(h.n_sv, dtype=np.int64),
            n_free=np.asarray(h.n_free, dtype=np.int64),
            n_changed=np.asarray(h.n_changed, dtype=np.int64),
            ascent=np.asarray(h.ascent, dtype=np.int64),
            n_bound=np.asarray(h.n_bound, dtype=np.int64),
        ),
        average=average,
        best=[_model(res.best[i], P, n, _RoundModel) for i in range(res.best.size())],
        diagnostics=extra,
    )


def kernel_rows_seconds(X, index_t n_rows, *, str kernel="rbf", double gamma=1.0,
                        int degree=3, double coef0=0.0, double cache_size=1024.0,
                        n_jobs=None):
    """Seconds the Gram storage that ``floral_fit`` builds for X under ``cache_size`` (MB)
    takes to produce its first ``n_rows`` whole kernel rows: computed into the row cache
    when the matrix does not fit the budget (the work a round of the row cache repeats),
    copied out of the stored matrix when it does. For floral._memory's storage plan."""
    import time

    X = _as_2d(X, "X")
    cdef index_t n = X.shape[0], d = X.shape[1]
    if not 0 < n_rows <= n:
        raise ValueError(f"n_rows must be in [1, {n}], got {n_rows}")
    if not cache_size > 0:
        raise ValueError(f"cache_size must be > 0 (MB), got {cache_size!r}")
    cdef KernelSpec spec = _spec(kernel, gamma, degree, coef0)
    cdef int nt = _threads(n_jobs)
    cdef const double[:, ::1] Xv = X
    cdef double budget = cache_size * 1024.0 * 1024.0
    cdef GramCache* cache = NULL
    cdef vector[index_t] rows = range(n_rows)
    cdef vector[const float*] ptrs
    cdef vector[float] row
    cdef index_t b0 = 0, bm, r, slots
    cdef cbool packed
    try:
        with _blas_single_thread(d):
            with nogil:
                cache = new GramCache(&Xv[0, 0], n, d, spec, budget, nt, _gemm)
            packed = cache.is_packed()
            slots = cache.row_slots()
            t0 = time.perf_counter()
            with nogil:
                if packed:
                    row.resize(n)
                    for r in range(n_rows):
                        cache.full_row(r, row.data())
                else:
                    while b0 < n_rows:
                        bm = min(slots, n_rows - b0)
                        ptrs.resize(bm)
                        cache.fetch(&rows[b0], bm, ptrs.data())
                        b0 += bm
            seconds = time.perf_counter() - t0
    finally:
        del cache
    return seconds


def decision_function(X, SV, coef, b, *, str kernel="rbf", double gamma=1.0,
                      int degree=3, double coef0=0.0, n_jobs=None):
    """sum_j coef[p, j] K(SV_j, x) + b[p] for every row x of X, in tiles.

    ``coef`` is (n_sv,) with a scalar ``b`` (one problem: returns shape (m,)) or
    (n_out, n_sv) with ``b`` of shape (n_out,) (returns shape (m, n_out)).
    """
    X = _as_2d(X, "X")
    cdef index_t m = X.shape[0], d = X.shape[1]
    SV = np.ascontiguousarray(SV, dtype=np.float64)
    if SV.ndim != 2 or SV.shape[1] != d:
        raise ValueError(f"SV must have shape (n_sv, {d}), got {SV.shape}")
    cdef index_t n_sv = SV.shape[0]
    coef_arr = np.ascontiguousarray(coef, dtype=np.float64)
    single = coef_arr.ndim == 1
    coef_arr = coef_arr.reshape(1, -1) if single else coef_arr
    if coef_arr.ndim != 2 or coef_arr.shape[1] != n_sv:
        raise ValueError(f"coef must have shape (n_sv,) or (n_out, n_sv) with n_sv={n_sv}, "
                         f"got {np.shape(coef)}")
    cdef index_t n_out = coef_arr.shape[0]
    b_arr = np.ascontiguousarray(np.atleast_1d(np.asarray(b, dtype=np.float64)))
    if b_arr.shape != (n_out,):
        raise ValueError(f"b must have shape ({n_out},), got {np.shape(b)}")
    cdef KernelSpec spec = _spec(kernel, gamma, degree, coef0)
    cdef int nt = _threads(n_jobs)
    out = np.empty((m, n_out), dtype=np.float64)
    if n_sv == 0:
        out[:] = b_arr
    else:
        _decision_tiles(X, SV, coef_arr, b_arr, spec, nt, out)
    return out[:, 0].copy() if single else out


cdef _decision_tiles(X, SV, coef, b, KernelSpec spec, int nt, out):
    cdef const double[:, ::1] Xv = X
    cdef const double[:, ::1] Sv = SV
    cdef const double[:, ::1] cv = coef
    cdef const double[::1] bv = b
    cdef double[:, ::1] ov = out
    cdef index_t m = Xv.shape[0], d = Xv.shape[1], n_sv = Sv.shape[0], n_out = cv.shape[0]
    with _blas_single_thread(d):
        with nogil:
            c_decision_function(&Xv[0, 0], m, &Sv[0, 0], n_sv, d, &cv[0, 0], &bv[0], n_out,
                                spec, nt, _gemm, &ov[0, 0])
