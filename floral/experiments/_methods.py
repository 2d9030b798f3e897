"""The runner's methods: names, display names, the estimators behind them and how the
runner takes their Model, Best and Last."""
import inspect
from dataclasses import dataclass, field
from typing import Optional

__all__ = ["FLORAL_PARAMS", "NN_PARAMS", "Method", "available_methods", "make_method",
           "method_key", "display_name", "method_entry", "methods_trained_by"]

# FLORAL in the grid (and in floral demo): FloralSVC's defaults (learning_rate="auto", 500
# rounds, the 5 best validation rounds) with the paper's attacker budget, 5% of n, pinned:
# the grid reproduces the paper's game, not FloralSVC's choice of it on the validation set
# (flip_budget="auto"); C and gamma come from the grid.
FLORAL_PARAMS = {"flip_budget": 0.05}
# The paper's Moon network (two hidden layers of 32 ReLU units, sigmoid output), trained
# with Adam on batches of 32; epochs = max_iter.
NN_PARAMS = dict(hidden_layer_sizes=(32, 32), activation="relu", solver="adam",
                 learning_rate_init=1e-3, batch_size=32, max_iter=200)


@dataclass(frozen=True)
class Method:
    """One method of the grid.

    ``training`` says how the runner fits it and takes Model, Best and Last (the
    fitting itself is in ``_execution``):

    - ``"rounds"``: an estimator that records its rounds (FloralSVC): fitted with the
      validation split; Model is the fitted estimator, Best its ``best_round()``, Last its
      ``last_round()``;
    - ``"epochs"``: an estimator trained epoch by epoch with ``partial_fit`` for
      ``max_iter`` epochs; Best (and Model) is the epoch of highest validation accuracy,
      Last the final one;
    - ``None``: a single fit; Model, Best and Last are the same model.

    ``length`` is the constructor argument that sets the number of rounds or epochs.
    """

    estimator: str  # import path, "module:Class"
    display: str
    defaults: dict = field(default_factory=dict)
    training: Optional[str] = None
    length: Optional[str] = None


# in the paper's column order
_METHODS = {
    "floral": Method("floral.svm:FloralSVC", "FLORAL", FLORAL_PARAMS, "rounds", "n_rounds"),
    "svm": Method("sklearn.svm:SVC", "SVM"),
    "nn": Method("sklearn.neural_network:MLPClassifier", "NN", NN_PARAMS, "epochs",
                 "max_iter"),
    # the same network, so epsilon=0 is nn exactly; the PGD settings are the estimator's
    "nn-pgd": Method("floral.defenses:PGDTrainedMLP", "NN-PGD", NN_PARAMS, "epochs",
                     "max_iter"),
    "ln-svm": Method("floral.defenses:LNSVC", "LN-SVM"),
    "curie": Method("floral.defenses:CurieSVC", "Curie"),
    "ls-svm": Method("floral.defenses:LabelSanitizedSVC", "LS-SVM"),
    "k-lid": Method("floral.defenses:KLIDSVC", "K-LID"),
}


def available_methods():
    """Names of the methods :func:`run_grid` knows, in the paper's column order.

    Returns
    -------
    names : tuple of str
    """
    return tuple(_METHODS)


def display_name(name):
    """The column heading of a method in the tables ("ln-svm" -> "LN-SVM"); other names
    (records read from files written by other versions) are shown as they are."""
    return _METHODS[name].display if name in _METHODS else name


def method_key(name):
    """The registry spelling of a method name (case and ``_`` for ``-`` accepted)."""
    if not isinstance(name, str):
        raise TypeError(f"method names must be str, got {type(name).__name__}")
    key = name.strip().lower().replace("_", "-")
    if key not in _METHODS:
        raise ValueError(f"unknown method {name!r}; choose from: "
                         f"{', '.join(available_methods())} (or 'all')")
    return key


def method_entry(name):
    """The :class:`Method` behind a method name (any spelling :func:`method_key` takes)."""
    return _METHODS[method_key(name)]


def methods_trained_by(training):
    """Names of the methods whose :attr:`Method.training` is ``training``, in order."""
    return tuple(name for name, m in _METHODS.items() if m.training == training)


def _import(path):
    import importlib

    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def make_method(name, *, C=1.0, gamma="scale", random_state=None, n_jobs=None, **params):
    """The unfitted estimator behind a method name.

    The grid's ``C``, ``gamma``, ``random_state`` and ``n_jobs`` go to the estimator when
    its constructor takes them; then the method's defaults (see the module docstring);
    then ``params``, which override both.

    Parameters
    ----------
    name : str
        One of :func:`available_methods` (``_`` for ``-`` and any case accepted).
    C, gamma : float
        Kernel SVM settings of the grid.
    random_state : int or None
        The seed of the run.
    n_jobs : int or None
        Threads for estimators that take ``n_jobs``.
    **params
        Constructor arguments that override the defaults.

    Returns
    -------
    estimator : object
        An unfitted estimator with ``fit`` and ``score``.

    Raises
    ------
    ValueError
        Unknown name, or a defense whose module cannot be imported.
    TypeError
        A parameter the estimator does not take.
    """
    key = method_key(name)
    path, defaults = _METHODS[key].estimator, _METHODS[key].defaults
    try:
        cls = _import(path)
    except ImportError as exc:
        raise ValueError(f"method {key!r} needs {path.split(':')[0]}, which cannot be "
                         f"imported ({exc})") from None
    accepted = inspect.signature(cls).parameters
    run = {"C": C, "gamma": gamma, "random_state": random_state, "n_jobs": n_jobs}
    kwargs = {k: v for k, v in run.items() if k in accepted}
    kwargs.update(defaults)
    kwargs.update(params)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise TypeError(f"method {key!r} ({cls.__name__}) has no parameter "
                        f"{unknown[0]!r}; it takes {', '.join(accepted)}")
    return cls(**kwargs)
