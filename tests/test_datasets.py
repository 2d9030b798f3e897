"""Tests for floral.datasets: splits, scaling, file readers and their errors."""

import numpy as np
import pytest
from sklearn import datasets as skd
from sklearn.svm import SVC

from floral import datasets
from floral.datasets import (
    load_breast_cancer,
    load_digits,
    load_digits_1v7,
    load_embeddings,
    load_imbalanced_moons,
    load_moons,
    make_large,
    read_labelled,
    write_labelled,
)

SPLITS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")


def unscaled(data):
    """All rows of the three splits back in the original units."""
    X = np.vstack([data.X_train, data.X_val, data.X_test])
    return X if data.scaler is None else data.scaler.inverse_transform(X)


def same_rows(A, B):
    """A and B hold the same rows, in any order (up to float round-off)."""
    assert A.shape == B.shape
    a = A[np.lexsort(A.T[::-1])]
    b = B[np.lexsort(B.T[::-1])]
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


def check_protocol(data, n_train, n_val, n_test, n_classes=2):
    assert [data[k].shape[0] for k in SPLITS] == [n_train, n_train, n_val, n_val,
                                                  n_test, n_test]
    # standardised with training statistics only
    np.testing.assert_allclose(data.X_train.mean(axis=0), 0, atol=1e-9)
    sd = data.X_train.std(axis=0)
    np.testing.assert_allclose(sd[sd > 0], 1, atol=1e-9)
    assert np.abs(data.X_test.mean(axis=0)).max() > 1e-6  # test data did not set the scale
    # stratified: each split has about the class proportions of the whole set
    y_all = np.concatenate([data.y_train, data.y_val, data.y_test])
    classes, counts = np.unique(y_all, return_counts=True)
    assert classes.size == n_classes
    for key in ("y_train", "y_val", "y_test"):
        np.testing.assert_array_equal(np.unique(data[key]), classes)
        for c, count in zip(classes, counts):
            share = np.mean(data[key] == c)
            assert abs(share - count / y_all.size) <= 1.0 / data[key].size + 1e-12


def test_moons_protocol_and_seeds():
    a, b, c = load_moons(0), load_moons(0), load_moons(1)
    check_protocol(a, 500, 500, 1000)
    for key in SPLITS:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a.X_train, c.X_train)
    assert a.name == "moons" and set(np.unique(a.y_train)) == {0, 1}


def test_digits_1v7_are_the_ones_and_sevens_of_sklearn_digits():
    data = load_digits_1v7(random_state=3)
    digits = skd.load_digits()
    keep = np.isin(digits.target, (1, 7))
    n = int(keep.sum())
    n_test, n_val = round(0.3 * n), round(0.2 * n)
    check_protocol(data, n - n_test - n_val, n_val, n_test)
    same_rows(unscaled(data), digits.data[keep])
    assert set(np.unique(data.y_train)) == {1, 7}
    # every image keeps its own label
    lookup = {row.tobytes(): t for row, t in zip(digits.data[keep], digits.target[keep])}
    X_test = data.scaler.inverse_transform(data.X_test).round()
    assert all(lookup[row.tobytes()] == t for row, t in zip(X_test, data.y_test))


def test_digits_are_all_of_sklearn_digits_in_ten_classes():
    data = load_digits(random_state=4)
    digits = skd.load_digits()
    check_protocol(data, 899, 359, 539, n_classes=10)
    same_rows(unscaled(data), digits.data)
    assert data.name == "digits10" and data.X_train.shape == (899, 64)
    # each image keeps its label: every (image, label) pair is one of sklearn's
    pairs = {(row.tobytes(), t) for row, t in zip(digits.data, digits.target)}
    for X, y in ((data.X_train, data.y_train), (data.X_test, data.y_test)):
        X_raw = data.scaler.inverse_transform(X).round() + 0.0  # -0.0 has other bytes
        assert all((row.tobytes(), t) in pairs for row, t in zip(X_raw, y))
    # scaled with the training split's statistics only
    X_train_raw = data.scaler.inverse_transform(data.X_train)
    np.testing.assert_allclose(data.scaler.mean_, X_train_raw.mean(axis=0), atol=1e-9)
    # same seed, same split; another seed, another split
    np.testing.assert_array_equal(load_digits(random_state=4).X_test, data.X_test)
    assert not np.array_equal(load_digits(random_state=5).y_test, data.y_test)
    small = load_digits(random_state=0, test_size=0.5, val_size=0.25)
    assert (small.y_train.size, small.y_val.size, small.y_test.size) == (450, 449, 898)


@pytest.mark.parametrize("rate, positives", [(0.1, (50, 50, 100)), (0.05, (25, 25, 50)),
                                             (0.01, (5, 5, 10)), (0.5, (250, 250, 500)),
                                             (0.333, (166.5, 166.5, 333))])
def test_imbalanced_moons_positive_rate_in_every_split(rate, positives):
    data = load_imbalanced_moons(rate, random_state=2)
    check_protocol(data, 500, 500, 1000)
    got = np.array([np.sum(data[k] == 1) for k in ("y_train", "y_val", "y_test")])
    # 666 positives: the odd one goes to training or validation, as the draw falls
    assert np.all(np.abs(got - positives) <= 0.5)
    assert set(np.unique(data.y_train)) == {0, 1} and data.name == "imbalanced_moons"


def test_imbalanced_moons_subsample_the_positive_moon_of_a_balanced_draw():
    data = load_imbalanced_moons(0.1, random_state=6)
    # the documented construction: make_moons(2 * 1800) from the seed's generator; all of
    # its 1800 class-0 points and 200 of its class-1 points
    X_pool, y_pool = skd.make_moons(3600, noise=0.2, random_state=np.random.RandomState(6))
    X = unscaled(data)
    y = np.concatenate([data.y_train, data.y_val, data.y_test])
    same_rows(X[y == 0], X_pool[y_pool == 0])
    pool_pos = {tuple(np.round(r, 9)) for r in X_pool[y_pool == 1]}
    kept = [tuple(np.round(r, 9)) for r in X[y == 1]]
    assert len(kept) == 200 and len(set(kept)) == 200 and set(kept) <= pool_pos
    # the kept positives spread over the whole inner moon, not one end of it
    angle = np.arctan2(X[y == 1][:, 1] - 0.5, X[y == 1][:, 0] - 1.0)
    assert np.ptp(angle) > 2.5
    for key in SPLITS:
        np.testing.assert_array_equal(load_imbalanced_moons(0.1, random_state=6)[key],
                                      data[key])
    assert not np.array_equal(load_imbalanced_moons(0.1, random_state=7).X_train,
                              data.X_train)


def test_breast_cancer_rows_and_sizes():
    data = load_breast_cancer(random_state=0, test_size=0.25, val_size=0.25)
    raw = skd.load_breast_cancer()
    check_protocol(data, 569 - 142 - 142, 142, 142)
    same_rows(unscaled(data), raw.data)


def test_make_large_shapes_subspace_and_learnability():
    data = make_large(400, 6, noise=0.0, random_state=0)
    check_protocol(data, 280, 40, 80)
    X = unscaled(data)
    assert X.shape == (400, 6)
    # without noise the points lie on the rotated 2-D moons plane
    assert np.linalg.matrix_rank(X - X.mean(axis=0), tol=1e-8) == 2
    noisy = make_large(2000, 10, noise=0.2, random_state=1)
    acc = SVC(gamma="scale").fit(noisy.X_train, noisy.y_train).score(noisy.X_test,
                                                                       noisy.y_test)
    assert acc > 0.9
    np.testing.assert_array_equal(make_large(300, 3, random_state=5).X_val,
                                  make_large(300, 3, random_state=5).X_val)


# --- files ---------------------------------------------------------------------------------------

@pytest.fixture
def blobs():
    X, y = skd.make_blobs(200, n_features=4, centers=2, random_state=0)
    return X * 5 + 3, y


def test_embeddings_npz_is_split_and_scaled_on_train(tmp_path, blobs):
    X, y = blobs
    np.savez(tmp_path / "emb.npz", X=X, y=y)
    data = load_embeddings(tmp_path / "emb.npz", random_state=2)
    check_protocol(data, 100, 40, 60)
    same_rows(unscaled(data), X)
    assert data.name == "emb"
    raw = load_embeddings(tmp_path / "emb.npz", random_state=2, scale=False)
    assert raw.scaler is None
    np.testing.assert_allclose(data.scaler.transform(raw.X_test), data.X_test)


def test_embeddings_pre_split_npz_is_used_as_given(tmp_path, blobs):
    X, y = blobs
    parts = dict(X_train=X[:120], y_train=y[:120], X_val=X[120:150], y_val=y[120:150],
                 X_test=X[150:], y_test=y[150:])
    np.savez(tmp_path / "split.npz", **parts)
    data = load_embeddings(tmp_path / "split.npz", random_state=7)
    for key in ("y_train", "y_val", "y_test"):
        np.testing.assert_array_equal(data[key], parts[key])
    np.testing.assert_allclose(data.scaler.mean_, X[:120].mean(axis=0))
    np.testing.assert_allclose(data.scaler.inverse_transform(data.X_test), X[150:])
    # without validation arrays, val_size of the training arrays is held out
    del parts["X_val"], parts["y_val"]
    np.savez(tmp_path / "noval.npz", **parts)
    data = load_embeddings(tmp_path / "noval.npz", val_size=0.25, random_state=0)
    assert (data.y_train.size, data.y_val.size, data.y_test.size) == (90, 30, 50)
    same_rows(data.scaler.inverse_transform(np.vstack([data.X_train, data.X_val])), X[:120])


def test_embeddings_csv_with_text_labels(tmp_path, blobs):
    X, y = blobs
    lines = ["a,review_label,b,c,d"] + [
        f"{float(r[0])!r},{'pos' if t else 'neg'},{float(r[1])!r},{float(r[2])!r},"
        f"{float(r[3])!r}" for r, t in zip(X, y)]
    (tmp_path / "imdb.csv").write_text("\n".join(lines) + "\n")
    data = load_embeddings(tmp_path / "imdb.csv", label="review_label", random_state=0)
    assert set(np.unique(data.y_train)) == {"neg", "pos"}
    same_rows(unscaled(data), X)
    # the label column was taken out of the middle: features keep their order
    X_back = data.scaler.inverse_transform(data.X_train)
    rows = {tuple(np.round(r, 9)): t for r, t in zip(X, y)}
    assert all(rows[tuple(np.round(r, 9))] == (t == "pos") for r, t in
               zip(X_back, data.y_train))


def test_read_labelled_matches_the_file(tmp_path):
    (tmp_path / "t.csv").write_text("x1,y,x2\n1.5,a,2\n-3,b,4e-1\n")
    X, y, table = read_labelled(tmp_path / "t.csv", "y")
    np.testing.assert_array_equal(X, [[1.5, 2.0], [-3.0, 0.4]])
    np.testing.assert_array_equal(y, ["a", "b"])
    assert table[:3] == (["x1", "y", "x2"], [["1.5", "a", "2"], ["-3", "b", "4e-1"]], 1)
    assert table[3] == {"sep": ",", "bom": False, "newline": "\n"}
    np.savez(tmp_path / "t.npz", X=X, y=[0, 1])
    X2, y2, table2 = read_labelled(tmp_path / "t.npz")
    np.testing.assert_array_equal(X2, X)
    assert table2 is None and y2.tolist() == [0, 1]


def test_write_labelled_round_trips(tmp_path):
    X, y = np.arange(6.0).reshape(3, 2), np.array(["a", "b", "a"])
    write_labelled(tmp_path / "t.npz", X, y)
    X2, y2, _ = read_labelled(tmp_path / "t.npz")
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    (tmp_path / "t.csv").write_text("f1,label,f2\n1.50,x,2\n3,y,4e0\n")
    _, y3, table = read_labelled(tmp_path / "t.csv", "label")
    write_labelled(tmp_path / "u.csv", None, ["y", "x"], table)
    # only the label column changes; the features keep their text
    assert (tmp_path / "u.csv").read_text().splitlines() == ["f1,label,f2", "1.50,y,2",
                                                             "3,x,4e0"]


def test_loaders_do_not_share_state_between_calls():
    a = load_breast_cancer(0)
    a.X_train[:] = 0
    assert np.abs(load_breast_cancer(0).X_train).sum() > 0
    assert datasets.__all__[:5] == ["load_moons", "load_digits_1v7", "load_breast_cancer",
                                    "load_embeddings", "make_large"]
    assert {"load_digits", "load_imbalanced_moons"} <= set(datasets.__all__)
