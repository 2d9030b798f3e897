"""Compact models: what FloralSVC keeps, against the full expansion and against scikit-learn.

Sizes and counts are compared, never times.
"""
import pickle

import numpy as np
import pytest
from sklearn.datasets import make_moons
from sklearn.kernel_approximation import Nystroem
from sklearn.svm import SVC, LinearSVC

from floral import FloralSVC, _assembly
from oracles import kernel_reference


def noisy_moons(n, seed=0, flips=0.1):
    X, y = make_moons(n, noise=0.2, random_state=seed)
    rng = np.random.default_rng(seed)
    y[rng.choice(n, int(flips * n), replace=False)] ^= 1
    return X, y


def dense_decision(model, X):
    """h(x) = sum_j dual_coef_[p, j] K(sv_j, x) + intercept_[p] in NumPy."""
    K = kernel_reference(X, np.asarray(model.support_vectors_), model.kernel, model._gamma,
                         model.degree, model.coef0)
    dec = K @ model.dual_coef_.T + model.intercept_
    return dec[:, 0] if dec.shape[1] == 1 else dec


@pytest.mark.parametrize("kernel, gamma, n_classes", [("rbf", 1.0, 2), ("poly", 0.5, 2),
                                                      ("rbf", 1.0, 3)])
def test_compact_model_stays_within_its_bound_of_the_full_one(monkeypatch, kernel, gamma,
                                                              n_classes):
    from sklearn.datasets import make_blobs

    if n_classes == 2:
        X, y = noisy_moons(1300, seed=1)
    else:
        X, y = make_blobs(1300, centers=3, cluster_std=2.0, random_state=0)
    Xv, yv = X[1100:], y[1100:]
    X, y = X[:1100], y[:1100]
    Xt = X + np.random.default_rng(0).normal(scale=0.3, size=X.shape)  # off the data too
    # the game pinned (flip_budget): with X_val the default may choose the plain SVM
    kw = dict(kernel=kernel, gamma=gamma, C=10, learning_rate=1e-3, n_rounds=60,
              flip_budget=0.05, random_state=0)
    compact = FloralSVC(**kw).fit(X, y, X_val=Xv, y_val=yv)
    monkeypatch.setattr(_assembly, "COMPACT_TOL", 0.0)  # the expansion the game produced
    full = FloralSVC(**kw).fit(X, y, X_val=Xv, y_val=yv)
    assert full.support_.size >= _assembly.COMPACT_MIN_SV
    assert compact.support_.size <= full.support_.size // 2
    np.testing.assert_array_equal(compact.kept_rounds_, full.kept_rounds_)
    bound = compact._compaction_error
    assert 0.0 < bound <= 1.01e-2
    # |h_compact(x) - h_full(x)| <= ||e|| sqrt(K(x, x)), the Cauchy-Schwarz bound
    diag = np.sqrt(np.diag(kernel_reference(Xt, Xt, kernel, gamma)))
    diag = diag if n_classes == 2 else diag[:, None]
    for a, b in ((compact, full), (compact.last_round(), full.last_round()),
                 (compact.best_round(), full.best_round())):
        np.testing.assert_array_equal(a.intercept_, b.intercept_)
        ref = dense_decision(b, Xt)
        np.testing.assert_allclose(a.decision_function(Xt), dense_decision(a, Xt),
                                   rtol=1e-9, atol=1e-9)
        assert np.all(np.abs(dense_decision(a, Xt) - ref) <= bound * diag + 1e-9)
        np.testing.assert_array_equal(a.support_vectors_, X[a.support_])


def test_small_expansions_are_kept_exactly(monkeypatch):
    X, y = noisy_moons(300)
    kw = dict(C=10, gamma=1.0, learning_rate=1e-3, n_rounds=30, random_state=0)
    a = FloralSVC(**kw).fit(X, y)
    monkeypatch.setattr(_assembly, "COMPACT_TOL", 0.0)
    b = FloralSVC(**kw).fit(X, y)
    assert a.support_.size == b.support_.size == 300 < _assembly.COMPACT_MIN_SV
    assert a.dual_coef_.tobytes() == b.dual_coef_.tobytes()


def test_model_size_against_svc_and_linearsvc(monkeypatch):
    # sizes and support-vector counts, not times: the compact model is no bigger than 1.5x
    # SVC's and predicts like the full one; the linear model is w and b
    X, y = noisy_moons(3000, seed=2)
    X, Xv, y, yv = X[:2400], X[2400:], y[:2400], y[2400:]
    svc = SVC(C=10, gamma=1.0).fit(X, y)
    kw = dict(C=10, gamma=1.0, n_rounds=150, flip_budget=0.05, random_state=0)
    for val in ({}, {"X_val": Xv, "y_val": yv}):
        clf = FloralSVC(**kw).fit(X, y, **val)
        assert clf.support_.size <= 1.5 * svc.support_.size, (clf.support_.size,
                                                              svc.support_.size)
        assert len(pickle.dumps(clf)) <= 1.5 * len(pickle.dumps(svc))
        with monkeypatch.context() as m:
            m.setattr(_assembly, "COMPACT_TOL", 0.0)
            full = FloralSVC(**kw).fit(X, y, **val)
        assert full.support_.size > 2 * svc.support_.size  # what compaction removed
        assert np.mean(clf.predict(Xv) != full.predict(Xv)) <= 0.002

    # the default length of run: the history of 500 rounds stays within the bound too
    clf = FloralSVC(C=10, gamma=1.0, random_state=0).fit(X, y)
    assert len(pickle.dumps(clf)) <= 1.5 * len(pickle.dumps(svc))

    F = Nystroem(gamma=1.0, n_components=256, random_state=0).fit_transform(X)
    lin = LinearSVC(C=1.0).fit(F, y)
    flin = FloralSVC(kernel="linear", n_rounds=20, random_state=0).fit(F, y)
    assert flin.support_.size == 0 and flin.coef_.shape == lin.coef_.shape
    assert len(pickle.dumps(flin)) <= 10 * len(pickle.dumps(lin))
