"""Export a fitted :class:`~floral.FloralSVC` to ONNX (optional: ``pip install
"floral-svm[onnx]"``, which brings skl2onnx, onnx and onnxruntime).

:func:`register` adds FloralSVC to skl2onnx's converter registry, so that
``skl2onnx.to_onnx`` / ``convert_sklearn`` convert it, alone or inside a pipeline;
:func:`to_onnx` does both for a model on its own.

The graph computes what ``decision_function`` computes, in float32:

- ``kernel="linear"``: ``X @ coef_.T + intercept_`` (one Gemm; the support vectors are not
  needed, so a model fitted on sparse TF-IDF rows exports as d weights per problem);
- the other kernels: per problem (one with two classes, one per class one-vs-rest), the
  kernel expansion ``sum_j dual_coef_[p, j] K(support_vectors_[j], x) + intercept_[p]``
  as an ``ai.onnx.ml`` SVMRegressor node (scikit-learn's kernel formulas: rbf, poly,
  sigmoid), the problems concatenated.

Outputs: ``label`` (N,) and ``scores`` (N, n_classes). With two classes ``scores`` is
``[-d, d]`` for the decision value ``d`` (so ``scores[:, 1]`` is ``decision_function``);
with more it is the one-vs-rest values. ``label`` is ``classes_[1]`` where ``d > 0``
(else ``classes_[0]``), or the class of the largest one-vs-rest value (the first on
ties), as ``predict``. Floral's multi-class model is one-vs-rest, not SVC's one-vs-one,
which is why it is not mapped onto SVC's converter.
"""
import numpy as np

from ._kernels import KERNELS

__all__ = ["register", "to_onnx"]


def _require():
    try:
        import onnx  # noqa: F401
        import skl2onnx  # noqa: F401
    except ImportError as exc:
        raise ImportError('ONNX export needs skl2onnx and onnx: pip install '
                          '"floral-svm[onnx]"') from exc


def _label_type(classes):
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        Int64TensorType,
        StringTensorType,
    )

    if classes.dtype.kind in "iub":
        return Int64TensorType()
    if classes.dtype.kind == "f":
        return DoubleTensorType()
    return StringTensorType()


def _parse(scope, model, inputs, custom_parsers=None):
    from skl2onnx import get_model_alias
    from skl2onnx.common.data_types import FloatTensorType

    op = scope.declare_local_operator(get_model_alias(type(model)), model)
    op.inputs = inputs
    label = scope.declare_local_variable("label", _label_type(model.classes_))
    scores = scope.declare_local_variable("scores", FloatTensorType())
    op.outputs.append(label)
    op.outputs.append(scores)
    return op.outputs


def _shape(operator):
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = operator.outputs[0].type.__class__([n])
    operator.outputs[1].type = operator.outputs[1].type.__class__(
        [n, len(operator.raw_operator.classes_)])


def _convert(scope, operator, container):
    from onnx import TensorProto

    model = operator.raw_operator
    name = scope.get_unique_variable_name
    X = name("X32")
    container.add_node("Cast", operator.inputs[0].full_name, X, to=TensorProto.FLOAT,
                       name=scope.get_unique_operator_name("Cast"))

    def const(prefix, values, dtype=TensorProto.FLOAT):
        values = np.asarray(values)
        key = name(prefix)
        if dtype == TensorProto.STRING:
            content = [str(v).encode("utf-8") for v in values.ravel()]
        else:
            content = values.ravel().tolist()
        container.add_initializer(key, dtype, list(values.shape), content)
        return key

    n_problems = model.intercept_.shape[0]
    raw = name("raw")
    if model.kernel == "linear":
        w = const("coef", np.asarray(model.coef_, dtype=np.float32).T)
        b = const("intercept", np.asarray(model.intercept_, dtype=np.float32))
        container.add_node("Gemm", [X, w, b], raw, name=scope.get_unique_operator_name("Gemm"))
    else:
        sv = model.support_vectors_
        sv = sv.toarray() if hasattr(sv, "toarray") else np.asarray(sv)
        params = [float(model._gamma), float(model.coef0), float(model.degree)]
        parts = []
        for p in range(n_problems):
            keep = np.flatnonzero(model.dual_coef_[p])
            if keep.size == 0:  # a problem without support vectors is its intercept
                keep = np.array([0])
            out = name(f"problem{p}")
            container.add_node(
                "SVMRegressor", X, out, op_domain="ai.onnx.ml", op_version=1,
                name=scope.get_unique_operator_name("SVMRegressor"),
                coefficients=model.dual_coef_[p, keep].astype(np.float32).tolist(),
                support_vectors=sv[keep].astype(np.float32).ravel().tolist(),
                n_supports=int(keep.size), kernel_type=KERNELS[model.kernel].onnx,
                kernel_params=params, rho=[float(model.intercept_[p])],
                post_transform="NONE")
            parts.append(out)
        if n_problems == 1:
            container.add_node("Identity", parts[0], raw,
                               name=scope.get_unique_operator_name("Identity"))
        else:
            container.add_node("Concat", parts, raw, axis=1,
                               name=scope.get_unique_operator_name("Concat"))

    scores = operator.outputs[1].full_name
    index = name("index")
    if n_problems == 1:
        neg = name("neg")
        container.add_node("Neg", raw, neg, name=scope.get_unique_operator_name("Neg"))
        container.add_node("Concat", [neg, raw], scores, axis=1,
                           name=scope.get_unique_operator_name("Concat"))
        positive, flat = name("positive"), name("positive_flat")
        container.add_node("Greater", [raw, const("zero", np.zeros(1, np.float32))],
                           positive, name=scope.get_unique_operator_name("Greater"))
        container.add_node("Reshape", [positive, const("flat", np.array([-1]),
                                                       TensorProto.INT64)],
                           flat, name=scope.get_unique_operator_name("Reshape"))
        container.add_node("Cast", flat, index, to=TensorProto.INT64,
                           name=scope.get_unique_operator_name("Cast"))
    else:
        container.add_node("Identity", raw, scores,
                           name=scope.get_unique_operator_name("Identity"))
        container.add_node("ArgMax", raw, index, axis=1, keepdims=0,
                           name=scope.get_unique_operator_name("ArgMax"))
    classes = model.classes_
    if classes.dtype.kind in "iub":
        table = const("classes", classes.astype(np.int64), TensorProto.INT64)
    elif classes.dtype.kind == "f":
        table = const("classes", classes.astype(np.float64), TensorProto.DOUBLE)
    else:
        table = const("classes", classes.astype(str), TensorProto.STRING)
    container.add_node("Gather", [table, index], operator.outputs[0].full_name, axis=0,
                       name=scope.get_unique_operator_name("Gather"))


def register():
    """Register FloralSVC's converter with skl2onnx (safe to call more than once).

    Afterwards ``skl2onnx.to_onnx(model, X[:1].astype(np.float32))`` converts a fitted
    FloralSVC, also as the last step of a pipeline whose other steps skl2onnx knows.
    """
    _require()
    from skl2onnx import update_registered_converter

    from .svm import FloralSVC

    update_registered_converter(FloralSVC, "FloralFloralSVC", _shape, _convert,
                                parser=_parse)


def to_onnx(model, n_features=None, *, target_opset=None):
    """A fitted FloralSVC as an ONNX model with one float32 input ``X`` of shape
    (N, n_features) and the outputs ``label`` and ``scores`` (see the module).

    Parameters
    ----------
    model : FloralSVC
        A fitted estimator.
    n_features : int, default=None
        Input width; ``model.n_features_in_`` when None.
    target_opset : int, default=None
        ONNX opset (skl2onnx's default when None).

    Returns
    -------
    onnx_model : onnx.ModelProto
        Save it with ``onnx_model.SerializeToString()``; run it with
        ``onnxruntime.InferenceSession``.

    Raises
    ------
    ValueError
        A kernel ONNX's SVM operators do not have.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)
    if KERNELS[model.kernel].onnx is None:
        raise ValueError(f"ONNX's SVM operators have no {model.kernel!r} kernel; "
                         "a model with this kernel cannot be exported")
    register()
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    d = int(model.n_features_in_ if n_features is None else n_features)
    return convert_sklearn(model, initial_types=[("X", FloatTensorType([None, d]))],
                           target_opset=target_opset)
