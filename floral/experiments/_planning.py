"""Planning a grid: resolve and check every name, budget and parameter, list the cells.

Everything a grid can get wrong is found here, before any cell runs: each dataset is loaded
once (its size bounds the budgets, its classes the attacks and methods), each method's
estimator is built and its parameters validated.
"""
import numbers
import os
from numbers import Integral

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, validate_params

from .. import _validation
from .. import attacks as _attacks
from .._validation import BUDGET, GAMMA, N_JOBS, SEED, check_option, resolve_budget
from ._methods import available_methods, make_method, method_key
from ._results import jsonable

__all__ = ["DEFAULT_GAMMA", "Plan", "PlanError", "available_datasets", "plan_grid"]

# gamma=None in the grid: the paper's Moon width where the paper gives one, SVC's "scale"
# for every other dataset.
DEFAULT_GAMMA = {"moons": 1.0}

# name -> (loader(random_state=...) in floral.datasets, what a help text says of it
# besides its name)
_DATASETS = {"moons": ("load_moons", ""), "digits_1v7": ("load_digits_1v7", ""),
             "breast_cancer": ("load_breast_cancer", ""),
             "digits10": ("load_digits", "ten classes"),
             "imbalanced_moons": ("load_imbalanced_moons", "10% positives")}
# "digits" named the 1-vs-7 set before the ten-class one existed; it keeps that meaning so
# an old command still runs the experiment it ran. Ten classes are only "digits10".
_DATASET_ALIASES = {"moon": "moons", "digits": "digits_1v7", "digits_10": "digits10"}


class PlanError(ValueError):
    """A grid that cannot run. ``param`` names the argument of :func:`plan_grid` at fault
    (``"datasets"``, ``"attacks"``, ``"budgets"``, ``"methods"``, ``"seeds"``,
    ``"method_params"`` or ``"attack_params"``), so a front end can point at its option."""

    def __init__(self, message, param):
        super().__init__(message)
        self.param = param


def available_datasets():
    """Names of the built-in datasets :func:`run_grid` accepts (besides files and bunches).

    Returns
    -------
    names : tuple of str
    """
    return tuple(_DATASETS)


def describe_datasets():
    """The built-in datasets for a help text: names, notes and aliases, e.g. ``"moons,
    ..., digits10 (ten classes), ...; digits is digits_1v7, ..."``."""
    names = ", ".join(f"{name} ({note})" if note else name
                      for name, (_, note) in _DATASETS.items())
    aliases = ", ".join(f"{alias} is {name}" for alias, name in _DATASET_ALIASES.items())
    return f"{names}; {aliases}"


# --- dataset loaders (picklable, for joblib workers) ---------------------------------------

class _FixedData:
    """A loader for a dataset given as a bunch: the same split for every seed."""

    def __init__(self, data):
        self.data = data

    def __call__(self, random_state=None):
        return self.data


class _FileData:
    """A loader for :func:`floral.datasets.load_embeddings`."""

    def __init__(self, path, label, sep=",", drop=None):
        self.path, self.label, self.sep, self.drop = path, label, sep, drop
        # a reused worker (loky keeps its executor between grids) may have another working
        # directory than the planning process: a relative path is resolved where it was
        # given, and kept as typed where it means the same file (the messages name it so)
        self.abspath = os.path.abspath(path)
        self.noted = False

    def __call__(self, random_state=None):
        import warnings

        from .._validation import densify, is_sparse
        from ..datasets import UnnamedColumnWarning, load_embeddings

        with warnings.catch_warnings():
            # said once, at planning; the flag travels with the loader to the workers
            if self.noted:
                warnings.simplefilter("ignore", UnnamedColumnWarning)
            self.noted = True
            path = self.path if os.path.abspath(self.path) == self.abspath else self.abspath
            data = load_embeddings(path, self.label, sep=self.sep, drop=self.drop,
                                   random_state=random_state)
        # a sparse .npz (scipy.sparse.save_npz layout): the grid's attacks and defenses
        # read dense rows (each forms an n x n kernel matrix anyway), so the splits are
        # made dense here, up to densify's size limit (beyond it a clear error)
        for key in ("X_train", "X_val", "X_test"):
            if is_sparse(data[key]):
                data[key] = densify(data[key], X_name=f"{self.path} ({key})", kernel="rbf")
        return data


class _BuiltinData:
    def __init__(self, name):
        self.name = name

    def __call__(self, random_state=None):
        from .. import datasets

        return getattr(datasets, _DATASETS[self.name][0])(random_state=random_state)


# --- names and values ------------------------------------------------------------------------

def _as_list(value, name):
    if isinstance(value, (str, os.PathLike)) or not hasattr(value, "__iter__"):
        return [value]
    items = list(value)
    if not items:
        raise PlanError(f"{name} is empty", name)
    return items


def _dataset_spec(spec, label, sep=",", drop=None):
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
            return os.path.splitext(os.path.basename(text))[0], _FileData(text, label, sep, drop)
        raise PlanError(f"unknown dataset {text!r}; choose from: "
                        f"{', '.join(available_datasets())}, or a .npz / .csv file", "datasets")
    if callable(spec):
        return getattr(spec, "__name__", "data").removeprefix("load_"), spec
    raise TypeError(f"a dataset must be a name, a .npz/.csv path, a bunch with X_train... "
                    f"or a callable(random_state) returning one, got {type(spec).__name__}")


def attack_key(name):
    """The registry name of an attack, or "none" for the clean setting."""
    if name is None or (isinstance(name, str) and name.strip().lower() in ("none", "clean")):
        return "none"
    try:
        return _attacks.canonical_name(name)
    except ValueError:
        raise PlanError(f"unknown attack {name!r}; choose from: "
                        f"{', '.join(_attacks.available())}", "attacks") from None


def _method_keys(methods):
    if isinstance(methods, str) and methods.strip().lower() == "all":
        return list(available_methods())
    try:
        return list(dict.fromkeys(method_key(m) for m in _as_list(methods, "methods")))
    except ValueError as exc:
        raise PlanError(str(exc), "methods") from None


def _seeds(seeds, caller):
    if isinstance(seeds, Integral) and not isinstance(seeds, bool):
        return list(range(int(seeds)))
    seeds = _as_list(seeds, "seeds")
    for s in seeds:
        check_option(s, "seeds", SEED, caller)
    return list(dict.fromkeys(int(s) for s in seeds))


def _check_budget(budget, n, dataset, caller):
    check_option(budget, "budgets", BUDGET, caller)
    if isinstance(budget, numbers.Integral) and budget >= n:
        raise PlanError(f"budget={budget} must be < the {n} training points of {dataset}",
                        "budgets")
    return resolve_budget(budget, n, param="budget")


def _keyed(params, key, name):
    """``{name: {parameter: value}}`` with each name in its registry spelling."""
    out = {}
    for k, value in dict(params or {}).items():
        try:
            out[key(k)] = dict(value)
        except ValueError as exc:
            raise PlanError(str(exc), name) from None
    return out


def _probe(key, C, params):
    """The method's estimator with the grid's parameters, validated as fit would validate
    them, so a bad value fails here and not in a worker."""
    est = make_method(key, C=C, gamma=1.0, **params)
    if hasattr(est, "_validate_params"):
        try:
            est._validate_params()
        except ValueError as exc:
            raise PlanError(f"method_params[{key!r}]: {exc}", "method_params") from None
    return est


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
    bad_attacks = [a for a in attack_keys
                   if a != "none" and not _attacks.supports_multiclass(a)]
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
    good_attacks = [a for a in _attacks.available() if _attacks.supports_multiclass(a)]
    raise PlanError(
        f"dataset {name!r} has {n_classes} classes, but {' and '.join(parts)} "
        f"{'are' if len(bad_attacks) + len(bad_methods) > 1 else 'is'} defined for two "
        f"classes only; with more classes use the attacks {', '.join(good_attacks)} and "
        f"the methods {', '.join(good_methods) or '(none available)'}",
        "attacks" if bad_attacks else "methods",
    )


def _load(loader, seed):
    try:
        return loader(random_state=seed)
    except (TypeError, ValueError) as exc:  # the loaders' messages name the file
        raise PlanError(str(exc), "datasets") from None


# --- the plan --------------------------------------------------------------------------------

class Plan:
    """A checked grid, ready for :func:`run_plan`.

    Attributes
    ----------
    cells : list of dict
        One per dataset, seed, attack and budget, in the order they run and are recorded:
        ``dataset``, ``seed``, ``attack``, ``budget``, ``methods``, ``C``, ``gamma`` and
        what the workers need (the loader, parameters, ``keep``).
    n_jobs : int or None
        Cells run in parallel through joblib with this many workers.
    meta : dict
        The grid's settings; :attr:`Results.meta` of the run.
    """

    def __init__(self, cells, n_jobs, meta):
        self.cells, self.n_jobs, self.meta = cells, n_jobs, meta

    def __len__(self):
        return len(self.cells)

    def __repr__(self):
        m = self.meta
        return (f"<Plan: {len(self.cells)} cells, datasets {m['datasets']}, attacks "
                f"{m['attacks']}, budgets {m['budgets']}, methods {m['methods']}, seeds "
                f"{m['seeds']}>")


GRID_PARAMS = {
    "seeds": [Interval(Integral, 1, None, closed="left"), "array-like"],
    "n_jobs": N_JOBS,
    "C": _validation.C,
    "gamma": [*GAMMA, None],
    "method_params": [dict, None],
    "attack_params": [dict, None],
    "label": [str, None],
    "sep": [str],
    "drop": [list, tuple, None],
    "keep_models": ["boolean", callable],
}


@validate_params(GRID_PARAMS, prefer_skip_nested_validation=True)
def plan_grid(datasets, attacks, budgets, methods, seeds, n_jobs=None, *, C=10.0, gamma=None,
              method_params=None, attack_params=None, label=None, sep=",", drop=None,
              keep_models=False):
    """Check a grid and list its cells without running any: :func:`run_grid` is
    ``run_plan(plan_grid(...))``.

    Takes :func:`run_grid`'s arguments but ``verbose``, with the same meaning. Each
    dataset is loaded once (with the first seed) to check the budgets against its
    training set and its classes against the attacks and methods; each method's
    estimator is built and its parameters validated.

    Returns
    -------
    plan : Plan
        ``len(plan)`` cells; ``plan.cells`` lists them.

    Raises
    ------
    PlanError
        (a ``ValueError``) a name, budget, seed, parameter or combination that cannot run;
        its ``param`` names the argument.
    TypeError, ValueError
        A value of the wrong kind (scikit-learn's parameter validation).
    FileNotFoundError
        A dataset file that does not exist.

    Examples
    --------
    >>> from floral.experiments import plan_grid
    >>> plan = plan_grid("moons", "alfa-tilt", [0, 0.1], ["svm", "floral"], seeds=2)
    >>> len(plan), sorted({(c["attack"], c["budget"]) for c in plan.cells})
    (4, [('alfa_tilt', 0.1), ('none', 0.0)])
    """
    return build_plan(datasets, attacks, budgets, methods, seeds, n_jobs, C=C, gamma=gamma,
                      method_params=method_params, attack_params=attack_params, label=label,
                      sep=sep, drop=drop, keep_models=keep_models, caller="plan_grid")


def build_plan(datasets, attacks, budgets, methods, seeds, n_jobs, *, C, gamma,
               method_params, attack_params, label, keep_models, caller, sep=",", drop=None):
    import joblib

    specs = [_dataset_spec(d, label, sep, drop) for d in _as_list(datasets, "datasets")]
    names = [name for name, _ in specs]
    if len(set(names)) != len(names):
        raise PlanError(f"datasets must have distinct names, got {names}", "datasets")
    attack_keys = list(dict.fromkeys(attack_key(a) for a in _as_list(attacks, "attacks")))
    budgets = _as_list(budgets, "budgets")
    method_keys = _method_keys(methods)
    seeds = _seeds(seeds, caller)

    params = _keyed(method_params, method_key, "method_params")
    probes = {key: _probe(key, C, params.get(key, {})) for key in method_keys}
    a_params = _keyed(attack_params, attack_key, "attack_params")

    cells, n_train = [], {}
    for (name, loader) in specs:
        data = _load(loader, seeds[0])
        n = int(np.asarray(data.y_train).shape[0])
        n_train[name] = n
        n_classes = np.unique(np.asarray(data.y_train)).size
        if n_classes > 2:
            _check_multiclass(name, n_classes, attack_keys, probes, C)
        settings = []
        for b in budgets:
            k = _check_budget(b, n, name, caller)
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
        cell_gamma = DEFAULT_GAMMA.get(name, "scale") if gamma is None else gamma
        for seed in seeds:
            keep = keep_models(name, seed, data) if callable(keep_models) else keep_models
            for attack, b in unique:
                cells.append(dict(dataset=name, loader=loader, seed=seed, attack=attack,
                                  budget=b, methods=method_keys, C=C, gamma=cell_gamma,
                                  method_params=params, attack_params=a_params.get(attack, {}),
                                  keep=bool(keep)))
    parallel = joblib.effective_n_jobs(n_jobs) != 1 and len(cells) > 1
    for i, cell in enumerate(cells):
        cell["index"] = i
        # one thread per FloralSVC when cells run side by side: no oversubscription
        cell["inner_jobs"] = 1 if parallel else None
    meta = dict(datasets=names, attacks=attack_keys, budgets=list(budgets),
                methods=method_keys, seeds=seeds, C=C, gamma=gamma,
                method_params={k: {p: jsonable(v) for p, v in d.items()}
                               for k, d in params.items()},
                attack_params={k: {p: jsonable(v) for p, v in d.items()}
                               for k, d in a_params.items()},
                n_train=n_train)
    return Plan(cells, n_jobs, meta)
