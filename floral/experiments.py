r"""Experiment grids: datasets x attacks x budgets x methods x seeds, as in the paper's tables.

:func:`run_grid` runs every combination and returns :class:`Results`, a list of records
(one dict per dataset, attack, budget, method and seed) that prints the paper-style
table (:meth:`Results.table`), writes CSV and JSON and, with pandas, becomes a DataFrame.

One *cell* of the grid is a dataset, a seed, an attack and a budget. A cell loads the data
with ``random_state=seed`` (the split), poisons the training labels once with the attack
(``random_state=seed``), then fits every method on the same poisoned labels
(``random_state=seed``) and scores it on the clean test split. Budget 0 is the clean
setting: it is run once per dataset and seed, recorded with ``attack="none"``, whatever the
attacks of the grid.

Model, Best and Last
--------------------
The paper reports two numbers per method: "Best", the test accuracy of the best round,
and "Last", that of the final round. The paper picked its best round on the *test* curve,
which is optimistic. Here Best is the test accuracy of the round (FLORAL) or epoch (NN)
that scored highest on the *validation* split, the earliest on ties, so it is an honest
estimate; Last is the final round or epoch. **Model** is what the method returns when it
is given the validation split: FloralSVC's default model (the average of its 5 best
validation rounds), NN's best validation epoch (early stopping). A single-shot method
(``svm``, ``ln-svm``, ``curie``, ``ls-svm``, ``k-lid``) trains one model, so its Model,
Best and Last are the same number.

==========  =================================================================================
``floral``  :class:`~floral.FloralSVC` with its defaults (``floral demo``'s settings),
            fitted with ``X_val, y_val``; Best is :meth:`~floral.FloralSVC.best_round`,
            Last :meth:`~floral.FloralSVC.last_round`
``svm``     :class:`sklearn.svm.SVC` on the poisoned labels
``nn``      :class:`sklearn.neural_network.MLPClassifier`, two hidden layers of 32 ReLU
            units (the paper's Moon network), Adam, learning rate 1e-3, batches of 32,
            trained epoch by epoch with ``partial_fit`` for ``max_iter=200`` epochs
``nn-pgd``  :class:`floral.defenses.PGDTrainedMLP`, the same network and training with
            every minibatch replaced by its PGD perturbation (L-infinity radius
            ``epsilon``, ``pgd_steps`` steps of ``pgd_step_size``; the estimator's
            defaults), epoch by epoch like ``nn``
``ln-svm``  :class:`floral.defenses.LNSVC`, label-noise robust SVM
``curie``   :class:`floral.defenses.CurieSVC`, Curie's filter then SVC
``ls-svm``  :class:`floral.defenses.LabelSanitizedSVC`, label sanitization then SVC
``k-lid``   :class:`floral.defenses.KLIDSVC`, LID-weighted SVM
==========  =================================================================================

Datasets, classes and imbalance
-------------------------------
Built-in datasets (:func:`available_datasets`): ``moons``, ``digits_1v7``,
``breast_cancer``, ``digits10`` (all ten digit classes, :func:`floral.datasets.load_digits`)
and ``imbalanced_moons`` (Moon with 10% positives,
:func:`floral.datasets.load_imbalanced_moons`). ``digits`` is an alias of ``digits_1v7``,
as it was before ``digits10`` existed, so old commands run the same experiment; ``moon``
is one of ``moons``.

A dataset with more than two classes runs only with the attacks that take them
(:func:`floral.attacks.supports_multiclass`: ``random``, ``topk_sv``) and the methods whose
estimator says it does (scikit-learn's tag ``classifier_tags.multi_class``; ``svm`` and
``nn`` do, the binary defenses do not); any other attack or method in such a grid is an
error raised while planning, before any cell runs.

Besides accuracy every record holds the *balanced accuracy* (mean recall over the classes)
and the *recall of the minority class* (the least frequent class of the clean training
labels, the first in sorted order on ties) on the test split, for the Best and the Last
model; Best is still chosen on validation accuracy. A dataset counts as *imbalanced* when
its minority class has less than 0.8 of a balanced share of the training labels
(``minority_share * n_classes < 0.8``; with two classes, a minority share below 0.4), and
for such a dataset :meth:`Results.table` adds a balanced-accuracy and a minority-recall
block below the accuracy block.

Every method gets the grid's ``C`` and ``gamma`` and ``random_state=seed`` where it takes
them; ``method_params={"floral": {"n_rounds": 200}, "nn": {"max_iter": 50}}`` overrides
any constructor argument. ``gamma`` may be ``"scale"`` or ``"auto"``: it is resolved once
per cell from the training split (as :class:`~sklearn.svm.SVC` would) and the same float
goes to the attack and to every method.

Parallel runs
-------------
Cells run through :class:`joblib.Parallel`: ``n_jobs=-1`` uses every local core (each
FloralSVC then runs single-threaded, so the processes do not oversubscribe the cores).
Any joblib backend works, Dask included::

    from dask.distributed import Client
    import joblib
    client = Client("scheduler-address:8786")       # or Client() for a local cluster
    with joblib.parallel_config(backend="dask"):
        results = run_grid(["moons"], ["alfa_tilt"], [0.05, 0.1], "all", 10)

Workers need ``floral`` installed. With a backend that cannot stream results
(multiprocessing), the progress bar only advances at the end.
"""
import copy
import csv
import inspect
import io
import json
import math
import numbers
import os
import sys
import time

import numpy as np
from sklearn.utils import Bunch

__all__ = ["run_grid", "Results", "read_csv", "read_json", "available_methods",
           "available_datasets", "make_method", "FIELDS"]

# The order of a record's fields (and of CSV columns).
# Fields added later go at the end, so the columns of older CSV files keep their places.
FIELDS = ("dataset", "attack", "budget", "method", "seed", "best_accuracy", "last_accuracy",
          "fit_seconds", "attack_seconds", "best_val_accuracy", "last_val_accuracy",
          "best_round", "n_flipped", "n_train", "C", "gamma", "best_balanced_accuracy",
          "last_balanced_accuracy", "best_minority_recall", "last_minority_recall",
          "n_classes", "minority_share", "model_accuracy", "model_val_accuracy",
          "model_balanced_accuracy", "model_minority_recall")
_TEXT_FIELDS = {"dataset", "attack", "method"}
_INT_FIELDS = {"seed", "best_round", "n_flipped", "n_train", "n_classes"}

# A dataset is imbalanced (and the table shows balanced accuracy and minority recall) when
# minority_share * n_classes < IMBALANCE_RATIO: the smallest class has less than this
# fraction of the share it would have if the classes were equal (0.4 with two classes).
IMBALANCE_RATIO = 0.8

# gamma=None in the grid: the paper's Moon width where the paper gives one, SVC's "scale"
# for every other dataset.
DEFAULT_GAMMA = {"moons": 1.0}

# FLORAL in the grid (and in floral demo): FloralSVC's defaults (attacker budget 5% of n
# as in the paper, learning_rate="auto", 500 rounds, the 5 best validation rounds); C and
# gamma come from the grid.
FLORAL_PARAMS = {}
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

# name -> loader(random_state=...) in floral.datasets
_DATASETS = {"moons": "load_moons", "digits_1v7": "load_digits_1v7",
             "breast_cancer": "load_breast_cancer", "digits10": "load_digits",
             "imbalanced_moons": "load_imbalanced_moons"}
# "digits" named the 1-vs-7 set before the ten-class one existed; it keeps that meaning so
# an old command still runs the experiment it ran. Ten classes are only "digits10".
_DATASET_ALIASES = {"moon": "moons", "digits": "digits_1v7", "digits_10": "digits10"}


def available_methods():
    """Names of the methods :func:`run_grid` knows, in the paper's column order.

    Returns
    -------
    names : tuple of str
    """
    return tuple(_METHODS)


def available_datasets():
    """Names of the built-in datasets :func:`run_grid` accepts (besides files and bunches).

    Returns
    -------
    names : tuple of str
    """
    return tuple(_DATASETS)


def _method_key(name):
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
    key = _method_key(name)
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


# --- fitting one method ------------------------------------------------------------------

def _accuracy(est, X, y):
    return float(np.mean(est.predict(X) == y))


def _fit_and_score(est, data, y_train):
    """Fit ``est`` on the poisoned labels; Model / Best / Last scores, best round, model."""
    from sklearn.neural_network import MLPClassifier

    from .defenses import PGDTrainedMLP
    from .svm import FloralSVC

    start = time.perf_counter()
    best_round = None
    if isinstance(est, FloralSVC):
        est.fit(data.X_train, y_train, X_val=data.X_val, y_val=data.y_val)
        model, best, last = est, est.best_round(), est.last_round()
        best_round = int(est.best_round_)
    elif isinstance(est, (MLPClassifier, PGDTrainedMLP)):
        best, last, best_round = _fit_nn(est, data, y_train)
        model = best
    else:
        est.fit(data.X_train, y_train)
        model = best = last = est
    seconds = time.perf_counter() - start
    scores = dict(fit_seconds=seconds, best_round=best_round)
    # a model shared by two roles is scored once
    done = {}
    for which, m in (("model", model), ("best", best), ("last", last)):
        if id(m) not in done:
            done[id(m)] = _scores(m, data)
        for key, value in done[id(m)].items():
            scores[f"{which}_{key}"] = value
    return scores, model


def _scores(est, data):
    """Test accuracy, balanced accuracy and minority recall; validation accuracy."""
    from sklearn.metrics import balanced_accuracy_score

    pred = est.predict(data.X_test)
    # the clean training labels define the minority: poisoning may have thinned it further
    minority = _minority(data.y_train)[0]
    is_minority = np.asarray(data.y_test) == minority
    return dict(
        accuracy=float(np.mean(pred == data.y_test)),
        val_accuracy=_accuracy(est, data.X_val, data.y_val),
        balanced_accuracy=float(balanced_accuracy_score(data.y_test, pred)),
        minority_recall=(float(np.mean(pred[is_minority] == minority))
                         if is_minority.any() else float("nan")),
    )


def _minority(y):
    """(least frequent class, its share of y, number of classes); ties: first sorted."""
    classes, counts = np.unique(y, return_counts=True)
    i = int(np.argmin(counts))
    return classes[i], float(counts[i] / counts.sum()), int(classes.size)


def _fit_nn(est, data, y_train):
    """Train epoch by epoch; keep the epoch with the best validation accuracy.

    ``max_iter`` is the number of epochs; each ``partial_fit`` call is one pass over the
    training data in minibatches. Returns (best model, last model, best epoch).
    """
    epochs = int(est.max_iter)
    if epochs < 1:
        raise ValueError(f"{type(est).__name__}: max_iter (epochs) must be >= 1, got "
                         f"{est.max_iter}")
    classes = np.unique(y_train)
    best, best_val, best_epoch = None, -1.0, 0
    for epoch in range(1, epochs + 1):
        est.partial_fit(data.X_train, y_train, classes=classes)
        val = _accuracy(est, data.X_val, data.y_val)
        if val > best_val:  # strict: the earliest epoch wins ties
            best, best_val, best_epoch = copy.deepcopy(est), val, epoch
    return best, est, best_epoch


# --- one cell ------------------------------------------------------------------------------

class _FixedData:
    """A loader for a dataset given as a bunch: the same split for every seed."""

    def __init__(self, data):
        self.data = data

    def __call__(self, random_state=None):
        return self.data


class _FileData:
    """A loader for :func:`floral.datasets.load_embeddings`, picklable for workers."""

    def __init__(self, path, label):
        self.path, self.label = path, label

    def __call__(self, random_state=None):
        from .datasets import load_embeddings

        return load_embeddings(self.path, self.label, random_state=random_state)


class _BuiltinData:
    def __init__(self, name):
        self.name = name

    def __call__(self, random_state=None):
        from . import datasets

        return getattr(datasets, _DATASETS[self.name])(random_state=random_state)


def _resolved_gamma(gamma, X):
    from ._validation import resolve_gamma

    return resolve_gamma(gamma, X)


def _run_cell(cell):
    """Poison once, fit every method; returns (cell index, records, kept models or None)."""
    from . import attacks

    data = cell["loader"](random_state=cell["seed"])
    seed, budget = cell["seed"], cell["budget"]
    gamma = _resolved_gamma(cell["gamma"], data.X_train)
    start = time.perf_counter()
    if cell["attack"] == "none":
        y_poisoned = np.array(data.y_train, copy=True)
    else:
        attack = attacks.get(cell["attack"])
        accepted = inspect.signature(attack).parameters
        options = {"C": cell["C"], "gamma": gamma, "X_val": data.X_val, "y_val": data.y_val}
        kwargs = {k: v for k, v in options.items() if k in accepted}
        kwargs.update(cell["attack_params"])
        y_poisoned = attack(data.X_train, data.y_train, budget, random_state=seed, **kwargs)
    attack_seconds = time.perf_counter() - start
    n_flipped = int(np.count_nonzero(y_poisoned != data.y_train))
    _, minority_share, n_classes = _minority(data.y_train)
    records, models = [], {}
    for method in cell["methods"]:
        est = make_method(method, C=cell["C"], gamma=gamma, random_state=seed,
                          n_jobs=cell["inner_jobs"], **cell["method_params"].get(method, {}))
        scores, model = _fit_and_score(est, data, y_poisoned)
        record = dict(
            dataset=cell["dataset"], attack=cell["attack"], budget=budget, method=method,
            seed=seed, attack_seconds=attack_seconds, n_flipped=n_flipped,
            n_train=int(data.y_train.shape[0]), C=float(cell["C"]), gamma=float(gamma),
            n_classes=n_classes, minority_share=minority_share, **scores,
        )
        records.append({key: record[key] for key in FIELDS})
        models[method] = model
    kept = None
    if cell["keep"]:
        kept = Bunch(data=data, y_poisoned=y_poisoned, estimators=models)
    return cell["index"], records, kept


# --- planning ----------------------------------------------------------------------------------

def _as_list(value, name):
    if isinstance(value, (str, os.PathLike)) or not hasattr(value, "__iter__"):
        return [value]
    items = list(value)
    if not items:
        raise ValueError(f"{name} is empty")
    return items


def _dataset_spec(spec, label):
    """(name, loader) for a built-in name, a .npz/.csv path, a bunch or a callable."""
    if isinstance(spec, Bunch) or (hasattr(spec, "X_train") and hasattr(spec, "y_test")):
        return str(getattr(spec, "name", "data")), _FixedData(spec)
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        key = text.strip().lower().replace("-", "_")
        key = _DATASET_ALIASES.get(key, key)
        if key in _DATASETS:
            return key, _BuiltinData(key)
        if os.path.splitext(text)[1].lower() in (".npz", ".csv"):
            if not os.path.isfile(text):
                raise FileNotFoundError(f"no such file: {text}")
            return os.path.splitext(os.path.basename(text))[0], _FileData(text, label)
        raise ValueError(f"unknown dataset {text!r}; choose from: "
                         f"{', '.join(available_datasets())}, or a .npz / .csv file")
    if callable(spec):
        return getattr(spec, "__name__", "data").removeprefix("load_"), spec
    raise TypeError(f"a dataset must be a name, a .npz/.csv path, a bunch with X_train... "
                    f"or a callable(random_state) returning one, got {type(spec).__name__}")


def _attack_key(name):
    from . import attacks

    if name is None or (isinstance(name, str) and name.strip().lower() in ("none", "clean")):
        return "none"
    try:
        fn = attacks.get(name)
    except ValueError:
        raise ValueError(f"unknown attack {name!r}; choose from: "
                         f"{', '.join(attacks.available())}") from None
    return next(n for n in attacks.available() if attacks.get(n) is fn)


def _check_budget(budget, n, dataset):
    from ._validation import BUDGET, check_option, resolve_budget

    check_option(budget, "budgets", BUDGET, "run_grid")
    if isinstance(budget, numbers.Integral) and budget >= n:
        raise ValueError(f"budget={budget} must be < the {n} training points of {dataset}")
    return resolve_budget(budget, n, param="budget")


def _takes_multiclass(est):
    """What the estimator's scikit-learn tags say about K > 2 classes (True if silent)."""
    from sklearn.utils import get_tags

    try:
        tags = get_tags(est).classifier_tags
    except (AttributeError, TypeError):
        return True
    return tags is None or bool(tags.multi_class)


def _check_multiclass(name, n_classes, attack_keys, probes, C):
    """Refuse the attacks and methods of the grid that are defined for two classes only."""
    from . import attacks

    bad_attacks = [a for a in attack_keys if a != "none" and not attacks.supports_multiclass(a)]
    bad_methods = [m for m, est in probes.items() if not _takes_multiclass(est)]
    if not bad_attacks and not bad_methods:
        return
    good_methods = []
    for key in available_methods():
        try:
            est = probes.get(key) or make_method(key, C=C, gamma=1.0)
        except (TypeError, ValueError):  # a method that cannot be built is no alternative
            continue
        if _takes_multiclass(est):
            good_methods.append(key)
    parts = []
    if bad_attacks:
        parts.append(f"the attack{'s' if len(bad_attacks) > 1 else ''} "
                     f"{', '.join(bad_attacks)}")
    if bad_methods:
        parts.append(f"the method{'s' if len(bad_methods) > 1 else ''} "
                     f"{', '.join(bad_methods)}")
    good_attacks = [a for a in attacks.available() if attacks.supports_multiclass(a)]
    raise ValueError(
        f"dataset {name!r} has {n_classes} classes, but {' and '.join(parts)} "
        f"{'are' if len(bad_attacks) + len(bad_methods) > 1 else 'is'} defined for two "
        f"classes only; with more classes use the attacks {', '.join(good_attacks)} and "
        f"the methods {', '.join(good_methods) or '(none available)'}"
    )


def _plan(datasets, attacks, budgets, methods, seeds, *, C, gamma, method_params,
          attack_params, label, n_jobs, keep_models):
    """Validate the grid (loading each dataset once) and list its cells."""
    import joblib

    specs = [_dataset_spec(d, label) for d in _as_list(datasets, "datasets")]
    names = [name for name, _ in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"datasets must have distinct names, got {names}")
    attack_keys = list(dict.fromkeys(_attack_key(a) for a in _as_list(attacks, "attacks")))
    budgets = _as_list(budgets, "budgets")
    if isinstance(methods, str) and methods.strip().lower() == "all":
        method_keys = list(available_methods())
    else:
        method_keys = list(dict.fromkeys(_method_key(m) for m in _as_list(methods, "methods")))
    if isinstance(seeds, (bool, np.bool_)):
        raise TypeError("seeds must be an int (how many, from 0) or a list of ints")
    if isinstance(seeds, numbers.Integral):
        if seeds < 1:
            raise ValueError(f"seeds must be >= 1 when it is a count, got {seeds}")
        seeds = list(range(int(seeds)))
    seeds = _as_list(seeds, "seeds")
    for s in seeds:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral):
            raise TypeError(f"seeds must be ints, got {s!r}")
    seeds = list(dict.fromkeys(int(s) for s in seeds))
    if isinstance(C, (bool, np.bool_)) or not isinstance(C, numbers.Real) or not C > 0:
        raise ValueError(f"C must be a float > 0, got {C!r}")
    if gamma is None:
        pass
    elif isinstance(gamma, str):
        if gamma not in ("scale", "auto"):
            raise ValueError(f"gamma must be a float > 0, 'scale' or 'auto', got {gamma!r}")
    elif isinstance(gamma, (bool, np.bool_)) or not isinstance(gamma, numbers.Real) \
            or not gamma > 0:
        raise ValueError(f"gamma must be a float > 0, 'scale' or 'auto', got {gamma!r}")

    method_params = dict(method_params or {})
    params = {}
    for key, value in method_params.items():
        params[_method_key(key)] = dict(value)
    # constructing each estimator once surfaces unknown parameters and missing modules
    # before any work is done
    probes = {key: make_method(key, C=C, gamma=1.0, **params.get(key, {}))
              for key in method_keys}
    a_params = {}
    for key, value in dict(attack_params or {}).items():
        a_params[_attack_key(key)] = dict(value)

    cells, n_train = [], {}
    for (name, loader) in specs:
        data = loader(random_state=seeds[0])
        n = int(np.asarray(data.y_train).shape[0])
        n_train[name] = n
        n_classes = np.unique(np.asarray(data.y_train)).size
        if n_classes > 2:
            _check_multiclass(name, n_classes, attack_keys, probes, C)
        settings = []
        for b in budgets:
            k = _check_budget(b, n, name)
            if k == 0:
                settings.append(("none", b))
            else:
                settings += [(a, b) for a in attack_keys if a != "none"]
                if "none" in attack_keys:
                    settings.append(("none", b))  # explicit "none": clean whatever the budget
        # one clean cell per dataset and seed, however many zero budgets and attacks
        seen, unique = set(), []
        for attack, b in settings:
            key = ("none", 0) if attack == "none" else (attack, b)
            if key not in seen:
                seen.add(key)
                unique.append((attack, 0.0 if attack == "none" else b))
        unique.sort(key=lambda s: (s[0] != "none", attack_keys.index(s[0])
                                   if s[0] in attack_keys else -1, float(s[1])))
        for seed in seeds:
            for attack, b in unique:
                cells.append(dict(dataset=name, loader=loader, seed=seed, attack=attack,
                                  budget=b, methods=method_keys, C=C,
                                  gamma=DEFAULT_GAMMA.get(name, "scale") if gamma is None
                                  else gamma,
                                  method_params=params, attack_params=a_params.get(attack, {}),
                                  keep=bool(keep_models(name, seed, data)
                                            if callable(keep_models) else keep_models)))
    for i, cell in enumerate(cells):
        cell["index"] = i
    parallel = joblib.effective_n_jobs(n_jobs) != 1 and len(cells) > 1
    for cell in cells:
        # one thread per FloralSVC when cells run side by side: no oversubscription
        cell["inner_jobs"] = 1 if parallel else None
    meta = dict(datasets=names, attacks=attack_keys, budgets=list(budgets),
                methods=method_keys, seeds=seeds, C=C, gamma=gamma,
                method_params={k: {p: _jsonable(v) for p, v in d.items()}
                               for k, d in params.items()},
                attack_params={k: {p: _jsonable(v) for p, v in d.items()}
                               for k, d in a_params.items()},
                n_train=n_train)
    return Bunch(cells=cells, n_jobs=n_jobs, meta=meta)


def _jsonable(value):
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


class _Progress:
    """A text progress bar on stderr: redrawn in place on a terminal, a line per step otherwise."""

    def __init__(self, total, enabled, stream=None, label="floral run"):
        self.total, self.enabled, self.label = total, enabled, label
        self.stream = sys.stderr if stream is None else stream
        self.start = time.perf_counter()
        self.done = 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def step(self, n=1):
        self.done += n
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        width = 24
        filled = int(round(width * self.done / max(self.total, 1)))
        bar = "#" * filled + "." * (width - filled)
        left = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        msg = (f"{self.label}: [{bar}] {self.done}/{self.total} cells, {elapsed:.0f} s"
               + (f", ~{left:.0f} s left" if self.done < self.total else ""))
        if self.tty:
            end = "\n" if self.done >= self.total else ""
            self.stream.write("\r" + msg + end)
        else:
            self.stream.write(msg + "\n")
        self.stream.flush()


def _execute(plan, verbose):
    import joblib

    cells = plan.cells
    progress = _Progress(len(cells), bool(verbose))
    try:
        parallel = joblib.Parallel(n_jobs=plan.n_jobs, return_as="generator_unordered")
    except ValueError:  # a backend that cannot stream results: progress at the end only
        parallel = joblib.Parallel(n_jobs=plan.n_jobs)
    out = {}
    for index, records, kept in parallel(joblib.delayed(_run_cell)(c) for c in cells):
        out[index] = (records, kept)
        progress.step()
    results = Results(rec for i in range(len(cells)) for rec in out[i][0])
    results.meta = dict(plan.meta)
    for i, cell in enumerate(cells):
        if out[i][1] is not None:
            results.models[(cell["dataset"], cell["attack"], cell["budget"],
                            cell["seed"])] = out[i][1]
    return results


def run_grid(datasets, attacks, budgets, methods, seeds, n_jobs=None, *, C=10.0, gamma=None,
             method_params=None, attack_params=None, label=None, keep_models=False,
             verbose=0):
    """Run every dataset x attack x budget x method x seed and record test accuracies.

    Each cell (dataset, seed, attack, budget) loads the data with ``random_state=seed``,
    flips the training labels once with the attack and fits every method on the same
    poisoned labels; see the module docstring for the methods and for Best and Last.

    Parameters
    ----------
    datasets : str, bunch, callable or list of them
        Built-in names (:func:`available_datasets`: ``"moons"``, ``"digits_1v7"``,
        ``"breast_cancer"``, ``"digits10"``, ``"imbalanced_moons"``; ``-`` for ``_``
        accepted, ``"digits"`` is ``"digits_1v7"``), paths to .npz / .csv files (read
        by :func:`floral.datasets.load_embeddings`, ``label`` naming a CSV's label
        column), bunches with ``X_train, y_train, X_val, y_val, X_test, y_test`` (used
        as is for every seed) or callables ``loader(random_state=seed) -> bunch``.
    attacks : str or list of str
        Attack names from :func:`floral.attacks.available` (``"alfa-tilt"`` spells
        ``"alfa_tilt"`` too); ``"none"`` adds the clean setting. A dataset with more than
        two classes takes only ``"random"`` and ``"topk_sv"``.
    budgets : int, float or list of them
        Labels flipped: a float in [0, 1) is a fraction of the training split (rounded
        half up), an int a count below the number of training points. 0 is the clean
        setting, run once per dataset and seed with ``attack="none"``.
    methods : "all", str or list of str
        Method names (:func:`available_methods`). A dataset with more than two classes
        takes only the methods whose estimator's scikit-learn tags say
        ``classifier_tags.multi_class``.
    seeds : int or list of int
        ``seeds=3`` runs seeds 0, 1, 2; a list runs those. The seed is the
        ``random_state`` of the data split, the attack and the methods.
    n_jobs : int or None, default=None
        Cells run in parallel through :class:`joblib.Parallel`; None is one at a time
        unless a :func:`joblib.parallel_config` context says otherwise (e.g. the Dask
        backend), -1 every core.
    C : float, default=10.0
        SVM regularisation of the attacks and of every kernel method (the paper's value).
    gamma : float, "scale", "auto" or None, default=None
        RBF kernel width; a string is resolved per cell from the training split. None is
        each dataset's default: 1.0 on ``moons`` (the paper's Table 1) and ``"scale"``
        elsewhere, ``imbalanced_moons`` included (a fixed 1.0 on 30- or 64-feature
        standardised data makes the kernel nearly the identity and every method predict
        one class).
    method_params : dict, default=None
        ``{method: {parameter: value}}`` overriding the methods' constructor arguments,
        e.g. ``{"floral": {"n_rounds": 200}}``.
    attack_params : dict, default=None
        ``{attack: {parameter: value}}`` passed to the attacks, e.g.
        ``{"topk_sv": {"candidate_factor": 2.0}}``.
    label : str, default=None
        Label column of .csv datasets.
    keep_models : bool, default=False
        Keep each cell's data, poisoned labels and fitted models (Model) in
        :attr:`Results.models`, for figures.
    verbose : int, default=0
        1 draws a progress bar over the cells on stderr.

    Returns
    -------
    results : Results
        One record per dataset, attack, budget, method and seed, with the fields of
        :data:`FIELDS`: ``model_accuracy``, ``best_accuracy`` and ``last_accuracy`` on
        the test split (Model, Best and Last, see the module docstring),
        ``model_val_accuracy``, ``best_val_accuracy`` and ``last_val_accuracy`` on the
        validation split,
        ``best_round`` (FLORAL's round or NN's epoch, None for single-shot methods),
        ``fit_seconds`` (with the per-round validation for FLORAL and NN),
        ``attack_seconds``, ``n_flipped``, ``n_train``, the resolved ``C``, ``gamma``,
        ``model_``/``best_``/``last_balanced_accuracy`` and
        ``model_``/``best_``/``last_minority_recall`` on the test split, and ``n_classes`` and
        ``minority_share`` of the clean training labels (see the module docstring).

    Raises
    ------
    ValueError, TypeError
        Unknown names (the message lists the valid ones), budgets outside [0, 1) or not
        below the training set size, bad parameters, two-class attacks or methods on a
        dataset with more classes; raised before any cell runs.
    FileNotFoundError
        A dataset file that does not exist.

    Examples
    --------
    >>> from floral.experiments import run_grid
    >>> res = run_grid("moons", "alfa_tilt", [0, 0.1], ["svm", "floral"], seeds=1,
    ...                method_params={"floral": {"n_rounds": 100}})
    >>> sorted({(r["attack"], r["budget"]) for r in res})
    [('alfa_tilt', 0.1), ('none', 0.0)]
    """
    plan = _plan(datasets, attacks, budgets, methods, seeds, C=C, gamma=gamma,
                 method_params=method_params, attack_params=attack_params, label=label,
                 n_jobs=n_jobs, keep_models=keep_models)
    return _execute(plan, verbose)


# --- results -------------------------------------------------------------------------------------

def _setting(attack, budget):
    if attack == "none":
        return "clean"
    if isinstance(budget, numbers.Integral):
        return f"{attack} {budget}"
    return f"{attack} {100 * float(budget):g}%"


def _fmt(x):
    """Paper style: .968 (1.000 stays 1.000)."""
    if x is None or not math.isfinite(x):
        return "n/a"
    text = f"{x:.3f}"
    return text[1:] if text.startswith("0.") else text


class Results(list):
    """Records of :func:`run_grid`: a list of dicts with the fields of :data:`FIELDS`.

    Attributes
    ----------
    meta : dict
        The grid's settings (datasets, attacks, budgets, methods, seeds, C, gamma, method
        and attack parameters, training set sizes); written by :meth:`to_json`.
    models : dict
        With ``keep_models=True``: ``(dataset, attack, budget, seed) -> Bunch(data,
        y_poisoned, estimators)``, ``estimators`` mapping each method to its fitted
        model.
    """

    def __init__(self, records=()):
        super().__init__(records)
        self.meta = {}
        self.models = {}

    def to_frame(self):
        """The records as a :class:`pandas.DataFrame` (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Results.to_frame needs pandas: pip install pandas") from None
        return pd.DataFrame(list(self), columns=self._fields())

    def _fields(self):
        extra = [k for rec in self for k in rec if k not in FIELDS]
        return list(FIELDS) + list(dict.fromkeys(extra))

    def to_csv(self, path):
        """Write the records as CSV (a header row, one row per record; None is empty).

        Floats are written with ``repr``, so :func:`read_csv` gives them back exactly.
        """
        fields = self._fields()
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            for rec in self:
                writer.writerow({k: "" if rec.get(k) is None else
                                 (repr(float(rec[k])) if isinstance(rec[k], float)
                                  else rec[k]) for k in fields})

    def to_json(self, path):
        """Write ``{"meta": ..., "records": [...]}`` as JSON; :func:`read_json` reads it."""
        # one record per line: compact, and still diff- and grep-friendly
        records = [json.dumps({k: _jsonable(v) for k, v in rec.items()}) for rec in self]
        with open(path, "w") as fh:
            fh.write('{"meta": ' + json.dumps(_jsonable_tree(self.meta))
                     + ',\n "records": [\n  ' + ",\n  ".join(records) + "\n]}\n")

    def summary(self, metric="accuracy"):
        """Mean and standard deviation over seeds per dataset, setting and method.

        Parameters
        ----------
        metric : {"accuracy", "balanced_accuracy", "minority_recall"}, default="accuracy"
            The test score summarised: the records' ``model_<metric>``,
            ``best_<metric>`` and ``last_<metric>``. Records without it (files written
            before it existed) count as NaN.

        Returns
        -------
        rows : list of dict
            ``dataset, attack, budget, method, n_seeds, model_mean, model_std, best_mean,
            best_std, last_mean, last_std, flipped_fraction`` in the records' order. The
            standard deviation is the sample one (``ddof=1``); NaN with a single seed.
        """
        if metric not in _METRICS:
            raise ValueError(f"metric must be one of {', '.join(map(repr, _METRICS))}, "
                             f"got {metric!r}")
        groups = {}
        for rec in self:
            key = (rec["dataset"], rec["attack"], rec["budget"], rec["method"])
            groups.setdefault(key, []).append(rec)
        rows = []
        for (dataset, attack, budget, method), recs in groups.items():
            row = dict(dataset=dataset, attack=attack, budget=budget, method=method,
                       n_seeds=len(recs))
            for which in _COLUMNS:
                values = np.array([_score(r, f"{which}_{metric}") for r in recs], dtype=float)
                row[f"{which}_mean"] = float(values.mean())
                row[f"{which}_std"] = float(np.std(values, ddof=1)) if values.size > 1 \
                    else float("nan")
            row["flipped_fraction"] = float(np.mean([r["n_flipped"] / r["n_train"]
                                                     for r in recs]))
            rows.append(row)
        return rows

    def _imbalance(self, dataset):
        """The minority share of ``dataset``'s training labels if it is imbalanced, else None.

        Imbalanced means ``minority_share * n_classes < IMBALANCE_RATIO`` (0.8) in a
        record of the dataset: the least frequent class has less than 0.8 of a balanced
        share (below 0.4 with two classes). Records without these fields are not.
        """
        shares = [r["minority_share"] * r["n_classes"] for r in self
                  if r.get("dataset") == dataset and r.get("minority_share") is not None
                  and r.get("n_classes")]
        if shares and min(shares) < IMBALANCE_RATIO:
            return min(r["minority_share"] for r in self if r.get("dataset") == dataset
                       and r.get("minority_share") is not None)
        return None

    def table(self, fmt="text", columns=("model",)):
        """A row per setting, a column per method: the returned model's test accuracy, or
        the paper's Best / Last.

        Each cell holds the requested scores separated by `` / `` (``columns=("best",
        "last")`` is the paper's table), each the mean over seeds ``± `` the sample
        standard deviation (omitted with one seed). One block per dataset; an imbalanced
        dataset gets two more, the same cells in balanced accuracy and in recall of the
        minority class. Imbalanced: ``minority_share * n_classes < IMBALANCE_RATIO``
        (0.8) in the dataset's records, i.e. a minority share of the training labels
        below 0.4 with two classes; records read from files that predate these fields
        show accuracy only.

        Parameters
        ----------
        fmt : {"text", "markdown"}, default="text"
        columns : sequence of {"model", "best", "last"}, default=("model",)
            The scores in each cell: ``model`` (what the method returns, see the module
            docstring), ``best`` (the round or epoch selected on the validation split),
            ``last`` (the final round or epoch).

        Returns
        -------
        table : str
        """
        if fmt not in ("text", "markdown"):
            raise ValueError(f"fmt must be 'text' or 'markdown', got {fmt!r}")
        columns = tuple(columns) if not isinstance(columns, str) else (columns,)
        if not columns or any(c not in _COLUMNS for c in columns):
            raise ValueError(f"columns must be a non-empty sequence of "
                             f"{', '.join(map(repr, _COLUMNS))}, got {columns!r}")
        blocks = []
        for dataset in dict.fromkeys(r["dataset"] for r in self):
            share = self._imbalance(dataset)
            metrics = ["accuracy"] if share is None else list(_METRICS)
            for metric in metrics:
                blocks.append(self._block(dataset, metric, share, fmt, columns))
        return "\n\n".join(blocks)

    def _block(self, dataset, metric, share, fmt, columns):
        rows = [r for r in self.summary(metric) if r["dataset"] == dataset]
        methods = [m for m in available_methods() if any(r["method"] == m for r in rows)]
        methods += [m for m in dict.fromkeys(r["method"] for r in rows)
                    if m not in methods]
        settings = list(dict.fromkeys((r["attack"], r["budget"]) for r in rows))
        cells = {(r["attack"], r["budget"], r["method"]): r for r in rows}
        n_seeds = max(r["n_seeds"] for r in rows)
        sep = " ± " if fmt == "markdown" else "±"

        def cell(r):
            if r is None:
                return "n/a"
            parts = []
            for c in columns:
                m, s = r[f"{c}_mean"], r[f"{c}_std"]
                parts.append(_fmt(m) + (sep + _fmt(s) if math.isfinite(s) else ""))
            return " / ".join(parts)

        header = ["setting"] + [_METHODS[m][2] if m in _METHODS else m for m in methods]
        body = [[_setting(a, b)] + [cell(cells.get((a, b, m))) for m in methods]
                for a, b in settings]
        seeds = f"mean{sep}std over {n_seeds} seeds" if n_seeds > 1 else "1 seed"
        what = _METRICS[metric].format(share=share)
        names = " / ".join(_COLUMNS[c] for c in columns)
        notes = [_COLUMN_NOTES[c] for c in columns if c in _COLUMN_NOTES]
        title = f"{dataset}: test {what}, {names} ({'; '.join([seeds] + notes)})"
        return _render(title, header, body, fmt)


# table columns -> their names, and what a title says about them
_COLUMNS = {"model": "Model", "best": "Best", "last": "Last"}
_COLUMN_NOTES = {"model": "Model = what the method returns given the validation split",
                 "best": "Best = round selected on the validation split"}

# summary / table metrics -> how a table title names them
_METRICS = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy",
            "minority_recall": "recall of the minority class ({share:.1%} of the training "
                               "labels)"}


def _score(record, field):
    value = record.get(field)
    return float("nan") if value is None else value


def _jsonable_tree(value):
    if isinstance(value, dict):
        return {str(k): _jsonable_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable_tree(v) for v in value]
    return _jsonable(value)


def _render(title, header, body, fmt):
    if fmt == "markdown":
        lines = [f"**{title}**", "", "| " + " | ".join(header) + " |",
                 "| " + " | ".join("---" for _ in header) + " |"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(row[j]) for row in [header] + body) for j in range(len(header))]
    out = io.StringIO()
    out.write(title + "\n")
    line = "  ".join(h.ljust(w) if j == 0 else h.center(w)
                     for j, (h, w) in enumerate(zip(header, widths)))
    out.write(line.rstrip() + "\n" + "-" * len(line.rstrip()) + "\n")
    for row in body:
        out.write("  ".join(c.ljust(w) if j == 0 else c.rjust(w)
                            for j, (c, w) in enumerate(zip(row, widths))).rstrip() + "\n")
    return out.getvalue().rstrip("\n")


def _parse_number(text):
    if text == "":
        return None
    if any(ch in text for ch in ".eEn"):  # nan / inf too
        return float(text)
    return int(text)


def read_csv(path):
    """Read records written by :meth:`Results.to_csv`.

    Text fields stay text, counts become ints, accuracies and timings floats, empty cells
    None; a budget written as an int (a count) stays an int.

    Returns
    -------
    results : Results
    """
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    records = []
    for row in rows:
        rec = {}
        for key, text in row.items():
            if key in _TEXT_FIELDS:
                rec[key] = text
            elif key in _INT_FIELDS:
                rec[key] = None if text == "" else int(text)
            else:
                try:
                    rec[key] = _parse_number(text)
                except ValueError:
                    rec[key] = text
        records.append(rec)
    return Results(records)


def read_json(path):
    """Read records written by :meth:`Results.to_json` (or a plain JSON list of records).

    Returns
    -------
    results : Results
        With :attr:`Results.meta` restored.
    """
    with open(path) as fh:
        payload = json.load(fh)
    if isinstance(payload, list):
        return Results(payload)
    results = Results(payload["records"])
    results.meta = payload.get("meta", {})
    return results
