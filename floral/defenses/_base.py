"""What the SVC-based defenses share: ``fit`` applies the defense, then fits an SVC.

A defense subclass implements ``_defend`` only; prediction and the fitted attributes are
:class:`floral._base.BaseKernelSVC`'s, evaluated with the plain kernel in the compiled core.
"""
import numpy as np
from sklearn.base import _fit_context
from sklearn.svm import SVC
from sklearn.utils.validation import _check_sample_weight, validate_data

from .._base import BaseKernelSVC
from .._kernels import kernel_params
from .._validation import (
    check_data,
    encode_binary_labels,
    libsvm_max_iter,
    resolve_gamma,
    warn_caller,
)


class DefendedSVC(BaseKernelSVC):
    """fit shared by the four SVC-based defenses.

    A subclass implements ``_defend(X, y_signed, sample_weight, kernel_params)`` and
    returns ``(rows, y_fit, w_fit, K_fit)``: the training rows the SVM is fitted on, their
    labels in {-1, +1}, their sample weights and, for a defense that changes the kernel,
    the Gram matrix to fit on (None to let SVC compute the plain kernel). Prediction always
    uses the plain kernel between new points and the support vectors.
    """

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
        check_data(X, y)
        X, y = validate_data(self, X, y, dtype=np.float64, order="C")
        classes, y_signed = encode_binary_labels(y)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                             ensure_non_negative=True)
        gamma = resolve_gamma(self.gamma, X)
        params = kernel_params(self.kernel, gamma, self.degree, self.coef0)
        self.classes_ = classes
        rows, y_fit, w_fit, K_fit = self._defend(X, y_signed, sample_weight, params)
        self._fit_svm(X, rows, y_fit, w_fit, K_fit, gamma)
        return self

    def _fit_svm(self, X, rows, y_fit, w_fit, K_fit, gamma):
        present = np.unique(y_fit[w_fit > 0])
        if present.size < 2:
            # nothing left to separate: the defense kept (or relabelled to) one class, so
            # the only consistent classifier is the constant one
            label = int(present[0]) if present.size else int(np.sign(y_fit.sum()) or 1)
            warn_caller(
                f"{type(self).__name__}: after the defense every training point with "
                f"positive weight has label "
                f"{np.asarray(self.classes_[int(label > 0)]).tolist()!r}; "
                "the fitted classifier predicts that class everywhere.", UserWarning,
            )
            self._set_model(X, [], np.zeros((1, 0)), [float(label)], gamma)
            return
        if K_fit is None:
            svc = SVC(C=float(self.C), kernel=self.kernel, gamma=gamma,
                      degree=int(self.degree), coef0=float(self.coef0),
                      max_iter=libsvm_max_iter(rows.size))
            svc.fit(X[rows], y_fit, sample_weight=w_fit)
        else:
            svc = SVC(C=float(self.C), kernel="precomputed",
                      max_iter=libsvm_max_iter(rows.size))
            svc.fit(K_fit, y_fit, sample_weight=w_fit)
        self._set_model(X, rows[svc.support_], svc.dual_coef_, svc.intercept_, gamma)


def labels_from_signed(y, classes, y_signed):
    """A copy of ``y`` (its dtype) carrying the labels ``y_signed`` in {-1, +1}."""
    out = np.array(y, copy=True)
    out[...] = classes[(y_signed > 0).astype(np.intp)]
    return out


def check_neighbours(k, n_samples, param="k"):
    """A neighbour count must leave a point ``k`` others to consult."""
    if k > n_samples - 1:
        raise ValueError(f"{param}={k} neighbours need more than {k} samples, got "
                         f"n_samples={n_samples}; use {param} <= {n_samples - 1}")


def clipped_neighbours(estimator, n_samples, minimum=1):
    """An estimator's ``k`` for ``n_samples`` training points: above ``n_samples - 1`` it
    is clipped there with a warning (a default tuned for hundreds of points must not make
    a small training set an error); below ``minimum`` after clipping, check_neighbours'
    error stands."""
    k = int(estimator.k)
    if k > n_samples - 1 >= minimum:
        warn_caller(f"{type(estimator).__name__}: k={k} neighbours need more than {k} "
                    f"samples, got n_samples={n_samples}; using k={n_samples - 1}",
                    UserWarning)
        return n_samples - 1
    return k
