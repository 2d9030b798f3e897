r"""LN-robust SVM (Biggio, Nelson & Laskov, ACML 2011)."""
from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval

from .._kernels import document, gram
from ._base import DefendedSVC

__all__ = ["LNSVC"]


@document
class LNSVC(DefendedSVC):
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
    kernel : {kernel_options}, default="rbf"
        Kernel, with scikit-learn's formulas.
    gamma : {"scale", "auto"} or float, default="scale"
        Kernel coefficient, resolved as SVC resolves it.
    degree : int, default=3
        Degree of the {degree_kernels} kernel.
    coef0 : float, default=0.0
        Independent term of the {coef0_kernels} kernels.
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
        **DefendedSVC._parameter_constraints,
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
