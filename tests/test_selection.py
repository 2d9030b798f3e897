"""FloralSVC choosing its game on the trusted set (issue 19), the warnings that keep a
degenerate model from being returned silently, validation data through pipelines, and
floral.model_selection.trusted_split. Oracles: scikit-learn's SVC and metrics."""
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_breast_cancer, make_moons
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from floral import FloralSVC, _selection
from floral.exceptions import DegenerateModelWarning, IneffectiveParameterWarning
from floral.model_selection import trusted_split


@pytest.fixture(scope="module")
def moons():
    X, y = make_moons(240, noise=0.25, random_state=0)
    Xv, yv = make_moons(120, noise=0.25, random_state=1)
    return X, y, Xv, yv


def _scale(X):
    return 1.0 / (X.shape[1] * X.var())


def _no_floral_warnings():
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("error", DegenerateModelWarning)
    warnings.simplefilter("error", IneffectiveParameterWarning)
    return ctx


# --- the no-attacker candidate is the SVM optimum --------------------------------------

@pytest.mark.parametrize("weights", ["none", "class_weight", "sample_weight"])
def test_budget_zero_candidate_is_svc(moons, weights):
    X, y, Xv, yv = moons
    y = y.copy()
    y[:20] = 1 - y[:20]  # labels the SVM does not fit exactly: some duals at the box
    kw, fit_kw, svc_fit = {}, {}, {}
    if weights == "class_weight":
        kw["class_weight"] = {0: 1.0, 1: 3.0}
    if weights == "sample_weight":
        w = np.random.default_rng(0).uniform(0.2, 2.0, y.size)
        fit_kw["sample_weight"] = svc_fit["sample_weight"] = w
    clf = FloralSVC(C=3.0, gamma=1.5, flip_budget=0, init="svc",
                    n_rounds=_selection.ZERO_BUDGET_ROUNDS, random_state=0, **kw)
    clf.fit(X, y, X_val=Xv, y_val=yv, **fit_kw)
    svc = SVC(C=3.0, gamma=1.5, tol=1e-8, **kw).fit(X, y, **svc_fit)
    grid = np.random.default_rng(1).uniform(-1.5, 2.5, (300, 2))
    np.testing.assert_allclose(clf.decision_function(grid), svc.decision_function(grid),
                               atol=1e-3)


def test_search_with_only_budget_zero_returns_svc(moons, monkeypatch):
    # the candidate the search builds for budget 0 is SVC at the chosen width
    X, y, Xv, yv = moons
    monkeypatch.setattr(_selection, "BUDGETS", (0.0,))
    clf = FloralSVC(C=2.0, random_state=0).fit(X, y, X_val=Xv, y_val=yv)
    assert clf.flip_budget_ == 0
    svc = SVC(C=2.0, gamma=clf.gamma_, tol=1e-8).fit(X, y)
    np.testing.assert_allclose(clf.decision_function(Xv), svc.decision_function(Xv),
                               atol=1e-3)
    # the chosen width is the SVC width that scores best on the trusted set
    scores = [balanced_accuracy_score(yv, SVC(C=2.0, gamma=f * _scale(X)).fit(X, y)
                                      .predict(Xv)) for f in _selection.WIDTH_FACTORS]
    np.testing.assert_allclose(clf.search_results_["val_score"], scores)


# --- the search and its attributes -------------------------------------------------------

def test_search_results_and_chosen_values(moons):
    X, y, Xv, yv = moons
    clf = FloralSVC(C=10, random_state=0).fit(X, y, X_val=Xv, y_val=yv)
    res = clf.search_results_
    assert set(res) == {"flip_budget", "gamma", "gamma_factor", "C", "val_score",
                        "fit_time", "chosen"}
    assert np.all(res["C"] == 10) and clf.C_ == 10  # an explicit C is not searched
    n_w, n_b = len(_selection.WIDTH_FACTORS), len(_selection.BUDGETS)
    assert res["val_score"].size == n_w + n_b - 1
    # stage 1: the plain SVM at every width around "scale"
    np.testing.assert_allclose(res["gamma"][:n_w].astype(float),
                               np.array(_selection.WIDTH_FACTORS) * _scale(X))
    assert np.all(res["flip_budget"][:n_w] == 0)
    assert 0.0 in res["flip_budget"] and set(_selection.BUDGETS) <= set(res["flip_budget"])
    assert res["chosen"].sum() == 1
    win = np.flatnonzero(res["chosen"])[0]
    top = res["val_score"].max()
    plain = res["val_score"][res["flip_budget"] == 0].max()
    se = np.sqrt(top * (1 - top) / yv.size)
    if res["flip_budget"][win] == 0:
        # the plain SVM, unless a game beat it by more than one standard error
        assert res["val_score"][win] == plain >= top - se
    else:
        assert res["val_score"][win] == top > plain + se
    assert clf.flip_budget_ == res["flip_budget"][win]
    assert clf.gamma_ == res["gamma"][win] == clf._gamma
    # the returned model is the one scored
    assert balanced_accuracy_score(yv, clf.predict(Xv)) == pytest.approx(res["val_score"][win])
    # the parameters stay the user's
    assert clf.get_params()["flip_budget"] == "auto"
    assert clf.get_params()["gamma"] == "auto_scale"


def test_C_auto_is_chosen_with_the_width_by_the_plain_svm(moons, monkeypatch):
    # C="auto" (the default): the plain-SVM stage tries every (width, C) pair; each
    # candidate is SVC with those values, and the best pair on the trusted set is returned
    X, y, Xv, yv = moons
    y = y.copy()
    y[:60] = 1 - y[:60]  # label noise, so that C matters
    monkeypatch.setattr(_selection, "BUDGETS", (0.0,))
    clf = FloralSVC(random_state=0).fit(X, y, X_val=Xv, y_val=yv)
    res = clf.search_results_
    pairs = [(f, c) for f in _selection.WIDTH_FACTORS for c in _selection.C_GRID]
    np.testing.assert_allclose(res["gamma_factor"], [f for f, _ in pairs])
    np.testing.assert_array_equal(res["C"], [c for _, c in pairs])
    scores = [balanced_accuracy_score(yv, SVC(C=c, gamma=f * _scale(X)).fit(X, y).predict(Xv))
              for f, c in pairs]
    np.testing.assert_allclose(res["val_score"], scores, atol=0.011)
    win = np.flatnonzero(res["chosen"])[0]
    assert res["val_score"][win] == res["val_score"].max()
    assert clf.C_ == res["C"][win] and clf.get_params()["C"] == "auto"
    svc = SVC(C=clf.C_, gamma=clf.gamma_, tol=1e-8).fit(X, y)
    np.testing.assert_allclose(clf.decision_function(Xv), svc.decision_function(Xv),
                               atol=1e-3)


@pytest.fixture(scope="module")
def text():
    from sklearn.feature_extraction.text import TfidfTransformer

    from floral.attacks import random_flip
    from floral.datasets import make_text_corpus

    counts, y = make_text_corpus(700, 600, random_state=3)
    X = TfidfTransformer().fit(counts[:500]).transform(counts)
    return X[:500], random_flip(y[:500], 0.1, random_state=0), X[500:], y[500:]


def test_linear_plain_svm_is_svc_and_builds_the_kernel_matrix_once(text, monkeypatch):
    # the linear kernel's plain SVMs (libsvm's ranking at C = 1 and 10, the budget-0
    # candidate's start) run on X X^T, built once per search from the training rows
    X, y, Xv, yv = text
    builds = []
    kernel = _selection._linear_kernel
    monkeypatch.setattr(_selection, "_linear_kernel",
                        lambda A, B: builds.append(A is B) or kernel(A, B))
    monkeypatch.setattr(_selection, "BUDGETS", (0.0,))
    clf = FloralSVC(kernel="linear", random_state=0).fit(X, y, X_val=Xv, y_val=yv)
    assert builds.count(True) == 1  # X X^T; the others are X_val X^T, one per C ranked
    assert len(builds) == 1 + len(_selection.C_GRID) - 1
    # the returned plain SVM is libsvm's linear SVC on the rows, at the C chosen
    svc = SVC(kernel="linear", C=clf.C_, tol=1e-8).fit(X, y)
    np.testing.assert_allclose(clf.decision_function(Xv), svc.decision_function(Xv),
                               atol=1e-3)
    scores = [balanced_accuracy_score(yv, SVC(kernel="linear", C=c).fit(X, y).predict(Xv))
              for c in _selection.C_GRID]
    np.testing.assert_allclose(clf.search_results_["val_score"], scores, atol=0.011)


def test_linear_gram_held_by_the_search_is_not_counted_again(text, monkeypatch):
    # once built, X X^T takes up memory the check would see missing: only X_val X^T counts
    from floral import _memory

    X, _, Xv, _ = text
    est = FloralSVC(kernel="linear")
    n, m = X.shape[0], Xv.shape[0]
    with _selection.shared_linear_gram():
        kernel, K, _ = _selection.libsvm_input(est, X)
        assert kernel == "precomputed"
        monkeypatch.setattr(_memory, "auto_share", lambda: (
            _selection.GRAM_BYTES_PER_ENTRY * n * m, 1e9))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            again, K2, Kv = _selection.libsvm_input(est, X, Xv)
        assert again == "precomputed" and K2 is K and Kv.shape == (m, n)
    with pytest.warns(UserWarning, match="reads the rows"):  # nothing held: all counted
        assert _selection.libsvm_input(est, X, Xv)[0] == "linear"


@pytest.mark.parametrize("shape, density", [((40, 30), 0.9), ((200, 50), 0.05),
                                             ((30, 500), 0.3), ((60, 8), 0.0)])
def test_linear_kernel_matrix_is_the_dense_product(shape, density):
    # frequent columns (dense block, capped at B's rows), rare ones (sparse product), none
    import scipy.sparse as sparse

    rng = np.random.default_rng(0)
    A = sparse.random(*shape, density=density, format="csr", random_state=rng)
    B = sparse.random(25, shape[1], density=density, format="csr", random_state=rng)
    def dense(M):  # float32 entries are exact in float64
        return (M.toarray() if sparse.issparse(M) else M).astype(np.float64)

    for left, right in ((A, A), (B, A), (A.astype(np.float32), A), (A.toarray(), A.toarray())):
        ref = dense(left) @ dense(right).T
        got = _selection._linear_kernel(left, right)
        assert got.dtype == np.float64 and got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("form", ["sparse float64", "dense float32"])
def test_linear_plain_svm_without_room_for_the_matrix_reads_the_rows(text, form,
                                                                     monkeypatch):
    # the kernel matrix and libsvm's own linear kernel give the same plain SVM; float32
    # rows are multiplied in float64, as libsvm reads them
    X, y, Xv, yv = text
    if form == "dense float32":
        X, Xv = X.toarray().astype(np.float32), Xv.toarray().astype(np.float32)
    kw = dict(kernel="linear", C=3.0, flip_budget=0, init="svc", random_state=0,
              n_rounds=_selection.ZERO_BUDGET_ROUNDS)
    on_matrix = FloralSVC(**kw).fit(X, y, X_val=Xv, y_val=yv)
    monkeypatch.setattr(_selection, "GRAM_BYTES_PER_ENTRY", 1e30)
    est = FloralSVC(**kw)
    with pytest.warns(UserWarning, match=r"X X\^T for n=500 does not fit .* reads the rows"):
        assert _selection.libsvm_input(est, X)[0] == "linear"
    with pytest.warns(UserWarning, match="flip_budget=0.05, C=1.0") as record:
        on_rows = est.fit(X, y, X_val=Xv, y_val=yv)
    assert len([w for w in record if "X X^T" in str(w.message)]) == 1
    np.testing.assert_allclose(on_matrix.decision_function(Xv),
                               on_rows.decision_function(Xv), atol=1e-4)
    with pytest.warns(UserWarning, match="reads the rows") as record:  # once per search
        FloralSVC(kernel="linear", n_rounds=20, random_state=0).fit(X, y, X_val=Xv, y_val=yv)
    assert len([w for w in record if "X X^T" in str(w.message)]) == 1
    w = np.ones(y.size)
    with pytest.warns(UserWarning, match="reads the rows"):
        got = [_selection.plain_score(est, X, y, w, Xv, yv, None, 1.0, c) for c in (1.0, 10.0)]
    monkeypatch.undo()
    assert _selection.libsvm_input(est, X)[0] == "precomputed"
    assert got == [_selection.plain_score(est, X, y, w, Xv, yv, None, 1.0, c)
                   for c in (1.0, 10.0)]


@pytest.mark.parametrize("n_classes", [2, 3])
def test_libsvm_ranking_score_is_the_refined_candidates(n_classes):
    # the (width, C) pairs are ranked by libsvm's model; the candidate refined from it
    # (the core's budget-0 game) must predict the same points
    from sklearn.datasets import make_blobs

    X, y = make_blobs(360, centers=n_classes, cluster_std=2.5, random_state=1)
    X, Xv, y, yv = X[:240], X[240:], y[:240], y[240:]
    w = np.random.default_rng(0).uniform(0.5, 2.0, y.size)
    for C, cw in ((0.1, None), (10.0, "balanced")):
        est = FloralSVC(class_weight=cw, random_state=0)
        got = _selection.plain_score(est, X, y, w, Xv, yv, None, 3.0, C)
        ref = FloralSVC(C=C, gamma=3.0, class_weight=cw, flip_budget=0, init="svc",
                        n_rounds=_selection.ZERO_BUDGET_ROUNDS, random_state=0)
        ref.fit(X, y, sample_weight=w, X_val=Xv, y_val=yv)
        assert got == pytest.approx(balanced_accuracy_score(yv, ref.predict(Xv)), abs=0.01)


def test_C_auto_plays_the_chosen_C_in_the_games_and_1_without_a_search(moons):
    X, y, Xv, yv = moons
    clf = FloralSVC(gamma=1.0, n_rounds=50, random_state=0).fit(X, y, X_val=Xv, y_val=yv)
    res = clf.search_results_
    plain = res["flip_budget"] == 0
    np.testing.assert_array_equal(np.sort(res["C"][plain]), np.sort(_selection.C_GRID))
    best_plain = np.flatnonzero(plain)[np.argmax(res["val_score"][plain])]
    # the games are played at the C the plain SVM chose
    assert np.all(res["C"][~plain] == res["C"][best_plain])
    assert set(_selection.BUDGETS) <= set(res["flip_budget"])
    # no validation set, or an explicit game: nothing to choose C on, SVC's default
    assert FloralSVC(n_rounds=20, random_state=0).fit(X, y).C_ == _selection.DEFAULT_C
    game = FloralSVC(flip_budget=0.1, gamma=1.0, n_rounds=20, random_state=0)
    assert game.fit(X, y, X_val=Xv, y_val=yv).C_ == _selection.DEFAULT_C


def test_explicit_values_are_not_searched(moons):
    X, y, Xv, yv = moons
    both = FloralSVC(flip_budget=0.1, gamma=1.0, n_rounds=50, random_state=0)
    both.fit(X, y, X_val=Xv, y_val=yv)
    assert both.search_results_ is None
    assert (both.flip_budget_, both.gamma_) == (0.1, 1.0)
    width = FloralSVC(flip_budget=0.1, n_rounds=50, random_state=0).fit(X, y, X_val=Xv,
                                                                         y_val=yv)
    assert np.all(width.search_results_["flip_budget"] == 0.1)
    assert width.search_results_["val_score"].size == len(_selection.WIDTH_FACTORS)
    budget = FloralSVC(C=1.0, gamma=1.0, n_rounds=50, random_state=0).fit(X, y, X_val=Xv,
                                                                         y_val=yv)
    assert np.all(budget.search_results_["gamma"].astype(float) == 1.0)
    np.testing.assert_array_equal(np.sort(budget.search_results_["flip_budget"]),
                                  np.sort(_selection.BUDGETS))


def test_without_validation_set_nothing_is_searched(moons):
    X, y, _, _ = moons
    a = FloralSVC(n_rounds=60, random_state=0).fit(X, y)
    b = FloralSVC(n_rounds=60, flip_budget=_selection.DEFAULT_BUDGET, gamma="scale",
                  random_state=0).fit(X, y)
    assert a.search_results_ is None
    assert a.flip_budget_ == _selection.DEFAULT_BUDGET
    assert a.gamma_ == pytest.approx(_scale(X))
    assert a.decision_function(X).tobytes() == b.decision_function(X).tobytes()


def test_validation_arguments_are_keyword_only(moons):
    X, y, Xv, yv = moons
    with pytest.raises(TypeError):
        FloralSVC().fit(X, y, None, Xv, yv)


# --- sample_weight_val -------------------------------------------------------------------

def test_zero_validation_weight_is_dropping_the_point(moons):
    X, y, Xv, yv = moons
    w = np.ones(yv.size)
    w[::3] = 0.0
    kw = dict(C=10, gamma=1.0, n_rounds=80, random_state=0)
    a = FloralSVC(**kw).fit(X, y, X_val=Xv, y_val=yv, sample_weight_val=w)
    b = FloralSVC(**kw).fit(X, y, X_val=Xv[w > 0], y_val=yv[w > 0])
    np.testing.assert_array_equal(a.search_results_["val_score"],
                                  b.search_results_["val_score"])
    np.testing.assert_array_equal(a.kept_rounds_, b.kept_rounds_)
    np.testing.assert_array_equal(a.history_["val_balanced_accuracy"],
                                  b.history_["val_balanced_accuracy"])
    assert a.decision_function(X).tobytes() == b.decision_function(X).tobytes()


def test_validation_weights_change_the_ranking(moons):
    # doubling the weight of some points is what repeating them does
    X, y, Xv, yv = moons
    w = np.where(np.arange(yv.size) % 4 == 0, 2.0, 1.0)
    kw = dict(C=10, gamma=1.0, flip_budget=0.1, n_rounds=80, random_state=0)
    a = FloralSVC(**kw).fit(X, y, X_val=Xv, y_val=yv, sample_weight_val=w)
    rep = np.concatenate([np.arange(yv.size), np.flatnonzero(w == 2.0)])
    b = FloralSVC(**kw).fit(X, y, X_val=Xv[rep], y_val=yv[rep])
    np.testing.assert_allclose(a.history_["val_accuracy"], b.history_["val_accuracy"])
    np.testing.assert_array_equal(a.kept_rounds_, b.kept_rounds_)


def test_sample_weight_val_needs_a_validation_set(moons):
    X, y, _, yv = moons
    with pytest.raises(ValueError, match="sample_weight_val"):
        FloralSVC().fit(X, y, sample_weight_val=np.ones(yv.size))


# --- no degenerate model without a warning --------------------------------------------------

def test_budget_read_as_poisoning_rate_warns():
    # the report: a budget of 0.25 collapses the model, once silently
    X, y = make_moons(400, noise=0.2, random_state=0)
    y = np.where(np.random.default_rng(0).random(y.size) < 0.25, 1 - y, y)
    with pytest.warns(DegenerateModelWarning, match="attacker's strength per round"):
        FloralSVC(C=10, gamma=1.0, flip_budget=0.25, random_state=0).fit(X, y)


def test_single_class_on_training_points_warns(moons):
    X, y, _, _ = moons
    # a box so small that the intercept outweighs every kernel term
    clf = FloralSVC(C=0.001, gamma=1.0, flip_budget=0.05, n_rounds=60, random_state=0)
    with pytest.warns(DegenerateModelWarning, match="single class 1 for every"):
        clf.fit(X, y)
    assert np.unique(clf.predict(X)).size == 1


def test_no_better_than_constant_on_validation_warns(moons):
    X, y, Xv, yv = moons
    # validation labels the model gets wrong: it scores below a constant there
    with pytest.warns(DegenerateModelWarning, match="no better than a constant"):
        FloralSVC(C=10, gamma=1.0, flip_budget=0.05, n_rounds=50, random_state=0).fit(
            X, y, X_val=Xv, y_val=1 - yv)


def test_a_good_model_does_not_warn(moons):
    X, y, Xv, yv = moons
    ctx = _no_floral_warnings()
    try:
        FloralSVC(gamma=1.0, random_state=0).fit(X, y)
        FloralSVC(random_state=0).fit(X, y, X_val=Xv, y_val=yv)
    finally:
        ctx.__exit__(None, None, None)


def test_tiny_validation_set_warns_at_chance(moons):
    X, y, Xv, yv = moons
    idx = [np.flatnonzero(yv == 0)[0], np.flatnonzero(yv == 1)[0], 2]
    with pytest.warns(DegenerateModelWarning, match="too small to tell"):
        FloralSVC(gamma=1.0, flip_budget=0.05, n_rounds=40, random_state=0).fit(
            X, y, X_val=Xv[idx], y_val=yv[idx])


# --- C and the weights: their effect, or a warning ----------------------------------------

def test_unbinding_C_warns_and_binding_C_does_not(moons):
    X, y, _, _ = moons
    with pytest.warns(IneffectiveParameterWarning, match="C changed nothing"):
        big = FloralSVC(C=1000, gamma=1.0, n_rounds=60, random_state=0).fit(X, y)
    assert not np.any(big.history_["n_bound"])
    # the same run with C = 10000 is the same model: the warning told the truth
    bigger = FloralSVC(C=10000, gamma=1.0, n_rounds=60, random_state=0)
    with pytest.warns(IneffectiveParameterWarning):
        bigger.fit(X, y)
    assert big.decision_function(X).tobytes() == bigger.decision_function(X).tobytes()
    ctx = _no_floral_warnings()
    try:
        small = FloralSVC(C=0.1, gamma=1.0, n_rounds=60, random_state=0).fit(X, y)
    finally:
        ctx.__exit__(None, None, None)
    assert np.any(small.history_["n_bound"])


def test_unequal_weights_do_not_warn_and_C_still_does(moons):
    """class_weight and unequal sample_weight scale each point's step inside the game, so
    they act whether or not a box binds; C (and weights equal for every point) does not."""
    X, y, _, _ = moons
    kw = dict(gamma=1.0, n_rounds=60, random_state=0)
    w = np.where(y == 1, 3.0, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IneffectiveParameterWarning)
        clf = FloralSVC(class_weight={0: 1.0, 1: 3.0}, **kw).fit(X, y)
        FloralSVC(**kw).fit(X, y, sample_weight=w)
    assert not np.any(clf.history_["n_bound"])  # no box bound, and still no warning
    y_imb = y.copy()
    y_imb[:40] = 1
    with pytest.warns(IneffectiveParameterWarning, match="^C changed nothing"):
        FloralSVC(C=1000, class_weight="balanced", **kw).fit(X, y_imb)
    # "balanced" on equal class counts gives every point weight 1: it cannot act
    assert np.bincount(y).tolist() == [120, 120]
    with pytest.warns(IneffectiveParameterWarning, match="^C and class_weight changed"):
        FloralSVC(C=1000, class_weight="balanced", **kw).fit(X, y)
    with pytest.warns(IneffectiveParameterWarning, match="^C and sample_weight changed"):
        FloralSVC(C=1000, **kw).fit(X, y, sample_weight=np.full(len(y), 0.5))


def test_C_does_not_warn_when_the_search_played_the_plain_svm(moons):
    # with X_val the search's budget-0 candidate is SVC's optimum, where C acts: whichever
    # candidate wins, C took part in the choice (the README's example sets C = 10)
    X, y, Xv, yv = moons
    with warnings.catch_warnings():
        warnings.simplefilter("error", IneffectiveParameterWarning)
        clf = FloralSVC(C=1000, gamma=1.0, n_rounds=60, random_state=0).fit(
            X, y, X_val=Xv, y_val=yv)
    assert np.any(clf.search_results_["flip_budget"] == 0)


def test_class_weight_moves_the_no_attacker_model_as_in_svc():
    # an imbalanced set: "balanced" raises minority recall for SVC; the budget-0 model
    # (what the search returns on clean data) moves the same way by the same amount
    X, y = make_moons(400, noise=0.35, random_state=3)
    keep = (y == 0) | (np.arange(y.size) % 5 == 0)
    X, y = X[keep], y[keep]
    Xt, yt = make_moons(2000, noise=0.35, random_state=4)
    recall = {}
    for cw in (None, "balanced"):
        svc = SVC(C=1.0, gamma=1.0, class_weight=cw).fit(X, y)
        fl = FloralSVC(C=1.0, gamma=1.0, flip_budget=0, init="svc", n_rounds=10,
                       class_weight=cw).fit(X, y)
        recall[cw] = [np.mean(m.predict(Xt[yt == 1]) == 1) for m in (svc, fl)]
    assert recall["balanced"][0] > recall[None][0] + 0.05
    assert recall["balanced"][1] > recall[None][1] + 0.05
    np.testing.assert_allclose(recall["balanced"][1], recall["balanced"][0], atol=0.01)


# --- validation data through pipelines -----------------------------------------------------

def _shifted_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(y.size)
    tr, va = idx[:300], idx[300:420]
    return X[tr], y[tr], X[va], y[va]


@pytest.mark.skipif(sklearn.__version__ < "1.6", reason="transform_input needs 1.6")
def test_pipeline_transforms_X_val_and_matches_scaling_by_hand():
    X, y, Xv, yv = _shifted_cancer()
    kw = dict(C=10, n_rounds=80, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = Pipeline([("scale", StandardScaler()),
                         ("svc", FloralSVC(**kw).set_fit_request(X_val=True, y_val=True))],
                        transform_input=["X_val"])
        ctx = _no_floral_warnings()
        try:
            pipe.fit(X, y, X_val=Xv, y_val=yv)
        finally:
            ctx.__exit__(None, None, None)
    scaler = StandardScaler().fit(X)
    by_hand = FloralSVC(**kw).fit(scaler.transform(X), y, X_val=scaler.transform(Xv),
                                  y_val=yv)
    fitted = pipe.named_steps["svc"]
    np.testing.assert_array_equal(fitted.search_results_["val_score"],
                                  by_hand.search_results_["val_score"])
    assert pipe.decision_function(Xv).tobytes() == by_hand.decision_function(
        scaler.transform(Xv)).tobytes()


@pytest.mark.skipif(sklearn.__version__ < "1.6", reason="transform_input needs 1.6")
def test_large_data_recipe_routes_X_val_through_both_transformers():
    # README "Large data": scaler, Nystroem, linear FloralSVC, with the trusted set routed
    from sklearn.kernel_approximation import Nystroem

    X, y, Xv, yv = _shifted_cancer()
    kw = dict(kernel="linear", C=10, n_rounds=60, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(StandardScaler(), Nystroem(n_components=40, random_state=0),
                             FloralSVC(**kw).set_fit_request(X_val=True, y_val=True),
                             transform_input=["X_val"])
        pipe.fit(X, y, X_val=Xv, y_val=yv)
    front = make_pipeline(StandardScaler(), Nystroem(n_components=40, random_state=0))
    Z = front.fit_transform(X)
    by_hand = FloralSVC(**kw).fit(Z, y, X_val=front.transform(Xv), y_val=yv)
    np.testing.assert_array_equal(pipe[-1].search_results_["val_score"],
                                  by_hand.search_results_["val_score"])
    np.testing.assert_allclose(pipe.decision_function(Xv),
                               by_hand.decision_function(front.transform(Xv)), atol=1e-12)


def test_untransformed_validation_set_warns_naming_transform_input():
    X, y, Xv, yv = _shifted_cancer()
    pipe = make_pipeline(StandardScaler(), FloralSVC(C=10, n_rounds=60, random_state=0))
    with pytest.warns(DegenerateModelWarning, match="transform_input"):
        pipe.fit(X, y, floralsvc__X_val=Xv, floralsvc__y_val=yv)


# --- tuning and calibrating on the trusted set ----------------------------------------------

def test_trusted_split_scores_on_the_trusted_points_only(moons):
    X, y, Xv, yv = moons
    y_bad = np.where(np.arange(y.size) % 4 == 0, 1 - y, y)
    X_all, y_all, cv = trusted_split(X, y_bad, Xv, yv)
    assert X_all.shape == (X.shape[0] + Xv.shape[0], 2)
    (train, test), = list(cv.split(X_all, y_all))
    np.testing.assert_array_equal(train, np.arange(X.shape[0]))
    np.testing.assert_array_equal(test, X.shape[0] + np.arange(Xv.shape[0]))
    grid = [0.03, 0.3, 3.0, 30.0]
    search = GridSearchCV(SVC(C=10), {"gamma": grid}, cv=cv, refit=False).fit(X_all, y_all)
    by_hand = [SVC(C=10, gamma=g).fit(X, y_bad).score(Xv, yv) for g in grid]
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], by_hand)
    assert search.best_params_["gamma"] == grid[int(np.argmax(by_hand))]


def test_trusted_split_stacks_sparse_and_frames(moons):
    import scipy.sparse as sp

    X, y, Xv, yv = moons
    X_all, _, _ = trusted_split(sp.csr_matrix(X), y, sp.csr_matrix(Xv), yv)
    assert sp.issparse(X_all)
    np.testing.assert_array_equal(X_all.toarray(), np.vstack([X, Xv]))
    with pytest.raises(ValueError, match="X_val"):
        trusted_split(X, y, Xv[:, :1], yv)


def test_trusted_split_stacks_frames(moons):
    X, y, Xv, yv = moons
    pd = pytest.importorskip("pandas")
    X_all, y_all, _ = trusted_split(pd.DataFrame(X), pd.Series(y), pd.DataFrame(Xv), yv)
    np.testing.assert_array_equal(np.asarray(X_all), np.vstack([X, Xv]))
    np.testing.assert_array_equal(y_all, np.concatenate([y, yv]))


def test_calibrating_on_the_trusted_set(moons):
    X, y, Xv, yv = moons
    clf = FloralSVC(C=10, gamma=1.0, n_rounds=60, random_state=0).fit(X, y)
    cal = CalibratedClassifierCV(FrozenEstimator(clf)).fit(Xv, yv)
    proba = cal.predict_proba(Xv)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # the frozen model was not refitted: calibration keeps its ranking
    order = np.argsort(clf.decision_function(Xv))
    assert np.all(np.diff(proba[order, 1]) >= -1e-12)


# --- the core's new outputs against NumPy -----------------------------------------------------

def test_core_counts_duals_at_their_bound_and_weights_validation_scores(moons):
    from floral import _core

    X, y, Xv, yv = moons
    n = y.size
    C = np.where(np.arange(n) % 2 == 0, 0.05, 0.2)  # per-sample bounds, some binding
    w = np.random.default_rng(3).uniform(0.0, 2.0, yv.size)
    res = _core.floral_fit(X, (2 * y - 1).astype(np.int8), C, np.zeros(n), gamma=1.0,
                           n_rounds=30, learning_rate=None, step_scale=0.5, flip_budget=6,
                           seed=1, X_eval=Xv, y_eval=(2 * yv - 1).astype(np.int8),
                           w_eval=w, n_best=1, scoring="balanced_accuracy", diagnostics=True)
    lam = res.diagnostics.lam
    assert res.history.n_bound[-1] == np.count_nonzero(lam >= C) > 0
    # the last round's weighted scores, from its decision values at the validation points
    pred = (np.ravel(res.diagnostics.f_eval) + res.b > 0).astype(int)
    assert res.history.accuracy[-1] == pytest.approx(
        np.sum(w * (pred == yv)) / np.sum(w), rel=1e-12)
    assert res.history.balanced_accuracy[-1] == pytest.approx(
        balanced_accuracy_score(yv, pred, sample_weight=w), rel=1e-12)
