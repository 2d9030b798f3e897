r"""Curie (Laishram & Phoha, 2016): drop points far from their DBSCAN cluster mates once
the label is a feature."""
from numbers import Real

import numpy as np
from sklearn.cluster import DBSCAN
from sklearn.neighbors import NearestNeighbors
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import check_X_y

from .._kernels import document
from .._validation import (
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    check_data,
    encode_binary_labels,
)
from ._base import DefendedSVC

__all__ = ["curie_filter", "CurieSVC"]

# the filter's parameters, shared by curie_filter and CurieSVC
_CURIE_PARAMS = {
    "weight": NON_NEGATIVE,
    "count": POSITIVE_INT,
    "theta": [Interval(Real, None, None, closed="neither")],
    "eps": POSITIVE,
    "min_samples": POSITIVE_INT,
}


@validate_params(
    {"X": ["array-like"], "y": ["array-like"], **_CURIE_PARAMS, "return_scores": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def curie_filter(X, y, *, weight=0.05, count=20, theta=0.75, eps=0.5, min_samples=5,
                 return_scores=False):
    r"""Curie's filter: which training points to keep.

    Curie (Laishram & Phoha, 2016) looks for points whose label disagrees with their
    neighbourhood:

    1. cluster the points in feature space with DBSCAN (``eps``, ``min_samples``);
    2. append the label as an extra feature, :math:`\omega\,y_i` with
       :math:`y_i \in \{-1, +1\}` and :math:`\omega` = ``weight``, so two points with
       different labels are :math:`2\omega` apart in that coordinate;
    3. score each point by its mean distance, in that augmented space, to ``count`` of
       its cluster mates,
       :math:`d_i = \frac1m \sum_j \sqrt{\lVert x_i - x_j\rVert^2 + \omega^2 (y_i - y_j)^2}`;
    4. standardise the scores (z-scores over all scored points) and remove the points
       whose z-score exceeds ``theta``.

    Curie averages over ``count`` cluster mates drawn at random; here they are the
    ``count`` nearest mates in feature space (all of them in a smaller cluster), which
    makes the filter deterministic and the score local. The paper compares raw distances
    with ``theta``; the z-score (as in the FLORAL authors' code) makes ``theta`` free of
    the feature scale. Points DBSCAN marks as noise have no cluster mates and are kept:
    Curie judges labels within clusters, not isolated points. ``eps`` is in the units
    of ``X``; the default suits standardised features.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training points.
    y : array-like of shape (n_samples,)
        Labels of two classes.
    weight : float >= 0, default=0.05
        Weight :math:`\omega` of the label feature (the setting of the FLORAL authors'
        experiments, as are ``count`` and ``theta``). With standardised features 0.05
        barely moves the distances; larger values make the filter label-driven.
    count : int >= 1, default=20
        Cluster mates each point's mean distance is taken over.
    theta : float, default=0.75
        Points with a standardised score above ``theta`` are removed.
    eps : float > 0, default=0.5
        DBSCAN's neighbourhood radius (the value in the FLORAL authors' code).
    min_samples : int >= 1, default=5
        DBSCAN's core-point count (the value in the FLORAL authors' code).
    return_scores : bool, default=False
        Also return the z-scores.

    Returns
    -------
    keep : ndarray of bool of shape (n_samples,)
        True for the points to train on.
    scores : ndarray of shape (n_samples,)
        Only with ``return_scores``: the standardised scores, NaN for points that were
        not scored (DBSCAN noise, clusters of one point).

    References
    ----------
    R. Laishram, V. V. Phoha. "Curie: A method for protecting SVM Classifier from
    Poisoning Attack". arXiv:1606.01584, 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from floral.defenses import curie_filter
    >>> rng = np.random.RandomState(0)
    >>> X = np.r_[rng.normal(-3, 0.3, (40, 2)), rng.normal(3, 0.3, (40, 2))]
    >>> y = np.r_[np.zeros(40), np.ones(40)]
    >>> y[0] = 1                                   # one flipped label in the first blob
    >>> keep = curie_filter(X, y, weight=2.0)
    >>> bool(keep[0]), int(keep.sum())             # also two sparse clean points go
    (False, 77)
    """
    check_data(X, y)
    X, y = check_X_y(X, y, dtype=np.float64, y_numeric=False)
    _, y_signed = encode_binary_labels(
        y, hint="curie_filter is defined for two classes only.")
    n = X.shape[0]
    clusters = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(X)
    label_gap_sq = (2.0 * weight) ** 2
    dist = np.full(n, np.nan)
    for c in np.unique(clusters[clusters >= 0]):
        members = np.flatnonzero(clusters == c)
        m = min(count, members.size - 1)
        if m < 1:
            continue
        nn = NearestNeighbors(n_neighbors=m).fit(X[members])
        d_feat, nbr = nn.kneighbors()  # without the query point itself
        differ = y_signed[members][nbr] != y_signed[members][:, None]
        dist[members] = np.sqrt(d_feat**2 + label_gap_sq * differ).mean(axis=1)
    scored = ~np.isnan(dist)
    z = np.full(n, np.nan)
    if scored.any():
        std = dist[scored].std()
        z[scored] = (dist[scored] - dist[scored].mean()) / std if std > 0 else 0.0
    keep = ~(z > theta)  # NaN compares False: unscored points are kept
    return (keep, z) if return_scores else keep


@document
class CurieSVC(DefendedSVC):
    r"""SVC trained on the points Curie's filter keeps.

    :func:`curie_filter` removes the points whose mean distance to their DBSCAN cluster
    mates, with the label appended as a weighted feature, stands out (Laishram & Phoha,
    2016); an SVC is fitted on the rest.

    Parameters
    ----------
    C : float, default=1.0
        Box constraint of the dual, as in SVC.
    kernel : {kernel_options}, default="rbf"
        Kernel, with scikit-learn's formulas.
    gamma : {"scale", "auto"} or float, default="scale"
        Kernel coefficient, resolved as SVC resolves it on the whole training set.
    degree : int, default=3
        Degree of the {degree_kernels} kernel.
    coef0 : float, default=0.0
        Independent term of the {coef0_kernels} kernels.
    weight : float >= 0, default=0.05
        Weight of the label feature.
    count : int >= 1, default=20
        Cluster mates each point's mean distance is taken over (the nearest ones).
    theta : float, default=0.75
        Threshold on the standardised mean distance.
    eps : float > 0, default=0.5
        DBSCAN's neighbourhood radius, in the units of ``X``.
    min_samples : int >= 1, default=5
        DBSCAN's core-point count.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two class labels; ``classes_[1]`` is the positive class.
    kept_ : ndarray of bool of shape (n_samples,)
        The filter's mask: True for the training points the SVC was fitted on.
    scores_ : ndarray of shape (n_samples,)
        The standardised scores (NaN where not scored).
    support_ : ndarray of shape (n_SV,)
        Indices of the support vectors in the training set given to ``fit``.
    support_vectors_ : ndarray of shape (n_SV, n_features)
        The support vectors.
    dual_coef_ : ndarray of shape (1, n_SV)
        :math:`y_i \alpha_i` of the support vectors.
    intercept_ : ndarray of shape (1,)
        Intercept.
    n_support_ : ndarray of shape (2,)
        Support vectors per class.
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    curie_filter : the filter alone, to put in front of any model.

    References
    ----------
    R. Laishram, V. V. Phoha. "Curie: A method for protecting SVM Classifier from
    Poisoning Attack". arXiv:1606.01584, 2016.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from floral.defenses import CurieSVC
    >>> X, y = make_moons(200, noise=0.2, random_state=0)
    >>> clf = CurieSVC(C=10, gamma=1.0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    _parameter_constraints = {**DefendedSVC._parameter_constraints, **_CURIE_PARAMS}

    def __init__(self, C=1.0, kernel="rbf", gamma="scale", degree=3, coef0=0.0, weight=0.05,
                 count=20, theta=0.75, eps=0.5, min_samples=5):
        self.C = C
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.weight = weight
        self.count = count
        self.theta = theta
        self.eps = eps
        self.min_samples = min_samples

    def _defend(self, X, y_signed, sample_weight, params):
        keep, scores = curie_filter(
            X, y_signed, weight=self.weight, count=self.count, theta=self.theta,
            eps=self.eps, min_samples=self.min_samples, return_scores=True,
        )
        self.kept_ = keep
        self.scores_ = scores
        rows = np.flatnonzero(keep)
        return rows, y_signed[rows], sample_weight[rows], None
