"""LFA (Paudice, Munoz-Gonzalez & Lupu 2018): greedy flips that most increase the
validation error of a kernel SVM."""
from numbers import Integral

import numpy as np
from sklearn.utils import check_X_y
from sklearn.utils._param_validation import Interval, validate_params

from .._kernels import gram
from .._validation import (
    check_data,
)
from ._common import _COMMON, _check_data, _fit_svm, _kernel, _poisoned

# --- LFA -----------------------------------------------------------------------------------

@validate_params({**_COMMON, "X_val": ["array-like", None], "y_val": ["array-like", None],
                  "max_candidates": [Interval(Integral, 1, None, closed="left"), None]},
                 prefer_skip_nested_validation=True)
def lfa(X, y, budget, *, X_val=None, y_val=None, C=1.0, kernel="rbf", gamma="scale",
        degree=3, coef0=0.0, max_candidates=None, random_state=None):
    r"""Greedy label-flip attack (LFA) of Paudice, Munoz-Gonzalez & Lupu (2018).

    Flips one label at a time: at each of the ``budget`` steps, every candidate point is
    flipped in turn, the SVM retrained and scored on the validation set, and the flip that
    gives the largest validation error is kept (ties: larger mean hinge loss, then lower
    index). Flipped points stay flipped.

    The naive attack retrains ``budget * n_samples`` SVMs. Two things make it practical:

    * *candidate pruning*: each step only tries the current poisoned SVM's support
      vectors (points with :math:`\alpha_i > 0`, margin points and margin violators)
      and, when ``max_candidates`` is set, only the ``max_candidates`` of them with the
      largest first-order effect on the validation margins (below);
    * *one Gram matrix*: the kernel between all training points, and between validation
      and training points, is computed once and every retraining is an SVC fit on a slice
      of it.

    The first-order effect used for screening: flipping point :math:`i` moves its
    coefficient from :math:`y_i \alpha_i` to about :math:`-y_i C` (a flipped point becomes a
    margin violator) with the rest of the SVM held fixed, which changes the validation
    margins by :math:`\Delta m_v = -y_v y_i (C + \alpha_i) K(x_v, x_i)`. Candidates are
    ranked by how many correctly classified validation points this would misclassify, then
    by the total margin lost :math:`-\sum_v \min(\Delta m_v, 0)`. The screen ignores how
    the other dual variables respond, so it only shortlists; the shortlisted flips are
    still scored by retraining.

    Cost: ``budget * min(n_SV, max_candidates)`` SVC fits on ``n_samples`` points plus one
    ``n_samples x (n_samples + n_val)`` Gram matrix.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training inputs.
    y : array-like of shape (n_samples,)
        Labels of two classes (more raise ``ValueError``).
    budget : int or float
        Labels to flip: a count, or a fraction of ``n_samples`` in ``[0, 1)`` (half up).
    X_val, y_val : array-like, default=None
        The attacker's validation set (labels from the classes of ``y``). None: the
        training set with its clean labels.
    C, kernel, gamma, degree, coef0
        The SVM, with :class:`sklearn.svm.SVC`'s meaning and defaults.
    max_candidates : int or None, default=None
        Most candidates retrained per step; None tries every support vector.
    random_state : None
        Unused: LFA is deterministic. Accepted so every attack takes the same keywords.

    Returns
    -------
    y_poisoned : ndarray of shape (n_samples,)
        A copy of ``y`` with exactly ``budget`` labels flipped.

    References
    ----------
    A. Paudice, L. Munoz-Gonzalez and E. C. Lupu, "Label sanitization against label
    flipping poisoning attacks", ECML PKDD 2018 Workshops, Sec. 3.
    """
    X, y, classes, y_signed, k = _check_data(X, y, budget, "lfa")
    kparams = _kernel(X, kernel, gamma, degree, coef0)
    if (X_val is None) != (y_val is None):
        raise ValueError("X_val and y_val must be given together (or neither)")
    if X_val is None:
        X_val, yv = X, y_signed
    else:
        check_data(X_val, y_val, X_name="X_val", y_name="y_val")
        X_val, y_val = check_X_y(X_val, y_val, dtype=np.float64, y_numeric=False)
        if X_val.shape[1] != X.shape[1]:
            raise ValueError(
                f"X_val has {X_val.shape[1]} features but X has {X.shape[1]}"
            )
        unknown = np.setdiff1d(np.unique(y_val), classes)
        if unknown.size:
            raise ValueError(
                f"y_val has labels {unknown.tolist()!r} that are not classes of y "
                f"{classes.tolist()!r}"
            )
        yv = np.where(y_val == classes[1], 1, -1).astype(np.int8)
    if k == 0:
        return y.copy()
    n = y.shape[0]
    K = gram(X, X, kparams)
    K_val = gram(X_val, X, kparams)
    z = y_signed.copy()
    flipped = np.zeros(n, dtype=bool)
    coef, intercept = _fit_svm(K, z, C)
    for _ in range(k):
        candidates = np.flatnonzero((coef != 0) & ~flipped)
        if candidates.size == 0:
            # every support vector is flipped already: fall back to all unflipped points
            candidates = np.flatnonzero(~flipped)
        if max_candidates is not None and candidates.size > max_candidates:
            candidates = _lfa_screen(candidates, coef, intercept, z, K_val, yv, C,
                                     max_candidates)
        best_key, best = None, None
        for i in candidates:  # ascending, so strict > keeps the lower index on ties
            z[i] = -z[i]
            coef_i, intercept_i = _fit_svm(K, z, C)
            z[i] = -z[i]
            f_val = K_val @ coef_i + intercept_i
            key = (np.count_nonzero(np.where(f_val > 0, 1, -1) != yv),
                   np.maximum(0.0, 1.0 - yv * f_val).mean())
            if best_key is None or key > best_key:
                best_key, best = key, (i, coef_i, intercept_i)
        i, coef, intercept = best
        z[i] = -z[i]
        flipped[i] = True
    return _poisoned(y, classes, y_signed, np.flatnonzero(flipped))


def _lfa_screen(candidates, coef, intercept, z, K_val, yv, C, m):
    """The ``m`` candidates with the largest first-order damage (see :func:`lfa`)."""
    margin = yv * (K_val @ coef + intercept)
    # after the flip point i's coefficient goes from z_i alpha_i to about -z_i C
    delta = -(yv[:, None] * z[candidates]) * (C + np.abs(coef[candidates])) \
        * K_val[:, candidates]
    new_margin = margin[:, None] + delta
    new_errors = np.count_nonzero((margin[:, None] > 0) & (new_margin <= 0), axis=0)
    drop = np.minimum(delta, 0.0).sum(axis=0)  # tie-break: total margin lost
    order = np.lexsort((candidates, drop, -new_errors))
    return np.sort(candidates[order[:m]])
