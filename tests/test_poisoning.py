"""Tests for floral.experiments.poison_labels, the poisoning path of runner and benchmarks."""
import os

import numpy as np
import pytest

from floral import attacks
from floral.datasets import load_moons
from floral.experiments import poison_labels


@pytest.fixture(scope="module")
def moons():
    return load_moons(random_state=0)


def test_matches_the_attack_called_by_hand(moons):
    X, y = moons.X_train, moons.y_train
    expected = attacks.alfa_tilt(X, y, 0.1, C=10.0, gamma=1.0, random_state=3)
    got = poison_labels(X, y, "alfa_tilt", 0.1, random_state=3, C=10.0, gamma=1.0)
    np.testing.assert_array_equal(got, expected)
    # the SVM's parameters only reach the attacks that take them; the validation split
    # only those that take one
    y_random = poison_labels(X, y, "random", 25, random_state=1, C=10.0, gamma=1.0,
                             X_val=moons.X_val, y_val=moons.y_val)
    np.testing.assert_array_equal(y_random, attacks.get("random")(X, y, 25, random_state=1))
    y_topk = poison_labels(X, y, "topk_sv", 0.05, random_state=2, C=10.0, gamma=1.0,
                           attack_params={"candidate_factor": 2.0})
    np.testing.assert_array_equal(
        y_topk, attacks.topk_sv_flip(X, y, 0.05, C=10.0, gamma=1.0, candidate_factor=2.0,
                                     random_state=2))


def test_clean_setting_is_a_copy(moons):
    y = moons.y_train.copy()
    for attack, budget in (("none", 0.1), ("alfa_tilt", 0)):
        out = poison_labels(moons.X_train, y, attack, budget, random_state=0)
        np.testing.assert_array_equal(out, y)
        assert out is not y
        out[:] = out[::-1]
        np.testing.assert_array_equal(y, moons.y_train)


def test_cache_is_reused_and_keyed_by_data_and_parameters(moons, tmp_path, monkeypatch):
    X, y = moons.X_train, moons.y_train
    first = poison_labels(X, y, "random", 0.2, random_state=0, cache_dir=tmp_path)
    assert len(os.listdir(tmp_path)) == 1
    calls = []
    real = attacks.get

    def counting_get(name):
        fn = real(name)

        def counted(X, y, budget, *, random_state=None):
            calls.append(name)
            return fn(X, y, budget, random_state=random_state)
        return counted

    monkeypatch.setattr(attacks, "get", counting_get)
    again = poison_labels(X, y, "random", 0.2, random_state=0, cache_dir=tmp_path)
    np.testing.assert_array_equal(again, first)
    assert calls == []  # read from the file, the attack not run again
    # a changed seed, budget or training split is another file, not the stale labels
    other_seed = poison_labels(X, y, "random", 0.2, random_state=1, cache_dir=tmp_path)
    np.testing.assert_array_equal(other_seed, real("random")(X, y, 0.2, random_state=1))
    y2 = y.copy()
    a, b = np.unique(y)
    y2[:5] = np.where(y2[:5] == a, b, a)
    changed = poison_labels(X, y2, "random", 0.2, random_state=0, cache_dir=tmp_path)
    np.testing.assert_array_equal(changed, real("random")(X, y2, 0.2, random_state=0))
    assert len(os.listdir(tmp_path)) == 3
