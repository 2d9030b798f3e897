"""Input checks shared by the estimator, the attacks and the defenses.

Every check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, wrong
value) with a message that names the parameter and the allowed range.
"""
import numbers

import numpy as np
from sklearn.utils.multiclass import check_classification_targets

__all__ = ["resolve_budget", "encode_binary_labels", "resolve_gamma", "KERNEL_ARGS"]

# The parameters each of scikit-learn's pairwise kernels takes (SVC's formulas).
KERNEL_ARGS = {"linear": (), "rbf": ("gamma",), "poly": ("gamma", "degree", "coef0"),
               "sigmoid": ("gamma", "coef0")}


def resolve_budget(budget, n_samples, *, param="budget"):
    """Number of labels an attacker may flip.

    ``budget`` is an int (a count in ``[0, n_samples]``) or a float in ``[0, 1)`` (a
    fraction of ``n_samples``, rounded half up: 0.05 of 500 is 25, 0.1 of 15 is 2).
    """
    if isinstance(budget, (bool, np.bool_)):
        raise TypeError(f"{param} must be an int or a float, got a bool ({budget!r})")
    if isinstance(budget, numbers.Integral):
        if not 0 <= budget <= n_samples:
            raise ValueError(
                f"{param}={budget} must be in [0, n_samples={n_samples}] when it is a count"
            )
        return int(budget)
    if isinstance(budget, numbers.Real):
        budget = float(budget)
        if not 0.0 <= budget < 1.0:
            raise ValueError(
                f"{param}={budget!r} must be in [0, 1) when it is a fraction of n_samples; "
                "pass an int to give a count"
            )
        # half up (not Python's round-half-even) so the documented rule is the obvious one
        return int(np.floor(budget * n_samples + 0.5))
    raise TypeError(f"{param} must be an int or a float, got {type(budget).__name__}")


def encode_binary_labels(y, *, param="y"):
    """Map two class labels to int8 {-1, +1}.

    Returns ``(classes, y_signed)`` with ``classes`` sorted as ``np.unique`` sorts them;
    ``classes[0]`` becomes -1 and ``classes[1]`` becomes +1. One class or more than two
    raise ``ValueError``.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{param} must be 1-D, got an array of shape {y.shape}")
    check_classification_targets(y)
    classes, inverse = np.unique(y, return_inverse=True)
    if classes.size < 2:
        raise ValueError(
            f"{param} has 1 class ({classes[0]!r}); a binary classifier needs two"
        )
    if classes.size > 2:
        raise ValueError(
            f"Only binary classification is supported: {param} has {classes.size} classes. "
            "Wrap the estimator in sklearn.multiclass.OneVsRestClassifier for more classes."
        )
    return classes, (2 * inverse.reshape(-1) - 1).astype(np.int8)


# Above this many entries X.var() is taken in row chunks: NumPy's var materialises X - mean,
# a second copy of X (2 GB for the features of a million points).
_VAR_CHUNK_ENTRIES = 2**24


def _variance(X):
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


def kernel_params(kernel, gamma, degree, coef0):
    """pairwise_kernels keywords for one of SVC's kernels (gamma already a float)."""
    values = {"gamma": gamma, "degree": int(degree), "coef0": float(coef0)}
    return {"metric": kernel, **{k: values[k] for k in KERNEL_ARGS[kernel]}}


def gram(A, B, params):
    """K(A, B) for keywords from kernel_params."""
    from sklearn.metrics.pairwise import pairwise_kernels

    return pairwise_kernels(A, B, filter_params=False, **params)
