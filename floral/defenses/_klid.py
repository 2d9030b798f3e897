r"""K-LID SVM (Weerasinghe et al., IEEE TIFS 2021): down-weight points whose local intrinsic
dimensionality in kernel space marks them as likely flipped."""
from numbers import Integral, Real

import numpy as np
from scipy.special import expit
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import check_X_y

from .._kernels import diagonal, document, gram, kernel_params
from .._validation import (
    KERNEL_PARAMS,
    POSITIVE,
    check_data,
    encode_binary_labels,
    resolve_gamma,
)
from ._base import DefendedSVC, check_neighbours, clipped_neighbours

__all__ = ["klid_weights", "KLIDSVC"]

# Kernel rows are evaluated in blocks of about this many entries, so the neighbour search
# stays O(block) in memory whatever the number of points.
_BLOCK_ENTRIES = 2**22


def _row_blocks(n_rows, n_cols):
    step = max(1, _BLOCK_ENTRIES // max(n_cols, 1))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


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
    diag = diagonal(X, params)
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


# the weighting's own parameters, shared by klid_weights and KLIDSVC
_KLID_PARAMS = {
    "k": [Interval(Integral, 2, None, closed="left")],
    "weight_center": POSITIVE,
    "weight_slope": POSITIVE,
    "min_weight": [Interval(Real, 0.0, 1.0, closed="both")],
}


@validate_params(
    {"X": ["array-like"], "y": ["array-like"], **KERNEL_PARAMS, **_KLID_PARAMS,
     "return_ratio": ["boolean"]},
    prefer_skip_nested_validation=True,
)
@document
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
        Neighbours in each LID estimate, at most ``n_samples - 1`` (clipped to the size
        of each reference set, a label's points); 10 is the value in the K-LID authors'
        experiments.
    kernel : {kernel_options}, default="rbf"
        Kernel defining the distance, with scikit-learn's formulas.
    gamma : {"scale", "auto"} or float, default="scale"
        Kernel coefficient, resolved as SVC resolves it.
    degree : int, default=3
        Degree of the {degree_kernels} kernel.
    coef0 : float, default=0.0
        Independent term of the {coef0_kernels} kernels.
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
    check_data(X, y)
    X, y = check_X_y(X, y, dtype=np.float64, y_numeric=False)
    _, y_signed = encode_binary_labels(
        y, hint="klid_weights is defined for two classes only.")
    check_neighbours(k, X.shape[0])
    params = kernel_params(kernel, resolve_gamma(gamma, X), degree, coef0)
    inv_same, inv_opp = _klid_inverse(X, y_signed, k, params)
    # rho = LID_same / LID_opp = inv_opp / inv_same; 0/0 (no information either way) is 1
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(inv_same > 0, inv_opp / inv_same,
                         np.where(inv_opp > 0, np.inf, 1.0))
        t = weight_slope * (np.log(ratio) - np.log(weight_center))
    weights = min_weight + (1.0 - min_weight) * expit(-t)
    return (weights, ratio) if return_ratio else weights


@document
class KLIDSVC(DefendedSVC):
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
    kernel : {kernel_options}, default="rbf"
        Kernel of the SVC and of the K-LID distances, with scikit-learn's formulas.
    gamma : {"scale", "auto"} or float, default="scale"
        Kernel coefficient, resolved as SVC resolves it.
    degree : int, default=3
        Degree of the {degree_kernels} kernel.
    coef0 : float, default=0.0
        Independent term of the {coef0_kernels} kernels.
    k : int >= 2, default=10
        Neighbours in each LID estimate, at most ``n_samples - 1``: a larger
        ``k`` is clipped to ``n_samples - 1`` with a ``UserWarning``.
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

    _parameter_constraints = {**DefendedSVC._parameter_constraints, **_KLID_PARAMS}

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
            X, y_signed, k=clipped_neighbours(self, X.shape[0], minimum=2),
            kernel=self.kernel, gamma=params.get("gamma", 1.0),
            degree=self.degree, coef0=self.coef0, weight_center=self.weight_center,
            weight_slope=self.weight_slope, min_weight=self.min_weight, return_ratio=True,
        )
        self.klid_ratio_ = ratio
        self.klid_weights_ = weights
        return np.arange(X.shape[0]), y_signed, sample_weight * weights, None
