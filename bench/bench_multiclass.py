"""FLORAL beyond balanced binary data (issue 15): ten digits and imbalanced Moon.

On the ten digits (clean; random and top-k SV flips of 10% and 25% of the training labels)
and on Moon with 10% and 25% positives (clean; top-k SV and alfa-tilt flips of 10%), each
seed poisons the training labels once and fits on them

- ``svc``: ``SVC(C=10, gamma)``, the labels as given;
- ``floral``: ``FloralSVC(C=10, gamma)`` with every other parameter at its default, no
  validation set (so ``selection="auto"`` averages the tail of the run);
- ``floral_val``: the same with the trusted validation split
  (``fit(..., X_val=, y_val=)``: the 5 best validation rounds);
- ``ovr``: ``OneVsRestClassifier(FloralSVC(C=10, gamma))``, scikit-learn's wrapper, which
  has no way to hand a validation set to its binary estimators (it routes fit parameters
  unchanged, and y_val would need the same one-vs-rest binarisation as y);
- ``ovr_val``: what ``ovr`` does, written out: one FloralSVC per class c on ``y == c``
  with ``X_val, y_val == c``, predicting the class with the largest decision value.

The gamma is the runner's for each dataset (SVC's "scale", resolved on the training
split); every FloralSVC gets ``random_state=seed`` (``OneVsRestClassifier`` clones its
estimator with that same seed for every class, and ``ovr_val`` does the same). With two
classes both one-vs-rest methods are a single FloralSVC; the script checks that they
predict exactly what ``floral`` and ``floral_val`` predict.

Writes bench/results/multiclass.json (every record) and multiclass.md (tables, targets).
Usage: python bench/bench_multiclass.py [--seeds 5] [--jobs 2] [--cache bench/.cache]
Accuracies are reported, never asserted.
"""
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # run from a checkout without installing

from _common import (  # noqa: E402
    class_scores,
    load_dataset,
    mean_std,
    minority_class,
    pm,
    poisoned_labels,
    run_cell_bench,
)

C = 10.0
# (dataset, positive rate, attack, budget)
SETTINGS = [
    ("digits10", None, "none", 0.0),
    ("digits10", None, "random", 0.1),
    ("digits10", None, "random", 0.25),
    ("digits10", None, "topk_sv", 0.1),
    ("digits10", None, "topk_sv", 0.25),
    ("imbalanced_moons", 0.1, "none", 0.0),
    ("imbalanced_moons", 0.1, "topk_sv", 0.1),
    ("imbalanced_moons", 0.1, "alfa_tilt", 0.1),
    ("imbalanced_moons", 0.25, "none", 0.0),
    ("imbalanced_moons", 0.25, "topk_sv", 0.1),
    ("imbalanced_moons", 0.25, "alfa_tilt", 0.1),
]
METHODS = ("svc", "floral", "floral_val", "ovr", "ovr_val")
LABELS = {"svc": "SVC", "floral": "FloralSVC", "floral_val": "FloralSVC + val",
          "ovr": "OvR(FloralSVC)", "ovr_val": "OvR(FloralSVC) + val"}


def dataset_label(name, rate):
    if name == "imbalanced_moons":
        return f"imbalanced Moon, {rate:.0%} positives"
    return "digits (10 classes)"


def setting_label(attack, budget):
    if attack == "none":
        return "clean"
    return f"{ {'random': 'random', 'topk_sv': 'top-k SV', 'alfa_tilt': 'alfa-tilt'}[attack]} " \
           f"{budget:.0%}"


class _OneFloralPerClass:
    """One-vs-rest by hand so each binary FloralSVC sees the validation set, binarised
    like its training labels; the prediction rule is OneVsRestClassifier's."""

    def __init__(self, **params):
        self.params = params

    def fit(self, X, y, X_val, y_val):
        from floral import FloralSVC

        self.classes_ = np.unique(y)
        if self.classes_.size == 2:  # OneVsRestClassifier fits one problem for two classes
            self.estimators_ = [FloralSVC(**self.params).fit(
                X, y == self.classes_[1], X_val=X_val, y_val=y_val == self.classes_[1])]
        else:
            self.estimators_ = [FloralSVC(**self.params).fit(X, y == c, X_val=X_val,
                                                             y_val=y_val == c)
                                for c in self.classes_]
        return self

    def predict(self, X):
        dec = np.column_stack([e.decision_function(X) for e in self.estimators_])
        if self.classes_.size == 2:
            return self.classes_[(dec[:, 0] > 0).astype(np.intp)]
        return self.classes_[np.argmax(dec, axis=1)]


def run_cell(setting, seed, cache_dir):
    """Poison once, fit every method on the same labels and the same validation split."""
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import SVC

    from floral import FloralSVC

    name, rate, attack, budget = setting
    data, gamma = load_dataset(name, seed, rate)
    tag = name if rate is None else f"{name}{rate:g}"
    y = poisoned_labels(data, attack, budget, seed, C=C, gamma=gamma, cache_dir=cache_dir,
                        tag=tag)
    minority = minority_class(data.y_train)
    params = dict(C=C, gamma=gamma, random_state=seed, n_jobs=1)
    val = dict(X_val=data.X_val, y_val=data.y_val)
    models = {
        "svc": lambda: SVC(C=C, gamma=gamma).fit(data.X_train, y),
        "floral": lambda: FloralSVC(**params).fit(data.X_train, y),
        "floral_val": lambda: FloralSVC(**params).fit(data.X_train, y, **val),
        "ovr": lambda: OneVsRestClassifier(FloralSVC(**params)).fit(data.X_train, y),
        "ovr_val": lambda: _OneFloralPerClass(**params).fit(data.X_train, y, **val),
    }
    records, preds = [], {}
    for method in METHODS:
        start = time.perf_counter()
        est = models[method]()
        seconds = time.perf_counter() - start
        preds[method] = est.predict(data.X_test)
        records.append(dict(dataset=name, positive_rate=rate, attack=attack, budget=budget,
                            seed=seed, method=method, gamma=gamma, fit_seconds=seconds,
                            n_flipped=int(np.count_nonzero(y != data.y_train)),
                            n_classes=int(np.unique(data.y_train).size),
                            **class_scores(data.y_test, preds[method], minority)))
    for rec in records:
        # two classes: one-vs-rest is the single binary FloralSVC
        twin = {"ovr": "floral", "ovr_val": "floral_val"}.get(rec["method"])
        if twin is not None:
            rec["same_predictions_as_" + twin] = bool(np.array_equal(preds[rec["method"]],
                                                                     preds[twin]))
    return records


def _select(records, **match):
    return [r for r in records if all(r.get(k) == v for k, v in match.items())]


def _paired(records, setting, metric, a, b):
    """Per-seed difference a - b of one metric, in points (x100)."""
    name, rate, attack, budget = setting
    ra = {r["seed"]: r[metric] for r in _select(records, dataset=name, positive_rate=rate,
                                                   attack=attack, budget=budget, method=a)}
    rb = {r["seed"]: r[metric] for r in _select(records, dataset=name, positive_rate=rate,
                                                   attack=attack, budget=budget, method=b)}
    return [100 * (ra[s] - rb[s]) for s in sorted(ra)]


def _mean(records, setting, metric, method):
    name, rate, attack, budget = setting
    return mean_std([r[metric] for r in _select(records, dataset=name, positive_rate=rate,
                                                attack=attack, budget=budget,
                                                method=method)])[0]


def targets(records):
    """The issue's targets, each with its numbers."""
    rows = []

    def diff_text(d):
        m, s = mean_std(d)
        return f"{m:+.1f} ± {s:.1f} points (per seed {', '.join(f'{x:+.1f}' for x in d)})"

    clean = ("digits10", None, "none", 0.0)
    for method in ("floral", "floral_val"):
        d = _paired(records, clean, "accuracy", method, "svc")
        rows.append((f"digits clean: {LABELS[method]} accuracy within 1 point of SVC",
                     f"{_mean(records, clean, 'accuracy', method):.3f} vs "
                     f"{_mean(records, clean, 'accuracy', 'svc'):.3f}; {diff_text(d)}",
                     abs(np.mean(d)) <= 1.0))
    topk = ("digits10", None, "topk_sv", 0.25)
    d = _paired(records, topk, "accuracy", "floral_val", "svc")
    rows.append(("digits top-k 25%: FloralSVC + val accuracy >= SVC + 5 points",
                 f"{_mean(records, topk, 'accuracy', 'floral_val'):.3f} vs "
                 f"{_mean(records, topk, 'accuracy', 'svc'):.3f}; {diff_text(d)}",
                 np.mean(d) >= 5.0))
    im_clean = ("imbalanced_moons", 0.1, "none", 0.0)
    for method in ("floral", "floral_val"):
        d = _paired(records, im_clean, "minority_recall", method, "svc")
        rows.append((f"10% positives, clean: {LABELS[method]} minority recall within 2 points "
                     f"of SVC", f"{_mean(records, im_clean, 'minority_recall', method):.3f} vs "
                     f"{_mean(records, im_clean, 'minority_recall', 'svc'):.3f}; "
                     f"{diff_text(d)}", np.mean(d) >= -2.0))
    im_alfa = ("imbalanced_moons", 0.1, "alfa_tilt", 0.1)
    for method in ("floral", "floral_val"):
        d = _paired(records, im_alfa, "balanced_accuracy", method, "svc")
        rows.append((f"10% positives, alfa-tilt 10%: {LABELS[method]} balanced accuracy >= "
                     f"SVC's", f"{_mean(records, im_alfa, 'balanced_accuracy', method):.3f} vs "
                     f"{_mean(records, im_alfa, 'balanced_accuracy', 'svc'):.3f}; "
                     f"{diff_text(d)}", np.mean(d) >= 0.0))
    return rows


def markdown(records, seeds, host, command, seconds):
    lines = [
        "# FLORAL on multi-class and imbalanced data (issue 15)", "",
        f"Command: `{command}` ({seconds:.0f} s)", "",
        f"Machine: {host}.", "",
        f"C = {C:g}, gamma = 'scale' (resolved on each training split); FloralSVC at its "
        "defaults otherwise (flip_budget 0.05, class_cap 2.0, learning_rate 'auto', "
        f"500 rounds, selection 'auto'). Seeds {seeds[0]}..{seeds[-1]} (each draws the data, "
        "the split, the attack and the attacker's randomness); mean ± sample std of test "
        "scores. Minority = the least frequent class of the clean training labels; on the "
        "digits, whose classes are nearly equal, the lowest per-class recall is shown "
        "instead. `+ val`: the trusted validation split selects the 5 best rounds.", "",
    ]
    for name, rate in dict.fromkeys((s[0], s[1]) for s in SETTINGS):
        attacks = [(a, b) for (n, r, a, b) in SETTINGS if (n, r) == (name, rate)]
        third = ("worst_recall", "worst-class recall") if name == "digits10" \
            else ("minority_recall", "minority recall")
        lines += [f"## {dataset_label(name, rate)}", ""]
        for metric, title in (("accuracy", "accuracy"),
                              ("balanced_accuracy", "balanced accuracy"), third):
            header = ["method"] + [setting_label(a, b) for a, b in attacks]
            lines += [f"Test {title}:", "", "| " + " | ".join(header) + " |",
                      "| " + " | ".join(["---"] * len(header)) + " |"]
            for method in METHODS:
                cells = [LABELS[method]]
                for a, b in attacks:
                    rs = _select(records, dataset=name, positive_rate=rate, attack=a,
                                 budget=b, method=method)
                    cells.append(pm([r[metric] for r in rs]))
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
        if name != "digits10":
            same = [r for r in _select(records, dataset=name, positive_rate=rate)
                    if r["method"] in ("ovr", "ovr_val")]
            n_same = sum(r.get("same_predictions_as_floral", False)
                         or r.get("same_predictions_as_floral_val", False) for r in same)
            lines += [f"With two classes the one-vs-rest rows are one FloralSVC: "
                      f"{n_same} of {len(same)} one-vs-rest fits predict exactly what "
                      "FloralSVC (+ val) predicts.", ""]
    lines += ["## Targets (issue 15)", "", "| target | measured (mean; paired per-seed "
              "difference) | met |", "| --- | --- | --- |"]
    for target, text, met in targets(records):
        lines.append(f"| {target} | {text} | {'met' if met else '**missed**'} |")
    lines.append("")
    secs = {m: mean_std([r["fit_seconds"] for r in records if r["method"] == m
                         and r["dataset"] == "digits10"])[0] for m in METHODS}
    lines += ["Mean fit seconds on the digits (shared machine, one thread): "
              + ", ".join(f"{LABELS[m]} {secs[m]:.2f}" for m in METHODS) + ".", ""]
    return "\n".join(lines)


def main(argv=None):
    # the digits cells are the long ones and come first, so the two workers end together
    run_cell_bench(
        argv, doc=__doc__, script="bench_multiclass.py", stem="multiclass",
        jobs=lambda seeds, cache: [(f"{s} seed {seed}", run_cell, (s, seed, cache))
                                   for s in SETTINGS for seed in seeds],
        markdown=markdown, extra={"C": C, "settings": SETTINGS})


if __name__ == "__main__":
    main()
