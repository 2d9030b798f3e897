r"""Label-flip attacks on kernel SVMs.

Every attack takes a training set and a budget and returns poisoned labels::

    y_poisoned = attack(X, y, budget, *, ..., random_state=None)

(:func:`random_flip` alone, which never looks at the features, is
``random_flip(y, budget, *, random_state=None)``; :func:`get` gives it, like every attack,
with the ``(X, y, budget)`` signature.)

``y_poisoned`` is a new array with ``y``'s dtype and label values in which exactly
``budget`` labels are changed, each to a class other than its own; ``X`` and ``y`` are never
modified. The budget is an int (a count in ``[0, n_samples]``) or a float in ``[0, 1)`` (a
fraction of ``n_samples``, rounded half up: 0.05 of 500 is 25); a budget of 0 returns an
unchanged copy. Any class labels work (strings, 0/1, -1/+1, booleans). ``random`` and
``topk_sv`` take any number of classes >= 2; ``alfa``, ``alfa_tilt`` and ``lfa`` are defined
for two classes and raise ``ValueError`` on more (:func:`supports_multiclass` tells which is
which). Kernel parameters follow
:class:`sklearn.svm.SVC`: ``C``, ``kernel``, ``gamma`` (a float, ``"scale"`` or ``"auto"``),
``degree``, ``coef0``.

==============  ==========================================================================
``random``      :func:`random_flip`: uniform random flips (label noise, the baseline);
                K >= 2 classes
``topk_sv``     :func:`topk_sv_flip`: FLORAL's attacker as a one-shot attack, the support
                vectors with the largest dual variables; K >= 2 classes (to the runner-up)
``alfa``        :func:`alfa`: Xiao, Xiao & Eckert (2012), relaxed bilevel problem solved by
                alternating a weighted SVM and a linear program
``alfa_tilt``   :func:`alfa_tilt`: Xiao et al. (2015), the flips that tilt the SVM's
                hyperplane the most
``lfa``         :func:`lfa`: Paudice, Munoz-Gonzalez & Lupu (2018), greedy flips that most
                increase the validation error
==============  ==========================================================================

:func:`get` returns any of them by name with one calling convention and :func:`available`
lists the names; the command line (``floral attack``) and the experiment runner use both.

The SVMs inside the attacks are scikit-learn's :class:`~sklearn.svm.SVC` fitted on a
precomputed Gram matrix, so the kernel is evaluated once per attack, not once per fit.
"""
import math
from numbers import Integral

import numpy as np
from scipy.optimize import linprog
from sklearn.svm import SVC
from sklearn.utils import check_random_state, check_X_y
from sklearn.utils._param_validation import Interval, validate_params

from . import _core
from ._kernels import gram, kernel_params
from ._validation import (
    BUDGET,
    CANDIDATE_FACTOR,
    NON_NEGATIVE,
    POSITIVE_INT,
    RANDOM_STATE,
    SVC_PARAMS,
    check_data,
    core_seed,
    encode_binary_labels,
    encode_labels,
    is_sparse,
    libsvm_max_iter,
    resolve_budget,
    resolve_gamma,
)

__all__ = ["random_flip", "topk_sv_flip", "alfa", "alfa_tilt", "lfa", "get", "available",
           "supports_multiclass", "supports_sparse", "canonical_name"]

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


# --- random ----------------------------------------------------------------------------

@validate_params({"y": ["array-like"], "budget": BUDGET, "random_state": RANDOM_STATE},
                 prefer_skip_nested_validation=True)
def random_flip(y, budget, *, random_state=None):
    """Flip ``budget`` labels chosen uniformly at random without replacement.

    The label-noise baseline: a defense that only survives random flips has not been
    tested against an attacker. With two classes a chosen label becomes the other class;
    with K > 2 classes it becomes one of the K - 1 other classes, drawn uniformly and
    independently for each chosen point.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels of two or more classes.
    budget : int or float
        Labels to flip: an int is a count in ``[0, n_samples]``, a float in ``[0, 1)`` a
        fraction of ``n_samples`` (rounded half up).
    random_state : int, RandomState instance or None, default=None
        Seeds the choice of points.

    Returns
    -------
    y_poisoned : ndarray of shape (n_samples,)
        A copy of ``y`` (same dtype) with exactly ``budget`` labels flipped, each to a
        class other than its own.

    Examples
    --------
    >>> from floral.attacks import random_flip
    >>> y = ["cat", "cat", "dog", "dog", "dog"]
    >>> random_flip(y, 2, random_state=0)
    array(['dog', 'cat', 'cat', 'dog', 'dog'], dtype='<U3')
    """
    y = np.array(y, copy=True)
    classes, codes = encode_labels(y, need="flipping labels needs at least two")
    k = resolve_budget(budget, y.shape[0])
    rng = check_random_state(random_state)
    flip = rng.choice(y.shape[0], size=k, replace=False)
    n_classes = classes.size
    if n_classes == 2:
        # no second draw: two-class output stays what it was before K > 2 was supported
        new = 1 - codes[flip]
    else:
        # a shift by 1..K-1 modulo K is a uniform draw among the other K - 1 classes
        new = (codes[flip] + rng.randint(1, n_classes, size=k)) % n_classes
    y[flip] = classes[new]
    return y


def _random_flip_xy(X, y, budget, *, random_state=None):
    """:func:`random_flip` with the common ``(X, y, budget)`` signature of :func:`get`."""
    check_data(X, y)
    X, y = check_X_y(X, y, dtype=None, y_numeric=False, accept_sparse=True)
    return random_flip(y, budget, random_state=random_state)


# --- top-k support vectors ---------------------------------------------------------------

@validate_params({**_COMMON, "candidate_factor": CANDIDATE_FACTOR},
                 prefer_skip_nested_validation=True)
def topk_sv_flip(X, y, budget, *, C=1.0, kernel="rbf", gamma="scale", degree=3, coef0=0.0,
                 candidate_factor=1.0, random_state=None):
    r"""Flip the support vectors with the largest dual variables (FLORAL's attacker, once).

    Fits an SVM on the clean labels and ranks the training points by their dual variable
    :math:`\alpha_i` (``|dual_coef_|``; with K > 2 classes, SVC's one-vs-one problems
    give a support vector up to K - 1 dual variables and the rank is by their total,
    ``|dual_coef_|`` summed over its rows), largest first, ties by lower index. With
    ``candidate_factor = 1`` the top ``budget`` points are flipped; with
    ``candidate_factor = c > 1``, ``budget`` points are drawn uniformly among the top
    :math:`\lceil c \cdot \text{budget} \rceil` (capped at the number of support vectors),
    which is the randomised attacker FLORAL trains against (Bal, Cevher & Muehlebach,
    ICLR 2025, Sec. 4), here applied once to the clean SVM. The ranking and the draw are
    :class:`~floral.FloralSVC`'s own: the compiled core's top-k selection and its portable
    generator, seeded from ``random_state``, so a seed gives the same flips on every
    platform (floral 0.1's first releases drew with NumPy instead, so the same seed gave
    other points).

    When the SVM has fewer support vectors than ``budget``, all of them are flipped and the
    rest of the budget goes to the non-support vectors closest to the margin (smallest
    :math:`y_i f(x_i)`, ties by lower index), so that exactly ``budget`` labels change.

    With two classes a chosen label becomes the other class. With K > 2 classes it
    becomes the *runner-up* class: the SVM's scores are taken one-vs-rest shaped, as
    ``SVC(decision_function_shape="ovr").decision_function`` gives them (one-vs-one votes
    per class plus a tie-breaking confidence in (-1/3, 1/3)), and the label goes to the
    highest-scoring class other than its own (ties: the first in ``np.unique`` order). The
    margin used for the non-support-vector fill is then the own class's score minus the
    runner-up's.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Training inputs; a sparse X gives the same kernel matrix (and flips) as its
        dense twin, without a dense copy of X (the n x n kernel matrix is formed either
        way).
    y : array-like of shape (n_samples,)
        Labels of two or more classes.
    budget : int or float
        Labels to flip: a count, or a fraction of ``n_samples`` in ``[0, 1)`` (half up).
    C, kernel, gamma, degree, coef0
        The SVM, with :class:`sklearn.svm.SVC`'s meaning and defaults.
    candidate_factor : float, default=1.0
        Size of the candidate pool relative to the budget, >= 1.
    random_state : int, RandomState instance or None, default=None
        Seeds the core's generator for the draw among candidates (unused when
        ``candidate_factor == 1``).

    Returns
    -------
    y_poisoned : ndarray of shape (n_samples,)
        A copy of ``y`` with exactly ``budget`` labels flipped, each to a class other
        than its own.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from floral.attacks import topk_sv_flip
    >>> X, y = make_moons(200, noise=0.2, random_state=0)
    >>> y_adv = topk_sv_flip(X, y, 0.1, C=10, gamma=1.0)
    >>> int((y_adv != y).sum())
    20
    """
    check_data(X, y)
    # sparse X: the kernel matrix comes from the sparse rows (pairwise_kernels)
    X, y = check_X_y(X, y, dtype=np.float64, y_numeric=False, accept_sparse="csr")
    classes, codes = encode_labels(y, need="flipping labels needs at least two")
    k = resolve_budget(budget, y.shape[0])
    if k == 0:
        return y.copy()
    n = y.shape[0]
    K = gram(X, X, _kernel(X, kernel, gamma, degree, coef0))
    if classes.size == 2:
        y_signed = (2 * codes - 1).astype(np.int8)
        coef, intercept = _fit_svm(K, y_signed, C)
        alpha = np.abs(coef)
        margin = y_signed * (K @ coef + intercept)
        target = 1 - codes
    else:
        alpha, margin, target = _multiclass_svm(K, codes, C)
    n_sv = int(np.count_nonzero(alpha > 0))
    n_candidates = max(k, min(math.ceil(candidate_factor * k - 1e-9), n_sv, n))
    # the core's selection, as FloralSVC's attacker ranks: value descending, ties by index
    if n_candidates > k:
        flip = _core.sample_among(_core.topk(alpha, n_candidates, 0.0), k,
                                  core_seed(random_state))
    else:
        flip = _core.topk(alpha, k, 0.0)
        if flip.size < k:
            # non-support vectors closest to the margin first: -margin, ranked descending
            closest = np.where(alpha > 0, -np.inf, -margin)
            flip = np.concatenate([flip, _core.topk(closest, k - flip.size, -np.inf)])
    out = y.copy()
    out[flip] = classes[target[flip]]
    return out


def _multiclass_svm(K, codes, C):
    """Total dual weight, own-minus-runner-up margin and runner-up class of every point.

    For K > 2 classes (``codes`` in 0..K-1): SVC on the precomputed Gram matrix, its
    one-vs-rest-shaped scores on the training points themselves.
    """
    n = codes.size
    svc = SVC(C=C, kernel="precomputed", decision_function_shape="ovr",
              max_iter=libsvm_max_iter(K.shape[0])).fit(K, codes)
    alpha = np.zeros(n)
    alpha[svc.support_] = np.abs(svc.dual_coef_).sum(axis=0)
    scores = svc.decision_function(K)
    rows = np.arange(n)
    own = scores[rows, codes]
    scores[rows, codes] = -np.inf
    # codes are 0..K-1 and SVC sorts its classes_, so column j of the scores is class j
    target = np.argmax(scores, axis=1)
    return alpha, own - scores[rows, target], target


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


# --- registry ------------------------------------------------------------------------------

_REGISTRY = {
    "random": _random_flip_xy,
    "topk_sv": topk_sv_flip,
    "alfa": alfa,
    "alfa_tilt": alfa_tilt,
    "lfa": lfa,
}
_ALIASES = {"random_flip": "random", "topk_sv_flip": "topk_sv", "topk": "topk_sv"}
# The attacks that take K > 2 classes; the others are defined for two classes.
_MULTICLASS = frozenset({"random", "topk_sv"})
# The attacks that take a scipy.sparse X; the others solve on dense rows and refuse it.
_SPARSE = frozenset({"random", "topk_sv"})


def available():
    """Names of the attacks :func:`get` knows, in the order of the module's table.

    Returns
    -------
    names : tuple of str
    """
    return tuple(_REGISTRY)


@validate_params({"name": [str]}, prefer_skip_nested_validation=True)
def supports_multiclass(name):
    """Whether the attack called ``name`` takes labels of more than two classes.

    ``random`` and ``topk_sv`` do; ``alfa``, ``alfa_tilt`` and ``lfa`` are defined for two
    classes and raise ``ValueError`` on more. The experiment runner asks this before it
    runs a grid on a multi-class dataset.

    Parameters
    ----------
    name : str
        An attack name as :func:`get` accepts it.

    Returns
    -------
    supported : bool
    """
    return canonical_name(name) in _MULTICLASS


@validate_params({"name": [str]}, prefer_skip_nested_validation=True)
def supports_sparse(name):
    """Whether the attack called ``name`` takes a scipy.sparse ``X``.

    ``random`` and ``topk_sv`` do (TF-IDF features, for instance); ``alfa``,
    ``alfa_tilt`` and ``lfa`` raise ``TypeError`` on one.

    Parameters
    ----------
    name : str
        An attack name as :func:`get` accepts it.

    Returns
    -------
    supported : bool
    """
    return canonical_name(name) in _SPARSE


@validate_params({"name": [str]}, prefer_skip_nested_validation=True)
def canonical_name(name):
    """The registry name of the attack called ``name``, as every output prints it.

    Case, ``-`` for ``_`` (``"alfa-tilt"``) and the function names (``"random_flip"``,
    ``"topk_sv_flip"``) are accepted.

    Parameters
    ----------
    name : str

    Returns
    -------
    name : str
        One of :func:`available`.
    """
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise ValueError(
            f"unknown attack {name!r}; available attacks: {', '.join(available())}"
        )
    return key


@validate_params({"name": [str]}, prefer_skip_nested_validation=True)
def get(name):
    """The attack called ``name``, as ``f(X, y, budget, *, random_state=None, **params)``.

    Every attack takes ``(X, y, budget)`` and ``random_state``; ``params`` are the
    attack's own keywords (for all but ``"random"``, the SVM's ``C``, ``kernel``,
    ``gamma``, ...). For ``"random"`` this is :func:`random_flip` with an ``X`` argument
    that is only checked for length.

    Parameters
    ----------
    name : str
        One of :func:`available`, or a spelling :func:`canonical_name` accepts.

    Returns
    -------
    attack : callable
    """
    return _REGISTRY[canonical_name(name)]
