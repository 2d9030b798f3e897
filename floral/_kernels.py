"""The kernels floral knows, in one table that every layer above the compiled core reads.

Each kernel is scikit-learn's pairwise kernel of the same name (SVC's formulas); the
compiled core evaluates the same formula (``floral/_core/kernel.hpp``). Parameter
validation (:mod:`floral._validation`), the defenses, the attacks, the command line's help,
the estimators' docstrings, the ONNX export and the test oracles take the names and the
parameters from :data:`KERNELS`, and ``tests/test_kernels.py`` checks that the core's list
(``floral._core.KERNELS``) is this one and that the core's values are :func:`gram`'s.

Adding a kernel: an entry here, its formula in ``kernel.hpp`` (with its id in the core's
``KERNELS``), and the tests read the table (a kernel scikit-learn's ``pairwise_kernels``
does not know also needs its Gram here).
"""
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

__all__ = ["Kernel", "KERNELS", "kernel_params", "gram", "diagonal", "document"]


@dataclass(frozen=True)
class Kernel:
    """One kernel: its name, formula, the parameters it reads and its diagonal.

    ``params`` are the ones among ``gamma``, ``degree`` and ``coef0`` the formula reads
    (the others are accepted and ignored, as by SVC). ``diagonal(sq, params)`` is
    K(x, x) from the squared norms ``sq`` of the rows and :func:`kernel_params`'
    keywords, without forming the Gram matrix. ``onnx`` is the ``kernel_type`` of ONNX's
    SVM operators, None where ONNX has no such kernel. ``compact``: a fitted model's kernel
    expansion may be replaced by a smaller one (``floral._assembly.compact_expansion``);
    it needs a positive semidefinite kernel (the error bound is Cauchy-Schwarz in its
    feature space), and the linear kernel keeps its weight vector instead.
    """

    name: str
    formula: str
    params: tuple
    diagonal: Callable
    onnx: Optional[str] = None
    compact: bool = False


# In the order the docs and help list them (the default first).
KERNELS = {k.name: k for k in (
    Kernel("rbf", "exp(-gamma ||x - z||^2)", ("gamma",),
           lambda sq, p: np.ones_like(sq), "RBF", compact=True),
    Kernel("linear", "<x, z>", (), lambda sq, p: sq, "LINEAR"),
    Kernel("poly", "(gamma <x, z> + coef0)^degree", ("gamma", "degree", "coef0"),
           lambda sq, p: (p["gamma"] * sq + p["coef0"]) ** p["degree"], "POLY",
           compact=True),
    Kernel("sigmoid", "tanh(gamma <x, z> + coef0)", ("gamma", "coef0"),
           lambda sq, p: np.tanh(p["gamma"] * sq + p["coef0"]), "SIGMOID"),
)}


def kernel_params(kernel, gamma, degree, coef0):
    """pairwise_kernels keywords for one of the kernels (gamma already a float): the
    ``metric`` and the parameters the kernel reads."""
    values = {"gamma": gamma, "degree": int(degree), "coef0": float(coef0)}
    return {"metric": kernel, **{k: values[k] for k in KERNELS[kernel].params}}


def gram(A, B, params):
    """K(A, B), float64, for keywords from :func:`kernel_params`."""
    from sklearn.metrics.pairwise import pairwise_kernels

    return pairwise_kernels(A, B, filter_params=False, **params)


def diagonal(X, params):
    """K(x_i, x_i) for every row of the dense ``X``, for keywords from
    :func:`kernel_params`."""
    sq = np.einsum("ij,ij->i", X, X)
    return KERNELS[params["metric"]].diagonal(sq, params)


def _reading(param):
    names = [f'"{k.name}"' for k in KERNELS.values() if param in k.params]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


# placeholders of the kernel parameters' docstring entries, filled by document()
_DOC_FIELDS = {
    "{kernel_options}": lambda: "{" + ", ".join(f'"{k}"' for k in KERNELS) + "}",
    "{degree_kernels}": lambda: _reading("degree"),
    "{coef0_kernels}": lambda: _reading("coef0"),
}


def document(obj):
    """Fill the kernel parameters' docstring entries of a class or function from the table
    (``{kernel_options}``, ``{degree_kernels}``, ``{coef0_kernels}``), so a new kernel
    shows in every docstring; a decorator that returns ``obj``."""
    doc = obj.__doc__
    for field, text in _DOC_FIELDS.items():
        doc = doc.replace(field, text())
    obj.__doc__ = doc
    return obj
