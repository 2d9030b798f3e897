"""NN-PGD (floral.defenses.PGDTrainedMLP and the runner's ``nn-pgd``).

Oracles: scikit-learn's own MLPClassifier (its predict_proba gives the loss the input
gradient is checked against by finite differences; its partial_fit training is what
epsilon = 0 must reproduce bit for bit) and the runner's ``nn`` method.
"""
import os
import pickle

import numpy as np
import pytest
from interrupts import ctrl_c_after, first_signal_ended_it
from sklearn.datasets import make_blobs, make_moons
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.estimator_checks import parametrize_with_checks

from floral import experiments
from floral.datasets import load_moons
from floral.defenses import PGDTrainedMLP, _nn_pgd
from floral.experiments import NN_PARAMS, run_grid


@pytest.fixture(scope="module")
def moons():
    X, y = make_moons(120, noise=0.2, random_state=0)
    return X, y


def sample_losses(model, X, y):
    """Each sample's log-loss from the model's predict_proba: the oracle for the gradient."""
    P = model.predict_proba(X)
    return -np.log(P[np.arange(len(y)), np.searchsorted(model.classes_, y)])


# --- the input gradient --------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_input_gradient_matches_finite_differences_of_mlpclassifier_loss(activation,
                                                                         n_classes):
    X, y = make_blobs(60, n_features=3, centers=n_classes, cluster_std=2.0, random_state=1)
    net = MLPClassifier(hidden_layer_sizes=(7, 5), activation=activation, max_iter=30,
                        learning_rate_init=0.05, random_state=0)
    net.fit(X, y)  # 30 epochs: trained enough for non-trivial weights, not converged
    Y = LabelBinarizer().fit(net.classes_).transform(y).astype(float)
    grad = _nn_pgd._input_gradient(net, X, Y)
    assert grad.shape == X.shape

    h = 1e-6
    fd = np.empty_like(X)
    for j in range(X.shape[1]):
        step = np.zeros(X.shape[1])
        step[j] = h
        fd[:, j] = (sample_losses(net, X + step, y) - sample_losses(net, X - step, y)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-8)
    assert np.abs(grad).max() > 1e-3  # a real gradient, not a vacuous match of zeros


# --- the perturbation ----------------------------------------------------------------------

def test_perturb_stays_in_the_ball_and_beats_random_corners(moons):
    X, y = moons
    clf = PGDTrainedMLP(epsilon=0.2, max_iter=15, random_state=0).fit(X, y)
    X_adv = clf.perturb(X, y, random_state=1)
    delta = X_adv - X
    assert np.abs(delta).max() <= 0.2 + 1e-12
    # sign steps of 2.5 * 0.2 / 5 then clipping put most coordinates on the ball's face
    assert np.mean(np.isclose(np.abs(delta), 0.2)) > 0.9

    clean, adv = sample_losses(clf, X, y), sample_losses(clf, X_adv, y)
    assert np.mean(adv > clean) > 0.95 and adv.mean() > clean.mean() + 0.01
    # against an equally large but blind perturbation, PGD finds more loss
    corners = X + 0.2 * np.random.default_rng(0).choice([-1.0, 1.0], size=X.shape)
    assert adv.mean() > sample_losses(clf, corners, y).mean()
    # the random start comes from random_state
    np.testing.assert_array_equal(X_adv, clf.perturb(X, y, random_state=1))


def test_training_steps_see_the_perturbed_batches(moons, monkeypatch):
    X, y = moons
    eps = 0.15
    attacked, stepped = [], []
    pgd, partial_fit = _nn_pgd._pgd, MLPClassifier.partial_fit

    def spy_pgd(net, X_batch, Y, epsilon, steps, step_size, rng):
        out = pgd(net, X_batch, Y, epsilon, steps, step_size, rng)
        labels = net.classes_[Y[:, 0].astype(int)]
        attacked.append((X_batch.copy(), out, sample_losses(net, X_batch, labels),
                         sample_losses(net, out, labels)))
        return out

    def spy_partial_fit(self, X_batch, *args, **kwargs):
        stepped.append(X_batch)
        return partial_fit(self, X_batch, *args, **kwargs)

    monkeypatch.setattr(_nn_pgd, "_pgd", spy_pgd)
    monkeypatch.setattr(MLPClassifier, "partial_fit", spy_partial_fit)
    clf = PGDTrainedMLP(epsilon=eps, pgd_steps=4, batch_size=32, max_iter=3, random_state=0)
    clf.fit(X, y)

    # 3 epochs of ceil(120 / 32) batches, one optimizer step (partial_fit call) each; the
    # first batch of the fresh network is trained on as it is (nothing to attack yet)
    assert len(stepped) == 3 * 4 and len(attacked) == 3 * 4 - 1
    rows = {tuple(r) for r in X}
    assert all(tuple(r) in rows for r in stepped[0])
    gains = []
    for (clean, adv, loss_clean, loss_adv), seen in zip(attacked, stepped[1:]):
        assert seen is adv  # the optimizer step is taken on the perturbed batch
        assert all(tuple(r) in rows for r in clean)  # ... of clean training rows
        assert np.abs(adv - clean).max() <= eps + 1e-12
        assert np.abs(adv - clean).min() > 0
        gains.append(loss_adv.mean() - loss_clean.mean())
    assert min(gains) > 0
    # every epoch is one pass over the training rows
    batches = [stepped[0]] + [clean for clean, *_ in attacked]
    for epoch in range(3):
        seen_rows = np.concatenate(batches[4 * epoch:4 * epoch + 4])
        assert sorted(map(tuple, seen_rows)) == sorted(map(tuple, X))
    assert len(clf.loss_curve_) == clf.n_iter_ == 3


# --- epsilon = 0 is the plain network, bit for bit ----------------------------------------

def test_epsilon_zero_is_mlpclassifier_bit_for_bit(moons):
    X, y = moons
    params = dict(NN_PARAMS, max_iter=6)
    mlp = MLPClassifier(**params, random_state=3)
    for _ in range(6):
        mlp.partial_fit(X, y, classes=[0, 1])
    zero = PGDTrainedMLP(**params, epsilon=0.0, random_state=3).fit(X, y)
    for a, b in zip(mlp.coefs_ + mlp.intercepts_, zero.coefs_ + zero.intercepts_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(mlp.predict_proba(X), zero.predict_proba(X))
    assert zero.loss_curve_ == mlp.loss_curve_ and zero.n_iter_ == 6
    # and the attack does change training
    pgd = PGDTrainedMLP(**params, epsilon=0.1, random_state=3).fit(X, y)
    assert not np.array_equal(pgd.coefs_[0], mlp.coefs_[0])


def test_runner_nn_pgd_with_epsilon_zero_is_the_runners_nn():
    res = run_grid("moons", "alfa_tilt", [0.1], ["nn", "nn-pgd"], [0], C=10.0, gamma=1.0,
                   method_params={"nn": {"max_iter": 5},
                                  "nn-pgd": {"max_iter": 5, "epsilon": 0.0}},
                   keep_models=True)
    nn, pgd = (next(r for r in res if r["method"] == m) for m in ("nn", "nn-pgd"))
    for key in ("best_accuracy", "last_accuracy", "best_val_accuracy", "last_val_accuracy",
                "best_round"):
        assert nn[key] == pgd[key]
    kept = res.models[("moons", "alfa_tilt", 0.1, 0)]
    a, b = kept.estimators["nn"], kept.estimators["nn-pgd"]
    for u, v in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(a.predict(kept.data.X_test), b.predict(kept.data.X_test))


# --- the runner ------------------------------------------------------------------------------

def test_runner_records_best_and_last_like_nn():
    res = run_grid("moons", "alfa_tilt", [0.1], ["nn-pgd"], [1], C=10.0, gamma=1.0,
                   method_params={"nn-pgd": {"max_iter": 5}})
    (rec,) = res
    data = load_moons(1)
    from floral import attacks

    y_bad = attacks.alfa_tilt(data.X_train, data.y_train, 0.1, C=10.0, gamma=1.0,
                              random_state=1)
    clf = PGDTrainedMLP(**dict(NN_PARAMS, max_iter=5), random_state=1)
    val, test = [], []
    for _ in range(5):
        clf.partial_fit(data.X_train, y_bad, classes=[0, 1])
        val.append(clf.score(data.X_val, data.y_val))
        test.append(clf.score(data.X_test, data.y_test))
    best = int(np.argmax(val))
    assert rec["best_round"] == best + 1
    assert rec["best_accuracy"] == test[best] and rec["best_val_accuracy"] == val[best]
    assert rec["last_accuracy"] == test[-1] and rec["last_val_accuracy"] == val[-1]
    assert rec["n_flipped"] == 50


def test_runner_method_uses_the_nn_network_and_the_estimators_attack():
    assert experiments.available_methods().index("nn-pgd") == \
        experiments.available_methods().index("nn") + 1
    est = experiments.make_method("nn-pgd", C=10, gamma=1.0, random_state=4)
    params = est.get_params()
    assert {k: params[k] for k in NN_PARAMS} == NN_PARAMS
    default = PGDTrainedMLP().get_params()
    assert all(params[k] == default[k] for k in ("epsilon", "pgd_steps", "pgd_step_size"))
    assert params["random_state"] == 4
    with pytest.raises(TypeError, match="has no parameter 'eps'"):
        run_grid("moons", "alfa_tilt", [0.1], ["nn-pgd"], 1,
                 method_params={"nn-pgd": {"eps": 0.1}})


# --- the estimator ---------------------------------------------------------------------------

def test_reproducible_from_random_state_and_fit_is_epochs_of_partial_fit(moons):
    X, y = moons
    kw = dict(max_iter=4, epsilon=0.1)
    a = PGDTrainedMLP(**kw, random_state=7).fit(X, y)
    b = PGDTrainedMLP(**kw, random_state=7)
    for _ in range(4):
        b.partial_fit(X, y, classes=np.unique(y))
    c = PGDTrainedMLP(**kw, random_state=8).fit(X, y)
    for u, v in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])
    assert a.n_iter_ == b.n_iter_ == 4 and len(a.loss_curve_) == 4
    # partial_fit after fit continues the same network
    a.partial_fit(X, y)
    assert a.n_iter_ == 5 and not np.array_equal(a.coefs_[0], b.coefs_[0])
    # fit starts over
    np.testing.assert_array_equal(a.fit(X, y).coefs_[0], b.coefs_[0])


def test_string_labels_and_three_classes():
    X, y_int = make_blobs(90, centers=3, random_state=2)
    names = np.array(["ant", "bee", "cat"])
    y = names[y_int]
    clf = PGDTrainedMLP(max_iter=30, learning_rate_init=0.01, epsilon=0.1,
                        random_state=0).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, names)
    proba = clf.predict_proba(X)
    assert proba.shape == (90, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), names[np.argmax(proba, axis=1)])
    assert clf.score(X, y) > 0.9
    X_adv = clf.perturb(X, y, random_state=0)
    assert np.abs(X_adv - X).max() <= 0.1 + 1e-12
    assert sample_losses(clf, X_adv, y).mean() > sample_losses(clf, X, y).mean()
    with pytest.raises(ValueError, match="not in classes_"):
        clf.perturb(X, np.where(y == "ant", "dog", y))


def test_inputs_untouched_and_pickle(moons):
    X, y = moons
    X0, y0 = X.copy(), y.copy()
    clf = PGDTrainedMLP(max_iter=2, random_state=0).fit(X, y)
    clf.partial_fit(X, y)
    clf.perturb(X, y, random_state=0)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))


def test_float32_input_stays_float32(moons):
    X, y = moons
    X32 = X.astype(np.float32)
    clf = PGDTrainedMLP(max_iter=2, random_state=0).fit(X32, y)
    assert clf.coefs_[0].dtype == np.float32
    assert clf.perturb(X32, y, random_state=0).dtype == np.float32


@pytest.mark.skipif(os.name == "nt", reason="SIGINT delivery to self is POSIX-only")
def test_ctrl_c_keeps_the_epochs_so_far_and_reraises(moons):
    # MLPClassifier alone turns a KeyboardInterrupt into a warning and trains on
    X, y = moons
    clf = PGDTrainedMLP(max_iter=10**6, random_state=0)
    with pytest.raises(KeyboardInterrupt), ctrl_c_after(1.0) as info:
        clf.fit(X, y)
    assert first_signal_ended_it(info, 1.0)
    assert 1 <= clf.n_iter_ < 10**6
    assert set(clf.predict(X)) <= set(y)


def test_partial_fit_needs_classes_first(moons):
    X, y = moons
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        PGDTrainedMLP().partial_fit(X, y)


# --- scikit-learn's estimator checks ---------------------------------------------------------

# A short, faster-learning schedule keeps the ~50 checks quick; the checks' own datasets
# are small and well separated. No check is expected to fail. Several fit fewer samples than
# a batch of 32, which MLPClassifier clips with a warning.
@pytest.mark.filterwarnings("ignore:Got `batch_size` less than 1 or larger:UserWarning")
@parametrize_with_checks([PGDTrainedMLP(max_iter=20, learning_rate_init=0.01,
                                        random_state=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)
