"""The runner's methods: names, display names and the estimators behind them."""
import inspect

__all__ = ["FLORAL_PARAMS", "NN_PARAMS", "available_methods", "make_method", "method_key",
           "display_name"]

# FLORAL in the grid (and in floral demo): FloralSVC's defaults (learning_rate="auto", 500
# rounds, the 5 best validation rounds) with the paper's attacker budget, 5% of n, pinned:
# the grid reproduces the paper's game, not FloralSVC's choice of it on the validation set
# (flip_budget="auto"); C and gamma come from the grid.
FLORAL_PARAMS = {"flip_budget": 0.05}
# The paper's Moon network (two hidden layers of 32 ReLU units, sigmoid output), trained
# with Adam on batches of 32; epochs = max_iter.
NN_PARAMS = dict(hidden_layer_sizes=(32, 32), activation="relu", solver="adam",
                 learning_rate_init=1e-3, batch_size=32, max_iter=200)

# name -> (import path of the estimator class, default constructor arguments, display name)
_METHODS = {
    "floral": ("floral.svm:FloralSVC", FLORAL_PARAMS, "FLORAL"),
    "svm": ("sklearn.svm:SVC", {}, "SVM"),
    "nn": ("sklearn.neural_network:MLPClassifier", NN_PARAMS, "NN"),
    # the same network, so epsilon=0 is nn exactly; the PGD settings are the estimator's
    "nn-pgd": ("floral.defenses:PGDTrainedMLP", NN_PARAMS, "NN-PGD"),
    "ln-svm": ("floral.defenses:LNSVC", {}, "LN-SVM"),
    "curie": ("floral.defenses:CurieSVC", {}, "Curie"),
    "ls-svm": ("floral.defenses:LabelSanitizedSVC", {}, "LS-SVM"),
    "k-lid": ("floral.defenses:KLIDSVC", {}, "K-LID"),
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
    return _METHODS[name][2] if name in _METHODS else name


def method_key(name):
    """The registry spelling of a method name (case and ``_`` for ``-`` accepted)."""
    if not isinstance(name, str):
        raise TypeError(f"method names must be str, got {type(name).__name__}")
    key = name.strip().lower().replace("_", "-")
    if key not in _METHODS:
        raise ValueError(f"unknown method {name!r}; choose from: "
                         f"{', '.join(available_methods())} (or 'all')")
    return key


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
    path, defaults, _ = _METHODS[key]
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
