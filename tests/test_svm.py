"""FloralSVC: behaviour, parameter validation and scikit-learn compatibility."""
import os
import pickle
import signal
import threading

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs, make_moons
from sklearn.multiclass import OneVsRestClassifier
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from floral import FloralSVC
from floral.datasets import load_moons
from oracles import floral_reference, kernel_reference


@pytest.fixture(scope="module")
def moons():
    X, y = make_moons(200, noise=0.2, random_state=0)
    return X, y


# --- what FLORAL claims ---------------------------------------------------------------

def _topk_sv_flip(X, y, budget, seed):
    from floral.attacks import topk_sv_flip

    return topk_sv_flip(X, y, budget, C=10, kernel="rbf", gamma=1.0, candidate_factor=2.0,
                        random_state=seed)


# The configuration below is fixed a priori from the paper / DESIGN.md ranges (C=10,
# gamma=1, attacker budget 5% of n, learning rate 1e-3, T=1000) and is not tuned to the
# assertions; bench/README.md records how the outcome varies with these settings.
FLORAL_PAPER = dict(C=10, gamma=1.0, flip_budget=0.05, learning_rate=1e-3, n_rounds=1000,
                    selection="best")


def _floral_vs_svc(poison):
    floral_acc, svc_acc = [], []
    for seed in range(3):
        d = load_moons(random_state=seed)
        y = _topk_sv_flip(d.X_train, d.y_train, 0.25, seed) if poison else d.y_train
        svc_acc.append(SVC(C=10, gamma=1.0).fit(d.X_train, y).score(d.X_test, d.y_test))
        clf = FloralSVC(**FLORAL_PAPER, random_state=seed)
        clf.fit(d.X_train, y, eval_set=(d.X_val, d.y_val))
        floral_acc.append(clf.score(d.X_test, d.y_test))
    return np.mean(floral_acc), np.mean(svc_acc)


def test_floral_beats_svc_under_25pct_topk_flips():
    floral_acc, svc_acc = _floral_vs_svc(poison=True)
    assert floral_acc > svc_acc, (floral_acc, svc_acc)


def test_floral_stays_within_two_points_of_svc_on_clean_labels():
    floral_acc, svc_acc = _floral_vs_svc(poison=False)
    assert floral_acc >= svc_acc - 0.02, (floral_acc, svc_acc)


# --- the algorithm as specified ------------------------------------------------------

def test_no_attacker_is_projected_gradient_svm(moons):
    X, y = moons
    n = len(y)
    clf = FloralSVC(C=10, gamma=0.5, flip_budget=0, n_rounds=40, learning_rate=0.01).fit(X, y)
    K = kernel_reference(X, X, "rbf", 0.5).astype(np.float32).astype(float)
    lam, yt, b, _ = floral_reference(K, 2 * y - 1, np.full(n, 10.0), np.zeros(n),
                                     n_rounds=40, learning_rate=0.01)
    coef = np.zeros(n)
    coef[clf.support_] = clf.dual_coef_.ravel()
    np.testing.assert_allclose(coef, np.where(lam > clf.tol, (2 * y - 1) * lam, 0), atol=1e-6)
    assert clf.intercept_[0] == pytest.approx(b, abs=1e-6)
    assert clf.flipped_.size == 0


def test_no_attacker_converges_to_svc(moons):
    X, y = moons
    clf = FloralSVC(C=1.0, gamma=0.5, flip_budget=0, n_rounds=3000, learning_rate=0.05).fit(X, y)
    svc = SVC(C=1.0, gamma=0.5, tol=1e-6).fit(X, y)
    Xt = make_moons(500, noise=0.2, random_state=1)[0]
    np.testing.assert_allclose(clf.decision_function(Xt), svc.decision_function(Xt), atol=2e-2)
    assert np.mean(clf.predict(Xt) == svc.predict(Xt)) > 0.99


def test_init_svc_starts_from_svc_dual(moons):
    X, y = moons
    svc = SVC(C=10, gamma=1.0).fit(X, y)
    clf = FloralSVC(C=10, gamma=1.0, init="svc", flip_budget=0, n_rounds=1,
                    learning_rate=1e-8).fit(X, y)
    np.testing.assert_array_equal(clf.support_, np.sort(svc.support_))
    np.testing.assert_allclose(clf.dual_coef_.ravel(), svc.dual_coef_.ravel()[np.argsort(svc.support_)],
                               atol=1e-3)
    Xt = make_moons(300, noise=0.2, random_state=2)[0]
    assert np.mean(clf.predict(Xt) == svc.predict(Xt)) > 0.99
    zeros = FloralSVC(C=10, gamma=1.0, flip_budget=0, n_rounds=1, learning_rate=1e-8).fit(X, y)
    assert clf.history_["objective"][0] < zeros.history_["objective"][0]


def test_sample_weight_scales_c(moons):
    X, y = moons
    n = len(y)
    w = np.where(np.arange(n) % 3 == 0, 0.0, 1.5)
    clf = FloralSVC(C=2.0, gamma=0.5, flip_budget=0, n_rounds=30, learning_rate=0.05)
    clf.fit(X, y, sample_weight=w)
    K = kernel_reference(X, X, "rbf", 0.5).astype(np.float32).astype(float)
    lam, *_ = floral_reference(K, 2 * y - 1, 2.0 * w, np.zeros(n), n_rounds=30,
                               learning_rate=0.05)
    coef = np.zeros(n)
    coef[clf.support_] = clf.dual_coef_.ravel()
    np.testing.assert_allclose(np.abs(coef), np.where(lam > clf.tol, lam, 0), atol=1e-6)
    assert not np.isin(clf.support_, np.flatnonzero(w == 0)).any()


def test_attacker_flips_budget_and_is_seeded(moons):
    X, y = moons
    kw = dict(C=10, gamma=1.0, flip_budget=0.1, n_rounds=30, learning_rate=0.01)
    a = FloralSVC(**kw, random_state=0).fit(X, y)
    b = FloralSVC(**kw, random_state=0).fit(X, y)
    c = FloralSVC(**kw, random_state=1).fit(X, y)
    assert a.flipped_.size == 20
    np.testing.assert_array_equal(a.flipped_, b.flipped_)
    np.testing.assert_array_equal(a.dual_coef_, b.dual_coef_)
    assert not np.array_equal(a.flipped_, c.flipped_)
    # the attacker only ever flips support vectors
    assert np.isin(a.flipped_, a.support_).all()


def test_selection_best_keeps_best_eval_round(moons):
    X, y = moons
    Xv, yv = make_moons(200, noise=0.2, random_state=5)
    clf = FloralSVC(C=10, gamma=1.0, flip_budget=0.2, n_rounds=120, learning_rate=0.01,
                    selection="best", eval_every=3, random_state=0).fit(X, y, eval_set=(Xv, yv))
    acc = clf.history_["eval_accuracy"]
    evaluated = np.flatnonzero(~np.isnan(acc))
    np.testing.assert_array_equal(evaluated + 1, np.r_[np.arange(3, 121, 3)])
    best = evaluated[np.argmax(acc[evaluated])] + 1  # argmax: earliest on ties
    assert clf.best_round_ == best
    assert clf.score(Xv, yv) == pytest.approx(np.nanmax(acc))
    last = clf.last_round()
    assert last.best_round_ == clf.n_rounds_ == 120
    assert last.score(Xv, yv) == pytest.approx(acc[-1])
    assert set(clf.history_) == {"round", "objective", "n_sv", "n_free", "n_changed", "mu",
                                 "eta", "seconds", "eval_accuracy"}
    assert all(len(v) == 120 for v in clf.history_.values())


def test_selection_best_requires_eval_set(moons):
    X, y = moons
    with pytest.raises(ValueError, match="eval_set"):
        FloralSVC(selection="best", n_rounds=2).fit(X, y)
    with pytest.raises(ValueError, match="not among the training classes"):
        FloralSVC(n_rounds=2).fit(X, y, eval_set=(X, y + 5))
    with pytest.raises(TypeError, match="eval_set"):
        FloralSVC(n_rounds=2).fit(X, y, eval_set=X)


# --- labels, inputs, persistence -----------------------------------------------------

@pytest.mark.parametrize("labels", [("cat", "dog"), (0, 1), (-1, 1), (False, True), (1.0, 2.0)])
def test_any_two_labels(moons, labels):
    X, y = moons
    y_lab = np.asarray(labels)[y]
    clf = FloralSVC(C=10, gamma=1.0, n_rounds=100, learning_rate=0.01, random_state=0)
    clf.fit(X, y_lab)
    np.testing.assert_array_equal(clf.classes_, np.unique(y_lab))
    pred = clf.predict(X)
    assert pred.dtype == y_lab.dtype and set(pred) <= set(y_lab)
    np.testing.assert_array_equal(pred == clf.classes_[1], clf.decision_function(X) > 0)
    assert clf.score(X, y_lab) > 0.8


def test_more_than_two_classes_points_to_one_vs_rest():
    X, y = make_blobs(150, centers=3, random_state=0)
    with pytest.raises(ValueError, match="OneVsRestClassifier"):
        FloralSVC(n_rounds=5).fit(X, y)
    ovr = OneVsRestClassifier(FloralSVC(n_rounds=100, learning_rate=0.01, flip_budget=0))
    assert ovr.fit(X, y).score(X, y) > 0.9


def test_inputs_are_not_modified(moons):
    X, y = moons
    X = X.copy()
    y = np.where(y == 1, "b", "a")
    w = np.linspace(0.5, 1.5, len(y))
    Xv, yv = X[:50].copy(), y[:50].copy()
    saved = [a.copy() for a in (X, y, w, Xv, yv)]
    for a in (X, w, Xv):
        a.flags.writeable = False  # read-only inputs must be accepted, not copied back into
    clf = FloralSVC(n_rounds=20, selection="best", init="svc", random_state=0)
    clf.fit(X, y, sample_weight=w, eval_set=(Xv, yv))
    clf.predict(X)
    for before, after in zip(saved, (X, y, w, Xv, yv)):
        np.testing.assert_array_equal(before, after)


def test_pickle_and_clone(moons):
    X, y = moons
    clf = FloralSVC(C=5, gamma=0.7, n_rounds=50, learning_rate=0.01, random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.decision_function(X), clf.decision_function(X))
    fresh = clone(clf)
    assert fresh.get_params() == clf.get_params() and not hasattr(fresh, "classes_")
    np.testing.assert_array_equal(fresh.fit(X, y).dual_coef_, clf.dual_coef_)


def test_verbose_reports_progress(moons, capsys):
    X, y = moons
    FloralSVC(n_rounds=20, verbose=1, random_state=0).fit(X, y, eval_set=(X, y))
    err = capsys.readouterr().err
    assert "round" in err and "eval acc" in err and "done: 20 rounds" in err


@pytest.mark.skipif(os.name == "nt", reason="SIGINT delivery to self is POSIX-only")
def test_ctrl_c_stops_and_keeps_state():
    X, y = make_moons(3000, noise=0.3, random_state=0)
    clf = FloralSVC(n_rounds=10**7, eval_every=10**6, learning_rate=1e-4, random_state=0)
    timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.warns(RuntimeWarning, match="interrupted"):
            clf.fit(X, y)
    finally:
        timer.cancel()
    assert 0 < clf.n_rounds_ < 10**7
    assert clf.best_round_ == clf.n_rounds_
    assert len(clf.history_["objective"]) == clf.n_rounds_
    assert clf.score(X, y) > 0.5


# --- validation -----------------------------------------------------------------------

@pytest.mark.parametrize("param, value", [
    ("C", 0.0), ("C", -1), ("kernel", "cosine"), ("gamma", "big"), ("gamma", -0.5),
    ("degree", -1), ("degree", 2.5), ("flip_budget", 1.5), ("flip_budget", -1),
    ("candidate_factor", 0.5), ("n_rounds", 0), ("learning_rate", 0.0), ("lr_decay", 0.0),
    ("lr_decay", 1.5), ("lr_decay_every", 0), ("init", "random"), ("selection", "first"),
    ("eval_every", 0), ("refresh", -1), ("cache_size", 0), ("tol", -1e-3),
    ("n_jobs", 1.5), ("random_state", "seed"), ("verbose", -1),
])
def test_bad_parameters_name_themselves(moons, param, value):
    X, y = moons
    with pytest.raises((ValueError, TypeError), match=param):
        FloralSVC(**{param: value}, n_rounds=2).set_params(**{param: value}).fit(X, y)


def test_flip_budget_count_larger_than_n(moons):
    X, y = moons
    with pytest.raises(ValueError, match="flip_budget"):
        FloralSVC(flip_budget=len(y) + 1, n_rounds=2).fit(X, y)


def test_n_jobs_zero_rejected(moons):
    X, y = moons
    with pytest.raises(ValueError, match="n_jobs"):
        FloralSVC(n_jobs=0, n_rounds=2).fit(X, y)


def test_bad_data(moons):
    X, y = moons
    with pytest.raises(ValueError, match="1 class"):
        FloralSVC(n_rounds=2).fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="NaN"):
        FloralSVC(n_rounds=2).fit(np.where(X > 1.5, np.nan, X), y)
    with pytest.raises(ValueError, match="sample_weight"):
        FloralSVC(n_rounds=2).fit(X, y, sample_weight=-np.ones(len(y)))
    clf = FloralSVC(n_rounds=2).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :1])


# --- scikit-learn's estimator checks ---------------------------------------------------

# FLORAL trains against an attacker and with a fixed number of gradient steps, so a few
# generic checks do not apply; each is listed with the reason.
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "C_i = C * w_i bounds one dual variable per sample; repeating a sample splits it "
        "into two variables with the same total bound but different projected-gradient "
        "dynamics; after a fixed number of rounds (short of the optimum, and with an "
        "attacker that counts samples) weights and repetitions give different models."
    ),
}


@parametrize_with_checks(
    [FloralSVC(n_rounds=200, learning_rate=0.01, random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
