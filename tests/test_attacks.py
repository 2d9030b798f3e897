"""Tests for floral.attacks and the ``floral attack`` command."""
import functools
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import make_blobs, make_moons
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.svm import SVC

from floral import attacks
from floral.datasets import load_moons
from oracles import partial_fisher_yates

SVM = dict(C=10.0, gamma=1.0)
ATTACKS = attacks.available()


def run_attack(name, X, y, budget, **kwargs):
    params = {} if name == "random" else dict(SVM)
    params.update(kwargs)
    return attacks.get(name)(X, y, budget, **params)


@pytest.fixture(scope="module")
def moons():
    X, y = make_moons(60, noise=0.25, random_state=1)
    return X, y


# --- the common contract -----------------------------------------------------------------

@pytest.mark.parametrize("name", ATTACKS)
@pytest.mark.parametrize("budget, expected", [(7, 7), (0.1, 6), (0.125, 8), (0.25, 15)])
def test_exact_budget(moons, name, budget, expected):
    X, y = moons
    y_adv = run_attack(name, X, y, budget, random_state=0)
    # 0.125 * 60 = 7.5 rounds half up to 8
    assert np.count_nonzero(y_adv != y) == expected
    assert set(np.unique(y_adv)) <= set(np.unique(y))


@pytest.mark.parametrize("name", ATTACKS)
def test_zero_budget_returns_an_unchanged_copy(moons, name):
    X, y = moons
    for budget in (0, 0.0):
        y_adv = run_attack(name, X, y, budget, random_state=0)
        assert y_adv is not y
        np.testing.assert_array_equal(y_adv, y)


@pytest.mark.parametrize("name", ATTACKS)
def test_inputs_untouched(moons, name):
    X, y = moons
    X_copy, y_copy = X.copy(), y.copy()
    extra = {}
    if name == "lfa":
        X_val, y_val = make_moons(30, noise=0.25, random_state=2)
        X_val_copy, y_val_copy = X_val.copy(), y_val.copy()
        extra = dict(X_val=X_val, y_val=y_val)
    y_adv = run_attack(name, X, y, 0.2, random_state=0, **extra)
    assert not np.shares_memory(y_adv, y)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)
    if name == "lfa":
        np.testing.assert_array_equal(X_val, X_val_copy)
        np.testing.assert_array_equal(y_val, y_val_copy)


@pytest.mark.parametrize("name", ATTACKS)
def test_deterministic_given_random_state(moons, name):
    X, y = moons
    kwargs = dict(candidate_factor=2.0) if name == "topk_sv" else {}
    a = run_attack(name, X, y, 0.2, random_state=3, **kwargs)
    b = run_attack(name, X, y, 0.2, random_state=3, **kwargs)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name, kwargs", [("random", {}), ("alfa_tilt", {}),
                                          ("topk_sv", dict(candidate_factor=3.0))])
def test_random_state_changes_the_randomised_attacks(moons, name, kwargs):
    X, y = moons
    draws = {tuple(run_attack(name, X, y, 0.1, random_state=s, **kwargs)) for s in range(5)}
    assert len(draws) > 1


ENCODINGS = {
    "0/1": lambda b: b.astype(np.int64),
    "+-1": lambda b: np.where(b, 1, -1),
    "float": lambda b: b.astype(np.float32),
    "bool": lambda b: b.astype(bool),
    "str": lambda b: np.where(b, "pos", "neg"),
    "object": lambda b: np.where(b, "yes", "no").astype(object),
}


@pytest.mark.parametrize("name", ATTACKS)
def test_any_two_class_encoding_round_trips(moons, name):
    X, y01 = moons
    flips = {}
    for enc, encode in ENCODINGS.items():
        y = encode(y01 == 1)
        y_adv = run_attack(name, X, y, 9, random_state=0)
        assert y_adv.dtype == y.dtype, enc
        assert set(np.unique(y_adv)) == set(np.unique(y)), enc
        changed = y_adv != y
        # a changed label is the other class: a round trip through two flips is the identity
        np.testing.assert_array_equal(encode(~(y01 == 1))[changed], y_adv[changed])
        flips[enc] = np.flatnonzero(changed)
    # every encoding orders the classes as 0/1 does, so the attack sees the same problem
    for enc, idx in flips.items():
        np.testing.assert_array_equal(idx, flips["0/1"], err_msg=enc)


def test_lists_are_accepted(moons):
    X, y = moons
    y_adv = attacks.alfa(X.tolist(), y.tolist(), 5, **SVM)
    assert isinstance(y_adv, np.ndarray) and np.count_nonzero(y_adv != y) == 5


# --- the registry (bad input: tests/test_bad_input.py) -------------------------------------

def test_registry():
    assert attacks.available() == ("random", "topk_sv", "alfa", "alfa_tilt", "lfa")
    assert [attacks.supports_multiclass(n) for n in ATTACKS] == [True, True, False, False,
                                                                 False]
    assert attacks.supports_multiclass("topk-sv-flip") and not attacks.supports_multiclass("ALFA")
    with pytest.raises(ValueError, match="unknown attack 'pgd'"):
        attacks.supports_multiclass("pgd")
    assert attacks.get("alfa") is attacks.alfa
    assert attacks.get("ALFA-tilt") is attacks.alfa_tilt
    assert attacks.get("topk_sv_flip") is attacks.topk_sv_flip
    assert attacks.get("random_flip") is attacks.get("random")
    with pytest.raises(ValueError, match="unknown attack 'pgd'; available attacks: random, "
                                         "topk_sv, alfa, alfa_tilt, lfa"):
        attacks.get("pgd")
    assert attacks.canonical_name("ALFA-tilt") == "alfa_tilt"
    assert attacks.canonical_name("topk_sv_flip") == "topk_sv"


def test_random_flip_takes_labels_only():
    y = np.array([0, 1] * 10)
    y_adv = attacks.random_flip(y, 0.25, random_state=0)
    assert np.count_nonzero(y_adv != y) == 5
    # the registry's version takes X only to share the signature, and checks its length
    with pytest.raises(ValueError, match="X and y have different numbers of samples"):
        attacks.get("random")(np.zeros((19, 2)), y, 5)


# --- each attack does what its paper says ----------------------------------------------------

def svc_duals(X, y):
    svc = SVC(kernel="rbf", **SVM).fit(X, y)
    alpha = np.zeros(len(y))
    alpha[svc.support_] = np.abs(svc.dual_coef_[0])
    return svc, alpha


def test_topk_flips_the_largest_dual_variables(moons):
    X, y = moons
    _, alpha = svc_duals(X, y)
    k = 6
    order = np.lexsort((np.arange(len(y)), -alpha))  # by alpha descending, ties by index
    y_adv = attacks.topk_sv_flip(X, y, k, **SVM)
    np.testing.assert_array_equal(np.flatnonzero(y_adv != y), np.sort(order[:k]))
    # the randomised attacker draws among the top ceil(2.5 * k) = 15 only
    for seed in range(5):
        y_adv = attacks.topk_sv_flip(X, y, k, candidate_factor=2.5, random_state=seed, **SVM)
        assert set(np.flatnonzero(y_adv != y)) <= set(order[:15])


def test_topk_fills_with_margin_points_when_support_vectors_run_out():
    X, y = make_blobs(40, centers=[[-3, 0], [3, 0]], cluster_std=0.5, random_state=0)
    svc = SVC(kernel="linear", C=1.0).fit(X, y)
    n_sv = svc.support_.size
    k = n_sv + 3
    assert n_sv < k < len(y)
    margin = np.where(y == 1, 1, -1) * svc.decision_function(X)
    non_sv = np.setdiff1d(np.arange(len(y)), svc.support_)
    fill = non_sv[np.argsort(margin[non_sv], kind="stable")[:3]]
    y_adv = attacks.topk_sv_flip(X, y, k, kernel="linear", C=1.0)
    np.testing.assert_array_equal(np.flatnonzero(y_adv != y),
                                  np.sort(np.concatenate([svc.support_, fill])))


def test_alfa_first_linear_program_picks_the_most_confident_points(moons):
    # with the tainted losses xi at 0 (the paper's start), the LP coefficient of a flip is
    # max(0, 1 - m) - max(0, 1 + m) for the clean margin m: decreasing in m
    X, y = moons
    svc, _ = svc_duals(X, y)
    margin = np.where(y == 1, 1, -1) * svc.decision_function(X)
    y_adv = attacks.alfa(X, y, 5, max_iter=1, **SVM)
    np.testing.assert_array_equal(np.flatnonzero(y_adv != y), np.sort(np.argsort(-margin)[:5]))


def test_alfa_converges_to_a_fixed_point(moons):
    X, y = moons
    a = attacks.alfa(X, y, 8, max_iter=50, **SVM)
    b = attacks.alfa(X, y, 8, max_iter=200, **SVM)
    np.testing.assert_array_equal(a, b)


def test_alfa_tilt_random_svm_is_fresh_and_the_most_tilted_trial_is_kept(moons):
    X, y = moons
    k, C = 8, SVM["C"]
    y_adv, info = attacks.alfa_tilt(X, y, k, n_trials=6, random_state=0, return_info=True,
                                    **SVM)
    ra = info["random_alpha"]
    # a fresh random SVM each trial (not the clean SVM retrained), duals in [0, C]
    assert ra.shape == (6, len(y))
    assert np.all((ra >= 0) & (ra <= C))
    assert all(not np.allclose(ra[i], ra[j]) for i in range(6) for j in range(i))
    assert len({tuple(f) for f in info["flipped"]}) > 1

    # recompute every trial from scikit-learn directly
    ys = np.where(y == 1, 1, -1)
    svc, alpha = svc_duals(X, y)
    np.testing.assert_allclose(info["alpha"], alpha, atol=1e-8)
    assert np.all(info["alpha"] >= 0)  # unsigned dual variables, not dual_coef_
    K = rbf_kernel(X, gamma=SVM["gamma"])
    s = ys * svc.decision_function(X)
    s /= np.abs(s).max()
    w = np.zeros(len(y))
    w[svc.support_] = svc.dual_coef_[0]
    cosines = []
    for t in range(6):
        q = ys * (K @ (ra[t] * ys))
        q /= np.abs(q).max()
        v = alpha / C - s - q
        lowest = np.argsort(v, kind="stable")[:k]
        np.testing.assert_array_equal(np.sort(info["flipped"][t]), np.sort(lowest))
        z = ys.copy()
        z[lowest] *= -1
        poisoned = SVC(kernel="rbf", **SVM).fit(X, z)
        w2 = np.zeros(len(y))
        w2[poisoned.support_] = poisoned.dual_coef_[0]
        cosines.append(w @ K @ w2 / np.sqrt((w @ K @ w) * (w2 @ K @ w2)))
    np.testing.assert_allclose(info["cosine"], cosines, rtol=1e-6, atol=1e-9)
    best = int(np.argmin(cosines))  # most tilted = smallest cosine, not the largest
    assert info["best_trial"] == best
    np.testing.assert_array_equal(np.flatnonzero(y_adv != y), np.sort(info["flipped"][best]))


def test_lfa_first_step_is_the_best_single_support_vector_flip(moons):
    X, y = moons
    X_val, y_val = make_moons(80, noise=0.25, random_state=5)
    y_adv = attacks.lfa(X, y, 1, X_val=X_val, y_val=y_val, **SVM)
    (chosen,) = np.flatnonzero(y_adv != y)
    svc = SVC(kernel="rbf", **SVM).fit(X, y)
    keys = {}
    for i in svc.support_:
        z = y.copy()
        z[i] = 1 - z[i]
        f = SVC(kernel="rbf", **SVM).fit(X, z).decision_function(X_val)
        errors = np.count_nonzero((f > 0).astype(int) != y_val)
        keys[i] = (errors, np.maximum(0, 1 - np.where(y_val == 1, 1, -1) * f).mean())
    top = max(keys.values())
    assert keys[chosen][0] == top[0]
    assert keys[chosen][1] == pytest.approx(top[1], rel=1e-6)


def test_lfa_candidate_cap_keeps_the_budget(moons):
    X, y = moons
    y_adv = attacks.lfa(X, y, 10, max_candidates=3, **SVM)
    assert np.count_nonzero(y_adv != y) == 10


def test_attacks_that_flip_a_whole_class_still_return_the_budget():
    X, y = make_blobs(20, centers=[[-2, 0], [2, 0]], random_state=0)
    y = (np.arange(20) < 4).astype(int)  # 4 points of class 1
    for name in ATTACKS:
        y_adv = run_attack(name, X, y, 15, random_state=0)
        assert np.count_nonzero(y_adv != y) == 15, name


# --- two classes: the same flips as before K > 2 was supported -----------------------------------
# An independent statement of the two-class algorithms (the oracle), and the flips the
# two-class-only code gave for three seeds, recorded before the multi-class change (top-k's
# re-recorded when its draw moved to the core's generator).

def binary_random_oracle(y, k, seed):
    flip = np.random.RandomState(seed).choice(len(y), size=k, replace=False)
    classes = np.unique(y)
    out = y.copy()
    out[flip] = np.where(y[flip] == classes[0], classes[1], classes[0])
    return out


def binary_topk_oracle(X, y, k, candidate_factor, seed):
    classes = np.unique(y)
    ys = np.where(y == classes[1], 1, -1)
    K = rbf_kernel(X, gamma=SVM["gamma"])
    svc = SVC(kernel="precomputed", C=SVM["C"]).fit(K, ys)
    alpha = np.zeros(len(y))
    alpha[svc.support_] = np.abs(svc.dual_coef_[0])
    margin = ys * svc.decision_function(K)
    sv, non_sv = np.flatnonzero(alpha > 0), np.flatnonzero(alpha == 0)
    by_alpha = sorted(sv, key=lambda i: (-alpha[i], i))
    by_margin = sorted(non_sv, key=lambda i: (margin[i], i))
    ranking = np.array(by_alpha + by_margin)
    n_cand = max(k, min(int(np.ceil(candidate_factor * k - 1e-9)), len(sv)))
    # the draw is FloralSVC's attacker's: the core's generator, seeded from random_state
    core_seed = int(np.random.RandomState(seed).randint(np.iinfo(np.int64).max, dtype=np.int64))
    flip = ranking[:k] if n_cand == k else \
        np.array(partial_fisher_yates(ranking[:n_cand].tolist(), k, core_seed))
    out = y.copy()
    out[flip] = np.where(y[flip] == classes[0], classes[1], classes[0])
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("labels", ["0/1", "str"])
def test_two_class_flips_match_the_binary_algorithm(moons, seed, labels):
    X, y01 = moons
    y = ENCODINGS[labels](y01 == 1)
    for k in (1, 6, 17):
        np.testing.assert_array_equal(attacks.random_flip(y, k, random_state=seed),
                                      binary_random_oracle(y, k, seed))
        for factor in (1.0, 2.0, 3.5):
            np.testing.assert_array_equal(
                attacks.topk_sv_flip(X, y, k, candidate_factor=factor, random_state=seed,
                                     **SVM),
                binary_topk_oracle(X, y, k, factor, seed))


def test_two_class_flips_are_the_recorded_ones(moons):
    X, y = moons
    recorded_random = [[2, 11, 26, 28, 35, 59], [2, 39, 41, 44, 48, 50],
                       [0, 23, 36, 46, 47, 55]]
    # recorded when topk_sv_flip's draw moved to the core's generator (FloralSVC's); with
    # numpy's RandomState it gave [6, 31, 32, 41, 42, 51], [2, 6, 25, 31, 42, 51],
    # [2, 31, 35, 42, 47, 53]
    recorded_topk = [[1, 6, 31, 32, 35, 47], [1, 25, 31, 41, 42, 53],
                     [1, 32, 41, 47, 51, 53]]
    for seed in range(3):
        flipped = np.flatnonzero(attacks.random_flip(y, 6, random_state=seed) != y)
        assert flipped.tolist() == recorded_random[seed]
        flipped = np.flatnonzero(attacks.topk_sv_flip(X, y, 6, candidate_factor=2.0,
                                                      random_state=seed, **SVM) != y)
        assert flipped.tolist() == recorded_topk[seed]


# --- more than two classes -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def blobs4():
    # four overlapping clusters, so the SVM has many support vectors and close runners-up
    X, y = make_blobs(120, centers=4, cluster_std=2.5, random_state=3)
    return X, np.array(["north", "east", "south", "west"])[y]


MULTICLASS = [n for n in ATTACKS if attacks.supports_multiclass(n)]


@pytest.mark.parametrize("name", MULTICLASS)
@pytest.mark.parametrize("budget, expected", [(7, 7), (0.25, 30), (119, 119)])
def test_multiclass_exact_budget_each_to_another_class(blobs4, name, budget, expected):
    X, y = blobs4
    y_copy = y.copy()
    for seed in range(3):
        y_adv = run_attack(name, X, y, budget, random_state=seed, candidate_factor=2.0) \
            if name == "topk_sv" else run_attack(name, X, y, budget, random_state=seed)
        assert y_adv.dtype == y.dtype and not np.shares_memory(y_adv, y)
        assert np.count_nonzero(y_adv != y) == expected
        assert set(np.unique(y_adv)) <= set(np.unique(y))
        np.testing.assert_array_equal(y, y_copy)
    assert np.array_equal(run_attack(name, X, y, 0, random_state=0), y)


def test_multiclass_random_flip_draws_uniformly_among_the_other_classes():
    y = np.repeat([10, 20, 30, 40], 1000)
    for seed in range(3):
        y_adv = attacks.random_flip(y, 1500, random_state=seed)
        # oracle: the points are RandomState's choice, then each gets a uniform shift
        rng = np.random.RandomState(seed)
        flip = rng.choice(y.size, size=1500, replace=False)
        shift = rng.randint(1, 4, size=1500)
        expected = y.copy()
        expected[flip] = (y[flip] // 10 - 1 + shift) % 4 * 10 + 10
        np.testing.assert_array_equal(y_adv, expected)
    # every other class is a target, about equally often (each share 1/3, sd ~0.012)
    changed = y_adv != y
    for c in (10, 20, 30, 40):
        to = y_adv[changed & (y == c)]
        assert c not in to
        shares = np.array([np.mean(to == d) for d in (10, 20, 30, 40) if d != c])
        assert np.all(np.abs(shares - 1 / 3) < 0.1)
    assert not np.array_equal(attacks.random_flip(y, 100, random_state=0),
                              attacks.random_flip(y, 100, random_state=1))


def ovr_svc(X, y, kernel="rbf", **params):
    """sklearn's SVC on the raw inputs: dual weights and one-vs-rest scores (the oracle)."""
    svc = SVC(kernel=kernel, decision_function_shape="ovr", **params).fit(X, y)
    alpha = np.zeros(len(y))
    alpha[svc.support_] = np.abs(svc.dual_coef_).sum(axis=0)
    scores = svc.decision_function(X)
    own = np.searchsorted(svc.classes_, y)
    others = scores.copy()
    others[np.arange(len(y)), own] = -np.inf
    runner_up = svc.classes_[np.argmax(others, axis=1)]
    margin = scores[np.arange(len(y)), own] - others.max(axis=1)
    return svc, alpha, runner_up, margin


def test_multiclass_topk_flips_the_largest_total_duals_to_the_runner_up(blobs4):
    X, y = blobs4
    svc, alpha, runner_up, _ = ovr_svc(X, y, **SVM)
    assert svc.dual_coef_.shape[0] == 3  # K - 1 one-vs-one duals per support vector
    order = np.lexsort((np.arange(len(y)), -alpha))
    k = 12
    y_adv = attacks.topk_sv_flip(X, y, k, **SVM)
    changed = np.flatnonzero(y_adv != y)
    np.testing.assert_array_equal(changed, np.sort(order[:k]))
    np.testing.assert_array_equal(y_adv[changed], runner_up[changed])
    # the runner-up is not always the same class, so the target is really per point
    assert np.unique(runner_up[changed]).size > 1
    # randomised: k of the top ceil(2 * k), each still to its runner-up, drawn per seed
    draws = set()
    for seed in range(6):
        y_adv = attacks.topk_sv_flip(X, y, k, candidate_factor=2.0, random_state=seed, **SVM)
        changed = np.flatnonzero(y_adv != y)
        assert changed.size == k and set(changed) <= set(order[:2 * k])
        np.testing.assert_array_equal(y_adv[changed], runner_up[changed])
        again = attacks.topk_sv_flip(X, y, k, candidate_factor=2.0, random_state=seed, **SVM)
        np.testing.assert_array_equal(y_adv, again)
        draws.add(tuple(changed))
    assert len(draws) > 1


def test_multiclass_topk_fills_with_the_closest_calls_when_support_vectors_run_out():
    X, y = make_blobs(60, centers=[[-6, 0], [6, 0], [0, 9]], cluster_std=0.6, random_state=0)
    svc, alpha, runner_up, margin = ovr_svc(X, y, kernel="linear", C=1.0)
    n_sv = svc.support_.size
    k = n_sv + 4
    assert k < len(y)
    non_sv = np.setdiff1d(np.arange(len(y)), svc.support_)
    fill = non_sv[np.argsort(margin[non_sv], kind="stable")[:4]]
    y_adv = attacks.topk_sv_flip(X, y, k, kernel="linear", C=1.0)
    changed = np.flatnonzero(y_adv != y)
    np.testing.assert_array_equal(changed, np.sort(np.concatenate([svc.support_, fill])))
    np.testing.assert_array_equal(y_adv[changed], runner_up[changed])


@pytest.mark.parametrize("name", [n for n in ATTACKS if not attacks.supports_multiclass(n)])
def test_two_class_attacks_reject_more_classes_and_name_the_alternatives(blobs4, name):
    X, y = blobs4
    with pytest.raises(ValueError, match=f"y has 4 classes. The {name} attack is defined for "
                                         "two classes only; the attacks random and topk_sv "
                                         "handle more than two") as info:
        run_attack(name, X, y, 5)
    assert "OneVsRestClassifier" not in str(info.value)


# --- each attack is an attack ----------------------------------------------------------------
# The paper's Moon protocol (load_moons: make_moons(2000, noise=0.2), standardised), with the
# first 200 training points to keep LFA quick, C=10, gamma=1, 1000 test points, 3 seeds.
# Measured when this was written (mean test accuracy at 10% / 25%): random .954 / .906,
# alfa .869 / .731, alfa_tilt .876 / .728, lfa .860 / .695, topk_sv .954 / .827. The margin
# below is a third or less of every gap asserted.

N_TRAIN = 200
SEEDS = (0, 1, 2)
MARGIN = 0.03


@functools.lru_cache(maxsize=None)
def moon_split(seed):
    return load_moons(random_state=seed)


@functools.lru_cache(maxsize=None)
def poisoned_accuracy(name, budget, seed):
    data = moon_split(seed)
    X, y = data.X_train[:N_TRAIN], data.y_train[:N_TRAIN]
    extra = {}
    if name == "lfa":
        extra = dict(X_val=data.X_val[:N_TRAIN], y_val=data.y_val[:N_TRAIN])
    y_adv = run_attack(name, X, y, budget, random_state=seed, **extra)
    return SVC(kernel="rbf", **SVM).fit(X, y_adv).score(data.X_test, data.y_test)


def mean_accuracy(name, budget):
    return float(np.mean([poisoned_accuracy(name, budget, s) for s in SEEDS]))


@pytest.mark.parametrize("budget", [0.10, 0.25])
@pytest.mark.parametrize("name", ["alfa", "alfa_tilt", "lfa", "topk_sv"])
def test_attack_beats_random_flips(name, budget):
    if name == "topk_sv" and budget == 0.10:
        # Not asserted: at 10% the one-shot top-k attack flips the bound support vectors
        # (alpha = C), many of them already misclassified, so flipping them partly cleans
        # the data and it does no better than random flips (.954 vs .954 here, .964 vs .964
        # over 10 seeds on the full 500-point split). It is FLORAL's per-round attacker, not
        # a strong one-shot attack.
        pytest.skip("top-k SV flips are no stronger than random flips at 10% on Moon")
    attacked, random = mean_accuracy(name, budget), mean_accuracy("random", budget)
    assert attacked < random - MARGIN, (name, budget, attacked, random)


def test_random_flips_hurt_less_than_attacks_but_still_hurt():
    clean = np.mean([SVC(kernel="rbf", **SVM).fit(d.X_train[:N_TRAIN], d.y_train[:N_TRAIN])
                     .score(d.X_test, d.y_test) for d in map(moon_split, SEEDS)])
    assert mean_accuracy("random", 0.25) < clean - MARGIN


# --- the command line ------------------------------------------------------------------------

def floral_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "floral", "attack", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def test_cli_npz_round_trip(tmp_path):
    data = moon_split(0)
    np.savez(tmp_path / "train.npz", X=data.X_train, y=data.y_train)
    np.savez(tmp_path / "test.npz", X=data.X_test, y=data.y_test)
    res = floral_cli("train.npz", "--attack", "alfa-tilt", "--budget", "0.1", "--seed", 0,
                     "--C", 10, "--gamma", 1, "--test", "test.npz", "--out", "adv.npz",
                     cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "flipped 50 of 500 labels" in res.stdout
    assert "clean labels:" in res.stdout and "poisoned labels:" in res.stdout
    with np.load(tmp_path / "adv.npz") as out:
        np.testing.assert_array_equal(out["X"], data.X_train)
        expected = attacks.alfa_tilt(data.X_train, data.y_train, 0.1, random_state=0, **SVM)
        np.testing.assert_array_equal(out["y"], expected)
        assert out["y"].dtype == data.y_train.dtype


def test_cli_csv_keeps_the_file_and_changes_only_labels(tmp_path):
    X, y = make_moons(40, noise=0.2, random_state=0)
    lines = ["f1,label,f2"] + [f"{float(a)!r},{'cat' if t else 'dog'},{float(b)!r}"
                               for (a, b), t in zip(X, y)]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    res = floral_cli("train.csv", "--label", "label", "--attack", "random", "--budget", 6,
                     "--seed", 1, "--out", "adv.csv", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "flipped 6 of 40 labels" in res.stdout
    out = (tmp_path / "adv.csv").read_text().splitlines()
    assert out[0] == "f1,label,f2"
    changed = 0
    for before, after in zip(lines[1:], out[1:]):
        b, a = before.split(","), after.split(",")
        assert (b[0], b[2]) == (a[0], a[2]) and a[1] in ("cat", "dog")
        changed += b[1] != a[1]
    assert changed == 6


def test_cli_multiclass_file(tmp_path):
    X, y = make_blobs(60, centers=3, random_state=0)
    np.savez(tmp_path / "three.npz", X=X, y=y)
    res = floral_cli("three.npz", "--attack", "topk_sv", "--budget", 9, "--C", 10,
                     "--out", "adv.npz", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "flipped 9 of 60 labels" in res.stdout
    with np.load(tmp_path / "adv.npz") as out:
        np.testing.assert_array_equal(out["y"], attacks.topk_sv_flip(X, y, 9, C=10))
    res = floral_cli("three.npz", "--attack", "alfa", "--budget", 9, cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "floral: error: argument --attack: alfa is defined for two classes only and " \
           "three.npz has 3; the attacks random, topk_sv take more" in res.stderr


def test_the_readme_gives_each_attack_its_real_signature():
    import inspect
    import pathlib
    import re

    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    section = readme[readme.index("## Label-flip attacks"):]
    rows = re.findall(r"^\| `(\w+)` \| `([^`]+)` \|", section, flags=re.M)
    assert [name for name, _ in rows] == list(attacks.available())
    for name, cell in rows:
        function = cell.split("(")[0]
        params = list(inspect.signature(getattr(attacks, function)).parameters)
        # a cell with arguments spells them out; a bare name is attack(X, y, budget, ...)
        stated = cell[cell.index("(") + 1:-1].split(", ") if "(" in cell else \
            ["X", "y", "budget"]
        assert params[:len(stated)] == stated, (name, params)
        # looked up by name, every attack takes (X, y, budget)
        assert list(inspect.signature(attacks.get(name)).parameters)[:3] == \
            ["X", "y", "budget"]
    assert "random_flip(y, budget, *, random_state=None)" in section


_BADLY_SCALED_ALFA = """
import warnings
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from floral.attacks import alfa
X = np.array([[974.0], [-389.0], [83.0], [-1069.0], [-2015.0], [957.0], [1148.0], [-1455.0]])
y = np.array([-1, 1, 1, 1, 1, -1, 1, -1])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    y_bad = alfa(X, y, 1, C=10.0, kernel="poly", gamma=10.0, degree=1, coef0=-1.0,
                 max_iter=2, random_state=59)
print(int((y_bad != y).sum()), sum(issubclass(w.category, ConvergenceWarning) for w in caught))
"""


def test_attack_svms_stop_at_an_iteration_cap(tmp_path):
    # found by tools/fuzz.py: ALFA's SVMs on a badly scaled kernel ran for minutes at n = 8
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _BADLY_SCALED_ALFA], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)  # not the checkout
    assert proc.returncode == 0, proc.stderr
    flipped, warned = map(int, proc.stdout.split())
    assert flipped == 1 and warned >= 1
