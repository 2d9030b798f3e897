"""Figures for experiments: decision boundaries on 2-D data and accuracy against budget.

Needs matplotlib, the optional extra ``plot`` (``pip install "floral-svm[plot]"``).
The functions draw on :class:`matplotlib.figure.Figure` objects, not through pyplot, so
they work with any backend (and none) and never open a window; save with
``fig.savefig(path)``.
"""
import math
import os
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval, validate_params

from ._files import atomic_output

_RESOLUTION = [Interval(Integral, 2, None, closed="left")]

__all__ = ["plot_decision_boundary", "plot_decision_grid", "plot_accuracy_vs_budget",
           "save_figures"]

_INSTALL = 'plotting needs matplotlib: pip install "floral-svm[plot]"'


def _figure(**kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(_INSTALL) from None
    return Figure(**kwargs)


def _scores(est, points):
    """Signed scores whose zero level is the decision boundary (positive: classes_[1])."""
    if hasattr(est, "decision_function"):
        return np.asarray(est.decision_function(points), dtype=float).ravel()
    if hasattr(est, "predict_proba"):
        return est.predict_proba(points)[:, 1] - 0.5
    classes = getattr(est, "classes_", None)
    pred = est.predict(points)
    return np.where(pred == classes[1], 1.0, -1.0)


@validate_params({"estimator": [HasMethods("predict")], "X": ["array-like"],
                  "y": ["array-like"], "y_poisoned": ["array-like", None],
                  "title": [str, None], "resolution": _RESOLUTION},
                 prefer_skip_nested_validation=True)
def plot_decision_boundary(estimator, X, y, y_poisoned=None, *, ax=None, title=None,
                           resolution=150):
    """Decision regions of a fitted binary classifier on 2-D data, with the training labels.

    The background shows the predicted class, the line the boundary. Points are coloured by
    the label the classifier was trained on (``y_poisoned``, or ``y`` when None); points
    whose poisoned label differs from the clean one ``y`` are circled in black and drawn
    with an x, so the attack's flips stand out.

    Parameters
    ----------
    estimator : fitted classifier
        With ``decision_function``, ``predict_proba`` or ``predict`` and two ``classes_``.
    X : array-like of shape (n_samples, 2)
        Training points.
    y : array-like of shape (n_samples,)
        Clean labels.
    y_poisoned : array-like of shape (n_samples,), default=None
        The labels the estimator was trained on.
    ax : matplotlib Axes, default=None
        Draw here; None makes a new figure.
    title : str, default=None
    resolution : int, default=150
        Grid points per axis.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have 2 features for a decision-boundary plot, got shape "
                         f"{X.shape}")
    y = np.asarray(y)
    y_poisoned = y if y_poisoned is None else np.asarray(y_poisoned)
    if y.shape != (X.shape[0],) or y_poisoned.shape != y.shape:
        raise ValueError("y and y_poisoned must have one label per row of X")
    if ax is None:
        fig = _figure(figsize=(4.5, 4))
        ax = fig.subplots()
    else:
        fig = ax.figure
    pad = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-9
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], resolution),
                         np.linspace(lo[1], hi[1], resolution))
    scores = _scores(estimator, np.c_[g0.ravel(), g1.ravel()]).reshape(g0.shape)
    ax.contourf(g0, g1, scores > 0, levels=[-0.5, 0.5, 1.5], colors=["#f4c7c3", "#c6dbef"],
                alpha=0.8)
    if scores.min() < 0 < scores.max():
        ax.contour(g0, g1, scores, levels=[0.0], colors="k", linewidths=1.0)
    classes = np.unique(np.concatenate([y, y_poisoned]))
    colors = ["#d62728", "#1f77b4"]
    for cls, color in zip(classes, colors):
        mask = y_poisoned == cls
        ax.scatter(X[mask, 0], X[mask, 1], s=8, c=color, linewidths=0,
                   label=f"label {cls}")
    flipped = y_poisoned != y
    if flipped.any():
        ax.scatter(X[flipped, 0], X[flipped, 1], s=40, facecolors="none",
                   edgecolors="k", linewidths=0.8, label=f"flipped ({flipped.sum()})")
        ax.scatter(X[flipped, 0], X[flipped, 1], s=14, c="k", marker="x", linewidths=0.6)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return fig


@validate_params({"results": [list], "dataset": [str, None],
                  "seed": [Interval(Integral, 0, None, closed="left"), None],
                  "resolution": _RESOLUTION}, prefer_skip_nested_validation=True)
def plot_decision_grid(results, *, dataset=None, seed=None, resolution=120):
    """Decision boundaries of every method (columns) in every setting (rows).

    Uses the models kept by ``run_grid(..., keep_models=True)`` for one dataset with two
    features and one seed; each panel's title gives the method's test accuracy (Best).

    Parameters
    ----------
    results : Results
        With :attr:`~floral.experiments.Results.models`.
    dataset : str, default=None
        Which dataset; None takes the first kept one.
    seed : int, default=None
        Which seed; None takes the smallest kept one.
    resolution : int, default=120
        Grid points per axis in each panel.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    from .experiments._methods import display_name
    from .experiments._results import setting_label

    kept = results.models
    if not kept:
        raise ValueError("results has no kept models: run run_grid(..., keep_models=True)")
    if dataset is None:
        dataset = next(iter(kept))[0]
    seeds = sorted({k[3] for k in kept if k[0] == dataset})
    if not seeds:
        raise ValueError(f"no kept models for dataset {dataset!r}; kept: "
                         f"{sorted({k[0] for k in kept})}")
    seed = seeds[0] if seed is None else seed
    keys = [k for k in kept if k[0] == dataset and k[3] == seed]
    if not keys:
        raise ValueError(f"no kept models for dataset {dataset!r} and seed {seed}")
    methods = list(kept[keys[0]].estimators)
    acc = {(r["attack"], r["budget"], r["method"]): r.get("model_accuracy") for r in results
           if r["dataset"] == dataset and r["seed"] == seed}
    fig = _figure(figsize=(2.4 * len(methods), 2.4 * len(keys) + 0.4), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(keys), len(methods), squeeze=False))
    for i, key in enumerate(keys):
        entry = kept[key]
        for j, method in enumerate(methods):
            name = display_name(method)
            a = acc.get((key[1], key[2], method))
            title = f"{name}, {setting_label(key[1], key[2])}"
            if a is not None:
                title += f"\ntest acc {a:.3f}"
            plot_decision_boundary(entry.estimators[method], entry.data.X_train,
                                   entry.data.y_train, entry.y_poisoned, ax=axes[i, j],
                                   title=title, resolution=resolution)
    fig.suptitle(f"{dataset}, seed {seed}: training labels as trained on; flipped points "
                 "circled with an x", fontsize=10)
    return fig


@validate_params({"results": [list], "dataset": [str, None], "attack": [str, None]},
                 prefer_skip_nested_validation=True)
def plot_accuracy_vs_budget(results, *, dataset=None, attack=None):
    """Test accuracy (mean ± std over seeds) against the flipped fraction, per method.

    Three panels: the returned model, Best and Last. The x axis is the fraction of
    training labels actually flipped; the clean setting is at 0.

    Parameters
    ----------
    results : Results
    dataset : str, default=None
        None takes the first dataset of the records.
    attack : str, default=None
        None takes the first attack other than "none".

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    from .experiments._methods import display_name

    summary = results.summary()
    if not summary:
        raise ValueError("results has no records")
    if dataset is None:
        dataset = summary[0]["dataset"]
    rows = [r for r in summary if r["dataset"] == dataset]
    if not rows:
        raise ValueError(f"no records for dataset {dataset!r}")
    attacks = [a for a in dict.fromkeys(r["attack"] for r in rows) if a != "none"]
    if attack is None:
        attack = attacks[0] if attacks else "none"
    rows = [r for r in rows if r["attack"] in (attack, "none")]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig = _figure(figsize=(14, 4), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    for ax, which in zip(axes, ("model", "best", "last")):
        for method in methods:
            pts = sorted((r["flipped_fraction"], r[f"{which}_mean"], r[f"{which}_std"])
                         for r in rows if r["method"] == method)
            x, m, s = (np.array(v, dtype=float) for v in zip(*pts))
            label = display_name(method)
            ax.errorbar(x, m, yerr=np.where(np.isfinite(s), s, 0.0), marker="o", ms=4,
                        capsize=3, label=label)
        ax.set_title(f"{which.capitalize()}", fontsize=10)
        ax.set_xlabel(f"fraction of training labels flipped ({attack})")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy")
    axes[-1].legend(fontsize=8, loc="lower left")
    n = max(r["n_seeds"] for r in rows)
    fig.suptitle(f"{dataset}, {attack}: mean ± std over {n} seed{'s' * (n > 1)}",
                 fontsize=10)
    return fig


@validate_params({"results": [list], "out_dir": [str, os.PathLike],
                  "dpi": [Interval(Integral, 1, None, closed="left")]},
                 prefer_skip_nested_validation=True)
def save_figures(results, out_dir, *, dpi=110):
    """Write the accuracy-vs-budget figure of every dataset and attack, and the decision
    boundaries of every dataset with kept models, as PNG files in ``out_dir``.

    Returns
    -------
    paths : list of str
    """
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for dataset in dict.fromkeys(r["dataset"] for r in results):
        attacks = [a for a in dict.fromkeys(r["attack"] for r in results
                                            if r["dataset"] == dataset) if a != "none"]
        for attack in attacks or ["none"]:
            fig = plot_accuracy_vs_budget(results, dataset=dataset, attack=attack)
            path = os.path.join(out_dir, f"accuracy_vs_budget_{dataset}_{attack}.png")
            with atomic_output(path, "wb") as fh:
                fig.savefig(fh, dpi=dpi, format="png")
            paths.append(path)
    for dataset in dict.fromkeys(k[0] for k in results.models):
        entry = next(v for k, v in results.models.items() if k[0] == dataset)
        if entry.data.X_train.shape[1] != 2:
            continue
        fig = plot_decision_grid(results, dataset=dataset)
        path = os.path.join(out_dir, f"decision_boundaries_{dataset}.png")
        with atomic_output(path, "wb") as fh:
            fig.savefig(fh, dpi=math.floor(dpi * 0.8), format="png")
        paths.append(path)
    return paths
