"""What the attacks share: their common parameters and input checks, the kernel, and a
kernel SVM fitted on a precomputed Gram matrix."""

import numpy as np
from sklearn.svm import SVC
from sklearn.utils import check_X_y

from .._kernels import kernel_params
from .._validation import (
    BUDGET,
    RANDOM_STATE,
    SVC_PARAMS,
    check_data,
    encode_binary_labels,
    is_sparse,
    libsvm_max_iter,
    resolve_budget,
    resolve_gamma,
)

# What every attack on (X, y) takes: the data, the budget, the SVM and random_state.
_COMMON = {"X": ["array-like", "sparse matrix"], "y": ["array-like"], "budget": BUDGET,
           **SVC_PARAMS, "random_state": RANDOM_STATE}


# --- data ----------------------------------------------------------------------------------

def _check_data(X, y, budget, attack):
    """Validated (X as float64, y as an array, classes, y in {-1, +1}, resolved budget)."""
    if is_sparse(X):
        raise TypeError(
            f"The {attack} attack needs a dense X: it solves its problems on the kernel "
            "matrix of dense rows. The attacks random and topk_sv accept a sparse X; "
            "for this one pass X.toarray() where that fits in memory.")
    # the registry imports every attack, which import this module: read it when called
    from ._registry import _MULTICLASS, _REGISTRY

    check_data(X, y)
    X, y = check_X_y(X, y, dtype=np.float64, y_numeric=False)
    others = " and ".join(n for n in _REGISTRY if n in _MULTICLASS)
    classes, y_signed = encode_binary_labels(
        y, hint=f"The {attack} attack is defined for two classes only; the attacks {others} "
                "handle more than two.")
    return X, y, classes, y_signed, resolve_budget(budget, y.shape[0])


def _kernel(X, kernel, gamma, degree, coef0):
    """pairwise_kernels keywords for SVC's kernel, gamma resolved on X as SVC does."""
    return kernel_params(kernel, resolve_gamma(gamma, X), degree, coef0)


# --- kernel SVM on a precomputed Gram matrix --------------------------------------------

def _fit_svm(K, y_signed, C, sample_weight=None, rows=None):
    """SVC on the Gram matrix ``K`` restricted to ``rows``; returns (coef, intercept).

    ``coef`` has one entry per row of ``K`` (zero off the support), signed like SVC's
    ``dual_coef_`` (``y_i alpha_i``), so the decision function on points with kernel rows
    ``K_eval`` is ``K_eval @ coef + intercept``. ``rows`` may repeat an index (ALFA's
    duplicated set); the coefficients of repeats are summed.
    """
    n = K.shape[0]
    rows = np.arange(n) if rows is None else np.asarray(rows)
    if sample_weight is not None:
        # SVC keeps zero-weight samples in ``support_`` in some versions; drop them here so
        # the support indices mean what they say
        keep = sample_weight > 0
        rows, y_signed, sample_weight = rows[keep], y_signed[keep], sample_weight[keep]
    coef = np.zeros(n)
    if np.unique(y_signed).size < 2:
        # one class left (the attacker flipped a whole class): the SVM is the constant
        # classifier of that class, with unit margin on every point
        return coef, float(y_signed[0])
    whole = rows.size == n and np.array_equal(rows, np.arange(n))
    # slicing copies n^2 entries, as much work as a small fit: skip it when nothing is cut
    K_fit = K if whole else K[np.ix_(rows, rows)]
    svc = SVC(C=C, kernel="precomputed", max_iter=libsvm_max_iter(K_fit.shape[0]))
    svc.fit(K_fit, y_signed, sample_weight=sample_weight)
    np.add.at(coef, rows[svc.support_], svc.dual_coef_[0])
    return coef, float(svc.intercept_[0])


def _poisoned(y, classes, y_signed, flip):
    """Copy of ``y`` with the labels at ``flip`` swapped to the other class."""
    out = y.copy()
    flip = np.asarray(flip, dtype=np.intp)
    # y_signed = -1 means classes[0], so its flip is classes[1], and vice versa
    out[flip] = classes[(y_signed[flip] < 0).astype(np.intp)]
    return out
