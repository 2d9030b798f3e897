"""The attacks by name: what :func:`~floral.attacks.get` returns and what each attack
takes (more than two classes, a sparse X)."""

from sklearn.utils._param_validation import validate_params

from ._alfa import alfa, alfa_tilt
from ._flips import _random_flip_xy, topk_sv_flip
from ._lfa import lfa

# --- registry ------------------------------------------------------------------------------

_REGISTRY = {
    "random": _random_flip_xy,
    "topk_sv": topk_sv_flip,
    "alfa": alfa,
    "alfa_tilt": alfa_tilt,
    "lfa": lfa,
}
_ALIASES = {"random_flip": "random", "topk_sv_flip": "topk_sv", "topk": "topk_sv"}
# The attacks that take K > 2 classes; the others are defined for two classes.
_MULTICLASS = frozenset({"random", "topk_sv"})
# The attacks that take a scipy.sparse X; the others solve on dense rows and refuse it.
_SPARSE = frozenset({"random", "topk_sv"})


def available():
    """Names of the attacks :func:`get` knows, in the order of the module's table.

    Returns
    -------
    names : tuple of str
    """
    return tuple(_REGISTRY)


@validate_params({"name": [str]}, prefer_skip_nested_validation=True)
def supports_multiclass(name):
    """Whether the attack called ``name`` takes labels of more than two classes.

    ``random`` and ``topk_sv`` do; ``alfa``, ``alfa_tilt`` and ``lfa`` are defined for two
    classes and raise ``ValueError`` on more. The experiment runner asks this before it
    runs a grid on a multi-class dataset.

    Parameters
    ----------
    name : str
        An attack name as :func:`get` accepts it.

    Returns
    -------
    supported : bool
    """
    return canonical_name(name) in _MULTICLASS


@validate_params({"name": [str]}, prefer_skip_nested_validation=True)
def supports_sparse(name):
    """Whether the attack called ``name`` takes a scipy.sparse ``X``.

    ``random`` and ``topk_sv`` do (TF-IDF features, for instance); ``alfa``,
    ``alfa_tilt`` and ``lfa`` raise ``TypeError`` on one.

    Parameters
    ----------
    name : str
        An attack name as :func:`get` accepts it.

    Returns
    -------
    supported : bool
    """
    return canonical_name(name) in _SPARSE


@validate_params({"name": [str]}, prefer_skip_nested_validation=True)
def canonical_name(name):
    """The registry name of the attack called ``name``, as every output prints it.

    Case, ``-`` for ``_`` (``"alfa-tilt"``) and the function names (``"random_flip"``,
    ``"topk_sv_flip"``) are accepted.

    Parameters
    ----------
    name : str

    Returns
    -------
    name : str
        One of :func:`available`.
    """
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise ValueError(
            f"unknown attack {name!r}; available attacks: {', '.join(available())}"
        )
    return key


@validate_params({"name": [str]}, prefer_skip_nested_validation=True)
def get(name):
    """The attack called ``name``, as ``f(X, y, budget, *, random_state=None, **params)``.

    Every attack takes ``(X, y, budget)`` and ``random_state``; ``params`` are the
    attack's own keywords (for all but ``"random"``, the SVM's ``C``, ``kernel``,
    ``gamma``, ...). For ``"random"`` this is :func:`random_flip` with an ``X`` argument
    that is only checked for length.

    Parameters
    ----------
    name : str
        One of :func:`available`, or a spelling :func:`canonical_name` accepts.

    Returns
    -------
    attack : callable
    """
    return _REGISTRY[canonical_name(name)]
