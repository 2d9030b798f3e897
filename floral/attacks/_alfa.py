"""ALFA (Xiao, Xiao & Eckert 2012) and ALFA-tilt (Xiao et al. 2015), two-class attacks
that solve for the flips on a kernel SVM."""
import math

import numpy as np
from scipy.optimize import linprog
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import validate_params

from .._kernels import gram
from .._validation import (
    NON_NEGATIVE,
    POSITIVE_INT,
)
from ._common import _COMMON, _check_data, _fit_svm, _kernel, _poisoned

# --- ALFA ----------------------------------------------------------------------------------

@validate_params({**_COMMON, "max_iter": POSITIVE_INT, "tol": NON_NEGATIVE},
                 prefer_skip_nested_validation=True)
def alfa(X, y, budget, *, C=1.0, kernel="rbf", gamma="scale", degree=3, coef0=0.0,
         max_iter=10, tol=1e-4, random_state=None):
    r"""Adversarial Label Flip Attack (ALFA) of Xiao, Xiao & Eckert (ECAI 2012).

    The attacker looks for labels on which the clean SVM :math:`f_S` has a large hinge loss
    while the SVM :math:`f` retrained on them fits them well. Duplicate every point,
    :math:`(x_i, y_i)` and :math:`(x_i, -y_i)`, and give the flipped copy weight
    :math:`q_i \in [0, 1]` and the original :math:`1 - q_i`. With hinge losses
    :math:`\xi^0_i, \xi^1_i` of :math:`f` and :math:`\varepsilon^0_i, \varepsilon^1_i` of
    :math:`f_S` on the original and the flipped copy, the relaxed problem is

    .. math::

        \min_{q,\,f}\ \gamma\|f\|^2 + \sum_i (1 - q_i)(\xi^0_i - \varepsilon^0_i)
            + q_i(\xi^1_i - \varepsilon^1_i)
        \quad\text{s.t.}\quad 0 \le q_i \le 1,\ \ \sum_i q_i \le L,

    and it is solved by alternating two convex problems until :math:`q` stops changing:

    1. with :math:`\xi` fixed, the linear program in :math:`q` (coefficients
       :math:`d_i = (\xi^1_i - \varepsilon^1_i) - (\xi^0_i - \varepsilon^0_i)`), solved with
       :func:`scipy.optimize.linprog` (HiGHS);
    2. with :math:`q` fixed, a weighted SVM on the duplicated set (sample weights
       :math:`1 - q_i` and :math:`q_i`, so :math:`C_i = C \cdot` weight), which gives new
       :math:`\xi`.

    As in the paper, :math:`\xi` starts at 0, so the first linear program picks the points
    the clean SVM classifies most confidently. Finally the ``budget`` points with the
    largest :math:`q_i` are flipped (ties: smaller :math:`d_i`, then lower index).

    Cost: ``max_iter`` SVM fits on at most ``2 * n_samples`` points (``n_samples`` when
    :math:`q` is integral, as it usually is) plus as many linear programs; the Gram matrix
    is computed once.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training inputs.
    y : array-like of shape (n_samples,)
        Labels of two classes (more raise ``ValueError``).
    budget : int or float
        Labels to flip (:math:`L`): a count, or a fraction of ``n_samples`` in ``[0, 1)``.
    C, kernel, gamma, degree, coef0
        The SVM, with :class:`sklearn.svm.SVC`'s meaning and defaults.
    max_iter : int, default=10
        Alternations of the linear program and the SVM.
    tol : float, default=1e-4
        Stop when no flip weight :math:`q_i` changes by more than ``tol``.
    random_state : None
        Unused: ALFA is deterministic. Accepted so every attack takes the same keywords.

    Returns
    -------
    y_poisoned : ndarray of shape (n_samples,)
        A copy of ``y`` with exactly ``budget`` labels flipped.

    References
    ----------
    H. Xiao, H. Xiao and C. Eckert, "Adversarial label flips attack on support vector
    machines", ECAI 2012, Sec. 3 (Algorithm 1).
    """
    X, y, classes, y_signed, k = _check_data(X, y, budget, "alfa")
    kparams = _kernel(X, kernel, gamma, degree, coef0)
    if k == 0:
        return y.copy()
    n = y.shape[0]
    K = gram(X, X, kparams)
    coef, intercept = _fit_svm(K, y_signed, C)
    clean_margin = y_signed * (K @ coef + intercept)
    eps0, eps1 = np.maximum(0, 1 - clean_margin), np.maximum(0, 1 + clean_margin)
    xi0, xi1 = np.zeros(n), np.zeros(n)
    q = np.full(n, np.nan)
    rows = np.concatenate([np.arange(n), np.arange(n)])
    labels = np.concatenate([y_signed, -y_signed]).astype(np.float64)
    for _ in range(max_iter):
        d = (xi1 - eps1) - (xi0 - eps0)
        res = linprog(d, A_ub=np.ones((1, n)), b_ub=[k], bounds=(0, 1), method="highs")
        if res.status != 0:  # pragma: no cover - a box and one budget row is always feasible
            raise RuntimeError(f"ALFA's linear program failed: {res.message}")
        q_new = np.clip(res.x, 0.0, 1.0)
        converged = np.all(np.abs(q_new - q) <= tol)
        q = q_new
        if converged:
            break
        coef, intercept = _fit_svm(K, labels, C, np.concatenate([1 - q, q]), rows)
        margin = y_signed * (K @ coef + intercept)
        xi0, xi1 = np.maximum(0, 1 - margin), np.maximum(0, 1 + margin)
    d = (xi1 - eps1) - (xi0 - eps0)
    order = np.lexsort((np.arange(n), d, -q))
    return _poisoned(y, classes, y_signed, order[:k])


# --- ALFA-tilt -----------------------------------------------------------------------------

@validate_params({**_COMMON, "n_trials": POSITIVE_INT, "beta1": NON_NEGATIVE,
                  "beta2": NON_NEGATIVE, "return_info": ["boolean"]},
                 prefer_skip_nested_validation=True)
def alfa_tilt(X, y, budget, *, C=1.0, kernel="rbf", gamma="scale", degree=3, coef0=0.0,
              n_trials=10, beta1=1.0, beta2=1.0, random_state=None, return_info=False):
    r"""ALFA-tilt of Xiao et al. (Neurocomputing 2015): flips that tilt the hyperplane most.

    Fit the clean SVM :math:`f(x) = \sum_j \alpha_j y_j K(x_j, x) + b` and let
    :math:`s_i = y_i f(x_i) / \max_j |y_j f(x_j)|` be its normalised signed margins. Each
    trial draws a *random SVM* :math:`f^r(x) = \sum_j \alpha^r_j y_j K(x_j, x)` with
    :math:`\alpha^r_j \sim U[0, C]` drawn afresh, with normalised signed margins
    :math:`q_i`, scores every point by

    .. math::

        v_i = \alpha_i / C - \beta_1 s_i - \beta_2 q_i

    (:math:`\alpha_i \ge 0` the clean dual variables) and flips the ``budget`` points with
    the lowest :math:`v_i`: confidently classified non-support vectors, with the random
    SVM choosing among them. The SVM is refitted on the flipped labels :math:`z` and the
    trial scored by the cosine of the angle between the clean and poisoned weight vectors
    in the kernel feature space,

    .. math::

        \cos\theta = \frac{\langle w, w'\rangle}{\|w\|\,\|w'\|}, \quad
        \langle w, w'\rangle = \sum_{i,j} \alpha_i y_i\, \alpha'_j z_j\, K(x_i, x_j).

    The trial with the smallest cosine (the most tilted poisoned SVM) is returned.

    Cost: ``n_trials + 1`` SVM fits and one Gram matrix.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training inputs.
    y : array-like of shape (n_samples,)
        Labels of two classes (more raise ``ValueError``).
    budget : int or float
        Labels to flip: a count, or a fraction of ``n_samples`` in ``[0, 1)`` (half up).
    C, kernel, gamma, degree, coef0
        The SVM, with :class:`sklearn.svm.SVC`'s meaning and defaults.
    n_trials : int, default=10
        Random SVMs tried.
    beta1, beta2 : float, default=1.0
        Weights of the clean and random margins in the score, >= 0.
    random_state : int, RandomState instance or None, default=None
        Seeds the random SVMs.
    return_info : bool, default=False
        Also return a dict with, per trial, ``random_alpha`` (n_trials, n_samples),
        ``flipped`` (n_trials, budget) indices and ``cosine`` (n_trials,), plus
        ``best_trial`` and the clean SVM's ``alpha``.

    Returns
    -------
    y_poisoned : ndarray of shape (n_samples,)
        A copy of ``y`` with exactly ``budget`` labels flipped.
    info : dict
        Only with ``return_info=True``.

    References
    ----------
    H. Xiao, B. Biggio, B. Nelson, H. Xiao, C. Eckert and F. Roli, "Support vector
    machines under adversarial label contamination", Neurocomputing 160, 2015, Sec. 4.
    """
    X, y, classes, y_signed, k = _check_data(X, y, budget, "alfa_tilt")
    kparams = _kernel(X, kernel, gamma, degree, coef0)
    rng = check_random_state(random_state)
    n = y.shape[0]
    info = {"random_alpha": np.zeros((n_trials, n)),
            "flipped": np.zeros((n_trials, k), dtype=np.intp),
            "cosine": np.ones(n_trials), "best_trial": 0, "alpha": np.zeros(n)}
    if k == 0:
        return (y.copy(), info) if return_info else y.copy()
    K = gram(X, X, kparams)
    coef, intercept = _fit_svm(K, y_signed, C)
    alpha = np.abs(coef)  # dual_coef_ is y_i alpha_i; the score wants alpha_i >= 0
    info["alpha"] = alpha
    s = _normalised(y_signed * (K @ coef + intercept))
    norm_w = math.sqrt(max(coef @ K @ coef, 0.0))
    for t in range(n_trials):
        alpha_r = rng.uniform(0.0, C, size=n)
        q = _normalised(y_signed * (K @ (alpha_r * y_signed)))
        v = alpha / C - beta1 * s - beta2 * q
        flip = np.lexsort((np.arange(n), v))[:k]
        z = y_signed.copy()
        z[flip] = -z[flip]
        coef_z, _ = _fit_svm(K, z, C)
        norm_wz = math.sqrt(max(coef_z @ K @ coef_z, 0.0))
        denom = norm_w * norm_wz
        info["random_alpha"][t] = alpha_r
        info["flipped"][t] = flip
        info["cosine"][t] = (coef @ K @ coef_z) / denom if denom > 0 else 1.0
    best = int(np.argmin(info["cosine"]))  # first minimum: ties keep the earlier trial
    info["best_trial"] = best
    y_out = _poisoned(y, classes, y_signed, info["flipped"][best])
    return (y_out, info) if return_info else y_out


def _normalised(m):
    top = np.abs(m).max()
    return m / top if top > 0 else m
