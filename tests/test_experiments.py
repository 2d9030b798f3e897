"""Tests for floral.experiments, floral.plotting and the ``floral run`` / ``floral demo`` CLI."""
import functools
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

from floral import FloralSVC, attacks, experiments
from floral._validation import resolve_budget
from floral.datasets import (
    load_breast_cancer,
    load_digits,
    load_digits_1v7,
    load_imbalanced_moons,
    load_moons,
)
from floral.experiments import (
    FIELDS,
    PlanError,
    Results,
    _execution,
    _results,
    plan_grid,
    read_csv,
    read_json,
    run_grid,
)

HAVE_DEFENSES = importlib.util.find_spec("floral.defenses") is not None
DEFENSES = ["ln-svm", "curie", "ls-svm", "k-lid"] if HAVE_DEFENSES else []
FAST = {"floral": {"n_rounds": 40}, "nn": {"max_iter": 6}}
METHODS = ["floral", "svm", "nn"] + DEFENSES
C, GAMMA = 10.0, 1.0


@functools.lru_cache(maxsize=None)
def tiny_grid(n_jobs=None):
    return run_grid("moons", ["alfa-tilt", "random"], [0, 0.1, 25], METHODS, [0, 1],
                    n_jobs=n_jobs, C=C, gamma=GAMMA, method_params=FAST)


@pytest.fixture(scope="module")
def grid():
    return tiny_grid()


def strip_times(results):
    return [{k: v for k, v in r.items() if not k.endswith("_seconds")} for r in results]


# --- records ---------------------------------------------------------------------------------

def test_records_cover_the_grid_with_the_documented_fields(grid):
    assert all(tuple(r) == FIELDS for r in grid)
    settings = {(r["attack"], r["budget"]) for r in grid}
    # the clean setting runs once per seed, not once per attack
    assert settings == {("none", 0.0), ("alfa_tilt", 0.1), ("alfa_tilt", 25),
                        ("random", 0.1), ("random", 25)}
    assert len(grid) == len(settings) * len(METHODS) * 2
    assert {r["method"] for r in grid} == set(METHODS)
    assert {r["seed"] for r in grid} == {0, 1}


def test_accuracies_budgets_and_timings(grid):
    for r in grid:
        for key in ("model_accuracy", "best_accuracy", "last_accuracy",
                    "model_val_accuracy", "best_val_accuracy", "last_val_accuracy"):
            assert 0.0 <= r[key] <= 1.0
        assert r["n_train"] == 500 and r["C"] == C and r["gamma"] == GAMMA
        assert r["n_flipped"] == resolve_budget(r["budget"], r["n_train"])
        assert r["fit_seconds"] > 0 and r["attack_seconds"] >= 0
        for key in ("model_balanced_accuracy", "best_balanced_accuracy",
                    "last_balanced_accuracy", "model_minority_recall",
                    "best_minority_recall", "last_minority_recall"):
            assert 0.0 <= r[key] <= 1.0
        # Moon's training split is 250 / 250
        assert r["n_classes"] == 2 and r["minority_share"] == 0.5
    assert {r["n_flipped"] for r in grid} == {0, 50, 25}


def test_best_is_selected_on_validation(grid):
    for r in grid:
        if r["method"] in ("floral", "nn"):
            assert r["best_val_accuracy"] >= r["last_val_accuracy"]
            limit = FAST[r["method"]]["n_rounds" if r["method"] == "floral" else "max_iter"]
            assert 1 <= r["best_round"] <= limit
            if r["method"] == "nn":  # early stopping: the model is the best epoch
                assert r["model_accuracy"] == r["best_accuracy"]
        else:
            # single-shot methods train one model: Model = Best = Last
            assert r["model_accuracy"] == r["best_accuracy"] == r["last_accuracy"]
            assert r["best_round"] is None
    # the attack hurts the plain SVM
    svm = {(r["attack"], r["budget"], r["seed"]): r["best_accuracy"] for r in grid
           if r["method"] == "svm"}
    for seed in (0, 1):
        assert svm[("alfa_tilt", 0.1, seed)] < svm[("none", 0.0, seed)] - 0.02


def one_cell(seed, attack, budget):
    """The cell rebuilt by hand: the oracle for the runner's bookkeeping."""
    data = load_moons(random_state=seed)
    if attack == "none":
        return data, data.y_train.copy()
    fn = attacks.get(attack)
    kwargs = {} if attack == "random" else dict(C=C, gamma=GAMMA)
    return data, fn(data.X_train, data.y_train, budget, random_state=seed, **kwargs)


@pytest.mark.parametrize("seed, attack, budget", [(0, "alfa_tilt", 0.1), (1, "random", 25),
                                                  (1, "none", 0.0)])
def test_records_match_fits_done_by_hand(grid, seed, attack, budget):
    rec = {r["method"]: r for r in grid
           if (r["seed"], r["attack"], r["budget"]) == (seed, attack, budget)}
    data, y_bad = one_cell(seed, attack, budget)
    assert rec["svm"]["n_flipped"] == np.count_nonzero(y_bad != data.y_train)

    svc = SVC(C=C, gamma=GAMMA).fit(data.X_train, y_bad)
    assert rec["svm"]["best_accuracy"] == svc.score(data.X_test, data.y_test)
    assert rec["svm"]["best_val_accuracy"] == svc.score(data.X_val, data.y_val)
    # balanced accuracy = mean per-class recall; the minority of a 250 / 250 tie is class 0
    pred = svc.predict(data.X_test)
    recall = [np.mean(pred[data.y_test == c] == c) for c in (0, 1)]
    assert rec["svm"]["best_balanced_accuracy"] == pytest.approx(np.mean(recall), abs=1e-12)
    assert rec["svm"]["best_minority_recall"] == pytest.approx(recall[0], abs=1e-12)

    clf = FloralSVC(C=C, gamma=GAMMA, flip_budget=0.05, n_rounds=40, random_state=seed)
    clf.fit(data.X_train, y_bad, X_val=data.X_val, y_val=data.y_val)
    assert rec["floral"]["model_accuracy"] == clf.score(data.X_test, data.y_test)
    assert rec["floral"]["model_val_accuracy"] == clf.score(data.X_val, data.y_val)
    assert rec["floral"]["best_accuracy"] == clf.best_round().score(data.X_test, data.y_test)
    assert rec["floral"]["last_accuracy"] == clf.last_round().score(data.X_test, data.y_test)
    last_pred = clf.last_round().predict(data.X_test)
    assert rec["floral"]["last_minority_recall"] == pytest.approx(
        np.mean(last_pred[data.y_test == 0] == 0), abs=1e-12)
    assert rec["floral"]["best_round"] == clf.best_round_
    # Best is the first round with the highest validation accuracy
    val = clf.history_["val_accuracy"]
    assert clf.best_round_ == int(np.argmax(val)) + 1

    # NN: Best is the epoch with the best validation accuracy, Last the final epoch
    mlp = MLPClassifier(hidden_layer_sizes=(32, 32), learning_rate_init=1e-3,
                        batch_size=32, random_state=seed)
    val_curve, test_curve = [], []
    for _ in range(6):
        mlp.partial_fit(data.X_train, y_bad, classes=[0, 1])
        val_curve.append(mlp.score(data.X_val, data.y_val))
        test_curve.append(mlp.score(data.X_test, data.y_test))
    best = int(np.argmax(val_curve))
    assert rec["nn"]["best_round"] == best + 1
    assert rec["nn"]["best_accuracy"] == test_curve[best]
    assert rec["nn"]["last_accuracy"] == test_curve[-1]
    assert rec["nn"]["best_val_accuracy"] == val_curve[best]


@pytest.mark.skipif(not HAVE_DEFENSES, reason="floral.defenses not available")
def test_defense_records_match_the_estimators():
    from floral import defenses

    res = run_grid("moons", "alfa_tilt", [0.1], DEFENSES, [2], C=C, gamma=GAMMA)
    data, y_bad = one_cell(2, "alfa_tilt", 0.1)
    classes = {"ln-svm": defenses.LNSVC, "curie": defenses.CurieSVC,
               "ls-svm": defenses.LabelSanitizedSVC, "k-lid": defenses.KLIDSVC}
    for r in res:
        est = classes[r["method"]](C=C, gamma=GAMMA).fit(data.X_train, y_bad)
        assert r["model_accuracy"] == r["best_accuracy"] == r["last_accuracy"] == \
            est.score(data.X_test, data.y_test)


def test_parallel_grid_gives_the_serial_records(grid):
    assert strip_times(tiny_grid(n_jobs=2)) == strip_times(grid)


def test_gamma_scale_is_resolved_once_for_attack_and_methods():
    res = run_grid("breast_cancer", "alfa_tilt", [0.05], ["svm"], 1, gamma="scale")
    data = load_breast_cancer(random_state=0)
    gamma = 1.0 / (data.X_train.shape[1] * data.X_train.var())
    assert res[0]["gamma"] == pytest.approx(gamma)
    y_bad = attacks.alfa_tilt(data.X_train, data.y_train, 0.05, C=10.0, gamma="scale",
                              random_state=0)
    svc = SVC(C=10.0, gamma="scale").fit(data.X_train, y_bad)
    assert res[0]["best_accuracy"] == svc.score(data.X_test, data.y_test)


def test_default_gamma_is_the_papers_on_moons_and_scale_elsewhere():
    res = run_grid(["moons", "digits_1v7"], "random", [0], ["svm"], 1)
    by_name = {r["dataset"]: r for r in res}
    assert by_name["moons"]["gamma"] == 1.0
    digits = load_digits_1v7(random_state=0)
    scale = 1.0 / (digits.X_train.shape[1] * digits.X_train.var())
    assert by_name["digits_1v7"]["gamma"] == pytest.approx(scale)
    # the reason for the default: a fixed gamma=1 on 64 standardised features is chance level
    assert by_name["digits_1v7"]["best_accuracy"] > 0.95
    assert run_grid("digits_1v7", "random", [0], ["svm"], 1, gamma=1.0)[0][
        "best_accuracy"] < 0.6


def test_default_gamma_is_scale_on_the_new_datasets_and_digits_keeps_its_meaning():
    res = run_grid(["imbalanced_moons", "digits", "digits-10"], "random", [0], ["svm"], 1)
    by_name = {r["dataset"]: r for r in res}
    # "digits" is still the 1-vs-7 set it always was; ten classes are "digits10"
    assert set(by_name) == {"imbalanced_moons", "digits_1v7", "digits10"}
    assert (by_name["digits_1v7"]["n_classes"], by_name["digits10"]["n_classes"]) == (2, 10)
    for name, loader in (("imbalanced_moons", load_imbalanced_moons),
                         ("digits10", load_digits)):
        X = loader(random_state=0).X_train
        assert by_name[name]["gamma"] == pytest.approx(1.0 / (X.shape[1] * X.var()))
    assert experiments.available_datasets() == ("moons", "digits_1v7", "breast_cancer",
                                                "digits10", "imbalanced_moons")


def test_datasets_as_bunch_callable_and_file(tmp_path):
    data = load_moons(3)
    np.savez(tmp_path / "emb.npz", X_train=data.X_train, y_train=data.y_train,
             X_val=data.X_val, y_val=data.y_val, X_test=data.X_test, y_test=data.y_test)

    def load_small(random_state):
        return load_moons(random_state)

    res = run_grid([data, load_small, str(tmp_path / "emb.npz")], "random", [0.1], ["svm"],
                   [3])
    by_name = {r["dataset"]: r["best_accuracy"] for r in res}
    assert set(by_name) == {"moons", "small", "emb"}
    # the same data three ways: the same score (the file is re-standardised, a no-op)
    assert by_name["moons"] == by_name["small"] == by_name["emb"]


# --- more than two classes, imbalance ----------------------------------------------------------

def test_multiclass_grid_runs_the_attacks_that_take_more_classes():
    res = run_grid("digits10", ["random", "topk_sv"], [0, 0.1], ["svm", "nn"], [1],
                   method_params={"nn": {"max_iter": 3}},
                   attack_params={"topk_sv": {"candidate_factor": 2.0}})
    assert {(r["attack"], r["budget"]) for r in res} == {("none", 0.0), ("random", 0.1),
                                                        ("topk_sv", 0.1)}
    data = load_digits(random_state=1)
    gamma = 1.0 / (64 * data.X_train.var())
    y_bad = {"none": data.y_train,
             "random": attacks.random_flip(data.y_train, 0.1, random_state=1),
             "topk_sv": attacks.topk_sv_flip(data.X_train, data.y_train, 0.1, C=C,
                                             gamma=gamma, candidate_factor=2.0,
                                             random_state=1)}
    counts = np.bincount(data.y_train)
    for r in res:
        assert r["n_classes"] == 10 and r["n_train"] == 899
        assert r["minority_share"] == pytest.approx(counts.min() / 899)
        assert r["n_flipped"] == (0 if r["attack"] == "none" else 90)
        if r["method"] == "svm":
            svc = SVC(C=C, gamma=gamma).fit(data.X_train, y_bad[r["attack"]])
            pred = svc.predict(data.X_test)
            assert r["best_accuracy"] == pytest.approx(np.mean(pred == data.y_test), abs=1e-12)
            recall = [np.mean(pred[data.y_test == c] == c) for c in range(10)]
            assert r["best_balanced_accuracy"] == pytest.approx(np.mean(recall), abs=1e-12)
            minority = int(np.argmin(counts))  # the first of the least frequent digits
            assert r["best_minority_recall"] == pytest.approx(recall[minority], abs=1e-12)
    # ten nearly equal classes are not imbalanced: one accuracy block
    assert res.table().count("digits10: test") == 1


@pytest.mark.parametrize("attack, methods, message", [
    ("alfa_tilt", ["svm"], "dataset 'digits10' has 10 classes, but the attack alfa_tilt is "
                           "defined for two classes only; with more classes use the attacks "
                           "random, topk_sv and the methods floral, svm, nn, nn-pgd"),
    ("random", ["svm", "ls-svm", "k-lid"], "but the methods ls-svm, k-lid are defined for two "
                                           "classes only"),
    (["lfa", "random"], ["curie"], "but the attack lfa and the method curie are defined for "
                                   "two classes only"),
])
def test_two_class_attacks_and_methods_fail_in_planning_on_multiclass_data(
        monkeypatch, attack, methods, message):
    if any(m in ("ls-svm", "k-lid", "curie") for m in methods) and not HAVE_DEFENSES:
        pytest.skip("floral.defenses not available")

    def no_work(cell):
        raise AssertionError("a cell ran")

    monkeypatch.setattr(_execution, "_run_cell", no_work)
    with pytest.raises(ValueError, match=message):
        run_grid(["moons", "digits10"], attack, [0.1], methods, 1)


def test_the_planning_check_asks_the_estimators_tags(monkeypatch):
    """FLORAL goes multi-class by setting its tag; the runner must follow the tag."""
    def tags(multi_class):
        def __sklearn_tags__(self):
            t = super(FloralSVC, self).__sklearn_tags__()
            t.classifier_tags.multi_class = multi_class
            return t
        return __sklearn_tags__

    args = dict(datasets="digits10", attacks="random", budgets=[0.1], methods=["floral"],
                seeds=1, C=C)
    monkeypatch.setattr(FloralSVC, "__sklearn_tags__", tags(False))
    with pytest.raises(PlanError, match="the method floral is defined for two classes"):
        plan_grid(**args)
    monkeypatch.setattr(FloralSVC, "__sklearn_tags__", tags(True))
    plan = plan_grid(**args)
    assert [(c["dataset"], c["methods"]) for c in plan.cells] == [("digits10", ["floral"])]


def test_imbalanced_dataset_gets_balanced_accuracy_and_minority_recall():
    res = run_grid(["imbalanced_moons", "moons"], "topk_sv", [0, 0.1], ["svm"], [0, 1])
    for r in res:
        assert r["n_classes"] == 2
        assert r["minority_share"] == (0.1 if r["dataset"] == "imbalanced_moons" else 0.5)
    r = next(r for r in res if (r["dataset"], r["attack"], r["seed"]) ==
             ("imbalanced_moons", "topk_sv", 1))
    data = load_imbalanced_moons(random_state=1)
    gamma = 1.0 / (2 * data.X_train.var())
    y_bad = attacks.topk_sv_flip(data.X_train, data.y_train, 0.1, C=C, gamma=gamma,
                                 random_state=1)
    pred = SVC(C=C, gamma=gamma).fit(data.X_train, y_bad).predict(data.X_test)
    recall1 = np.mean(pred[data.y_test == 1] == 1)
    recall0 = np.mean(pred[data.y_test == 0] == 0)
    assert r["best_minority_recall"] == pytest.approx(recall1, abs=1e-12)
    assert r["best_balanced_accuracy"] == pytest.approx((recall0 + recall1) / 2, abs=1e-12)

    text = res.table()
    titles = [ln for ln in text.splitlines() if ": test " in ln]
    assert [t.split(", Model")[0] for t in titles] == [
        "imbalanced_moons: test accuracy", "imbalanced_moons: test balanced accuracy",
        "imbalanced_moons: test recall of the minority class (10.0% of the training labels)",
        "moons: test accuracy"]
    # the balanced-accuracy block holds the means of the records' balanced accuracies
    block = text.split(titles[1])[1].split("\n\n")[0].splitlines()
    clean = [x["best_balanced_accuracy"] for x in res
             if (x["dataset"], x["attack"]) == ("imbalanced_moons", "none")]
    assert block[3].split()[1].startswith(_results._fmt(np.mean(clean)))


@pytest.mark.parametrize("share, n_classes, imbalanced", [
    (0.39, 2, True), (0.41, 2, False), (0.07, 10, True), (0.09, 10, False), (None, None, False)])
def test_imbalance_rule(share, n_classes, imbalanced):
    rec = dict(dataset="d", attack="none", budget=0.0, method="svm", seed=0,
               best_accuracy=0.9, last_accuracy=0.8, n_flipped=0, n_train=100,
               best_balanced_accuracy=0.7, last_balanced_accuracy=0.6,
               best_minority_recall=0.5, last_minority_recall=0.4)
    if share is not None:
        rec.update(minority_share=share, n_classes=n_classes)
    text = Results([rec]).table(columns=("best", "last"))
    assert ("balanced accuracy" in text) == imbalanced
    assert (".700 / .600" in text and ".500 / .400" in text) == imbalanced
    assert ".900 / .800" in text
    # a record without model scores (written before they existed) shows n/a for them
    assert "n/a" in Results([rec]).table()


def test_summary_of_other_metrics_and_files_without_them(tmp_path):
    res = Results([dict(dataset="d", attack="none", budget=0.0, method="svm", seed=s,
                        best_accuracy=0.9, last_accuracy=0.8, best_balanced_accuracy=b,
                        last_balanced_accuracy=b, n_flipped=0, n_train=10)
                   for s, b in ((0, 0.5), (1, 0.7))])
    (row,) = res.summary("balanced_accuracy")
    assert row["best_mean"] == pytest.approx(0.6) and row["n_seeds"] == 2
    assert np.isnan(res.summary("minority_recall")[0]["best_mean"])  # absent: NaN
    with pytest.raises(ValueError, match="The 'metric' parameter of Results.summary"):
        res.summary("f1")
    # a CSV written before the new fields existed still reads and tabulates
    old_fields = FIELDS[:16]
    assert old_fields[-1] == "gamma"
    lines = [",".join(old_fields),
             "moons,none,0.0,svm,0,0.9,0.8,1.0,0.0,0.9,0.8,,0,500,10.0,1.0"]
    (tmp_path / "old.csv").write_text("\n".join(lines) + "\n")
    old = read_csv(tmp_path / "old.csv")
    assert old[0]["best_accuracy"] == 0.9 and "n_classes" not in old[0]
    assert old.table(columns=("best", "last")).splitlines()[3].split() == \
        ["clean", ".900", "/", ".800"]


# --- round trips and table ---------------------------------------------------------------------

def test_csv_and_json_round_trip(grid, tmp_path):
    grid.to_csv(tmp_path / "r.csv")
    grid.to_json(tmp_path / "r.json")
    back_csv, back_json = read_csv(tmp_path / "r.csv"), read_json(tmp_path / "r.json")
    assert list(back_csv) == list(grid)
    assert list(back_json) == list(grid)
    assert isinstance(back_csv, Results)
    assert back_json.meta["methods"] == METHODS and back_json.meta["seeds"] == [0, 1]
    budgets = {type(r["budget"]) for r in back_csv if r["attack"] != "none"}
    assert budgets == {float, int}  # a count stays a count
    assert {type(r["n_classes"]) for r in back_csv} == {int}
    assert back_csv.table() == grid.table()
    with open(tmp_path / "r.json") as fh:
        assert isinstance(json.load(fh)["records"], list)


def test_to_frame():
    pd = pytest.importorskip("pandas")
    frame = tiny_grid().to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(FIELDS) and len(frame) == len(tiny_grid())


def test_table_means_and_sample_stds():
    recs = []
    for seed, (best, last) in enumerate([(0.9, 0.8), (1.0, 0.6)]):
        for attack, budget in (("none", 0.0), ("alfa_tilt", 0.05)):
            recs.append(dict(dataset="d", attack=attack, budget=budget, method="svm",
                             seed=seed, best_accuracy=best, last_accuracy=last, n_flipped=1,
                             n_train=20, model_accuracy=(best + last) / 2))
    text = Results(recs).table(columns=("best", "last"))
    lines = text.splitlines()
    assert "mean±std over 2 seeds" in lines[0]
    assert lines[1].split() == ["setting", "SVM"]
    # mean .95, sample std sqrt(0.005) = .0707; last mean .7, std .1414
    assert lines[3].split() == ["clean", ".950±.071", "/", ".700±.141"]
    # the default: the returned model only, here (best + last) / 2: .85 and .80
    model = Results(recs).table().splitlines()
    assert "Model (mean±std over 2 seeds" in model[0]
    assert model[3].split() == ["clean", ".825±.035"]
    with pytest.raises(ValueError, match="columns"):
        Results(recs).table(columns=("first",))
    assert lines[4].split() == ["alfa_tilt", "5%", ".950±.071", "/", ".700±.141"]
    md = Results(recs).table(fmt="markdown", columns=("best", "last"))
    assert "| clean | .950 ± .071 / .700 ± .141 |" in md
    one = Results(recs[:1]).table(columns=("best", "last"))
    assert ".900 / .800" in one and "±" not in one.splitlines()[-1]


def test_runner_floral_uses_floralsvc_defaults():
    # every default but the attacker's budget, which the runner pins to the paper's 5%
    # (FloralSVC's "auto" would choose the game on the validation set instead)
    params = experiments.make_method("floral", C=10, gamma=1.0, random_state=0).get_params()
    defaults = FloralSVC().get_params()
    own = ("C", "gamma", "random_state", "n_jobs", "flip_budget")
    assert {k: v for k, v in params.items() if k not in own} == \
        {k: v for k, v in defaults.items() if k not in own}
    assert (params["C"], params["gamma"], params["flip_budget"]) == (10, 1.0, 0.05)


# --- plotting ------------------------------------------------------------------------------------

def is_png(path):
    with open(path, "rb") as fh:
        head = fh.read(8)
    return head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 1000


def test_figures_with_agg(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from floral import plotting

    res = run_grid("moons", "alfa_tilt", [0, 0.1], ["svm", "floral"], [0, 1],
                   method_params=FAST, keep_models=True)
    assert set(res.models) == {("moons", "none", 0.0, 0), ("moons", "alfa_tilt", 0.1, 0),
                               ("moons", "none", 0.0, 1), ("moons", "alfa_tilt", 0.1, 1)}
    kept = res.models[("moons", "alfa_tilt", 0.1, 0)]
    assert np.count_nonzero(kept.y_poisoned != kept.data.y_train) == 50
    fig = plotting.plot_decision_boundary(kept.estimators["svm"], kept.data.X_train,
                                          kept.data.y_train, kept.y_poisoned, title="svm")
    fig.savefig(tmp_path / "one.png")
    assert is_png(tmp_path / "one.png")
    paths = plotting.save_figures(res, tmp_path / "figs")
    assert sorted(os.path.basename(p) for p in paths) == [
        "accuracy_vs_budget_moons_alfa_tilt.png", "decision_boundaries_moons.png"]
    assert all(is_png(p) for p in paths)
    with pytest.raises(ValueError, match="2 features"):
        plotting.plot_decision_boundary(kept.estimators["svm"], np.zeros((3, 3)), [0, 1, 0])


def test_plotting_without_matplotlib_says_how_to_install(monkeypatch):
    from floral import plotting

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r'pip install "floral-svm\[plot\]"'):
        plotting.plot_accuracy_vs_budget(tiny_grid())


# --- the command line --------------------------------------------------------------------------

def floral_cli(*args, cwd, code=None):
    env = dict(os.environ, MPLBACKEND="Agg")
    cmd = [sys.executable, "-m", "floral", *map(str, args)] if code is None else \
        [sys.executable, "-c", code, *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


RUN = ["run", "--dataset", "moons", "--attack", "alfa-tilt", "--budget", "0.05", "0.1",
       "--methods", "floral", "svm", "nn", "--seeds", 2, "--rounds", 30, "--epochs", 4,
       "--n-jobs", 1]


def test_cli_run_prints_the_table_and_writes_files(tmp_path):
    pytest.importorskip("matplotlib")
    res = floral_cli(*RUN, "--out", "out", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("moons: test accuracy, Model (mean±std over 2 seeds")
    assert lines[1].split() == ["setting", "FLORAL", "SVM", "NN"]
    assert [ln.split()[0] for ln in lines[3:6]] == ["clean", "alfa_tilt", "alfa_tilt"]
    assert "6/6 cells" in res.stderr  # the progress bar reached the end
    out = tmp_path / "out"
    records = read_csv(out / "results.csv")
    assert len(records) == 3 * 3 * 2
    assert list(read_json(out / "results.json")) == list(records)
    assert read_json(out / "results.json").meta["command"].startswith("floral run --dataset")
    for name in ("accuracy_vs_budget_moons_alfa_tilt.png", "decision_boundaries_moons.png"):
        assert is_png(out / name)
    # the printed table is the records' table; --paper prints Best / Last instead
    assert records.table() in res.stdout
    assert "Best / Last" in records.table(columns=("best", "last")).splitlines()[0]


def test_cli_run_without_matplotlib_still_prints_the_table(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None; from floral.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    args = ["run", "--budget", "0.1", "--methods", "svm", "--seeds", 1, "--n-jobs", 1,
            "--quiet", "--out", "out"]
    res = floral_cli(*args, cwd=tmp_path, code=code)
    assert res.returncode == 0, res.stderr
    assert "clean" in res.stdout and "SVM" in res.stdout
    assert 'figures skipped: matplotlib is not installed (pip install "floral-svm[plot]")' \
        in res.stderr
    assert sorted(os.listdir(tmp_path / "out")) == ["results.csv", "results.json"]
    assert "cells" not in res.stderr  # --quiet: no progress bar


def test_cli_demo_keeps_its_table(tmp_path):
    res = floral_cli("demo", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    # the demo plays the paper's C = 10 on purpose: no warning that C changed nothing
    assert "Warning" not in res.stderr, res.stderr
    lines = res.stdout.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("attack"))
    assert lines[header].split() == ["attack", "budget", "SVC", "FLORAL", "last", "round"]
    rows = [ln.split() for ln in lines[header + 2: header + 7]]
    # attacks by their registry names, as every other output prints them
    assert [r[:-3] for r in rows] == [["clean", "0%"], ["topk_sv", "10%"], ["topk_sv", "25%"],
                                      ["random", "10%"], ["random", "25%"]]
    # the SVC column is a plain SVC on the attacked labels (the demo's top-k attack is
    # randomised among twice the budget)
    data = load_moons(0)
    y_bad = attacks.topk_sv_flip(data.X_train, data.y_train, 0.25, C=10, gamma=1.0,
                                 candidate_factor=2.0, random_state=0)
    svc = SVC(C=10, gamma=1.0).fit(data.X_train, y_bad).score(data.X_test, data.y_test)
    assert float(rows[2][-3]) == pytest.approx(svc, abs=5e-4)


def _interrupt(args, cwd, wait, group):
    """Run `floral ARGS`, send SIGINT `wait` seconds after its work has begun (to the
    process, or to its whole process group as a terminal's Ctrl-C does), return (exit code,
    stderr, whether any process of the group is left a few seconds later).

    The work has begun once the process has mapped floral's compiled core: the import of
    numpy, scikit-learn and the core takes most of a second on one machine and several on
    another, and `floral demo` is done less than a second later, so a wait counted from
    process start would race the end of the command (and a SIGINT landing while the
    interpreter shuts down kills it with no message at all)."""
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "floral", *map(str, args)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with open(f"/proc/{proc.pid}/maps") as maps:
                if "floral/_core/_lib" in maps.read():
                    break
        except OSError:  # it ended between poll() and open(): the assert below says so
            break
        time.sleep(0.005)
    time.sleep(wait)
    assert proc.poll() is None, f"`floral {' '.join(map(str, args))}` ended before the SIGINT"
    (os.killpg if group else os.kill)(proc.pid, signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # still running: the Ctrl-C was lost
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None, "", True
    for _ in range(50):  # workers go with the parent; zombies need a moment to be reaped
        alive = subprocess.run(["ps", "-o", "stat=", "-g", str(proc.pid)],
                               capture_output=True, text=True).stdout.split()
        if not any(not s.startswith("Z") for s in alive):
            return proc.returncode, err, False
        time.sleep(0.2)
    return proc.returncode, err, True


# Each grid runs much longer than its wait (3 seeds of every method, or LFA on 500 points:
# seconds to tens of seconds), so each SIGINT lands mid-work: in a FloralSVC or MLP fit in
# this process (n-jobs 1), or in the parent waiting on loky workers (n-jobs -1). The demo is
# short (under a second of work here), so its SIGINT comes at once, while it imports the
# rest of scikit-learn or runs its first fits.
@pytest.mark.skipif(os.name == "nt" or sys.platform == "darwin",
                    reason="process groups and ps -g as on Linux")
@pytest.mark.parametrize("args, wait", [
    (["run", "--seeds", 3, "--n-jobs", 1, "--quiet"], 2.5),
    (["run", "--seeds", 3, "--n-jobs", -1, "--quiet"], 4.0),
    (["demo"], 0.0),
    (["attack", "train.npz", "--attack", "lfa", "--budget", 0.2], 1.0),
])
@pytest.mark.parametrize("group", [False, True], ids=["parent", "group"])
def test_cli_ctrl_c_exits_130_and_leaves_no_process(tmp_path, args, wait, group):
    data = load_moons(0)
    np.savez(tmp_path / "train.npz", X=data.X_train, y=data.y_train)
    code, err, left = _interrupt(args, tmp_path, wait, group)
    assert code == 130, err
    assert err.strip().splitlines()[-1] == "floral: interrupted"
    assert "Traceback" not in err
    assert not left


@pytest.mark.skipif(os.name == "nt", reason="an exit by a signal is POSIX")
def test_python_m_floral_keeps_status_130_after_an_interrupt_in_evaluated_source(tmp_path):
    # CPython records a KeyboardInterrupt that leaves an exec or eval of a string as
    # unhandled even when it is caught further out, and `python -m` then ends the process
    # by SIGINT after finalising. A Ctrl-C landing in one during the imports at the start of
    # `floral demo` made it exit -2 after "floral: interrupted" (1 to 3 runs in 30 of the
    # test above). Here the interrupt passes through such an evaluation every time.
    # (the command's work is replaced; main, its Ctrl-C handling and run are floral's)
    (tmp_path / "interrupted_cli.py").write_text(
        "import argparse\n"
        "from floral.cli import _main\n"
        "def work(args):\n"
        "    exec('raise KeyboardInterrupt')\n"
        "class Parser:\n"
        "    def parse_args(self, argv):\n"
        "        return argparse.Namespace(func=work)\n"
        "_main.build_parser = Parser\n"
        "_main.run()\n")
    proc = subprocess.run([sys.executable, "-m", "interrupted_cli"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == "floral: interrupted\n"


def _self_interrupt_mangled(args):
    """What a Ctrl-C during a compiled module's initialisation looks like: the interrupt
    arrives, and what escapes is an unrelated exception."""
    import signal
    import time

    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the KeyboardInterrupt is raised here, at the next check for signals
    except KeyboardInterrupt:
        raise ValueError("'T{d:val:q:i1:q:i2:}' is not a valid PEP 3118 buffer format "
                         "string") from None
    return 0


@pytest.mark.skipif(os.name == "nt", reason="os.kill(pid, SIGINT) terminates on Windows")
def test_cli_reports_an_exception_caused_by_ctrl_c_as_the_interrupt(monkeypatch, capsys):
    import signal

    from floral import cli
    from floral.cli import _show_config

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    monkeypatch.setattr(_show_config, "_cmd_show_config", _self_interrupt_mangled)
    assert cli.main(["show-config"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "floral: interrupted"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_cli_does_not_hide_an_exception_without_ctrl_c(monkeypatch):
    from floral import cli
    from floral.cli import _show_config

    def broken(args):
        raise ValueError("a bug, not the user's doing")

    monkeypatch.setattr(_show_config, "_cmd_show_config", broken)
    with pytest.raises(ValueError, match="a bug"):
        cli.main(["show-config"])


# --- dask --------------------------------------------------------------------------------------

def test_grid_on_a_dask_local_cluster():
    pytest.importorskip("dask")
    distributed = pytest.importorskip("dask.distributed")
    import joblib

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as stream, \
                joblib.parallel_config(backend="dask"):
            res = run_grid("moons", "random", [0, 0.1], ["svm", "floral"], [0, 1],
                           method_params=FAST)
    # the four cells ran as tasks on the cluster's workers
    assert len({t["worker"] for t in stream.data}) >= 1 and len(stream.data) >= 1
    serial = run_grid("moons", "random", [0, 0.1], ["svm", "floral"], [0, 1],
                      method_params=FAST)
    assert strip_times(res) == strip_times(serial)


def test_a_relative_dataset_path_is_read_where_it_was_given(tmp_path, monkeypatch):
    # a loky executor outlives a grid, and its workers keep the working directory they
    # started in; the loader must not depend on the working directory at run time
    from floral.experiments import plan_grid, run_plan

    data = load_moons(0)
    np.savez(tmp_path / "d.npz", X=np.r_[data.X_train, data.X_val],
             y=np.r_[data.y_train, data.y_val])
    monkeypatch.chdir(tmp_path)
    plan = plan_grid("d.npz", "random", [0.1], ["svm"], seeds=1)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    res = run_plan(plan)
    assert len(res) == 1 and res[0]["dataset"] == "d" and res[0]["model_accuracy"] > 0.9
