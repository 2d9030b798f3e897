r"""Label sanitization, LS-SVM (Paudice, Muñoz-González & Lupu, 2018): relabel points to a
confident majority of their nearest neighbours."""
from numbers import Real

import numpy as np
from sklearn.neighbors import NearestNeighbors
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import check_X_y

from .._kernels import document
from .._validation import POSITIVE_INT, check_data, encode_binary_labels
from ._base import (
    DefendedSVC,
    check_neighbours,
    clipped_neighbours,
    labels_from_signed,
)

__all__ = ["sanitize_labels", "LabelSanitizedSVC"]


# the relabeller's parameters, shared by sanitize_labels and LabelSanitizedSVC
_SANITIZE_PARAMS = {
    "k": POSITIVE_INT,
    "eta": [Interval(Real, 0.5, 1.0, closed="right")],
    "max_iter": POSITIVE_INT,
}


@validate_params(
    {"X": ["array-like"], "y": ["array-like"], **_SANITIZE_PARAMS},
    prefer_skip_nested_validation=True,
)
def sanitize_labels(X, y, *, k=20, eta=0.75, max_iter=1):
    r"""Label sanitization: relabel points to a confident majority of their neighbours.

    For every training point, the labels of its ``k`` nearest neighbours (Euclidean, in
    feature space, the point itself excluded) are counted; if the most common label's
    fraction is at least ``eta``, the point takes that label (Paudice, Muñoz-González &
    Lupu, 2018). All points are judged on the same labels, so the result does not depend
    on the order of the points. One pass over the labels as given is the paper's
    procedure; ``max_iter > 1`` repeats the pass on the previous pass's labels, stopping
    early at a fixed point (synchronous passes need not reach one, hence the cap).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training points.
    y : array-like of shape (n_samples,)
        Labels of two classes.
    k : int >= 1, default=20
        Neighbours consulted, at most ``n_samples - 1``; 20 is the setting in the
        FLORAL authors' experiments.
    eta : float in (0.5, 1], default=0.75
        Minimum fraction of the neighbours that must agree; values of 0.5 or less would
        make a tie a majority. 0.75 is the setting in the FLORAL authors' experiments.
    max_iter : int >= 1, default=1
        Passes over the labels.

    Returns
    -------
    y_sanitized : ndarray of shape (n_samples,)
        A copy of ``y`` (same dtype) with the relabelled points changed.

    References
    ----------
    A. Paudice, L. Muñoz-González, E. C. Lupu. "Label Sanitization against Label
    Flipping Poisoning Attacks". ECML PKDD 2018 Workshops (Nemesis), LNCS 11329.

    Examples
    --------
    >>> import numpy as np
    >>> from floral.defenses import sanitize_labels
    >>> rng = np.random.RandomState(0)
    >>> X = np.r_[rng.normal(-3, 0.5, (30, 2)), rng.normal(3, 0.5, (30, 2))]
    >>> y = np.array(["a"] * 30 + ["b"] * 30)
    >>> y[0] = "b"                                 # a flipped label
    >>> y_clean = sanitize_labels(X, y)
    >>> str(y_clean[0]), int((y_clean != y).sum())
    ('a', 1)
    """
    check_data(X, y)
    X, y = check_X_y(X, y, dtype=np.float64, y_numeric=False)
    classes, y_signed = encode_binary_labels(
        y, hint="sanitize_labels is defined for two classes only.")
    y_new, _ = _sanitize(X, y_signed, k, eta, max_iter)
    return labels_from_signed(y, classes, y_new)


def _sanitize(X, y_signed, k, eta, max_iter):
    """Sanitized labels in {-1, +1} and the number of passes run."""
    check_neighbours(k, X.shape[0])
    nbr = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(return_distance=False)
    current, n_iter = y_signed, 0
    while n_iter < max_iter:
        n_iter += 1
        positive = np.mean(current[nbr] > 0, axis=1)
        new = current.copy()
        new[positive >= eta] = 1
        new[1.0 - positive >= eta] = -1
        if np.array_equal(new, current):
            break
        current = new
    return current, n_iter


@document
class LabelSanitizedSVC(DefendedSVC):
    r"""SVC trained on labels cleaned by label sanitization (LS-SVM).

    :func:`sanitize_labels` relabels each point to the majority label of its ``k``
    nearest neighbours when that majority's fraction is at least ``eta`` (Paudice,
    Muñoz-González & Lupu, 2018); an SVC is fitted on the relabelled data.

    Parameters
    ----------
    C : float, default=1.0
        Box constraint of the dual, as in SVC.
    kernel : {kernel_options}, default="rbf"
        Kernel, with scikit-learn's formulas.
    gamma : {"scale", "auto"} or float, default="scale"
        Kernel coefficient, resolved as SVC resolves it.
    degree : int, default=3
        Degree of the {degree_kernels} kernel.
    coef0 : float, default=0.0
        Independent term of the {coef0_kernels} kernels.
    k : int >= 1, default=20
        Neighbours consulted, at most ``n_samples - 1``: a larger
        ``k`` is clipped to ``n_samples - 1`` with a ``UserWarning``.
    eta : float in (0.5, 1], default=0.75
        Minimum agreeing fraction for a relabel.
    max_iter : int >= 1, default=1
        Passes of the relabelling (1 is the paper's procedure).

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two class labels; ``classes_[1]`` is the positive class.
    relabelled_ : ndarray of int
        Training indices whose labels the sanitization changed.
    y_sanitized_ : ndarray of shape (n_samples,)
        The labels the SVC was fitted on (labels of ``classes_``).
    n_iter_ : int
        Relabelling passes run (at most ``max_iter``; the last one changed nothing when
        fewer).
    support_ : ndarray of shape (n_SV,)
        Indices of the support vectors in the training set.
    support_vectors_ : ndarray of shape (n_SV, n_features)
        The support vectors.
    dual_coef_ : ndarray of shape (1, n_SV)
        :math:`y_i \alpha_i` of the support vectors, in the sanitized labels.
    intercept_ : ndarray of shape (1,)
        Intercept.
    n_support_ : ndarray of shape (2,)
        Support vectors per class.
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    sanitize_labels : the relabelling alone, to put in front of any model.

    References
    ----------
    A. Paudice, L. Muñoz-González, E. C. Lupu. "Label Sanitization against Label
    Flipping Poisoning Attacks". ECML PKDD 2018 Workshops (Nemesis), LNCS 11329.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from floral.defenses import LabelSanitizedSVC
    >>> X, y = make_moons(200, noise=0.2, random_state=0)
    >>> LabelSanitizedSVC(C=10, gamma=1.0).fit(X, y).score(X, y) > 0.9
    True
    """

    _parameter_constraints = {**DefendedSVC._parameter_constraints, **_SANITIZE_PARAMS}

    def __init__(self, C=1.0, kernel="rbf", gamma="scale", degree=3, coef0=0.0, k=20,
                 eta=0.75, max_iter=1):
        self.C = C
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.k = k
        self.eta = eta
        self.max_iter = max_iter

    def _defend(self, X, y_signed, sample_weight, params):
        y_new, n_iter = _sanitize(X, y_signed, clipped_neighbours(self, X.shape[0]),
                                  self.eta, self.max_iter)
        self.relabelled_ = np.flatnonzero(y_new != y_signed)
        self.y_sanitized_ = self.classes_[(y_new > 0).astype(np.intp)]
        self.n_iter_ = n_iter
        return np.arange(X.shape[0]), y_new, sample_weight, None
