"""Tuning against the trusted validation set with scikit-learn's model selection.

scikit-learn's cross-validation scores each candidate on folds of the training labels,
which under label poisoning are the attacker's labels: a grid search then picks the
parameters that fit the poison best. FLORAL's threat model has a small trusted set
instead; :func:`trusted_split` stacks it after the training points and returns a
``PredefinedSplit`` whose only split trains on the training points and scores on the
trusted ones, so any scikit-learn search scores on trusted labels only.
"""
import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import PredefinedSplit
from sklearn.utils._param_validation import validate_params
from sklearn.utils.validation import _num_samples, check_consistent_length

from ._validation import check_data

__all__ = ["trusted_split"]


def _stack(A, B, name):
    if sp.issparse(A) or sp.issparse(B):
        return sp.vstack([sp.csr_matrix(A), sp.csr_matrix(B)], format="csr")
    if hasattr(A, "iloc") and hasattr(B, "iloc"):  # two DataFrames (or Series)
        import pandas as pd

        return pd.concat([A, B], ignore_index=True)
    A, B = np.asarray(A), np.asarray(B)
    if A.ndim != B.ndim or A.shape[1:] != B.shape[1:]:
        raise ValueError(f"{name}_val has shape {B.shape}, which does not stack under "
                         f"{name} of shape {A.shape}")
    return np.concatenate([A, B])


@validate_params({"X": ["array-like", "sparse matrix"], "y": ["array-like"],
                  "X_val": ["array-like", "sparse matrix"], "y_val": ["array-like"]},
                 prefer_skip_nested_validation=True)
def trusted_split(X, y, X_val, y_val):
    """Training and trusted points stacked, with the split that trains on the first and
    scores on the second.

    Pass the result to any scikit-learn search or score, e.g.
    ``GridSearchCV(est, grid, cv=cv).fit(X_all, y_all)``: each candidate is fitted on
    ``X, y`` only and scored on ``X_val, y_val`` only (one split, so ``n_splits`` is 1).
    With ``refit=True`` (GridSearchCV's default) the best parameters are refitted on all
    of ``X_all`` — training *and* trusted points. To keep the trusted set apart for
    FloralSVC's own use, pass ``refit=False`` and fit the winner yourself::

        X_all, y_all, cv = trusted_split(X, y, X_val, y_val)
        search = GridSearchCV(FloralSVC(), {"C": [1, 10, 100]}, cv=cv, refit=False)
        search.fit(X_all, y_all, X_val=X_val, y_val=y_val)
        clf = FloralSVC(**search.best_params_).fit(X, y, X_val=X_val, y_val=y_val)

    (``X_val`` and ``y_val`` given to ``search.fit`` reach every candidate whole, since
    their length is not that of ``X_all``: each candidate also selects its rounds and game
    on the trusted set.)

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Training points.
    y : array-like of shape (n_samples,)
        Training labels (possibly poisoned).
    X_val : {array-like, sparse matrix} of shape (n_val, n_features)
        Trusted points.
    y_val : array-like of shape (n_val,)
        Their (clean) labels.

    Returns
    -------
    X_all : ndarray, sparse matrix or DataFrame of shape (n_samples + n_val, n_features)
        ``X`` then ``X_val``.
    y_all : ndarray of shape (n_samples + n_val,)
        ``y`` then ``y_val``.
    cv : sklearn.model_selection.PredefinedSplit
        One split: train on the first ``n_samples`` rows, test on the last ``n_val``.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.svm import SVC
    >>> from floral.model_selection import trusted_split
    >>> X, y = make_moons(200, noise=0.2, random_state=0)
    >>> X_val, y_val = make_moons(60, noise=0.2, random_state=1)
    >>> X_all, y_all, cv = trusted_split(X, y, X_val, y_val)
    >>> cv.get_n_splits()
    1
    >>> search = GridSearchCV(SVC(), {"gamma": [0.1, 1.0, 10.0]}, cv=cv).fit(X_all, y_all)
    >>> sorted(search.best_params_)
    ['gamma']
    """
    check_data(X, y)
    check_data(X_val, y_val, X_name="X_val", y_name="y_val")
    check_consistent_length(X, y)
    check_consistent_length(X_val, y_val)
    X_all = _stack(X, X_val, "X")
    y_all = np.concatenate([np.asarray(y).reshape(-1), np.asarray(y_val).reshape(-1)])
    n, m = _num_samples(X), _num_samples(X_val)
    test_fold = np.concatenate([np.full(n, -1), np.zeros(m, dtype=np.int64)])
    return X_all, y_all, PredefinedSplit(test_fold)
