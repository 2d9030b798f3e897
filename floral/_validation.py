"""Parameter constraints and input checks shared by every public function and class.

The constraints are scikit-learn's (:mod:`sklearn.utils._param_validation`): classes list
them in ``_parameter_constraints``, public functions through ``validate_params``, and the
command line checks its options against the same entries (:func:`check_option`), so every
entry point rejects a bad value in the same words::

    The 'C' parameter of topk_sv_flip must be a float in the range (0.0, inf). Got -1 instead.

Checks that depend on the data (a budget against the number of samples, the classes of
``y``) raise ``ValueError`` naming the parameter too. The compiled core re-checks only what
protects memory (shapes, dtypes, finiteness, index ranges).
"""
import os
import sys
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import (
    Interval,
    RealNotInt,
    StrOptions,
    make_constraint,
    validate_parameter_constraints,
)
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, _num_samples, validate_data

# gram and kernel_params live in the kernel table; bench/ scripts import them from here
from ._kernels import KERNELS, gram, kernel_params  # noqa: F401

__all__ = ["resolve_budget", "encode_labels", "encode_binary_labels", "resolve_gamma",
           "SVC_PARAMS", "KERNEL_PARAMS", "BUDGET", "N_JOBS", "SEED",
           "check_option", "describe", "check_data", "check_targets", "check_validation_set",
           "class_caps", "core_seed", "warn_caller"]

# --- shared constraints --------------------------------------------------------------------
# An open Interval excludes its unbounded end, so these also refuse inf (and all refuse NaN).

POSITIVE = [Interval(Real, 0.0, None, closed="neither")]
NON_NEGATIVE = [Interval(Real, 0.0, None, closed="left")]
POSITIVE_INT = [Interval(Integral, 1, None, closed="left")]
NON_NEGATIVE_INT = [Interval(Integral, 0, None, closed="left")]
# Counts the compiled core holds in a C int (degree) or int64 (rounds, intervals): bounded
# here so that 2**31 or 2**63 is refused naming the parameter instead of overflowing in the
# bindings. 2**31 - 1 rounds (or an interval that long) is beyond any run that can finish.
MAX_COUNT = 2**31 - 1
COUNT = [Interval(Integral, 1, MAX_COUNT, closed="both")]
COUNT_OR_ZERO = [Interval(Integral, 0, MAX_COUNT, closed="both")]

C = POSITIVE
KERNEL = [StrOptions(set(KERNELS))]
GAMMA = [StrOptions({"scale", "auto"}), Interval(Real, 0.0, None, closed="neither")]
DEGREE = COUNT_OR_ZERO
COEF0 = [Interval(Real, None, None, closed="neither")]

# SVC's kernel parameters, and with C the whole SVM: every estimator, attack and defense
# that fits or imitates an SVC takes these.
KERNEL_PARAMS = {"kernel": KERNEL, "gamma": GAMMA, "degree": DEGREE, "coef0": COEF0}
SVC_PARAMS = {"C": C, **KERNEL_PARAMS}

# Labels an attacker flips: a count (checked against n_samples once the data is known) or a
# fraction in [0, 1). RealNotInt keeps 1 a count, not the fraction 1.0.
BUDGET = [Interval(Integral, 0, None, closed="left"),
          Interval(RealNotInt, 0.0, 1.0, closed="left")]
# The attacker picks among the top ceil(candidate_factor * k) points.
CANDIDATE_FACTOR = [Interval(Real, 1.0, None, closed="left")]
# joblib's convention: None, -1 all cores, -2 all but one, ...; 0 means nothing. The
# compiled core runs at most as many threads as the process has CPUs (larger values are
# clamped to that, floral._core.MAX_THREADS); beyond MAX_N_JOBS a value is refused.
MAX_N_JOBS = 2**15
N_JOBS = [None, Interval(Integral, -MAX_N_JOBS, -1, closed="both"),
          Interval(Integral, 1, MAX_N_JOBS, closed="both")]
RANDOM_STATE = ["random_state"]
# An int seed as numpy's RandomState takes it (the command line's --seed, the runner's seeds).
SEED = [Interval(Integral, 0, 2**32 - 1, closed="both")]


def describe(constraints):
    """How scikit-learn words a list of constraints: "a float in the range (0.0, inf)"."""
    shown = [c for c in map(make_constraint, constraints) if not c.hidden]
    if len(shown) == 1:
        return str(shown[0])
    return f"{', '.join(map(str, shown[:-1]))} or {shown[-1]}"


def check_option(value, name, constraints, caller):
    """Validate one value outside a signature (list items, command-line options).

    Raises scikit-learn's ``InvalidParameterError`` (a ``ValueError`` and a
    ``TypeError``) with its usual message, ``name`` standing for the parameter.
    """
    validate_parameter_constraints({name: constraints}, {name: value}, caller_name=caller)
    return value


# --- data ----------------------------------------------------------------------------------

def check_data(X=None, y=None, *, X_name="X", y_name="y"):
    """Refuse, naming the argument, what scikit-learn's checks would report without its
    name or by printing the whole array: an X that is not 2-D, empty or not numeric, a
    y that is not a sequence, an X and a y of different lengths. NaN, infinity and the
    rest are left to check_array / validate_data, whose messages name X and y."""
    n_X = None
    if X is not None:
        arr = X if hasattr(X, "shape") and hasattr(X, "ndim") else _as_array(X)
        if arr is not None:
            if arr.ndim != 2 and arr.ndim != 0:
                raise ValueError(
                    f"{X_name} must be 2-D, of shape (n_samples, n_features); got a "
                    f"{arr.ndim}-D array of shape {arr.shape}. Reshape your data: "
                    f"{X_name}.reshape(-1, 1) for a single feature, {X_name}.reshape(1, -1) "
                    "for a single sample."
                )
            if arr.ndim == 2:
                for axis, what in ((0, "sample"), (1, "feature")):
                    if arr.shape[axis] == 0:  # scikit-learn's wording, with the name
                        raise ValueError(
                            f"{X_name} must be non-empty: found 0 {what}(s) (shape="
                            f"{arr.shape}) while a minimum of 1 is required.")
                if getattr(arr, "dtype", None) is not None and arr.dtype.kind in "USO":
                    try:
                        np.asarray(arr, dtype=np.float64)
                    except (TypeError, ValueError) as exc:
                        raise type(exc)(f"{X_name} must be numeric: {exc}") from None
                n_X = arr.shape[0]
    if y is not None:
        try:
            n_y = _num_samples(y)
        except TypeError:
            raise ValueError(f"{y_name} must be a 1-D array-like of labels, got {y!r}") \
                from None
        if n_X is not None and n_y != n_X:
            raise ValueError(f"{X_name} and {y_name} have different numbers of samples: "
                             f"{n_X} and {n_y}")


def check_targets(y, name="y"):
    """check_classification_targets, its message prefixed with the argument's name."""
    try:
        check_classification_targets(y)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _as_array(X):
    """np.asarray(X), or None for input numpy cannot make one array of (ragged lists):
    check_array words that case."""
    try:
        return np.asarray(X)
    except (TypeError, ValueError):
        return None


def resolve_budget(budget, n_samples, *, param="budget"):
    """Number of labels an attacker may flip, for a ``budget`` that satisfies BUDGET.

    An int is a count in ``[0, n_samples]``; a float in ``[0, 1)`` a fraction of
    ``n_samples``, rounded half up (0.05 of 500 is 25, 0.1 of 15 is 2).
    """
    if isinstance(budget, Integral):
        if budget > n_samples:
            raise ValueError(
                f"{param}={budget} must be in [0, n_samples={n_samples}] when it is a count"
            )
        return int(budget)
    # half up (not Python's round-half-even) so the documented rule is the obvious one
    return int(np.floor(float(budget) * n_samples + 0.5))


def class_caps(class_cap, k, counts, n):
    """Labels of each class (``counts`` points of the ``n``) the attacker may flip per
    round: ``ceil(class_cap * k * n_c / n)``, at most ``k``; ``k`` for each without a cap."""
    if class_cap is None:
        return np.full(counts.size, k, dtype=np.int64)
    share = float(class_cap) * k * counts / n
    # 1e-9 absorbs rounding in the product so an exact share is not rounded up
    return np.minimum(np.ceil(share - 1e-9), k).astype(np.int64)


def encode_labels(y, *, param="y", need="a classifier needs two or more"):
    """(classes sorted as np.unique sorts them, int codes into them) for 1-D labels of at
    least two classes; ``need`` ends the one-class message."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{param} must be 1-D, got an array of shape {y.shape}")
    check_targets(y, param)
    classes, codes = np.unique(y, return_inverse=True)
    if classes.size < 2:
        raise ValueError(f"{param} has 1 class ({classes[0]!r}); {need}")
    return classes, codes.reshape(-1).astype(np.intp)


def encode_binary_labels(y, *, param="y", hint=None):
    """Map two class labels to int8 {-1, +1}.

    Returns ``(classes, y_signed)`` with ``classes`` sorted as ``np.unique`` sorts them;
    ``classes[0]`` becomes -1 and ``classes[1]`` becomes +1. One class or more than two
    raise ``ValueError``. ``hint`` is the advice appended to the more-than-two-classes
    message; None gives an estimator's advice (wrap it in ``OneVsRestClassifier``), which
    is wrong for a function, so functions (attacks, filters) word their own.
    """
    classes, codes = encode_labels(y, param=param, need="a binary classifier needs two")
    if classes.size > 2:
        if hint is None:
            hint = ("Wrap the estimator in sklearn.multiclass.OneVsRestClassifier for more "
                    "classes.")
        raise ValueError(
            f"Only binary classification is supported: {param} has {classes.size} classes. "
            f"{hint}"
        )
    return classes, (2 * codes - 1).astype(np.int8)


# Above this many entries X.var() is taken in row chunks: NumPy's var materialises X - mean,
# a second copy of X (2 GB for the features of a million points). A chunk and its square
# are two temporaries of this many values (16 MB as float64).
_VAR_CHUNK_ENTRIES = 2**20


def _variance(X):
    if hasattr(X, "multiply") and hasattr(X, "nnz"):
        # scipy.sparse: E[x^2] - E[x]^2 over all n * d entries, as SVC computes it
        # (X.size would count the stored values only)
        return float(X.multiply(X).mean() - X.mean() ** 2)
    if X.size <= _VAR_CHUNK_ENTRIES:
        return float(X.var())
    mean = X.mean()
    rows = max(1, _VAR_CHUNK_ENTRIES // X.shape[1])
    total = sum(float(np.square(X[a:a + rows] - mean).sum()) for a in range(0, X.shape[0], rows))
    return total / X.size


def resolve_gamma(gamma, X):
    """gamma as SVC resolves it: "scale" = 1 / (n_features * X.var()), "auto" = 1 / n_features."""
    if gamma == "scale":
        var = _variance(X)
        return 1.0 / (X.shape[1] * var) if var != 0 else 1.0
    if gamma == "auto":
        return 1.0 / X.shape[1]
    return float(gamma)


def core_seed(random_state):
    """The seed of the core's xoshiro generator, drawn from ``random_state`` as resolved
    by ``check_random_state`` (so an int gives the same draws on every platform)."""
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(np.iinfo(np.int64).max,
                                                        dtype=np.int64))


# --- warnings ------------------------------------------------------------------------------

def _library_dirs():
    import joblib
    import sklearn

    floral_dir = os.path.dirname(os.path.abspath(__file__))
    return (floral_dir + os.sep,) + tuple(os.path.dirname(os.path.abspath(m.__file__))
                                          + os.sep for m in (sklearn, joblib))


def warn_caller(message, category):
    """``warnings.warn`` attributed to the first frame outside floral, scikit-learn and
    joblib: the user's line, however many wrappers (``_fit_context``, pipelines) lie
    between it and the code that warns."""
    internal = _library_dirs()
    frame, level = sys._getframe(1), 2
    while frame.f_back is not None and os.path.abspath(
            frame.f_code.co_filename).startswith(internal):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)



def check_validation_set(est, X_val, y_val, sample_weight_val=None, training_sparse=False):
    """fit's trusted validation set for the fitted-so-far estimator ``est`` (its classes_
    and n_features_in_ are set): (X_val as float64, y_val as class indices,
    sample_weight_val or None), or None without a validation set."""
    if X_val is None and y_val is None:
        if sample_weight_val is not None:
            raise ValueError("sample_weight_val needs a validation set: fit(X, y, "
                             "X_val=..., y_val=..., sample_weight_val=...)")
        return None
    if X_val is None or y_val is None:
        missing = "X_val" if X_val is None else "y_val"
        raise ValueError(f"X_val and y_val go together: {missing} is missing")
    check_data(X_val, y_val, X_name="X_val", y_name="y_val")
    width = np.shape(X_val)[1]
    if width != est.n_features_in_:
        raise ValueError(f"X_val has {width} features, but X has {est.n_features_in_}")
    if is_sparse(X_val) and not training_sparse:
        # the validation rows go where the training rows went: dense storage
        X_val = densify(X_val, X_name="X_val", kernel=est.kernel)
    X_val, y_val = validate_data(est, X_val, y_val, dtype=np.float64, order="C",
                                 reset=False, accept_sparse="csr")
    unknown = np.setdiff1d(np.unique(y_val), est.classes_)
    if unknown.size:
        raise ValueError(
            f"y_val labels {unknown.tolist()} are not among the training classes "
            f"{est.classes_.tolist()}"
        )
    if sample_weight_val is not None:
        sample_weight_val = _check_sample_weight(sample_weight_val, X_val,
                                                 dtype=np.float64, ensure_non_negative=True)
        if not sample_weight_val.sum() > 0:
            raise ValueError("sample_weight_val must have a positive sum")
    return (X_val, np.searchsorted(est.classes_, y_val).astype(np.int32),
            sample_weight_val)


# A sparse X for a kernel other than the linear one is converted to dense rows up to this
# size; beyond it fit refuses (the linear kernel, or Nystroem features, scale instead).
SPARSE_DENSE_MB = 1024.0


def is_sparse(X):
    """Whether X is a scipy.sparse matrix or array (any format)."""
    import scipy.sparse as sp

    return sp.issparse(X)


def densify(X, *, X_name="X", kernel="rbf", limit_mb=None):
    """A sparse ``X`` as a dense float64 array for a kernel evaluated on dense rows, or a
    ValueError naming ``X_name`` when that array would exceed ``limit_mb`` (default
    SPARSE_DENSE_MB)."""
    limit_mb = SPARSE_DENSE_MB if limit_mb is None else limit_mb
    n, d = X.shape
    mb = 8.0 * n * d / 2**20
    if mb > limit_mb:
        raise ValueError(
            f"{X_name} is sparse ({n} x {d}, {X.nnz} stored values) and kernel={kernel!r} "
            f"reads dense rows: as a dense float64 array it would take {mb:.0f} MB, more "
            f"than the {limit_mb:.0f} MB floral converts. Use kernel='linear', which works "
            "on the sparse rows, or map X to dense features first, e.g. "
            "make_pipeline(Nystroem(n_components=1000), FloralSVC(kernel='linear')).")
    return X.toarray().astype(np.float64, copy=False)


def check_class_weights(class_weight, weights):
    """Refuse a class_weight that leaves every sample a weight of 0, as scikit-learn's
    _check_sample_weight refuses an all-zero sample_weight: the problem is then empty and
    the fit would silently return a constant model. ``weights`` are the per-sample
    products sample_weight * class_weight[class]."""
    if not np.any(weights > 0):
        raise ValueError(f"class_weight={class_weight!r} gives every sample a weight of 0 "
                         "(with sample_weight); at least one sample needs a positive weight")


def libsvm_max_iter(n_samples):
    """The iteration cap of the SVCs floral fits inside its attacks and defenses:
    LIBSVM's own, max(10^7, 100 n), which scikit-learn's copy drops (max_iter=-1 runs until
    convergence, which a badly scaled kernel never reaches: minutes at n = 20), at a tenth,
    and never under 100 n. A fit that reaches it warns (ConvergenceWarning), as LIBSVM does."""
    return max(10**6, 100 * int(n_samples))
