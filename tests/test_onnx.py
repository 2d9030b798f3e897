"""ONNX export (floral/onnx.py): onnxruntime's outputs against FloralSVC's own
decision_function and predict on held-out points, every kernel, two and three classes.

The graph runs in float32, so the decision values agree to float32 rounding (1e-5 of their
scale); predictions agree wherever the decision is not within that rounding of a tie.
Skipped when skl2onnx / onnxruntime are not installed (pip install "floral-svm[onnx]").
"""
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from floral import FloralSVC

rt = pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")
floral_onnx = pytest.importorskip("floral.onnx")


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(420, 6, n_informative=4, n_classes=3, random_state=0)
    X = (X - X.mean(0)) / X.std(0)
    return X[:300], y[:300], X[300:], y[300:]


def _run(onx, X):
    sess = rt.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: X.astype(np.float32)})


def _check(model, X_test, label, scores):
    dec = model.decision_function(X_test)
    two = dec.ndim == 1
    got = scores[:, 1] if two else scores
    scale = max(1.0, float(np.abs(dec).max()))
    np.testing.assert_allclose(got, dec, rtol=0, atol=1e-5 * scale)
    if two:
        np.testing.assert_array_equal(scores[:, 0], -scores[:, 1])
        margin = np.abs(dec)
    else:
        top2 = np.sort(dec, axis=1)[:, -2:]
        margin = top2[:, 1] - top2[:, 0]
    clear = margin > 1e-4 * scale
    assert clear.mean() > 0.95
    np.testing.assert_array_equal(label[clear], model.predict(X_test)[clear])


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("kernel", ["linear", "rbf", "poly", "sigmoid"])
def test_onnx_matches_floral(data, kernel, n_classes):
    X, y, X_test, _ = data
    if n_classes == 2:
        y = y > 0
    params = dict(kernel=kernel, n_rounds=40, random_state=0, C=3.0)
    if kernel == "sigmoid":
        params["gamma"] = 0.05
    if kernel == "poly":
        params.update(degree=2, coef0=1.0)
    model = FloralSVC(**params).fit(X, y)
    label, scores = _run(floral_onnx.to_onnx(model), X_test)
    assert scores.shape == (X_test.shape[0], n_classes)
    _check(model, X_test, label, scores)


def test_onnx_string_labels_and_pipeline(data):
    from skl2onnx import to_onnx

    X, y, X_test, _ = data
    names = np.array(["ant", "bee", "cat"])[y]
    floral_onnx.register()
    pipe = make_pipeline(StandardScaler(), FloralSVC(n_rounds=30, random_state=0))
    pipe.fit(X * 3 + 1, names)
    onx = to_onnx(pipe, (X[:1] * 3 + 1).astype(np.float32))
    label, scores = _run(onx, X_test * 3 + 1)
    assert label.dtype.kind in "OU"
    _check(pipe, X_test * 3 + 1, label, scores)


def test_onnx_linear_model_fitted_on_sparse_rows(data):
    X, y, X_test, _ = data
    Xs = sp.csr_matrix(np.where(np.abs(X) > 0.8, X, 0.0))
    model = FloralSVC(kernel="linear", n_rounds=30, random_state=0).fit(Xs, y > 0)
    label, scores = _run(floral_onnx.to_onnx(model), X_test)
    _check(model, X_test, label, scores)


def test_onnx_needs_a_fitted_model():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        floral_onnx.to_onnx(FloralSVC())
