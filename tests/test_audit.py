"""floral.audit.find_flipped_labels and `floral audit`: flips planted in data whose clean
labels are known are the oracle; scores and suggestions are checked against the fitted
model's own decision values, recomputed here point by point."""
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import make_blobs, make_moons
from sklearn.exceptions import NotFittedError
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted

from floral import FloralSVC
from floral.audit import LabelAudit, find_flipped_labels

FAST = dict(n_rounds=100)


def _blobs(n=120, seed=0):
    """Two blobs far apart: every clean label agrees with any sensible model."""
    X, y = make_blobs(n, centers=[(-3, -3), (3, 3)], cluster_std=0.8, random_state=seed)
    return X, y


def _flip(y, idx):
    y = y.copy()
    y[idx] = 1 - y[idx]
    return y


def test_planted_flips_rank_above_every_clean_point():
    X, y = _blobs()
    planted = np.array([5, 17, 40, 99])
    y_bad = _flip(y, planted)
    audit = find_flipped_labels(X, y_bad, estimator=FloralSVC(C=10, **FAST), random_state=0)
    clean = np.setdiff1d(np.arange(y.size), planted)
    assert audit.scores[planted].min() > audit.scores[clean].max()
    assert sorted(audit.indices.tolist()) == planted.tolist()
    # most suspicious first
    assert np.all(np.diff(audit.scores[audit.indices]) <= 0)
    np.testing.assert_array_equal(audit.suggested_labels[planted], y[planted])
    np.testing.assert_array_equal(audit.mask, np.isin(np.arange(y.size), planted))


def test_clean_data_flags_little():
    X, y = make_moons(300, noise=0.1, random_state=0)
    X_val, y_val = make_moons(100, noise=0.1, random_state=1)
    audit = find_flipped_labels(X, y, X_val=X_val, y_val=y_val,
                                estimator=FloralSVC(C=10, gamma=1.0, **FAST), random_state=0)
    assert audit.indices.size <= 0.02 * y.size
    # the default rule is stricter than disagreement: at threshold 0 at least as many
    strict = find_flipped_labels(X, y, estimator=audit.estimator, threshold=0.0)
    assert strict.indices.size >= audit.indices.size
    assert audit.threshold == 0.5 and "0.5" in audit.rule


def test_binary_scores_are_the_signed_margin_against_the_given_label():
    X, y = make_moons(80, noise=0.3, random_state=2)
    clf = FloralSVC(C=10, gamma=1.0, random_state=0, **FAST).fit(X, y)
    audit = find_flipped_labels(X, y, estimator=clf, threshold=0.0)
    f = clf.decision_function(X)
    expected = np.array([-fi if yi == clf.classes_[1] else fi for fi, yi in zip(f, y)])
    np.testing.assert_allclose(audit.scores, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(audit.suggested_labels, 1 - y)
    assert set(audit.indices.tolist()) == set(np.flatnonzero(clf.predict(X) != y).tolist())


def test_multiclass_suggests_the_runner_up_class():
    X, y = make_blobs(90, centers=[(-5, 0), (5, 0), (0, 8)], cluster_std=1.0, random_state=0)
    y_bad = y.copy()
    planted = np.array([0, 10, 20])
    y_bad[planted] = (y[planted] + 1) % 3
    clf = FloralSVC(C=10, random_state=0, **FAST).fit(X, y_bad)
    audit = find_flipped_labels(X, y_bad, estimator=clf)
    D = clf.decision_function(X)
    assert D.shape == (90, 3)
    for i in range(y.size):
        a = int(np.flatnonzero(clf.classes_ == y_bad[i])[0])
        others = [c for c in range(3) if c != a]
        best = max(others, key=lambda c: D[i, c])
        assert audit.suggested_labels[i] == clf.classes_[best]
        assert audit.scores[i] == pytest.approx((D[i, best] - D[i, a]) / 2, abs=1e-12)
    # the flagged points are ones the model predicts as another class, and that class is
    # the suggestion
    flagged = audit.indices
    np.testing.assert_array_equal(audit.suggested_labels[flagged], clf.predict(X[flagged]))
    assert set(planted) <= set(flagged.tolist())
    np.testing.assert_array_equal(audit.suggested_labels[planted], y[planted])


def test_string_labels_and_pandas_give_the_numpy_result():
    pd = pytest.importorskip("pandas")
    X, y = _blobs(80, seed=1)
    y_bad = _flip(y, [3, 30])
    names = np.array(["ham", "spam"])
    est = FloralSVC(C=10, **FAST)
    base = find_flipped_labels(X, y_bad, estimator=est, random_state=3)
    frame = pd.DataFrame(X, columns=["a", "b"])
    series = pd.Series(names[y_bad], name="label")
    audit = find_flipped_labels(frame, series, estimator=est, random_state=3)
    np.testing.assert_allclose(audit.scores, base.scores, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(audit.indices, base.indices)
    np.testing.assert_array_equal(audit.suggested_labels, names[base.suggested_labels])
    assert sorted(audit.indices.tolist()) == [3, 30]
    # -1/+1 labels too
    signed = find_flipped_labels(X, 2 * y_bad - 1, estimator=est, random_state=3)
    np.testing.assert_array_equal(signed.suggested_labels, 2 * base.suggested_labels - 1)


def test_inputs_are_untouched():
    X, y = _blobs(60, seed=2)
    y_bad = _flip(y, [1, 2])
    X_val, y_val = _blobs(30, seed=3)
    copies = [a.copy() for a in (X, y_bad, X_val, y_val)]
    est = FloralSVC(C=10, **FAST)
    params = est.get_params()
    audit = find_flipped_labels(X, y_bad, X_val=X_val, y_val=y_val, estimator=est,
                                random_state=0)
    for before, after in zip(copies, (X, y_bad, X_val, y_val)):
        np.testing.assert_array_equal(before, after)
    # the unfitted estimator is cloned, not fitted in place
    assert est.get_params() == params
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    assert audit.estimator is not est and audit.estimator.random_state == 0
    with pytest.raises(ValueError):
        audit.scores[0] = 1.0  # read-only results


def test_a_fitted_estimator_is_used_as_it_is(monkeypatch):
    X, y = _blobs(60, seed=4)
    y_bad = _flip(y, [7])
    clf = FloralSVC(C=10, random_state=0, **FAST).fit(X, y_bad)
    coef = clf.dual_coef_.copy()

    def refit(*args, **kwargs):
        raise AssertionError("a fitted estimator was refitted")

    monkeypatch.setattr(clf, "fit", refit)
    audit = find_flipped_labels(X, y_bad, estimator=clf)
    assert audit.estimator is clf
    np.testing.assert_array_equal(clf.dual_coef_, coef)
    assert audit.indices.tolist() == [7]
    # scikit-learn's SVC works the same way
    svc = SVC(C=10).fit(X, y_bad)
    assert find_flipped_labels(X, y_bad, estimator=svc).estimator is svc


def test_default_estimator_is_floralsvc_seeded_by_random_state():
    X, y = _blobs(50, seed=5)
    a = find_flipped_labels(X, y, random_state=7)
    b = find_flipped_labels(X, y, random_state=7)
    assert isinstance(a.estimator, FloralSVC) and a.estimator.random_state == 7
    np.testing.assert_array_equal(a.scores, b.scores)
    assert isinstance(a, LabelAudit) and "flagged=" in repr(a)


def test_default_estimator_plays_the_papers_budget_without_a_validation_set():
    from floral import _selection
    from floral.audit import NOVAL_BUDGET

    X, y = _blobs(80, seed=2)
    Xv, yv = _blobs(40, seed=3)
    alone = find_flipped_labels(X, y, random_state=0).estimator
    # FloralSVC's own no-validation budget is smaller: the audit pins its own
    assert NOVAL_BUDGET != _selection.DEFAULT_BUDGET
    assert alone.flip_budget == NOVAL_BUDGET and alone.flip_budget_ == NOVAL_BUDGET
    assert alone.search_results_ is None
    # with a trusted set the default model chooses its game as FloralSVC() does
    searched = find_flipped_labels(X, y, X_val=Xv, y_val=yv, random_state=0).estimator
    assert searched.flip_budget == "auto" and searched.search_results_ is not None


@pytest.mark.parametrize("kwargs, exc, names", [
    (dict(threshold="high"), ValueError, "threshold"),
    (dict(threshold=float("nan")), ValueError, "threshold"),
    (dict(estimator="FloralSVC"), TypeError, "estimator"),
    (dict(estimator=object()), ValueError, "estimator"),
    (dict(random_state="zero"), ValueError, "random_state"),
    (dict(X_val=np.zeros((3, 2))), ValueError, "y_val"),
])
def test_bad_parameters_name_themselves(kwargs, exc, names):
    X, y = _blobs(40)
    with pytest.raises(exc, match=names):
        find_flipped_labels(X, y, **kwargs)


def test_bad_data_names_the_argument():
    X, y = _blobs(40)
    with pytest.raises(ValueError, match="X and y"):
        find_flipped_labels(X, y[:-1])
    with pytest.raises(ValueError, match="y"):
        find_flipped_labels(X, np.full(40, 0.5) + np.arange(40))  # continuous, not labels
    clf = FloralSVC(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="y has labels \\[5\\]"):
        find_flipped_labels(X, np.where(y == 1, 5, 0), estimator=clf)
    with pytest.raises(ValueError, match="X_val"):
        find_flipped_labels(X, y, estimator=clf, X_val=X, y_val=y)


# --- the command line ----------------------------------------------------------------------

def _write_csv(path, X, labels, header=("f1", "label", "f2")):
    lines = [",".join(header)] + [f"{float(a)!r},{lab},{float(b)!r}"
                                  for (a, b), lab in zip(X, labels)]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def files(tmp_path):
    X, y = _blobs(80, seed=6)
    y_bad = _flip(y, [4, 44])
    names = np.array(["cat", "dog"])
    _write_csv(tmp_path / "train.csv", X, names[y_bad])
    X_val, y_val = _blobs(30, seed=7)
    _write_csv(tmp_path / "val.csv", X_val, names[y_val])
    (tmp_path / "wide.csv").write_text("f1,label,f2,f3\n1,cat,2,3\n")
    (tmp_path / "bird.csv").write_text("f1,label,f2\n1,bird,2\n")
    return tmp_path, X, names[y_bad], X_val, names[y_val]


def test_cli_writes_the_flagged_rows(files, capsys, monkeypatch):
    from floral.cli import main

    tmp_path, X, labels, X_val, y_val = files
    monkeypatch.chdir(tmp_path)
    code = main(["audit", "train.csv", "--label", "label", "--val", "val.csv", "--C", "10",
                 "--seed", "0", "--out", "issues.csv"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "flagged 2 of 80 labels" in out and "wrote issues.csv" in out
    assert "[FloralSVC]" in err  # progress
    rows = [line.split(",") for line in (tmp_path / "issues.csv").read_text().splitlines()]
    assert rows[0] == ["index", "given_label", "suggested_label", "score"]
    expected = find_flipped_labels(X, labels, X_val=X_val, y_val=y_val,
                                   estimator=FloralSVC(C=10), random_state=0)
    assert [int(r[0]) for r in rows[1:]] == expected.indices.tolist()
    assert sorted(int(r[0]) for r in rows[1:]) == [4, 44]
    for r in rows[1:]:
        i = int(r[0])
        assert r[1] == labels[i] and r[2] == expected.suggested_labels[i] != labels[i]
        assert float(r[3]) == pytest.approx(expected.scores[i], rel=1e-5)
    scores = [float(r[3]) for r in rows[1:]]
    assert scores == sorted(scores, reverse=True)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".floral-")]


def test_the_real_command_reports_a_missing_label_column(files):
    proc = subprocess.run([sys.executable, "-m", "floral", "audit", "train.csv", "--label",
                           "nope"], cwd=files[0], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "floral: error: argument --label: train.csv has no column 'nope'")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("argv, option", [
    (["train.csv", "--label", "nope"], "--label"),
    (["train.csv"], "--label"),
    (["missing.csv", "--label", "label"], "data"),
    (["train.csv", "--label", "label", "--val", "missing.csv"], "--val"),
    (["train.csv", "--label", "label", "--val", "wide.csv"], "--val"),
    (["train.csv", "--label", "label", "--val", "bird.csv"], "--val"),
    (["train.csv", "--label", "label", "--out", "train.csv"], "--out"),
    (["train.csv", "--label", "label", "--out", "issues.txt"], "--out"),
    (["train.csv", "--label", "label", "--threshold", "x"], "--threshold"),
    (["train.csv", "--label", "label", "--C", "-1"], "--C"),
])
def test_cli_errors_exit_2_before_any_work(files, argv, option, capsys, monkeypatch):
    from floral import audit, cli

    tmp_path = files[0]
    monkeypatch.chdir(tmp_path)

    def no_work(*args, **kwargs):
        raise AssertionError("the audit ran")

    monkeypatch.setattr(audit, "find_flipped_labels", no_work)
    before = (tmp_path / "train.csv").read_text()
    try:
        code = cli.main(["audit", *argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.strip().splitlines()[-1].startswith(f"floral: error: argument {option}"), err
    assert "Traceback" not in err
    assert (tmp_path / "train.csv").read_text() == before
    assert not (tmp_path / "issues.txt").exists()
