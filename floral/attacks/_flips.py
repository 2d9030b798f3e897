"""The one-shot attacks: uniform random flips and FLORAL's attacker (the top-k support
vectors), both for any number of classes."""
import math

import numpy as np
from sklearn.svm import SVC
from sklearn.utils import check_random_state, check_X_y
from sklearn.utils._param_validation import validate_params

from .. import _core
from .._kernels import gram
from .._validation import (
    BUDGET,
    CANDIDATE_FACTOR,
    RANDOM_STATE,
    check_data,
    core_seed,
    encode_labels,
    libsvm_max_iter,
    resolve_budget,
)
from ._common import _COMMON, _fit_svm, _kernel

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
