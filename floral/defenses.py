r"""Baseline defenses against label poisoning, as scikit-learn classifiers.

The four defenses the FLORAL paper (Bal, Cevher & Muehlebach, ICLR 2025, Table 1) compares
with. Each is a binary classifier with SVC's kernel parameters (``C``, ``kernel``,
``gamma``, ``degree``, ``coef0``) and ``fit`` / ``predict`` / ``decision_function`` /
``score``; where the defense is a data filter or relabeller, the filter is a public
function too, so it can be put in front of any model.

* :class:`LNSVC` -- LN-robust SVM (Biggio, Nelson & Laskov, ACML 2011): SVC on a kernel
  matrix corrected for an expected label-flip rate ``mu``.
* :class:`CurieSVC` -- Curie (Laishram & Phoha, 2016): remove points that lie far from
  their DBSCAN cluster mates once the label is a feature; the filter is
  :func:`curie_filter`.
* :class:`LabelSanitizedSVC` -- label sanitization, LS-SVM (Paudice, Muñoz-González &
  Lupu, 2018): relabel points to a confident k-NN majority; the relabeller is
  :func:`sanitize_labels`.
* :class:`KLIDSVC` -- K-LID SVM (Weerasinghe et al., IEEE TIFS 2021): down-weight points
  whose local intrinsic dimensionality in kernel space looks like a flipped label's; the
  weights are :func:`klid_weights`.
* :class:`PGDTrainedMLP` -- NN-PGD, the paper's network baseline: scikit-learn's
  MLPClassifier trained on PGD adversarial examples (Madry et al., ICLR 2018); it lives in
  ``floral._nn_pgd`` and is not an SVM, so the kernel notes below do not apply to it.

All four fit scikit-learn's :class:`~sklearn.svm.SVC` underneath. ``gamma="scale"`` and
``"auto"`` are resolved once on the whole training set, as SVC resolves them, so a
filtered training set is fitted with the kernel the unfiltered one would have had. Inputs
are never modified; any two class labels work, more than two raise ``ValueError``.
"""
import warnings
from numbers import Integral, Real

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.cluster import DBSCAN
from sklearn.neighbors import NearestNeighbors
from sklearn.svm import SVC
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import (_check_sample_weight, check_is_fitted, check_X_y,
                                      validate_data)

from ._nn_pgd import PGDTrainedMLP
from ._validation import (KERNEL_ARGS, encode_binary_labels, gram, kernel_params,
                          resolve_gamma)

__all__ = ["LNSVC", "CurieSVC", "curie_filter", "LabelSanitizedSVC", "sanitize_labels",
           "KLIDSVC", "klid_weights", "PGDTrainedMLP"]

# Kernel rows are evaluated in blocks of about this many entries, so prediction and the
# K-LID neighbour search stay O(block) in memory whatever the number of points.
_BLOCK_ENTRIES = 2**22

_KERNEL_CONSTRAINTS = {
    "kernel": [StrOptions(set(KERNEL_ARGS))],
    "gamma": [StrOptions({"scale", "auto"}), Interval(Real, 0.0, None, closed="neither")],
    "degree": [Interval(Integral, 0, None, closed="left")],
    "coef0": [Interval(Real, None, None, closed="neither")],
}
_SVC_CONSTRAINTS = {"C": [Interval(Real, 0.0, None, closed="neither")], **_KERNEL_CONSTRAINTS}


def _kernel_diag(X, params):
    """K(x_i, x_i) for every row without forming the Gram matrix."""
    sq = np.einsum("ij,ij->i", X, X)
    metric = params["metric"]
    if metric == "linear":
        return sq
    if metric == "rbf":
        return np.ones(X.shape[0])
    if metric == "poly":
        return (params["gamma"] * sq + params["coef0"]) ** params["degree"]
    return np.tanh(params["gamma"] * sq + params["coef0"])


def _row_blocks(n_rows, n_cols):
    step = max(1, _BLOCK_ENTRIES // max(n_cols, 1))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


# --- the shared estimator machinery ------------------------------------------------------

class _DefendedSVC(ClassifierMixin, BaseEstimator):
    """fit / decision_function / predict shared by the four defenses.

    A subclass implements ``_defend(X, y_signed, sample_weight, kernel_params)`` and
    returns ``(rows, y_fit, w_fit, K_fit)``: the training rows the SVM is fitted on, their
    labels in {-1, +1}, their sample weights and, for a defense that changes the kernel,
    the Gram matrix to fit on (None to let SVC compute the plain kernel). Prediction always
    uses the plain kernel between new points and the support vectors.
    """

    _parameter_constraints = dict(_SVC_CONSTRAINTS)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Apply the defense to (X, y) and fit the SVM on the result.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training points.
        y : array-like of shape (n_samples,)
            Training labels of two classes, possibly poisoned.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights, passed to SVC (sample i gets ``C * sample_weight[i]``).
            The defenses' own statistics (clusters, neighbours, LID) do not use them.

        Returns
        -------
        self : object
        """
        X, y = validate_data(self, X, y, dtype=np.float64, order="C")
        classes, y_signed = encode_binary_labels(y)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                             ensure_non_negative=True)
        gamma = resolve_gamma(self.gamma, X)
        params = kernel_params(self.kernel, gamma, self.degree, self.coef0)
        self.classes_ = classes
        self._gamma = gamma
        rows, y_fit, w_fit, K_fit = self._defend(X, y_signed, sample_weight, params)
        self._fit_svm(X, rows, y_fit, w_fit, K_fit, gamma)
        return self

    def _fit_svm(self, X, rows, y_fit, w_fit, K_fit, gamma):
        present = np.unique(y_fit[w_fit > 0])
        if present.size < 2:
            # nothing left to separate: the defense kept (or relabelled to) one class, so
            # the only consistent classifier is the constant one
            label = int(present[0]) if present.size else int(np.sign(y_fit.sum()) or 1)
            # stacklevel: _fit_svm <- fit <- _fit_context's wrapper <- the caller
            warnings.warn(
                f"{type(self).__name__}: after the defense every training point with "
                f"positive weight has label {self.classes_[int(label > 0)].tolist()!r}; "
                "the fitted classifier predicts that class everywhere.", UserWarning,
                stacklevel=4,
            )
            self.support_ = np.zeros(0, dtype=np.int32)
            self.dual_coef_ = np.zeros((1, 0))
            self.intercept_ = np.array([float(label)])
        else:
            if K_fit is None:
                svc = SVC(C=float(self.C), kernel=self.kernel, gamma=gamma,
                          degree=int(self.degree), coef0=float(self.coef0))
                svc.fit(X[rows], y_fit, sample_weight=w_fit)
            else:
                svc = SVC(C=float(self.C), kernel="precomputed")
                svc.fit(K_fit, y_fit, sample_weight=w_fit)
            self.support_ = rows[svc.support_].astype(np.int32)
            self.dual_coef_ = svc.dual_coef_.copy()
            self.intercept_ = svc.intercept_.copy()
        self.support_vectors_ = X[self.support_]
        y_sv = np.sign(self.dual_coef_[0])
        self.n_support_ = np.array([np.sum(y_sv < 0), np.sum(y_sv > 0)], dtype=np.int32)

    def decision_function(self, X):
        """Signed distance to the boundary: positive values predict ``classes_[1]``.

        ``sum_i dual_coef_[i] K(support_vectors_[i], x) + intercept_`` with the plain
        kernel, evaluated in blocks of rows.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, order="C", reset=False)
        params = kernel_params(self.kernel, self._gamma, self.degree, self.coef0)
        out = np.full(X.shape[0], float(self.intercept_[0]))
        if self.support_.size:
            coef = self.dual_coef_[0]
            for block in _row_blocks(X.shape[0], self.support_.size):
                out[block] += gram(X[block], self.support_vectors_, params) @ coef
        return out

    def predict(self, X):
        """Class labels: ``classes_[1]`` where the decision function is positive."""
        positive = self.decision_function(X) > 0
        return self.classes_[positive.astype(np.intp)]


def _labels_from_signed(y, classes, y_signed):
    """A copy of ``y`` (its dtype) carrying the labels ``y_signed`` in {-1, +1}."""
    out = np.array(y, copy=True)
    out[...] = classes[(y_signed > 0).astype(np.intp)]
    return out


# --- LN-robust SVM -------------------------------------------------------------------------

class LNSVC(_DefendedSVC):
    r"""LN-robust SVM: SVC on a kernel corrected for random label noise.

    Biggio, Nelson & Laskov (2011) model the attacker as flipping each label independently
    with probability :math:`\mu`; the expected product of two noisy labels is then
    :math:`(1 - 2\mu)^2 y_i y_j = (1 - 4\mu(1-\mu))\,y_i y_j` for :math:`i \ne j` and 1
    for :math:`i = j`. The SVM dual is solved with that expectation folded into the
    kernel matrix:

    .. math::

        K^{LN}_{ij} = \begin{cases} K_{ii} & i = j \\
                      (1 - 4\mu(1-\mu))\,K_{ij} & i \ne j \end{cases}

    which shrinks the off-diagonal entries and so acts like extra regularisation on the
    diagonal. SVC is fitted on :math:`K^{LN}` (``kernel="precomputed"``).

    Prediction uses the plain kernel between new points and the training points,
    :math:`f(x) = \sum_i \alpha_i y_i K(x_i, x) + b`: the correction models the noise on
    pairs of *training* labels, and a new point has no label. (Scaling the test kernel by
    the same factor, as the FLORAL authors' code does, changes only the balance between
    the kernel sum and the intercept.) The corrected Gram matrix is dense: O(n^2) memory.

    Parameters
    ----------
    C : float, default=1.0
        Box constraint of the dual, as in SVC.
    kernel : {"rbf", "linear", "poly", "sigmoid"}, default="rbf"
        Kernel, with scikit-learn's formulas.
    gamma : {"scale", "auto"} or float, default="scale"
        Kernel coefficient, resolved as SVC resolves it.
    degree : int, default=3
        Degree of the "poly" kernel.
    coef0 : float, default=0.0
        Independent term of the "poly" and "sigmoid" kernels.
    mu : float in [0, 0.5), default=0.25
        Expected fraction of flipped labels. 0 gives plain SVC; towards 0.5 the
        off-diagonal kernel vanishes. Biggio et al. leave it to the user; 0.25 is
        floral's default for the comparison with the FLORAL paper (the FLORAL authors'
        released code hard-codes 0.05).

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two class labels; ``classes_[1]`` is the positive class.
    support_ : ndarray of shape (n_SV,)
        Indices of the support vectors in the training set.
    support_vectors_ : ndarray of shape (n_SV, n_features)
        The support vectors.
    dual_coef_ : ndarray of shape (1, n_SV)
        :math:`y_i \alpha_i` of the support vectors.
    intercept_ : ndarray of shape (1,)
        Intercept :math:`b`.
    n_support_ : ndarray of shape (2,)
        Support vectors per class.
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    sklearn.svm.SVC : the SVM without the correction (``mu=0``).

    References
    ----------
    B. Biggio, B. Nelson, P. Laskov. "Support Vector Machines Under Adversarial Label
    Noise". ACML 2011, PMLR 20:97-112.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from floral.defenses import LNSVC
    >>> X, y = make_moons(200, noise=0.2, random_state=0)
    >>> LNSVC(C=10, gamma=1.0).fit(X, y).score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        **_DefendedSVC._parameter_constraints,
        "mu": [Interval(Real, 0.0, 0.5, closed="left")],
    }

    def __init__(self, C=1.0, kernel="rbf", gamma="scale", degree=3, coef0=0.0, mu=0.25):
        self.C = C
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.mu = mu

    def _defend(self, X, y_signed, sample_weight, params):
        K = gram(X, X, params)
        diag = K.diagonal().copy()
        K *= 1.0 - 4.0 * self.mu * (1.0 - self.mu)
        np.fill_diagonal(K, diag)
        return np.arange(X.shape[0]), y_signed, sample_weight, K


# --- Curie ------------------------------------------------------------------------------

@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "weight": [Interval(Real, 0.0, None, closed="left")],
        "count": [Interval(Integral, 1, None, closed="left")],
        "theta": [Interval(Real, None, None, closed="neither")],
        "eps": [Interval(Real, 0.0, None, closed="neither")],
        "min_samples": [Interval(Integral, 1, None, closed="left")],
        "return_scores": ["boolean"],
    },
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


class CurieSVC(_DefendedSVC):
    r"""SVC trained on the points Curie's filter keeps.

    :func:`curie_filter` removes the points whose mean distance to their DBSCAN cluster
    mates, with the label appended as a weighted feature, stands out (Laishram & Phoha,
    2016); an SVC is fitted on the rest.

    Parameters
    ----------
    C : float, default=1.0
        Box constraint of the dual, as in SVC.
    kernel : {"rbf", "linear", "poly", "sigmoid"}, default="rbf"
        Kernel, with scikit-learn's formulas.
    gamma : {"scale", "auto"} or float, default="scale"
        Kernel coefficient, resolved as SVC resolves it on the whole training set.
    degree : int, default=3
        Degree of the "poly" kernel.
    coef0 : float, default=0.0
        Independent term of the "poly" and "sigmoid" kernels.
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

    _parameter_constraints = {
        **_DefendedSVC._parameter_constraints,
        "weight": [Interval(Real, 0.0, None, closed="left")],
        "count": [Interval(Integral, 1, None, closed="left")],
        "theta": [Interval(Real, None, None, closed="neither")],
        "eps": [Interval(Real, 0.0, None, closed="neither")],
        "min_samples": [Interval(Integral, 1, None, closed="left")],
    }

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


# --- label sanitization ---------------------------------------------------------------------

@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "k": [Interval(Integral, 1, None, closed="left")],
        "eta": [Interval(Real, 0.5, 1.0, closed="right")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
    },
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
        Neighbours consulted (clipped to ``n_samples - 1``); 20 is the setting in the
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
    X, y = check_X_y(X, y, dtype=np.float64, y_numeric=False)
    classes, y_signed = encode_binary_labels(
        y, hint="sanitize_labels is defined for two classes only.")
    y_new, _ = _sanitize(X, y_signed, k, eta, max_iter)
    return _labels_from_signed(y, classes, y_new)


def _sanitize(X, y_signed, k, eta, max_iter):
    """Sanitized labels in {-1, +1} and the number of passes run."""
    k = min(k, X.shape[0] - 1)
    nbr = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(return_distance=False)
    current = y_signed
    for n_iter in range(1, max_iter + 1):
        positive = np.mean(current[nbr] > 0, axis=1)
        new = current.copy()
        new[positive >= eta] = 1
        new[1.0 - positive >= eta] = -1
        if np.array_equal(new, current):
            break
        current = new
    return current, n_iter


class LabelSanitizedSVC(_DefendedSVC):
    r"""SVC trained on labels cleaned by label sanitization (LS-SVM).

    :func:`sanitize_labels` relabels each point to the majority label of its ``k``
    nearest neighbours when that majority's fraction is at least ``eta`` (Paudice,
    Muñoz-González & Lupu, 2018); an SVC is fitted on the relabelled data.

    Parameters
    ----------
    C : float, default=1.0
        Box constraint of the dual, as in SVC.
    kernel : {"rbf", "linear", "poly", "sigmoid"}, default="rbf"
        Kernel, with scikit-learn's formulas.
    gamma : {"scale", "auto"} or float, default="scale"
        Kernel coefficient, resolved as SVC resolves it.
    degree : int, default=3
        Degree of the "poly" kernel.
    coef0 : float, default=0.0
        Independent term of the "poly" and "sigmoid" kernels.
    k : int >= 1, default=20
        Neighbours consulted (clipped to ``n_samples - 1``).
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

    _parameter_constraints = {
        **_DefendedSVC._parameter_constraints,
        "k": [Interval(Integral, 1, None, closed="left")],
        "eta": [Interval(Real, 0.5, 1.0, closed="right")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
    }

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
        y_new, n_iter = _sanitize(X, y_signed, self.k, self.eta, self.max_iter)
        self.relabelled_ = np.flatnonzero(y_new != y_signed)
        self.y_sanitized_ = self.classes_[(y_new > 0).astype(np.intp)]
        self.n_iter_ = n_iter
        return np.arange(X.shape[0]), y_new, sample_weight, None


# --- K-LID -----------------------------------------------------------------------------------

def _inverse_lid(r, k_eff):
    """1 / LID by maximum likelihood from sorted neighbour distances (rows of ``r``).

    LID = -(1/k sum_j log(r_j / r_k))^-1 (Amsaleg et al., 2015); its inverse is finite
    when all k distances are equal (then it is 0: the points are "infinitely"
    high-dimensional from here). Distances below 1e-12 r_k are floored there, so
    duplicates give a large finite inverse instead of infinity.
    """
    if k_eff < 1:
        return np.zeros(r.shape[0])
    r = r[:, :k_eff]
    r_k = r[:, -1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(r_k > 0, r / r_k, 0.0)
    return -np.mean(np.log(np.maximum(q, 1e-12)), axis=1)


def _klid_inverse(X, y_signed, k, params):
    """Inverse K-LID of every point among its own label's points and among the others'."""
    n = X.shape[0]
    diag = _kernel_diag(X, params)
    inv_same = np.zeros(n)
    inv_opp = np.zeros(n)
    groups = {s: np.flatnonzero(y_signed == s) for s in (-1, 1)}
    for s, own in groups.items():
        other = groups[-s]
        k_same = min(k, own.size - 1)
        k_opp = min(k, other.size)
        for target, k_eff, exclude_self, out in ((own, k_same, True, inv_same),
                                                 (other, k_opp, False, inv_opp)):
            if k_eff < 1:
                continue
            for block in _row_blocks(own.size, target.size):
                rows = own[block]
                K = gram(X[rows], X[target], params)
                # kernel distance r^2 = K(x,x) + K(z,z) - 2K(x,z); clipped because
                # rounding (or a non-PSD sigmoid kernel) can push it below zero
                d = np.sqrt(np.maximum(diag[rows, None] + diag[None, target] - 2.0 * K, 0.0))
                if exclude_self:
                    d[np.arange(rows.size), np.arange(block.start, block.stop)] = np.inf
                part = np.partition(d, k_eff - 1, axis=1)[:, :k_eff]
                out[rows] = _inverse_lid(np.sort(part, axis=1), k_eff)
    return inv_same, inv_opp


@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "k": [Interval(Integral, 2, None, closed="left")],
        **_KERNEL_CONSTRAINTS,
        "weight_center": [Interval(Real, 0.0, None, closed="neither")],
        "weight_slope": [Interval(Real, 0.0, None, closed="neither")],
        "min_weight": [Interval(Real, 0.0, 1.0, closed="both")],
        "return_ratio": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def klid_weights(X, y, *, k=10, kernel="rbf", gamma="scale", degree=3, coef0=0.0,
                 weight_center=1.0, weight_slope=2.0, min_weight=0.1, return_ratio=False):
    r"""Sample weights from the K-LID ratio of every training point.

    Local intrinsic dimensionality (LID) measures how fast the number of neighbours
    grows with distance; its maximum-likelihood estimate from the distances
    :math:`r_1 \le \dots \le r_k` to the ``k`` nearest neighbours is

    .. math::

        \widehat{\mathrm{LID}}(x) = -\Big(\frac1k \sum_{j=1}^{k}
        \log\frac{r_j}{r_k}\Big)^{-1}.

    K-LID (Weerasinghe et al., 2021) measures the distances in the kernel's feature
    space, :math:`r^2 = K(x,x) + K(z,z) - 2K(x,z)`. A point is compared with two
    reference sets: the points carrying its label (itself excluded) and the points
    carrying the other label. A flipped point sits among the other label's points, far
    from its own label's, so its K-LID among its own label is high and among the other
    label low; the ratio

    .. math::

        \rho_i = \frac{\mathrm{LID}_{\text{same label}}(x_i)}
                      {\mathrm{LID}_{\text{other label}}(x_i)}

    is large for likely flipped points and small for points deep inside their class.
    It is mapped to a weight by a decreasing logistic curve in :math:`\log\rho`,

    .. math::

        w_i = w_{\min} + \frac{1 - w_{\min}}{1 + (\rho_i / c)^{s}},

    with centre :math:`c` = ``weight_center``, slope :math:`s` = ``weight_slope`` and
    floor :math:`w_{\min}` = ``min_weight``.

    The paper fits the weight curve (a tanh) to the likelihood ratio of kernel density
    estimates of :math:`\rho` for known clean and known flipped points of a simulated
    attack; with no attack to simulate, this function uses a fixed curve centred where a
    point looks as much like the other class as like its own (:math:`\rho = 1`). The
    LIDs are estimated over the whole training set rather than the paper's random
    mini-batches, so the weights are deterministic.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training points.
    y : array-like of shape (n_samples,)
        Labels of two classes.
    k : int >= 2, default=10
        Neighbours in each LID estimate (clipped to the size of the reference set); 10
        is the value in the K-LID authors' experiments.
    kernel : {"rbf", "linear", "poly", "sigmoid"}, default="rbf"
        Kernel defining the distance, with scikit-learn's formulas.
    gamma : {"scale", "auto"} or float, default="scale"
        Kernel coefficient, resolved as SVC resolves it.
    degree : int, default=3
        Degree of the "poly" kernel.
    coef0 : float, default=0.0
        Independent term of the "poly" and "sigmoid" kernels.
    weight_center : float > 0, default=1.0
        Ratio :math:`c` that gets the weight halfway between ``min_weight`` and 1.
    weight_slope : float > 0, default=2.0
        Steepness :math:`s` of the curve in :math:`\log\rho`.
    min_weight : float in [0, 1], default=0.1
        Weight of the most suspicious points (the floor in the K-LID authors' code).
    return_ratio : bool, default=False
        Also return :math:`\rho`.

    Returns
    -------
    weights : ndarray of shape (n_samples,)
        Weights in ``[min_weight, 1]``.
    ratio : ndarray of shape (n_samples,)
        Only with ``return_ratio``: :math:`\rho_i` (``inf`` where the same-label K-LID is
        unbounded, i.e. all of the point's own-label neighbours are equally far).

    References
    ----------
    S. Weerasinghe, T. Alpcan, S. M. Erfani, C. Leckie. "Defending Support Vector
    Machines Against Data Poisoning Attacks". IEEE Transactions on Information Forensics
    and Security 16:2566-2578, 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from floral.defenses import klid_weights
    >>> rng = np.random.RandomState(0)
    >>> X = np.r_[rng.normal(-2, 0.5, (30, 2)), rng.normal(2, 0.5, (30, 2))]
    >>> y = np.r_[np.zeros(30), np.ones(30)]
    >>> y[0] = 1                                   # a flipped label
    >>> w = klid_weights(X, y, gamma=0.5)
    >>> bool(w[0] < w[1:].min())
    True
    """
    X, y = check_X_y(X, y, dtype=np.float64, y_numeric=False)
    _, y_signed = encode_binary_labels(
        y, hint="klid_weights is defined for two classes only.")
    params = kernel_params(kernel, resolve_gamma(gamma, X), degree, coef0)
    inv_same, inv_opp = _klid_inverse(X, y_signed, k, params)
    # rho = LID_same / LID_opp = inv_opp / inv_same; 0/0 (no information either way) is 1
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(inv_same > 0, inv_opp / inv_same,
                         np.where(inv_opp > 0, np.inf, 1.0))
        t = weight_slope * (np.log(ratio) - np.log(weight_center))
    weights = min_weight + (1.0 - min_weight) * expit(-t)
    return (weights, ratio) if return_ratio else weights


class KLIDSVC(_DefendedSVC):
    r"""SVC with sample weights from K-LID, down-weighting likely flipped labels.

    :func:`klid_weights` estimates each point's local intrinsic dimensionality in the
    kernel's feature space among its own label's points and among the other label's;
    the ratio of the two is large for points that sit among the other class, and is
    mapped to a weight in ``[min_weight, 1]`` (Weerasinghe et al., 2021). The SVC is
    fitted with those weights (times any ``sample_weight``), so suspicious points get a
    smaller box constraint ``C * w_i``. The LID distances use the SVC's own kernel.

    Parameters
    ----------
    C : float, default=1.0
        Box constraint of the dual, as in SVC.
    kernel : {"rbf", "linear", "poly", "sigmoid"}, default="rbf"
        Kernel of the SVC and of the K-LID distances, with scikit-learn's formulas.
    gamma : {"scale", "auto"} or float, default="scale"
        Kernel coefficient, resolved as SVC resolves it.
    degree : int, default=3
        Degree of the "poly" kernel.
    coef0 : float, default=0.0
        Independent term of the "poly" and "sigmoid" kernels.
    k : int >= 2, default=10
        Neighbours in each LID estimate.
    weight_center : float > 0, default=1.0
        LID ratio that gets the weight halfway between ``min_weight`` and 1.
    weight_slope : float > 0, default=2.0
        Steepness of the weight curve in the log ratio.
    min_weight : float in [0, 1], default=0.1
        Weight of the most suspicious points.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two class labels; ``classes_[1]`` is the positive class.
    klid_ratio_ : ndarray of shape (n_samples,)
        Each training point's K-LID ratio (same label over other label).
    klid_weights_ : ndarray of shape (n_samples,)
        The weights derived from it (before multiplying by ``sample_weight``).
    support_ : ndarray of shape (n_SV,)
        Indices of the support vectors in the training set.
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
    klid_weights : the weights alone, for any model that takes sample weights.

    References
    ----------
    S. Weerasinghe, T. Alpcan, S. M. Erfani, C. Leckie. "Defending Support Vector
    Machines Against Data Poisoning Attacks". IEEE Transactions on Information Forensics
    and Security 16:2566-2578, 2021.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from floral.defenses import KLIDSVC
    >>> X, y = make_moons(200, noise=0.2, random_state=0)
    >>> KLIDSVC(C=10, gamma=1.0).fit(X, y).score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        **_DefendedSVC._parameter_constraints,
        "k": [Interval(Integral, 2, None, closed="left")],
        "weight_center": [Interval(Real, 0.0, None, closed="neither")],
        "weight_slope": [Interval(Real, 0.0, None, closed="neither")],
        "min_weight": [Interval(Real, 0.0, 1.0, closed="both")],
    }

    def __init__(self, C=1.0, kernel="rbf", gamma="scale", degree=3, coef0=0.0, k=10,
                 weight_center=1.0, weight_slope=2.0, min_weight=0.1):
        self.C = C
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.k = k
        self.weight_center = weight_center
        self.weight_slope = weight_slope
        self.min_weight = min_weight

    def _defend(self, X, y_signed, sample_weight, params):
        weights, ratio = klid_weights(
            X, y_signed, k=self.k, kernel=self.kernel, gamma=params.get("gamma", 1.0),
            degree=self.degree, coef0=self.coef0, weight_center=self.weight_center,
            weight_slope=self.weight_slope, min_weight=self.min_weight, return_ratio=True,
        )
        self.klid_ratio_ = ratio
        self.klid_weights_ = weights
        return np.arange(X.shape[0]), y_signed, sample_weight * weights, None
