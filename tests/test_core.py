"""The compiled core against the dense NumPy/SciPy oracles in tests/oracles.py."""
import numpy as np
import pytest
from sklearn.datasets import make_moons

from floral import _core, _kernels
from floral._core import _testing
from oracles import (
    floral_game_reference,
    floral_reference,
    kernel_reference,
    partial_fisher_yates,
    project_reference,
    xoshiro256ss,
)

KERNELS = list(_kernels.KERNELS)


@pytest.fixture(scope="module")
def moons():
    X, y = make_moons(240, noise=0.25, random_state=3)
    return X, (2 * y - 1).astype(np.int8)


def gram32(X, kernel="rbf", gamma=1.0, degree=3, coef0=0.0):
    """The oracle Gram matrix rounded to the core's float32 storage."""
    return kernel_reference(X, X, kernel, gamma, degree, coef0).astype(np.float32).astype(float)


# --- kernels and the row cache --------------------------------------------------------

@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("d", [2, 64])  # scalar path and dgemm path
def test_kernel_rows_match_sklearn(kernel, d):
    rng = np.random.default_rng(d)
    X = rng.normal(size=(150, d)) / np.sqrt(d)
    gamma, coef0 = 0.7, 0.3
    expected = kernel_reference(X, X, kernel, gamma, 3, coef0)
    for cache_size in (64.0, 0.01):  # materialised, then LRU with a few rows
        rows = _testing.GramRows(X, kernel=kernel, gamma=gamma, coef0=coef0, cache_size=cache_size)
        assert rows.materialised == (cache_size == 64.0)
        got = rows.rows(np.arange(150))
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=2e-6)


def test_lru_cache_counts_and_never_recomputes_resident_rows():
    X = np.random.default_rng(0).normal(size=(112, 3))  # rows of 112 floats: 64-byte multiples
    budget_rows = 20  # 8 rows of dense-pass scratch and 2 of partial sums leave 10 cached
    rows = _testing.GramRows(X, cache_size=budget_rows * 112 * 4 / 2**20)
    assert not rows.materialised and rows.capacity == 10 and rows.wave_rows == 8
    rows.rows([1, 2, 3])
    assert rows.stats == {"hits": 0, "misses": 3, "rows_computed": 3}
    rows.rows([3, 2, 1, 1])  # resident: hits only, nothing computed
    assert rows.stats == {"hits": 7 - 3, "misses": 3, "rows_computed": 3}
    rows.rows(np.arange(10, 20))  # ten new rows evict the three
    assert rows.stats["rows_computed"] == 13
    rows.rows([1])
    assert rows.stats["misses"] == 14 and rows.stats["rows_computed"] == 14
    # a batch larger than the capacity is served in pieces and still correct
    np.testing.assert_allclose(rows.rows(np.arange(112)), gram32(X), atol=1e-7)


def test_materialised_gram_is_symmetric_and_counts_n_rows(moons):
    X, _ = moons
    rows = _testing.GramRows(X)
    K = rows.rows(np.arange(len(X)))
    assert rows.materialised and rows.stats["rows_computed"] == len(X)
    np.testing.assert_array_equal(K, K.T)
    np.testing.assert_array_equal(np.diag(K), 1.0)


@pytest.mark.parametrize("cache_size", [64.0, 0.02])
def test_matvec_and_column_update_match_dense(moons, cache_size):
    X, _ = moons
    rng = np.random.default_rng(1)
    rows = _testing.GramRows(X, cache_size=cache_size)
    K = gram32(X)
    c = rng.normal(size=len(X))
    np.testing.assert_allclose(rows.matvec(c), K @ c, rtol=1e-12, atol=1e-12)
    f = rng.normal(size=len(X))
    cols = rng.choice(len(X), 57, replace=False)
    delta = rng.normal(size=57)
    np.testing.assert_allclose(rows.add_columns(f, cols, delta), f + K[:, cols] @ delta,
                               rtol=1e-12, atol=1e-12)


# --- projection -----------------------------------------------------------------------

def check_projection(v, a, lower, upper):
    x, mu = _core.project(v, a, lower, upper)
    lo = np.broadcast_to(lower, x.shape)
    up = np.broadcast_to(upper, x.shape)
    assert np.all(x >= lo) and np.all(x <= up)
    assert abs(a @ x) <= 1e-9 * (1 + np.abs(x).sum())
    # KKT: x is the clip of v - mu a for the returned multiplier
    np.testing.assert_allclose(x, np.clip(v - mu * a, lo, up), atol=1e-12)
    np.testing.assert_allclose(x, project_reference(v, a, lower, upper), atol=1e-9)
    return x


@pytest.mark.parametrize("n", [1, 2, 7, 100, 2000])
def test_projection_random_instances(n):
    rng = np.random.default_rng(n)
    for _ in range(5):
        v = rng.normal(size=n) * rng.uniform(0.1, 10)
        a = rng.choice([-1, 1], n).astype(float)
        upper = rng.uniform(0, 3, n)
        lower = -rng.uniform(0, 1, n) * rng.integers(0, 2)
        check_projection(v, a, lower, upper)


def test_projection_degenerate_instances():
    rng = np.random.default_rng(7)
    n = 50
    v = rng.normal(size=n)
    # all a of one sign with lower = 0: the only feasible point is 0
    x = check_projection(v, np.ones(n), 0.0, 1.0)
    np.testing.assert_array_equal(x, 0.0)
    x = check_projection(v, -np.ones(n), 0.0, 1.0)
    np.testing.assert_array_equal(x, 0.0)
    # zero-width boxes pin coordinates
    upper = rng.uniform(0, 1, n)
    upper[::3] = 0.0
    x = check_projection(v, rng.choice([-1.0, 1.0], n), 0.0, upper)
    assert np.all(x[::3] == 0.0)
    # ties: many equal values and equal bounds
    check_projection(np.repeat([0.3, -0.2, 5.0], 20), np.tile([1.0, -1.0], 30), 0.0, 1.0)
    # already feasible points are fixed points
    a = np.tile([1.0, -1.0], 10)
    v = np.repeat(rng.uniform(0, 1, 10), 2)
    np.testing.assert_allclose(check_projection(v, a, 0.0, 1.0), v, atol=1e-15)
    # n = 1
    assert check_projection(np.array([3.0]), np.array([1.0]), 0.0, 2.0)[0] == 0.0


def test_projection_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        _core.project(np.ones(3), np.ones(3), 1.0, 2.0)  # a^T x >= 3 > 0 always
    with pytest.raises(ValueError, match="-1 and \\+1"):
        _core.project(np.ones(3), [1, 0, -1], 0.0, 1.0)
    with pytest.raises(ValueError, match="shape"):
        _core.project(np.ones(3), [1, -1], 0.0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        _core.project([np.nan, 1.0], [1, -1], 0.0, 1.0)
    with pytest.raises(ValueError, match="lower"):
        _core.project([1.0, 1.0], [1, -1], 2.0, 1.0)


# --- top-k and the RNG ----------------------------------------------------------------

def test_topk_matches_stable_argsort():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 20, size=500).astype(float)  # many ties
    for k in (0, 1, 7, 100, 500, 600):
        for threshold in (-np.inf, 5.0, 30.0):
            idx = np.flatnonzero(values > threshold)
            expected = idx[np.lexsort((idx, -values[idx]))][:k]
            np.testing.assert_array_equal(_core.topk(values, k, threshold), expected)


@pytest.mark.parametrize("seed", [0, 1, 2**63 + 5])
def test_rng_is_the_specified_generator(seed):
    assert _testing.rng_uint64(seed, 20).tolist() == xoshiro256ss(seed, 20)


@pytest.mark.parametrize("size, k, seed", [(30, 10, 0), (30, 30, 1), (7, 3, 2**63 + 5),
                                           (12, 0, 3), (1, 1, 4)])
def test_sample_among_is_the_specified_draw(size, k, seed):
    candidates = np.arange(100, 100 + size)[::-1]
    expected = partial_fisher_yates(candidates.tolist(), k, seed)
    assert _core.sample_among(candidates, k, seed).tolist() == expected


def test_sample_among_draws_what_the_loops_attacker_draws(moons):
    X, y = moons
    n, k, factor, seed = len(y), 10, 3.0, 17
    kw = dict(learning_rate=0.01, flip_budget=k, candidate_factor=factor, seed=seed)
    # the attacker moves after round 1 on round 1's duals; round 2 trains on its labels
    lam1 = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), n_rounds=1, **kw,
                            diagnostics=True).diagnostics.lam
    two = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), n_rounds=2, **kw)
    candidates = _core.topk(lam1, int(np.ceil(factor * k)), 1e-5)
    assert candidates.size > k  # a real draw, not the whole pool
    picked = _core.sample_among(candidates, k, seed)
    np.testing.assert_array_equal(np.sort(picked), np.flatnonzero(two.labels != (y > 0)))


def test_sample_among_rejects_k_beyond_the_candidates():
    with pytest.raises(ValueError, match="k must be in"):
        _core.sample_among([1, 2, 3], 4, 0)


# --- the round loop -------------------------------------------------------------------

@pytest.mark.parametrize("n_rounds", [1, 50])
@pytest.mark.parametrize("learning_rate", [1e-3, 0.05])
@pytest.mark.parametrize("flip_budget", [0, 12])
def test_loop_matches_numpy_reference(moons, n_rounds, learning_rate, flip_budget):
    X, y = moons
    n = len(y)
    C = np.full(n, 10.0)
    C[::7] = 2.0  # per-sample bounds, as sample_weight gives
    lam_ref, yt_ref, b_ref, obj_ref = floral_reference(
        gram32(X), y, C, np.zeros(n), n_rounds=n_rounds, learning_rate=learning_rate,
        lr_decay=0.5, lr_decay_every=20, flip_budget=flip_budget)
    res = _core.floral_fit(X, y, C, np.zeros(n), gamma=1.0, n_rounds=n_rounds,
                           learning_rate=learning_rate, lr_decay=0.5, lr_decay_every=20,
                           flip_budget=flip_budget, candidate_factor=1.0, diagnostics=True)
    np.testing.assert_allclose(res.diagnostics.lam, lam_ref, atol=1e-6)
    np.testing.assert_array_equal(res.diagnostics.yt, yt_ref)
    assert res.b == pytest.approx(b_ref, abs=1e-6)
    np.testing.assert_allclose(res.history.objective, obj_ref, rtol=1e-8, atol=1e-8)
    eta = learning_rate * 0.5 ** (np.arange(1, n_rounds + 1) // 20)
    np.testing.assert_allclose(res.history.eta, eta, rtol=1e-15)
    assert res.rounds_run == n_rounds
    assert int(np.sum(res.diagnostics.yt != y)) == (flip_budget if n_rounds > 1 else 0)


def test_loop_from_given_lambda_matches_reference(moons):
    X, y = moons
    n = len(y)
    C = np.full(n, 1.0)
    lam0 = project_reference(np.random.default_rng(0).uniform(0, 1, n), y, 0.0, C)
    lam_ref, *_ = floral_reference(gram32(X), y, C, lam0, n_rounds=30, learning_rate=0.01,
                                   flip_budget=5)
    res = _core.floral_fit(X, y, C, lam0, n_rounds=30, learning_rate=0.01, flip_budget=5,
                           candidate_factor=1.0, diagnostics=True)
    np.testing.assert_allclose(res.diagnostics.lam, lam_ref, atol=1e-6)


@pytest.mark.parametrize("learning_rate", [1e-4, 0.05])  # dense and sparse regimes
def test_incremental_f_tracks_dense_product(moons, learning_rate):
    X, y = moons
    n = len(y)
    res = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), n_rounds=200,
                           learning_rate=learning_rate, flip_budget=20, refresh=0,
                           dense_fraction=2.0,  # never dense: all drift from updates
                           diagnostics=True)
    d = res.diagnostics
    dense = gram32(X) @ (d.yt * d.lam)
    np.testing.assert_allclose(d.f, dense, rtol=1e-6, atol=1e-6 * np.abs(dense).max())


def test_lru_budget_gives_same_lambda_as_materialised(moons):
    X, y = moons
    n = len(y)
    kw = dict(n_rounds=60, learning_rate=0.02, flip_budget=10, candidate_factor=2.0, seed=4)
    full = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), **kw, diagnostics=True)
    lru = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), cache_size=0.05, **kw,
                           diagnostics=True)
    assert full.cache["materialised"] and not lru.cache["materialised"]
    assert lru.cache["capacity"] < n
    np.testing.assert_allclose(lru.diagnostics.lam, full.diagnostics.lam, atol=1e-10)
    np.testing.assert_array_equal(lru.diagnostics.yt, full.diagnostics.yt)


@pytest.mark.parametrize("d", [2, 40])
def test_one_and_two_threads_bitwise_identical(d):
    rng = np.random.default_rng(d)
    # large enough that every parallel region really runs on two threads
    # (PARALLEL_MIN_WORK in common.hpp), in the dense and the sparse updates
    X = rng.normal(size=(1500, d))
    y = np.where(X[:, 0] + 0.3 * rng.normal(size=1500) > 0, 1, -1).astype(np.int8)
    n = len(y)
    kw = dict(gamma=1.0 / d, n_rounds=40, learning_rate=0.01, flip_budget=300, seed=9)
    one = _core.floral_fit(X, y, np.full(n, 5.0), np.zeros(n), n_jobs=1, **kw, diagnostics=True)
    two = _core.floral_fit(X, y, np.full(n, 5.0), np.zeros(n), n_jobs=2, **kw, diagnostics=True)
    assert one.diagnostics.lam.tobytes() == two.diagnostics.lam.tobytes()
    assert one.diagnostics.f.tobytes() == two.diagnostics.f.tobytes()
    assert one.history.objective.tobytes() == two.history.objective.tobytes()
    rows1 = _testing.GramRows(X, gamma=1.0 / d, n_jobs=1).rows(np.arange(n))
    rows2 = _testing.GramRows(X, gamma=1.0 / d, n_jobs=2).rows(np.arange(n))
    assert rows1.tobytes() == rows2.tobytes()


def test_randomised_attacker_is_seeded(moons):
    X, y = moons
    n = len(y)
    kw = dict(n_rounds=20, learning_rate=0.01, flip_budget=10, candidate_factor=3.0)
    a = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), seed=1, **kw, diagnostics=True)
    b = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), seed=1, **kw, diagnostics=True)
    c = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), seed=2, **kw, diagnostics=True)
    np.testing.assert_array_equal(a.diagnostics.yt, b.diagnostics.yt)
    assert not np.array_equal(a.diagnostics.yt, c.diagnostics.yt)
    assert int(np.sum(a.diagnostics.yt != y)) == 10


def test_callback_stop_and_exception(moons):
    X, y = moons
    n = len(y)
    seen = []

    def stop_at_5(reason, rnd, objective, accuracy):
        seen.append((reason, rnd, objective))
        return _core.STOP if rnd >= 5 else 0

    # the first heartbeat comes after 0.2 s, well past round 5: the loop stops there
    res = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), n_rounds=10**6,
                           learning_rate=0.01, flip_budget=5, callback=stop_at_5, diagnostics=True)
    assert res.diagnostics.stopped and res.rounds_run >= 5
    assert all(reason == _core.HEARTBEAT for reason, *_ in seen)
    assert seen[-1][1] == res.rounds_run
    assert seen[-1][2] == res.history.objective[-1]
    assert len(res.history.objective) == res.rounds_run
    # the last round always reports, so a short run is seen once, at its end
    seen.clear()
    res = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), n_rounds=7, callback=stop_at_5,
                           diagnostics=True)
    assert [rnd for _, rnd, _ in seen] == [7] and not res.diagnostics.stopped

    def boom(reason, rnd, *state):
        raise RuntimeError("from the callback")

    res = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), n_rounds=50, callback=boom)
    assert isinstance(res.exception, RuntimeError) and res.rounds_run == 50


# --- validation points, selection, several classes ---------------------------------------

@pytest.fixture(scope="module")
def blobs3():
    from sklearn.datasets import make_blobs

    X, y = make_blobs(260, centers=3, cluster_std=2.2, random_state=4)
    return X[:180], y[:180].astype(np.int32), X[180:], y[180:].astype(np.int32)


def _rerun_round(fit, t, **kw):
    """The state after round t, from a run of exactly t rounds (same seed, same flips)."""
    return fit(n_rounds=t, **kw)


@pytest.mark.parametrize("stored", [True, False])  # n x m matrix kept / rows on the fly
def test_validation_values_and_accuracy_follow_each_round(moons, stored):
    X, y = moons
    Xv, yv = X[::3] + 0.05, y[::3]
    n = len(y)
    kw = dict(gamma=1.0, learning_rate=0.02, flip_budget=12, candidate_factor=1.0,
              X_eval=Xv, y_eval=yv, eval_cache_size=64.0 if stored else 1e-6, refresh=0)
    res = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), n_rounds=40, **kw, diagnostics=True)
    assert res.cache["eval_stored"] is stored
    Kv = kernel_reference(Xv, X, "rbf", 1.0).astype(np.float32).astype(float)
    # the validation values are summed eight rows at a time in float (evaluation.hpp), and
    # 40 rounds of updates without a refresh accumulate that rounding
    expected = Kv @ res.coef
    np.testing.assert_allclose(res.diagnostics.f_eval[0], expected, rtol=1e-5,
                               atol=1e-5 * np.abs(expected).max())
    ref = floral_game_reference(gram32(X), (y > 0).astype(int), np.full(n, 10.0), n_classes=2,
                                n_rounds=40, learning_rate=0.02, flip_budget=12, K_eval=Kv,
                                y_eval=(yv > 0).astype(int))
    np.testing.assert_allclose(res.history.accuracy, [r["accuracy"] for r in ref])


def test_best_rounds_are_the_most_accurate_and_exact(moons):
    X, y = moons
    Xv, yv = X[1::4] + 0.1, y[1::4]
    n = len(y)

    def fit(**kw):
        return _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), gamma=1.0,
                                learning_rate=0.03, flip_budget=15, seed=3, X_eval=Xv,
                                y_eval=yv, n_best=4, eval_every=2, **kw)

    res = fit(n_rounds=60)
    acc = res.history.accuracy
    evaluated = np.flatnonzero(~np.isnan(acc))
    np.testing.assert_array_equal(evaluated + 1, np.arange(2, 61, 2))
    # the four best by accuracy, the earliest among equals
    order = evaluated[np.lexsort((evaluated, -acc[evaluated]))][:4] + 1
    assert [r.round for r in res.best] == order.tolist()
    for r in res.best:
        assert r.score == acc[r.round - 1]
        again = _rerun_round(fit, r.round)
        assert r.coef.tobytes() == again.coef.tobytes()
        assert r.b[0] == again.b
        np.testing.assert_array_equal(r.labels, again.labels)


def test_average_is_the_mean_of_the_tail_rounds(moons):
    X, y = moons
    n = len(y)

    def fit(**kw):
        return _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), gamma=1.0,
                                learning_rate=0.03, flip_budget=15, seed=5, **kw)

    res = fit(n_rounds=12, average_from=8)
    tail = [_rerun_round(fit, t) for t in range(8, 13)]
    avg = res.average
    assert avg.n == 5
    np.testing.assert_allclose(avg.coef, np.mean([r.coef for r in tail], axis=0),
                               rtol=1e-13, atol=1e-15)
    assert avg.b[0] == pytest.approx(np.mean([r.b for r in tail]), rel=1e-13)
    flips = np.sum([r.labels != (y > 0) for r in tail], axis=0)
    np.testing.assert_array_equal(avg.flip_count, flips)
    # the last round is the run's own end state
    assert res.coef.tobytes() == tail[-1].coef.tobytes()
    assert fit(n_rounds=12, average_from=13).average is None


@pytest.mark.parametrize("cap", [None, (3, 9, 9)])
def test_one_vs_rest_game_matches_numpy_reference(blobs3, cap):
    X, y, Xv, yv = blobs3
    n = len(y)
    C = np.full(n, 5.0)
    Kv = kernel_reference(Xv, X, "rbf", 0.1).astype(np.float32).astype(float)
    # a generic start: from lam = 0 the first step moves every lam by the same amount, and
    # the attacker's order among equal weights would hang on the last bit of each sum
    rng = np.random.default_rng(0)
    lam0 = np.array([project_reference(rng.uniform(0, 2, n), np.where(y == p, 1, -1), 0.0, C)
                     for p in range(3)])
    ref = floral_game_reference(gram32(X, gamma=0.1), y, C, n_classes=3, n_rounds=25,
                                learning_rate=0.05, flip_budget=9, class_cap=cap, K_eval=Kv,
                                y_eval=yv, lam0=lam0)
    res = _core.floral_fit(X, y, C, lam0, n_classes=3, gamma=0.1, n_rounds=25,
                           learning_rate=0.05, flip_budget=9, candidate_factor=1.0,
                           class_cap=cap, X_eval=Xv, y_eval=yv)
    np.testing.assert_allclose(res.coef, ref[-1]["coef"], atol=1e-6)
    np.testing.assert_allclose(res.b, ref[-1]["b"], atol=1e-6)
    np.testing.assert_array_equal(res.labels, ref[-1]["labels"])
    np.testing.assert_allclose(res.history.accuracy, [r["accuracy"] for r in ref])
    relabelled = res.labels != y
    assert relabelled.sum() == (9 if cap is None else min(9, sum(cap)))
    if cap is not None:
        assert np.all(np.bincount(y[relabelled], minlength=3) <= cap)


def test_binary_game_with_class_caps_matches_reference(moons):
    X, y = moons
    n = len(y)
    cls = (y > 0).astype(int)
    cap = (2, 8)  # the negative class may lose 2 points a round, the positive 8
    res = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), gamma=1.0, n_rounds=30,
                           learning_rate=0.02, flip_budget=10, candidate_factor=1.0,
                           class_cap=cap, diagnostics=True)
    ref = floral_game_reference(gram32(X), cls, np.full(n, 10.0), n_classes=2, n_rounds=30,
                                learning_rate=0.02, flip_budget=10, class_cap=cap)
    assert res.coef.shape == (n,)
    np.testing.assert_allclose(res.coef, ref[-1]["coef"][0], atol=1e-6)
    assert res.b == pytest.approx(ref[-1]["b"][0], abs=1e-6)
    np.testing.assert_array_equal(res.labels, ref[-1]["labels"])
    np.testing.assert_array_equal(res.diagnostics.yt, 2 * ref[-1]["labels"] - 1)
    # the cap binds: of the top ten, the negatives past the second are skipped, and the
    # attacker does not reach beyond its candidates to fill the budget
    lost = np.bincount(cls[res.labels != cls], minlength=2)
    assert lost[0] == 2 and lost[1] <= 8 and lost.sum() < 10
    # without caps the game reference is the binary reference
    lam_ref, yt_ref, *_ = floral_reference(gram32(X), y, np.full(n, 10.0), np.zeros(n),
                                           n_rounds=30, learning_rate=0.02, flip_budget=10)
    game = floral_game_reference(gram32(X), cls, np.full(n, 10.0), n_classes=2, n_rounds=30,
                                 learning_rate=0.02, flip_budget=10)
    np.testing.assert_allclose(game[-1]["coef"][0], yt_ref * lam_ref, atol=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_class_caps_always_hold(seed):
    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(2, 6))
    sizes = rng.integers(3, 60, size=n_classes)
    y = np.repeat(np.arange(n_classes), sizes).astype(np.int32)
    X = rng.normal(size=(y.size, 2)) + y[:, None] * 0.7
    cap = rng.integers(0, 8, size=n_classes)
    k = int(rng.integers(1, max(2, y.size // 3)))
    lab = y if n_classes > 2 else (2 * y - 1).astype(np.int8)
    lam0 = np.zeros(y.size) if n_classes == 2 else np.zeros((n_classes, y.size))
    res = _core.floral_fit(X, lab, np.full(y.size, 2.0), lam0, n_classes=n_classes,
                           gamma=0.5, n_rounds=15, learning_rate=0.05, flip_budget=k,
                           candidate_factor=float(rng.uniform(1, 4)), class_cap=cap,
                           seed=seed, average_from=1)
    lost = [np.bincount(y[res.labels != y], minlength=n_classes)]
    # every averaged round's flips are counted; no class ever lost more than its cap
    assert res.average.flip_count.max() <= 15
    assert np.all(lost[0] <= cap) and lost[0].sum() <= k
    if n_classes > 2:
        assert np.all(res.labels[res.labels != y] != y[res.labels != y])


def test_lambda_max_matches_eigsh(moons):
    from scipy.sparse.linalg import eigsh

    X, _ = moons
    for kernel, gamma in [("rbf", 1.0), ("rbf", 20.0), ("linear", 1.0), ("poly", 0.5)]:
        K = gram32(X, kernel=kernel, gamma=gamma, coef0=1.0)
        expected = eigsh(K, k=1, which="LA")[0][0]
        got, iters = _testing.kernel_lambda_max(X, kernel=kernel, gamma=gamma, coef0=1.0)
        assert got == pytest.approx(expected, rel=1e-3), kernel
        assert 1 < iters < 200
    res = _core.floral_fit(X, np.where(X[:, 0] > 0, 1, -1), np.ones(len(X)),
                           np.zeros(len(X)), n_rounds=1, learning_rate=None, step_scale=0.5)
    lmax = eigsh(gram32(X), k=1, which="LA")[0][0]
    assert res.lambda_max == pytest.approx(lmax, rel=1e-3)
    assert res.learning_rate == pytest.approx(0.5 / lmax, rel=1e-3)


def test_too_large_step_raises_the_objective_within_rounds(moons):
    X, y = moons
    n = len(y)
    lmax, _ = _testing.kernel_lambda_max(X)
    # no attacker, so every rise is the step's: none below 2 / lambda_max
    stable = _core.floral_fit(X, y, np.full(n, 1e3), np.zeros(n), n_rounds=200,
                              learning_rate=1.9 / lmax)
    assert stable.history.ascent.sum() == 0
    wild = _core.floral_fit(X, y, np.full(n, 1e3), np.zeros(n), n_rounds=200,
                            learning_rate=20.0 / lmax)
    assert wild.history.ascent.sum() > 100


def test_decision_function_matches_dense(moons):
    X, y = moons
    rng = np.random.default_rng(0)
    Xt = rng.normal(size=(333, 2))
    for kernel in KERNELS:
        coef = rng.normal(size=len(X))
        got = _core.decision_function(Xt, X, coef, 0.25, kernel=kernel, gamma=0.5, coef0=0.1)
        expected = kernel_reference(Xt, X, kernel, 0.5, 3, 0.1) @ coef + 0.25
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    Xw, Sw = rng.normal(size=(130, 50)), rng.normal(size=(70, 50))
    coef = rng.normal(size=70)
    np.testing.assert_allclose(_core.decision_function(Xw, Sw, coef, 0.0, gamma=0.02),
                               kernel_reference(Xw, Sw, "rbf", 0.02) @ coef, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(_core.decision_function(Xt, X[:0], [], -1.5), -1.5)


# Only what would be undefined behaviour in C++ (sizes, divisors, the candidate count, an
# unknown kernel); the ranges of step sizes, gamma, tolerances and n_jobs are the Python
# layer's to check (tests/test_bad_input.py).
@pytest.mark.parametrize("kwargs, match", [
    (dict(n_rounds=0), "n_rounds"),
    (dict(lr_decay_every=0), "lr_decay_every"),
    (dict(flip_budget=10_000), "flip_budget"),
    (dict(candidate_factor=0.5), "candidate_factor"),
    (dict(candidate_factor=np.nan), "candidate_factor"),
    (dict(eval_every=0), "eval_every"),
    (dict(cache_size=0.0), "cache_size"),
    (dict(kernel="cosine"), "kernel"),
    (dict(n_best=3), "n_best"),
])
def test_loop_rejects_bad_parameters(moons, kwargs, match):
    X, y = moons
    n = len(y)
    with pytest.raises(ValueError, match=match):
        _core.floral_fit(X, y, np.full(n, 1.0), np.zeros(n), **kwargs)


def test_loop_rejects_bad_arrays(moons):
    X, y = moons
    n = len(y)
    C, lam0 = np.full(n, 1.0), np.zeros(n)
    with pytest.raises(ValueError, match="y must"):
        _core.floral_fit(X, y[:-1], C, lam0)
    with pytest.raises(ValueError, match="-1 and \\+1"):
        _core.floral_fit(X, (y > 0).astype(int), C, lam0)
    with pytest.raises(ValueError, match="X must be 2-D"):
        _core.floral_fit(X[:, 0], y, C, lam0)
    with pytest.raises(ValueError, match="NaN"):
        _core.floral_fit(np.where(np.eye(n, 2) > 0, np.nan, X), y, C, lam0)
    with pytest.raises(ValueError, match="lam0"):
        _core.floral_fit(X, y, C, np.full(n, 2.0))
    with pytest.raises(ValueError, match="C must"):
        _core.floral_fit(X, y, -C, lam0)


def test_read_only_inputs_are_accepted(moons):
    X, y = moons
    X, y = X.copy(), y.copy()
    X.flags.writeable = False
    y.flags.writeable = False
    res = _core.floral_fit(X, y, np.full(len(y), 1.0), np.zeros(len(y)), n_rounds=3)
    assert res.rounds_run == 3


def test_failed_allocation_is_memory_error():
    # n^2 float32 for n = 6e6 is 144 TB: beyond any address space, so the allocation
    # fails under every overcommit policy instead of being killed later.
    n = 6_000_000
    X = np.zeros((n, 1))
    with pytest.raises(MemoryError):
        _testing.GramRows(X, cache_size=2e8)


@pytest.mark.parametrize("n_floats", [1, 4095, 4096, 3 * 4096 + 7])
def test_bandwidth_probe_reads_every_float(n_floats):
    # the probe sums an all-ones array and raises if the sum is not n_floats, so block
    # tails and the multi-stream block body are both checked by calling it
    seconds = _testing.bandwidth_probe(n_floats, n_jobs=2, repeats=2)
    assert np.isfinite(seconds) and seconds > 0


def test_bandwidth_probe_rejects_bad_sizes():
    with pytest.raises(ValueError, match="n_floats"):
        _testing.bandwidth_probe(0)
    with pytest.raises(ValueError, match="repeats"):
        _testing.bandwidth_probe(10, repeats=0)


@pytest.mark.parametrize("cache_size", [0.05, 0.25])  # a row cache; the packed triangle
def test_kernel_rows_seconds_times_the_storage_that_fit_builds(cache_size):
    X = np.random.default_rng(0).normal(size=(300, 3))
    layout = _testing.GramRows(X, cache_size=cache_size).layout
    assert layout == ("rows" if cache_size < 0.1 else "packed")
    seconds = _core.kernel_rows_seconds(X, 40, cache_size=cache_size, gamma=0.5)
    assert np.isfinite(seconds) and seconds >= 0
    with pytest.raises(ValueError, match="n_rows"):
        _core.kernel_rows_seconds(X, 0)
    with pytest.raises(ValueError, match="n_rows"):
        _core.kernel_rows_seconds(X, 301)
    with pytest.raises(ValueError, match="cache_size"):
        _core.kernel_rows_seconds(X, 4, cache_size=0.0)
    with pytest.raises(ValueError, match="kernel"):
        _core.kernel_rows_seconds(X, 4, kernel="laplacian")


def test_a_huge_candidate_factor_keeps_the_attacker_on():
    # candidate_factor * k >= 2**63 was cast to int64 out of range: no candidates, the
    # attacker silently off. Clamped in double, it means "every point is a candidate".
    # (tools/sanitize.sh runs this file with -fsanitize=float-cast-overflow too.)
    X, y = make_moons(200, noise=0.2, random_state=0)
    y = np.where(y > 0, 1, -1)
    n = len(y)
    kw = dict(kernel="rbf", gamma=1.0, n_rounds=5, learning_rate=1e-3, flip_budget=10,
              seed=3)
    huge = _core.floral_fit(X, y, np.full(n, 1.0), np.zeros(n), candidate_factor=1e18, **kw)
    every = _core.floral_fit(X, y, np.full(n, 1.0), np.zeros(n), candidate_factor=n, **kw)
    assert np.count_nonzero(huge.labels != (y > 0)) == 10
    np.testing.assert_array_equal(huge.labels, every.labels)
    np.testing.assert_array_equal(huge.coef, every.coef)


# --- the weighted leader (unequal boxes: class_weight, sample_weight) -------------------

def _point_scale(C):
    return C / C.mean()


def _generic_start(y, C, seed=0):
    """A feasible start without ties: from lam = 0 the first step moves every point of a
    class by the same amount, and the attacker's order among equal duals would hang on
    the last bit of each sum (which differs between storages)."""
    rng = np.random.default_rng(seed)
    return project_reference(rng.uniform(0, 0.5, len(y)) * C, y, 0.0, C)


@pytest.mark.parametrize("flip_budget", [0, 12])
def test_weighted_loop_matches_numpy_reference(moons, flip_budget):
    """With scale d the leader steps lam - eta d (yt f - 1) and projects in the metric
    diag(1 / d): the reference with the same d, round for round; a point with C_i = 0
    stays at 0."""
    X, y = moons
    C = np.where(y > 0, 4.0, 1.0)  # class weights 4 : 1
    C[::11] = 0.0  # sample_weight 0
    d = _point_scale(C)
    lam0 = _generic_start(y, C)
    lam_ref, yt_ref, b_ref, obj_ref = floral_reference(
        gram32(X), y, C, lam0, n_rounds=40, learning_rate=0.02,
        flip_budget=flip_budget, scale=d)
    res = _core.floral_fit(X, y, C, lam0, gamma=1.0, n_rounds=40, learning_rate=0.02,
                           flip_budget=flip_budget, candidate_factor=1.0, scale=d,
                           diagnostics=True)
    np.testing.assert_allclose(res.diagnostics.lam, lam_ref, atol=1e-6)
    np.testing.assert_array_equal(res.diagnostics.yt, yt_ref)
    assert res.b == pytest.approx(b_ref, abs=1e-6)
    np.testing.assert_allclose(res.history.objective, obj_ref, rtol=1e-8, atol=1e-8)
    assert np.all(res.diagnostics.lam[C == 0] == 0)
    # the scale acts: the unweighted step from the same start is another path
    plain = _core.floral_fit(X, y, C, lam0, gamma=1.0, n_rounds=40,
                             learning_rate=0.02, flip_budget=flip_budget,
                             candidate_factor=1.0, diagnostics=True)
    assert np.abs(plain.diagnostics.lam - lam_ref).max() > 1e-3


def test_unit_scale_is_the_unweighted_loop_bit_for_bit(moons):
    X, y = moons
    n = len(y)
    C = np.full(n, 10.0)
    kw = dict(gamma=1.0, n_rounds=30, learning_rate=0.03, flip_budget=10, seed=2,
              diagnostics=True)
    a = _core.floral_fit(X, y, C, np.zeros(n), **kw)
    b = _core.floral_fit(X, y, C, np.zeros(n), scale=np.ones(n), **kw)
    assert a.coef.tobytes() == b.coef.tobytes() and a.b == b.b
    assert a.history.objective.tobytes() == b.history.objective.tobytes()


@pytest.mark.parametrize("layout", ["dense", "float32", "csr"])
def test_weighted_feature_path_matches_reference(moons, layout):
    """The linear kernel in feature space (dense float64/float32 and CSR rows) with a
    scale: the reference on K = X X^T, and the auto step is 0.5 / lambda_max(D^1/2 K D^1/2)."""
    import scipy.sparse as sp

    X, y = moons
    Xf = X.astype(np.float32) if layout == "float32" else X
    C = np.where(y > 0, 1.0, 3.0)
    d = _point_scale(C)
    K = Xf.astype(float) @ Xf.astype(float).T
    Xin = sp.csr_matrix(Xf) if layout == "csr" else Xf
    lam0 = _generic_start(y, C)
    res = _core.floral_fit(Xin, y, C, lam0, kernel="linear", n_rounds=25,
                           learning_rate=None, step_scale=0.5, flip_budget=8,
                           candidate_factor=1.0, storage="features", scale=d,
                           diagnostics=True)
    r = np.sqrt(d)
    lmax = np.linalg.eigvalsh(r[:, None] * K * r)[-1]
    assert res.lambda_max == pytest.approx(lmax, rel=1e-4)
    lam_ref, yt_ref, b_ref, _ = floral_reference(K, y, C, lam0, n_rounds=25,
                                                 learning_rate=res.learning_rate,
                                                 flip_budget=8, scale=d)
    np.testing.assert_allclose(res.diagnostics.lam, lam_ref, atol=1e-6)
    np.testing.assert_array_equal(res.diagnostics.yt, yt_ref)
    assert res.b == pytest.approx(b_ref, abs=1e-6)


def test_weighted_auto_step_on_the_gram_path(moons):
    from scipy.sparse.linalg import eigsh

    X, y = moons
    n = len(y)
    C = np.where(y > 0, 5.0, 1.0)
    d = _point_scale(C)
    res = _core.floral_fit(X, y, C, np.zeros(n), n_rounds=1, learning_rate=None,
                           step_scale=0.5, scale=d)
    r = np.sqrt(d)
    lmax = eigsh(r[:, None] * gram32(X) * r, k=1, which="LA")[0][0]
    assert res.lambda_max == pytest.approx(lmax, rel=1e-3)
    assert res.learning_rate == pytest.approx(0.5 / lmax, rel=1e-3)
    # differs from the unscaled estimate (a check that the scale reached the iteration)
    plain = _core.floral_fit(X, y, C, np.zeros(n), n_rounds=1, learning_rate=None,
                             step_scale=0.5)
    assert abs(plain.lambda_max - lmax) > 0.05 * lmax


def test_weighted_one_vs_rest_game_matches_numpy_reference(blobs3):
    X, y, Xv, yv = blobs3
    n = len(y)
    C = np.array([1.0, 2.0, 6.0])[y]  # per-class boxes
    d = _point_scale(C)
    Kv = kernel_reference(Xv, X, "rbf", 0.1).astype(np.float32).astype(float)
    rng = np.random.default_rng(0)
    lam0 = np.array([project_reference(rng.uniform(0, 1, n), np.where(y == p, 1, -1), 0.0, C)
                     for p in range(3)])
    ref = floral_game_reference(gram32(X, gamma=0.1), y, C, n_classes=3, n_rounds=25,
                                learning_rate=0.05, flip_budget=9, K_eval=Kv, y_eval=yv,
                                lam0=lam0, scale=d)
    res = _core.floral_fit(X, y, C, lam0, n_classes=3, gamma=0.1, n_rounds=25,
                           learning_rate=0.05, flip_budget=9, candidate_factor=1.0,
                           X_eval=Xv, y_eval=yv, scale=d)
    np.testing.assert_allclose(res.coef, ref[-1]["coef"], atol=1e-6)
    np.testing.assert_allclose(res.b, ref[-1]["b"], atol=1e-6)
    np.testing.assert_array_equal(res.labels, ref[-1]["labels"])


def test_floral_fit_rejects_a_bad_scale(moons):
    X, y = moons
    n = len(y)
    for bad, match in [(np.ones(n - 1), "shape"), (np.full(n, -1.0), "scale"),
                       (np.full(n, np.nan), "scale"), (np.zeros(n), "only where C is 0")]:
        with pytest.raises(ValueError, match=match):
            _core.floral_fit(X, y, np.ones(n), np.zeros(n), n_rounds=1, scale=bad)
