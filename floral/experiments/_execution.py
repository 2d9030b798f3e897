"""Running a plan: poison each cell's labels once, fit and score every method on them.

Cells run through joblib (in this process with one job, in worker processes otherwise,
or on any joblib backend such as Dask). Ctrl-C stops the run: no further cell starts and
joblib terminates its workers, then the KeyboardInterrupt reaches the caller.
"""
import contextlib
import copy
import signal
import sys
import threading
import time
import warnings

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import validate_params

from .._interrupt import partial_fit_or_interrupt
from .._validation import resolve_gamma
from ..exceptions import IneffectiveParameterWarning
from ._methods import make_method, method_entry
from ._planning import GRID_PARAMS, Plan, build_plan
from ._poisoning import poison_labels
from ._results import FIELDS, Results

__all__ = ["run_plan", "run_grid"]


def _accuracy(est, X, y):
    return float(np.mean(est.predict(X) == y))


def _fit_rounds(est, data, y_train):
    """An estimator that records its rounds (FloralSVC), fitted with the validation split:
    Model, Best = its best_round(), Last = its last_round(), the best round."""
    with warnings.catch_warnings():
        # the grid plays the paper's C on purpose (C = 10 on Moon), a C the game's
        # dual never reaches: the warning is for a user who chose C, not for the grid
        warnings.simplefilter("ignore", IneffectiveParameterWarning)
        est.fit(data.X_train, y_train, X_val=data.X_val, y_val=data.y_val)
    return est, est.best_round(), est.last_round(), int(est.best_round_)


def _fit_epochs(est, data, y_train):
    """Train epoch by epoch; keep the epoch with the best validation accuracy.

    ``max_iter`` is the number of epochs; each ``partial_fit`` call is one pass over the
    training data in minibatches. Returns (Model, Best, Last, best epoch): Model is the
    best epoch (early stopping on the validation split).
    """
    epochs = int(est.max_iter)  # >= 1: planning validated the estimator
    classes = np.unique(y_train)
    best, best_val, best_epoch = None, -1.0, 0
    for epoch in range(1, epochs + 1):
        partial_fit_or_interrupt(est, data.X_train, y_train, classes=classes)
        val = _accuracy(est, data.X_val, data.y_val)
        if val > best_val:  # strict: the earliest epoch wins ties
            best, best_val, best_epoch = copy.deepcopy(est), val, epoch
    return best, best, est, best_epoch


def _fit_once(est, data, y_train):
    """A single fit: Model, Best and Last are the same model; no best round."""
    est.fit(data.X_train, y_train)
    return est, est, est, None


# Method.training -> how the method is fitted and its Model / Best / Last taken
_TRAINING = {"rounds": _fit_rounds, "epochs": _fit_epochs, None: _fit_once}


def _fit_and_score(method, est, data, y_train):
    """Fit ``est`` on the poisoned labels as its method's registry entry says; Model /
    Best / Last scores, best round, model."""
    start = time.perf_counter()
    model, best, last, best_round = _TRAINING[method_entry(method).training](est, data, y_train)
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


def _run_cell(cell):
    """Poison once, fit every method; returns (cell index, records, kept models or None)."""
    data = cell["loader"](random_state=cell["seed"])
    seed, budget = cell["seed"], cell["budget"]
    gamma = resolve_gamma(cell["gamma"], data.X_train)
    start = time.perf_counter()
    y_poisoned = poison_labels(data.X_train, data.y_train, cell["attack"], budget,
                               random_state=seed, C=cell["C"], gamma=gamma, X_val=data.X_val,
                               y_val=data.y_val, attack_params=cell["attack_params"])
    attack_seconds = time.perf_counter() - start
    n_flipped = int(np.count_nonzero(y_poisoned != data.y_train))
    _, minority_share, n_classes = _minority(data.y_train)
    records, models = [], {}
    for method in cell["methods"]:
        est = make_method(method, C=cell["C"], gamma=gamma, random_state=seed,
                          n_jobs=cell["inner_jobs"], **cell["method_params"].get(method, {}))
        scores, model = _fit_and_score(method, est, data, y_poisoned)
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


@contextlib.contextmanager
def _sigint_blocked():
    """Block SIGINT in this thread while joblib starts its workers, which inherit the mask.

    A terminal's Ctrl-C goes to the whole process group: a worker that gets it while it
    starts (importing) or runs a cell prints its own traceback, dozens of lines after the
    parent has already said it was interrupted. Started with SIGINT blocked, workers never
    see it; the parent alone handles the Ctrl-C and joblib terminates them. A SIGINT that
    arrives meanwhile stays pending and is delivered here when the block ends.
    """
    block = (hasattr(signal, "pthread_sigmask")
             and threading.current_thread() is threading.main_thread())
    if block:
        # starting a resource tracker unblocks SIGINT in the starting thread when done
        # (multiprocessing's and loky's own): start them first, so the block holds
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
        try:
            from joblib.externals.loky.backend import resource_tracker as loky_tracker

            loky_tracker.ensure_running()
        except ImportError:  # a joblib without loky: nothing else to start
            pass
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        if block:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@validate_params({"plan": [Plan], "verbose": ["verbose"]}, prefer_skip_nested_validation=True)
def run_plan(plan, *, verbose=0):
    """Run the cells of a :class:`Plan` from :func:`plan_grid`.

    Parameters
    ----------
    plan : Plan
    verbose : int, default=0
        1 draws a progress bar over the cells on stderr.

    Returns
    -------
    results : Results
        See :func:`run_grid`.
    """
    import joblib

    cells = plan.cells
    progress = _Progress(len(cells), bool(verbose))
    try:
        parallel = joblib.Parallel(n_jobs=plan.n_jobs, return_as="generator_unordered")
    except ValueError:  # a backend that cannot stream results: progress at the end only
        parallel = joblib.Parallel(n_jobs=plan.n_jobs)
    with _sigint_blocked():
        outputs = parallel(joblib.delayed(_run_cell)(c) for c in cells)
    out = {}
    try:
        for index, records, kept in outputs:
            out[index] = (records, kept)
            progress.step()
    finally:
        # on Ctrl-C (or any error) in this loop, closing the generator makes joblib stop
        # dispatching and terminate its workers now, not when the traceback is collected
        close = getattr(outputs, "close", None)
        if close is not None:
            close()
    results = Results(rec for i in range(len(cells)) for rec in out[i][0])
    results.meta = dict(plan.meta)
    for i, cell in enumerate(cells):
        if out[i][1] is not None:
            results.models[(cell["dataset"], cell["attack"], cell["budget"],
                            cell["seed"])] = out[i][1]
    return results


@validate_params({**GRID_PARAMS, "verbose": ["verbose"]}, prefer_skip_nested_validation=True)
def run_grid(datasets, attacks, budgets, methods, seeds, n_jobs=None, *, C=10.0, gamma=None,
             method_params=None, attack_params=None, label=None, sep=",", drop=None,
             keep_models=False, verbose=0):
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
    sep : str, default=","
        Field separator of .csv datasets.
    drop : list of str, default=None
        Columns of .csv datasets that are neither features nor the label (IDs).
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
    PlanError, ValueError, TypeError
        Unknown names (the message lists the valid ones), budgets outside [0, 1) or not
        below the training set size, bad parameters, two-class attacks or methods on a
        dataset with more classes; raised by :func:`plan_grid` before any cell runs.
    FileNotFoundError
        A dataset file that does not exist.
    KeyboardInterrupt
        Ctrl-C: no further cell starts; parallel workers are stopped.

    Examples
    --------
    >>> from floral.experiments import run_grid
    >>> res = run_grid("moons", "alfa_tilt", [0, 0.1], ["svm", "floral"], seeds=1,
    ...                method_params={"floral": {"n_rounds": 100}})
    >>> sorted({(r["attack"], r["budget"]) for r in res})
    [('alfa_tilt', 0.1), ('none', 0.0)]
    """
    plan = build_plan(datasets, attacks, budgets, methods, seeds, n_jobs, C=C, gamma=gamma,
                      method_params=method_params, attack_params=attack_params, label=label,
                      sep=sep, drop=drop, keep_models=keep_models, caller="run_grid")
    return run_plan(plan, verbose=verbose)
