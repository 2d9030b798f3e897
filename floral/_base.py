"""The kernel-SVC base shared by FloralSVC and the SVC-based defenses.

A fitted model is a kernel expansion per problem p (one for two classes, one per class for
one-vs-rest): h_p(x) = sum_j dual_coef_[p, j] K(support_vectors_[j], x) + intercept_[p].
This class owns the attributes that describe it and evaluates it in the compiled core, in
tiles of test points with OpenMP; subclasses only fit.
"""
import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _core
from ._validation import SVC_PARAMS, check_data

__all__ = ["BaseKernelSVC"]


class BaseKernelSVC(ClassifierMixin, BaseEstimator):
    """Prediction and fitted attributes of a kernel SVM (SVC's names and meanings).

    A subclass's ``fit`` sets ``classes_`` and calls :meth:`_set_model`, which sets
    ``support_``, ``support_vectors_``, ``dual_coef_`` (one row per problem),
    ``intercept_``, ``n_support_`` and the resolved kernel coefficient ``_gamma``.
    ``decision_function`` has SVC's ``decision_function_shape="ovr"`` shapes:
    (n_samples,) for two classes, (n_samples, n_classes) for more. With
    ``kernel="linear"`` the model also has ``coef_`` (one weight vector per problem) and
    predicts with ``X @ coef_.T + intercept_``, O(n_features) per point.
    """

    _parameter_constraints = dict(SVC_PARAMS)

    def _model_attributes(self, X, support, dual_coef, intercept, support_vectors=None):
        """The fitted attributes of the expansion over the training rows ``support``, as a
        dict (FloralSVC keeps several models and swaps them in). ``support_vectors``, when
        given, is ``X[support]`` already gathered (models that share a support share it),
        or FloralSVC's stand-in that gathers them on request (it has ``shape`` and row
        slicing, which is all coef_ needs)."""
        support = np.asarray(support, dtype=np.int32)
        if support_vectors is None:
            support_vectors = X[support]
        intercept = np.atleast_1d(np.asarray(intercept, dtype=np.float64)).copy()
        dual = np.asarray(dual_coef, dtype=np.float64).reshape(intercept.size, support.size)
        # a support vector belongs to the class its coefficient argues for: the sign with
        # one problem, the problem with the largest coefficient with one per class
        owner = (dual[0] > 0).astype(np.intp) if dual.shape[0] == 1 else np.argmax(dual, axis=0)
        model = {
            "support_": support,
            "support_vectors_": support_vectors,
            "dual_coef_": dual,
            "intercept_": intercept,
            "n_support_": np.bincount(owner, minlength=self.classes_.size).astype(np.int32),
        }
        if self.kernel == "linear":
            # the expansion collapses to one weight vector per problem, as SVC's coef_
            model["coef_"] = _expansion_weights(dual, support_vectors)
        return model

    def _set_model(self, X, support, dual_coef, intercept, gamma):
        """Set the fitted attributes; ``gamma`` is the resolved kernel coefficient."""
        vars(self).update(self._model_attributes(X, support, dual_coef, intercept))
        self._gamma = float(gamma)

    def decision_function(self, X):
        """Decision values: shape (n_samples,) for two classes (positive values predict
        ``classes_[1]``), (n_samples, n_classes) one-vs-rest values for more.

        Evaluated in the compiled core in tiles of test points, so memory stays
        O(tile x n_SV) whatever the size of X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        decision : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        check_is_fitted(self)
        check_data(X)
        X = validate_data(self, X, dtype=np.float64, order="C", reset=False,
                          accept_sparse="csr")
        one = self.dual_coef_.shape[0] == 1
        if self.kernel == "linear":
            dec = np.asarray(X @ self.coef_.T) + self.intercept_
            return dec[:, 0] if one else dec
        coef = self.dual_coef_[0] if one else self.dual_coef_
        b = float(self.intercept_[0]) if one else self.intercept_
        if not sp.issparse(X):
            return self._kernel_decision(X, coef, b)
        # the other kernels read dense rows: a block of rows at a time (about 64 MB)
        block = max(1, (64 << 20) // (8 * X.shape[1]))
        return np.concatenate([self._kernel_decision(X[a:a + block].toarray(), coef, b)
                               for a in range(0, X.shape[0], block)])

    def _kernel_decision(self, X, coef, b):
        return _core.decision_function(
            X, self.support_vectors_, coef, b, kernel=self.kernel, gamma=self._gamma,
            degree=int(self.degree), coef0=float(self.coef0),
            n_jobs=getattr(self, "n_jobs", None),
        )

    def predict(self, X):
        """Class labels: the positive class where the decision is positive (two classes),
        the argmax of the one-vs-rest decision values (more).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        dec = self.decision_function(X)  # checks fitted before classes_ is read
        if dec.ndim == 1:
            return self.classes_[(dec > 0).astype(np.intp)]
        return self.classes_[np.argmax(dec, axis=1)]


def _expansion_weights(dual, support_vectors, block_bytes=1 << 20):
    """``dual @ support_vectors`` in float64, one block of support vectors (about 1 MB as
    float64) at a time: float32 support vectors (the linear kernel on float32 features)
    are widened a block at a time rather than copied whole, and the sums are the same for
    either dtype."""
    # sparse support vectors (a sparse fit): one product with the transposed view, no
    # row slice copied; over FloralSVC's stand-in, the coefficients are spread over its
    # pool's rows instead of gathering the rows
    if sp.issparse(support_vectors):
        return np.asarray((support_vectors.T @ dual.T).T)
    pool = getattr(support_vectors, "pool", None)
    if sp.issparse(pool):
        spread = np.zeros((dual.shape[0], pool.shape[0]))
        spread[:, support_vectors.index] = dual
        return np.asarray((pool.T @ spread.T).T)
    w = np.zeros((dual.shape[0], support_vectors.shape[1]))
    block = max(64, block_bytes // (8 * max(1, support_vectors.shape[1])))
    for a in range(0, support_vectors.shape[0], block):
        w += dual[:, a:a + block] @ np.asarray(support_vectors[a:a + block], dtype=np.float64)
    return w
