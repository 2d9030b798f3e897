"""The kernel table (floral/_kernels.py) against the compiled core and scikit-learn, and
the places that read it. A kernel added to the table is tested here without a new test."""
import numpy as np
import pytest
from sklearn.metrics.pairwise import pairwise_kernels

from floral import _core, _kernels, _validation, cli
from floral.defenses import KLIDSVC, LNSVC, CurieSVC, LabelSanitizedSVC, klid_weights

KERNELS = list(_kernels.KERNELS)
PARAMS = {"gamma": 0.7, "degree": 3, "coef0": 0.3}


def test_the_cores_kernels_are_the_tables():
    assert set(_core.KERNELS) == set(_kernels.KERNELS)
    assert sorted(_core.KERNELS.values()) == list(range(len(_core.KERNELS)))


@pytest.mark.parametrize("kernel", KERNELS)
def test_the_cores_values_are_the_tables_gram(kernel):
    rng = np.random.default_rng(0)
    X, SV = rng.normal(size=(40, 5)) / 2, rng.normal(size=(30, 5)) / 2
    params = _kernels.kernel_params(kernel, **PARAMS)
    expected = _kernels.gram(X, SV, params)
    # an identity matrix of coefficients gives one kernel column per support vector
    got = _core.decision_function(X, SV, np.eye(SV.shape[0]), np.zeros(SV.shape[0]),
                                  kernel=kernel, **PARAMS)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel", KERNELS)
def test_gram_is_sklearns_kernel_with_the_parameters_it_reads(kernel):
    X = np.random.default_rng(1).normal(size=(25, 4))
    params = _kernels.kernel_params(kernel, **PARAMS)
    assert params.pop("metric") == kernel
    assert set(params) == set(_kernels.KERNELS[kernel].params)
    np.testing.assert_array_equal(_kernels.gram(X, X, _kernels.kernel_params(kernel, **PARAMS)),
                                  pairwise_kernels(X, X, metric=kernel, **params))


@pytest.mark.parametrize("kernel", KERNELS)
def test_diagonal_is_the_grams_diagonal(kernel):
    X = np.random.default_rng(2).normal(size=(30, 3))
    params = _kernels.kernel_params(kernel, **PARAMS)
    np.testing.assert_allclose(_kernels.diagonal(X, params),
                               np.diag(_kernels.gram(X, X, params)), rtol=1e-12, atol=1e-14)


def _quoted(names):
    names = [f'"{n}"' for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def test_validation_and_docstrings_list_the_table():
    (options,) = _validation.KERNEL
    assert options.options == set(KERNELS)
    assert KERNELS[0] == "rbf"  # the default, listed first
    listed = "{" + ", ".join(f'"{k}"' for k in KERNELS) + "}"
    degree = _quoted(k for k in KERNELS if "degree" in _kernels.KERNELS[k].params)
    coef0 = _quoted(k for k in KERNELS if "coef0" in _kernels.KERNELS[k].params)
    for obj in (KLIDSVC, CurieSVC, LabelSanitizedSVC, LNSVC, klid_weights):
        doc = obj.__doc__
        assert f"kernel : {listed}, default=\"rbf\"" in doc, obj
        assert f"Degree of the {degree} kernel." in doc, obj
        assert f"Independent term of the {coef0} kernels." in doc, obj
        assert "_kernels}" not in doc and "{kernel_options}" not in doc, obj


@pytest.mark.parametrize("command", ["attack", "audit"])
def test_cli_kernel_help_and_choices_come_from_the_table(command, capsys):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    listed = ", ".join(KERNELS[:-1]) + " or " + KERNELS[-1]
    assert f"SVM kernel: {listed} (default rbf)" in help_text
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "data.npz", "--kernel", "cosine"])
    assert exc.value.code == 2
    assert "--kernel" in capsys.readouterr().err


def test_every_kernel_has_an_onnx_type_or_none():
    for kernel in _kernels.KERNELS.values():
        assert kernel.onnx in (None, "LINEAR", "POLY", "RBF", "SIGMOID")


@pytest.mark.parametrize("kernel", KERNELS)
def test_compaction_follows_the_tables_flag(kernel, monkeypatch):
    from floral import _assembly

    monkeypatch.setattr(_assembly, "COMPACT_MIN_SV", 10)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3))
    params = _kernels.kernel_params(kernel, **PARAMS)
    if _kernels.KERNELS[kernel].compact:
        # the compaction's error bound is Cauchy-Schwarz in the kernel's feature space
        eig = np.linalg.eigvalsh(_kernels.gram(X, X, params))
        assert eig.min() >= -1e-9 * eig.max()
    # a smooth expansion over every point: compactable where the table allows it
    coef = np.sin(X[:, 0])[None, :] * 1e-2
    got = _assembly.compact_expansion(X, [coef], kernel, **PARAMS)
    if not _kernels.KERNELS[kernel].compact:
        assert got is None
    else:
        assert got is not None and got[0].size < X.shape[0]
