"""The compiled core against the dense NumPy/SciPy oracles in tests/oracles.py."""
import numpy as np
import pytest
from sklearn.datasets import make_moons

from floral import _core
from oracles import floral_reference, kernel_reference, project_reference

KERNELS = ["rbf", "linear", "poly", "sigmoid"]


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
        rows = _core.GramRows(X, kernel=kernel, gamma=gamma, coef0=coef0, cache_size=cache_size)
        assert rows.materialised == (cache_size == 64.0)
        got = rows.rows(np.arange(150))
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=2e-6)


def test_lru_cache_counts_and_never_recomputes_resident_rows():
    X = np.random.default_rng(0).normal(size=(112, 3))  # rows of 112 floats: 64-byte multiples
    budget_rows = 20  # 8 rows of dense-pass scratch and 2 of partial sums leave 10 cached
    rows = _core.GramRows(X, cache_size=budget_rows * 112 * 4 / 2**20)
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
    rows = _core.GramRows(X)
    K = rows.rows(np.arange(len(X)))
    assert rows.materialised and rows.stats["rows_computed"] == len(X)
    np.testing.assert_array_equal(K, K.T)
    np.testing.assert_array_equal(np.diag(K), 1.0)


@pytest.mark.parametrize("cache_size", [64.0, 0.02])
def test_matvec_and_column_update_match_dense(moons, cache_size):
    X, _ = moons
    rng = np.random.default_rng(1)
    rows = _core.GramRows(X, cache_size=cache_size)
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


def _xoshiro256ss(seed, size):
    """xoshiro256** seeded by SplitMix64 (Blackman & Vigna), in pure Python."""
    mask = (1 << 64) - 1
    state, x = [], seed
    for _ in range(4):
        x = (x + 0x9E3779B97F4A7C15) & mask
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        state.append(z ^ (z >> 31))

    def rotl(v, k):
        return ((v << k) | (v >> (64 - k))) & mask

    out = []
    s = state
    for _ in range(size):
        out.append((rotl((s[1] * 5) & mask, 7) * 9) & mask)
        t = (s[1] << 17) & mask
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2**63 + 5])
def test_rng_is_the_specified_generator(seed):
    assert _core.rng_uint64(seed, 20).tolist() == _xoshiro256ss(seed, 20)


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
                           flip_budget=flip_budget, candidate_factor=1.0)
    np.testing.assert_allclose(res["lam"], lam_ref, atol=1e-6)
    np.testing.assert_array_equal(res["yt"], yt_ref)
    assert res["b"] == pytest.approx(b_ref, abs=1e-6)
    np.testing.assert_allclose(res["history"]["objective"], obj_ref, rtol=1e-8, atol=1e-8)
    eta = learning_rate * 0.5 ** (np.arange(1, n_rounds + 1) // 20)
    np.testing.assert_allclose(res["history"]["eta"], eta, rtol=1e-15)
    assert res["rounds_run"] == n_rounds
    assert int(np.sum(res["yt"] != y)) == (flip_budget if n_rounds > 1 else 0)


def test_loop_from_given_lambda_matches_reference(moons):
    X, y = moons
    n = len(y)
    C = np.full(n, 1.0)
    lam0 = project_reference(np.random.default_rng(0).uniform(0, 1, n), y, 0.0, C)
    lam_ref, *_ = floral_reference(gram32(X), y, C, lam0, n_rounds=30, learning_rate=0.01,
                                   flip_budget=5)
    res = _core.floral_fit(X, y, C, lam0, n_rounds=30, learning_rate=0.01, flip_budget=5,
                           candidate_factor=1.0)
    np.testing.assert_allclose(res["lam"], lam_ref, atol=1e-6)


@pytest.mark.parametrize("learning_rate", [1e-4, 0.05])  # dense and sparse regimes
def test_incremental_f_tracks_dense_product(moons, learning_rate):
    X, y = moons
    n = len(y)
    res = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), n_rounds=200,
                           learning_rate=learning_rate, flip_budget=20, refresh=0,
                           dense_fraction=2.0)  # never dense: all drift from updates
    dense = gram32(X) @ (res["yt"] * res["lam"])
    np.testing.assert_allclose(res["f"], dense, rtol=1e-6, atol=1e-6 * np.abs(dense).max())


def test_lru_budget_gives_same_lambda_as_materialised(moons):
    X, y = moons
    n = len(y)
    kw = dict(n_rounds=60, learning_rate=0.02, flip_budget=10, candidate_factor=2.0, seed=4)
    full = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), **kw)
    lru = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), cache_size=0.05, **kw)
    assert full["cache"]["materialised"] and not lru["cache"]["materialised"]
    assert lru["cache"]["capacity"] < n
    np.testing.assert_allclose(lru["lam"], full["lam"], atol=1e-10)
    np.testing.assert_array_equal(lru["yt"], full["yt"])


@pytest.mark.parametrize("d", [2, 40])
def test_one_and_two_threads_bitwise_identical(d):
    rng = np.random.default_rng(d)
    # large enough that every parallel region really runs on two threads
    # (PARALLEL_MIN_WORK in common.hpp), in the dense and the sparse updates
    X = rng.normal(size=(1500, d))
    y = np.where(X[:, 0] + 0.3 * rng.normal(size=1500) > 0, 1, -1).astype(np.int8)
    n = len(y)
    kw = dict(gamma=1.0 / d, n_rounds=40, learning_rate=0.01, flip_budget=300, seed=9)
    one = _core.floral_fit(X, y, np.full(n, 5.0), np.zeros(n), n_jobs=1, **kw)
    two = _core.floral_fit(X, y, np.full(n, 5.0), np.zeros(n), n_jobs=2, **kw)
    assert one["lam"].tobytes() == two["lam"].tobytes()
    assert one["f"].tobytes() == two["f"].tobytes()
    assert one["history"]["objective"].tobytes() == two["history"]["objective"].tobytes()
    rows1 = _core.GramRows(X, gamma=1.0 / d, n_jobs=1).rows(np.arange(n))
    rows2 = _core.GramRows(X, gamma=1.0 / d, n_jobs=2).rows(np.arange(n))
    assert rows1.tobytes() == rows2.tobytes()


def test_randomised_attacker_is_seeded(moons):
    X, y = moons
    n = len(y)
    kw = dict(n_rounds=20, learning_rate=0.01, flip_budget=10, candidate_factor=3.0)
    a = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), seed=1, **kw)
    b = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), seed=1, **kw)
    c = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), seed=2, **kw)
    np.testing.assert_array_equal(a["yt"], b["yt"])
    assert not np.array_equal(a["yt"], c["yt"])
    assert int(np.sum(a["yt"] != y)) == 10


def test_callback_snapshot_stop_and_exception(moons):
    X, y = moons
    n = len(y)
    seen = []

    def keep_round_3_stop_at_5(reason, rnd, lam, yt, b, objective):
        if reason == _core.EVAL:
            seen.append((rnd, lam.copy(), yt.copy(), b))
        return (_core.SNAPSHOT if rnd == 3 else 0) | (_core.STOP if rnd == 5 else 0)

    res = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), n_rounds=50,
                           learning_rate=0.01, flip_budget=5, eval_every=1,
                           callback=keep_round_3_stop_at_5)
    assert res["stopped"] and res["rounds_run"] == 5 and len(seen) == 5
    snap = res["snapshot"]
    assert snap["round"] == 3
    np.testing.assert_array_equal(snap["lam"], seen[2][1])
    np.testing.assert_array_equal(snap["yt"], seen[2][2])
    np.testing.assert_array_equal(res["lam"], seen[4][1])
    assert len(res["history"]["objective"]) == 5

    def boom(reason, rnd, *state):
        if rnd == 2:
            raise RuntimeError("from the callback")
        return 0

    res = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), n_rounds=50, callback=boom)
    assert isinstance(res["exception"], RuntimeError) and res["rounds_run"] == 2


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


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_rounds=0), "n_rounds"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(lr_decay=1.5), "lr_decay"),
    (dict(lr_decay_every=0), "lr_decay_every"),
    (dict(flip_budget=10_000), "flip_budget"),
    (dict(candidate_factor=0.5), "candidate_factor"),
    (dict(refresh=-1), "refresh"),
    (dict(eval_every=0), "eval_every"),
    (dict(cache_size=0.0), "cache_size"),
    (dict(kernel="cosine"), "kernel"),
    (dict(gamma=-1.0), "gamma"),
    (dict(n_jobs=0), "n_jobs"),
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
    with pytest.raises(TypeError, match="n_jobs"):
        _core.floral_fit(X, y, C, lam0, n_jobs=1.5)


def test_read_only_inputs_are_accepted(moons):
    X, y = moons
    X, y = X.copy(), y.copy()
    X.flags.writeable = False
    y.flags.writeable = False
    res = _core.floral_fit(X, y, np.full(len(y), 1.0), np.zeros(len(y)), n_rounds=3)
    assert res["rounds_run"] == 3


def test_failed_allocation_is_memory_error():
    # n^2 float32 for n = 6e6 is 144 TB: beyond any address space, so the allocation
    # fails under every overcommit policy instead of being killed later.
    n = 6_000_000
    X = np.zeros((n, 1))
    with pytest.raises(MemoryError):
        _core.GramRows(X, cache_size=2e8)


@pytest.mark.parametrize("n_floats", [1, 4095, 4096, 3 * 4096 + 7])
def test_bandwidth_probe_reads_every_float(n_floats):
    # the probe sums an all-ones array and raises if the sum is not n_floats, so block
    # tails and the multi-stream block body are both checked by calling it
    seconds = _core.bandwidth_probe(n_floats, n_jobs=2, repeats=2)
    assert np.isfinite(seconds) and seconds > 0


def test_bandwidth_probe_rejects_bad_sizes():
    with pytest.raises(ValueError, match="n_floats"):
        _core.bandwidth_probe(0)
    with pytest.raises(ValueError, match="repeats"):
        _core.bandwidth_probe(10, repeats=0)
