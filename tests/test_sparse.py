"""Sparse input: FloralSVC, the attacks and the file readers on scipy.sparse matrices.

The oracle for every sparse path is the dense path on the same values: the CSR operator
(floral/_core/sparse_features.hpp) sums what the dense feature operator sums, in the same
order, so the rounds -- and the fitted dual coefficients and intercepts -- are bitwise
equal. coef_ is X^T c summed once more outside the core (scipy's sparse product against
NumPy's dense one), so it and the decision values agree to rounding (1e-12 relative).
"""
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from floral import FloralSVC, attacks
from floral import _validation as validation
from floral._kernels import KERNELS
from floral.cli import main as cli_main
from floral.datasets import load_embeddings, make_text_corpus, read_labelled, write_labelled


def _tfidf(n, d, seed, n_classes=2, n_val=0):
    """TF-IDF of a synthetic corpus: (X, y), or (X, y, X_val, y_val) with the last n_val
    documents of the same corpus as validation rows."""
    X, y = make_text_corpus(n + n_val, d, n_classes=n_classes, document_length=40,
                            random_state=seed)
    X = TfidfTransformer().fit_transform(X).tocsr()
    if not n_val:
        return X, y
    return X[:n], y[:n], X[n:], y[n:]


@pytest.fixture(scope="module")
def text():
    # n >= 2 d, so the dense twin runs in feature space too (the same operator family)
    return _tfidf(1400, 300, 0, n_val=300)


def _same_model(a, b):
    np.testing.assert_array_equal(a.support_, b.support_)
    np.testing.assert_array_equal(a.dual_coef_, b.dual_coef_)
    np.testing.assert_array_equal(a.intercept_, b.intercept_)
    np.testing.assert_array_equal(a.flipped_, b.flipped_)
    np.testing.assert_array_equal(a.kept_rounds_, b.kept_rounds_)
    np.testing.assert_array_equal(a.history_["objective"], b.history_["objective"])


_KW = dict(kernel="linear", C=10.0, n_rounds=40, flip_budget=0.05, random_state=0)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_sparse_linear_fit_is_the_dense_fit(n_classes):
    X, y, Xv, yv = _tfidf(900, 300, 2, n_classes, n_val=200)
    s = FloralSVC(**_KW).fit(X, y, X_val=Xv, y_val=yv)
    d = FloralSVC(**_KW).fit(X.toarray(), y, X_val=Xv.toarray(), y_val=yv)
    assert s._storage["storage"] == "csr" and d._storage["storage"] == "features"
    _same_model(s, d)
    # a linear model is coef_ and intercept_: no rows of X are kept, sparse or dense
    assert s.support_vectors_.shape == d.support_vectors_.shape == (0, X.shape[1])
    assert isinstance(s.coef_, np.ndarray) and s.coef_.shape == d.coef_.shape
    np.testing.assert_allclose(s.coef_, d.coef_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(s.decision_function(Xv), d.decision_function(Xv.toarray()),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(s.predict(Xv), d.predict(Xv.toarray()))
    for pick in ("last_round", "best_round"):  # the other kept models, over sparse rows
        a, b = getattr(s, pick)(), getattr(d, pick)()
        np.testing.assert_array_equal(a.dual_coef_, b.dual_coef_)
        np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-12, atol=1e-14)
    # the decision function is X w + b with the dense coef_, whatever X's format
    np.testing.assert_allclose(s.decision_function(Xv.toarray()), s.decision_function(Xv),
                               rtol=1e-12, atol=1e-12)


def test_sparse_linear_is_the_same_for_any_thread_count():
    # large enough that the core's parallel regions run (PARALLEL_MIN_WORK in common.hpp)
    X, y = _tfidf(8000, 4000, 4)  # about 280,000 stored values
    fits = [FloralSVC(**{**_KW, "n_rounds": 15}, n_jobs=t).fit(X, y) for t in (1, 2, 3)]
    for other in fits[1:]:
        _same_model(fits[0], other)
        np.testing.assert_array_equal(fits[0].coef_, other.coef_)


@pytest.mark.parametrize("convert", [
    lambda X: X.tocsc(), lambda X: X.tocoo(), lambda X: sp.csr_array(X),
    lambda X: sp.coo_array(X),
    lambda X: sp.csr_matrix((X.data, X.indices.astype(np.int64), X.indptr.astype(np.int64)),
                            shape=X.shape),
], ids=["csc", "coo", "csr_array", "coo_array", "int64-indices"])
def test_sparse_formats_give_the_csr_model(text, convert):
    X, y, Xv, yv = text
    ref = FloralSVC(**_KW).fit(X, y, X_val=Xv, y_val=yv)
    other = FloralSVC(**_KW).fit(convert(X), y, X_val=convert(Xv), y_val=yv)
    _same_model(ref, other)
    np.testing.assert_array_equal(ref.decision_function(Xv), other.decision_function(convert(Xv)))


def test_sparse_float32_is_read_as_it_is(text):
    # float32 values are stored as float32 in the core and widened exactly: the model of
    # the float64 matrix with the same values
    X, y, Xv, yv = text
    X32 = X.astype(np.float32)
    a = FloralSVC(**_KW).fit(X32, y, X_val=Xv, y_val=yv)
    b = FloralSVC(**_KW).fit(X32.astype(np.float64), y, X_val=Xv.astype(np.float32), y_val=yv)
    _same_model(a, b)


def test_non_canonical_csr_is_summed_not_modified(text):
    X, y, _, _ = text
    # every stored value split in two halves, rows' indices reversed: not canonical
    coo = X.tocoo()
    half = coo.data / 2
    rows = np.concatenate([coo.row, coo.row])[::-1]
    cols = np.concatenate([coo.col, coo.col])[::-1]
    vals = np.concatenate([half, coo.data - half])[::-1]
    order = np.argsort(rows, kind="stable")
    counts = np.bincount(rows, minlength=X.shape[0])
    messy = sp.csr_matrix((vals[order], cols[order], np.concatenate([[0], np.cumsum(counts)])),
                          shape=X.shape)
    assert not messy.has_canonical_format
    before = (messy.data.copy(), messy.indices.copy(), messy.indptr.copy())
    ref = FloralSVC(**_KW).fit(X, y)
    got = FloralSVC(**_KW).fit(messy, y)
    for a, b in zip(before, (messy.data, messy.indices, messy.indptr)):
        np.testing.assert_array_equal(a, b)  # the caller's matrix is untouched
    # (a/2 + (a - a/2)) == a exactly, so the summed duplicates are X's values
    np.testing.assert_array_equal(ref.dual_coef_, got.dual_coef_)


def test_sparse_and_dense_validation_sets_mix(text):
    X, y, Xv, yv = text
    ref = FloralSVC(**_KW).fit(X, y, X_val=Xv, y_val=yv)
    _same_model(ref, FloralSVC(**_KW).fit(X, y, X_val=Xv.toarray(), y_val=yv))
    dense = FloralSVC(**_KW).fit(X.toarray(), y, X_val=Xv.toarray(), y_val=yv)
    _same_model(dense, FloralSVC(**_KW).fit(X.toarray(), y, X_val=Xv.tocsc(), y_val=yv))
    with pytest.raises(ValueError, match="X_val has 299 features"):
        FloralSVC(**_KW).fit(X, y, X_val=Xv[:, :299], y_val=yv)


def test_sparse_fit_forms_no_dense_matrix():
    # dense, X would take 2000 x 40000 x 8 = 640 MB; the CSR matrix takes ~1 MB
    X, y = make_text_corpus(2000, 40000, document_length=60, random_state=5)
    X = TfidfTransformer().fit_transform(X).tocsr()
    dense_bytes = 8 * X.shape[0] * X.shape[1]
    tracemalloc.start()
    try:
        clf = FloralSVC(kernel="linear", n_rounds=10, random_state=0).fit(X, y)
        clf.predict(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < dense_bytes / 50, (peak, dense_bytes)
    assert clf.coef_.shape == (1, X.shape[1])


def test_make_pipeline_tfidf_text():
    # README "Text and sparse features": the raw validation documents routed through the
    # pipeline's own vectorizer give the model fitted on the vectorized splits by hand
    docs, y = make_text_corpus(1000, 800, as_text=True, random_state=6)
    docs, y, docs_val, y_val = docs[:700], y[:700], docs[700:], y[700:]
    kw = dict(kernel="linear", C=1.0, flip_budget=0.05, n_rounds=100, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(TfidfVectorizer(),
                             FloralSVC(**kw).set_fit_request(X_val=True, y_val=True),
                             transform_input=["X_val"])
        pipe.fit(docs, y, X_val=docs_val, y_val=y_val)
    vec = TfidfVectorizer().fit(docs)
    by_hand = FloralSVC(**kw).fit(vec.transform(docs), y, X_val=vec.transform(docs_val),
                                  y_val=y_val)
    np.testing.assert_array_equal(pipe[-1].history_["val_accuracy"],
                                  by_hand.history_["val_accuracy"])
    np.testing.assert_allclose(pipe.decision_function(docs_val),
                               by_hand.decision_function(vec.transform(docs_val)),
                               atol=1e-12)
    oracle = make_pipeline(TfidfVectorizer(), LinearSVC()).fit(docs, y)
    assert pipe.score(docs_val, y_val) >= oracle.score(docs_val, y_val) - 0.08


@pytest.mark.parametrize("kernel", [k for k in KERNELS if k != "linear"])
def test_sparse_other_kernels_run_on_dense_rows(text, kernel):
    X, y, Xv, yv = text
    X, y = X[:300], y[:300]
    kw = dict(kernel=kernel, n_rounds=15, random_state=0, gamma="scale")
    s = FloralSVC(**kw).fit(X, y, X_val=Xv, y_val=yv)
    d = FloralSVC(**kw).fit(X.toarray(), y, X_val=Xv.toarray(), y_val=yv)
    _same_model(s, d)
    assert s._gamma == pytest.approx(d._gamma, rel=1e-12)  # gamma="scale" on sparse X
    np.testing.assert_array_equal(s.decision_function(Xv), d.decision_function(Xv.toarray()))


def test_sparse_other_kernels_refused_above_the_limit(text, monkeypatch):
    X, y, _, _ = text
    monkeypatch.setattr(validation, "SPARSE_DENSE_MB", 0.5)
    with pytest.raises(ValueError, match=r"X is sparse .*kernel='rbf'.*kernel='linear'"):
        FloralSVC(kernel="rbf", n_rounds=2).fit(X, y)
    FloralSVC(kernel="linear", n_rounds=2).fit(X, y)  # the linear kernel never densifies


@pytest.mark.parametrize("name", ["random", "topk_sv"])
def test_attacks_accept_sparse(text, name):
    X, y, _, _ = text
    X, y = X[:300], y[:300]
    assert attacks.supports_sparse(name)
    params = {} if name == "random" else {"kernel": "linear", "C": 1.0}
    got = attacks.get(name)(X, y, 0.1, random_state=0, **params)
    want = attacks.get(name)(X.toarray(), y, 0.1, random_state=0, **params)
    np.testing.assert_array_equal(got, want)
    assert np.count_nonzero(got != y) == 30


@pytest.mark.parametrize("name", ["alfa", "alfa_tilt", "lfa"])
def test_attacks_refuse_sparse(text, name):
    X, y, _, _ = text
    assert not attacks.supports_sparse(name)
    with pytest.raises(TypeError, match=f"The {name} attack needs a dense X"):
        attacks.get(name)(X[:100], y[:100], 0.1, random_state=0)


def test_sparse_npz_files(tmp_path, text):
    X, y, _, _ = text
    path = tmp_path / "text.npz"
    write_labelled(path, X.tocsc(), y)
    np.testing.assert_array_equal(sp.load_npz(path).toarray(), X.toarray())  # scipy reads it
    X2, y2, table = read_labelled(path)
    assert sp.issparse(X2) and table is None
    np.testing.assert_array_equal(X2.toarray(), X.toarray())
    np.testing.assert_array_equal(y2, y)
    data = load_embeddings(path, random_state=0)
    assert all(sp.issparse(data[k]) for k in ("X_train", "X_val", "X_test"))
    assert data.X_train.shape[0] + data.X_val.shape[0] + data.X_test.shape[0] == X.shape[0]
    # scaled without centring (sparsity kept): unit variance per used training column
    std = np.sqrt(np.asarray(data.X_train.multiply(data.X_train).mean(0)).ravel()
                  - np.asarray(data.X_train.mean(0)).ravel() ** 2)
    np.testing.assert_allclose(std[std > 0], 1.0, rtol=1e-9)
    # a bare scipy.sparse.save_npz file has no labels
    bare = tmp_path / "bare.npz"
    sp.save_npz(bare, X)
    with pytest.raises(ValueError, match="no labels"):
        read_labelled(bare)


def test_cli_reads_sparse_npz(tmp_path, text, capsys):
    X, y, _, _ = text
    path = tmp_path / "text.npz"
    write_labelled(path, X[:200], y[:200])
    out = tmp_path / "poisoned.npz"
    assert cli_main(["attack", str(path), "--attack", "topk_sv", "--budget", "0.1",
                     "--kernel", "linear", "--out", str(out)]) == 0
    X2, y2, _ = read_labelled(out)
    assert sp.issparse(X2) and np.count_nonzero(y2 != y[:200]) == 20
    assert cli_main(["attack", str(path), "--attack", "alfa", "--budget", "0.1"]) == 2
    assert "sparse" in capsys.readouterr().err
    assert cli_main(["run", "--dataset", str(path), "--attack", "random", "--budget", "0.1",
                     "--methods", "floral", "svm", "--seeds", "1", "--rounds", "5",
                     "--no-figures", "--quiet", "--n-jobs", "1"]) == 0


def test_make_text_corpus():
    X, y = make_text_corpus(3000, 2000, random_state=8)
    X2, y2 = make_text_corpus(3000, 2000, random_state=8)
    assert (X != X2).nnz == 0 and np.array_equal(y, y2)
    assert sp.isspmatrix_csr(X) and X.shape == (3000, 2000) and set(np.unique(y)) == {0, 1}
    lengths = np.asarray(X.sum(axis=1)).ravel()
    assert abs(lengths.mean() - 150) < 3  # Poisson(150) lengths
    freq = np.asarray(X.sum(axis=0)).ravel()
    # Zipf: term frequency falls like rank^-1.07 (fit over the 200 most frequent ranks)
    ranks = np.arange(1, 201)
    slope = np.polyfit(np.log(ranks), np.log(freq[:200]), 1)[0]
    assert -1.3 < slope < -0.85
    # class-dependent frequencies: a linear model tells the classes apart from the counts,
    # and cannot with class_sep=0 (one distribution for both)
    X0, y0 = make_text_corpus(3000, 2000, class_sep=0.0, random_state=8)
    def score(X, y):
        model = make_pipeline(TfidfTransformer(), LogisticRegression())
        return cross_val_score(model, X, y, cv=3).mean()
    assert score(X, y) > 0.8
    assert score(X0, y0) < 0.6
    docs, yd = make_text_corpus(5, 100, as_text=True, random_state=8)
    assert len(docs) == 5 and all(w[0] == "w" and 0 <= int(w[1:]) < 100
                                  for d in docs for w in d.split())


def test_sparse_features_too_large_for_the_kernel_are_a_value_error():
    # the finiteness check reads CSR rows as they are (it used to fail inside np.einsum)
    X, y, _, _ = _tfidf(200, 50, 5, n_val=10)
    X = X * 1e200
    with pytest.raises(ValueError, match="features are too large"):
        FloralSVC(kernel="linear", n_rounds=3, flip_budget=0.05).fit(X, y)
