"""FloralSVC's class_cap on imbalanced, multi-class and balanced data: what the default rests on.

``class_cap`` bounds how many points of one class FLORAL's attacker relabels per round
(``ceil(class_cap * k * n_c / n)``; None is the paper's attacker). This sweep fits
FloralSVC (C = 10, the runner's gamma, every other parameter at its default) with
class_cap in {1, 1.5, 2, 3, None}, with and without the trusted validation split
(``fit(..., X_val=, y_val=)``, which makes ``selection="auto"`` pick the 5 best rounds,
here ranked by validation *accuracy*: ``scoring="accuracy"``, the ranking this sweep was
run with before balanced accuracy became FloralSVC's default), on imbalanced Moon also
with that split class-balanced (each class's points repeated n_max / n_c times, so the
rounds are picked on validation balanced accuracy, which the default now does), and with
class_weight None and "balanced"; flip_budget=0 (the leader alone) is the row that says
what the attacker costs. The data:

- imbalanced Moon (10% and 25% positives): clean, top-k SV 10%, alfa-tilt 10%;
- the ten digits: clean, top-k SV 25%;
- the balanced Moon: clean, alfa-tilt 10% and 25% (the cap should barely matter there).

Every fit is also compared bit for bit with the same fit at class_cap=None (dual_coef_ and
intercept_ of the returned model and of the last round, and the first round whose
objective differs), which says whether the cap bound at all in that run. SVC (with and
without class_weight="balanced") on the same labels is the reference. Each seed draws the
data, the split, the attack and the attacker's randomness, as in the experiment runner.

Writes bench/results/class_cap.json (every record) and class_cap.md (the tables).
Usage: python bench/class_cap_sweep.py [--seeds 5] [--jobs 2] [--cache bench/.cache]
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
    poisoned_labels,
    run_cell_bench,
)

C = 10.0
CAPS = [1.0, 1.5, 2.0, 3.0, None]
# (dataset, positive rate, attack, budget)
SETTINGS = [
    ("digits10", None, "none", 0.0),
    ("digits10", None, "topk_sv", 0.25),
    ("imbalanced_moons", 0.1, "none", 0.0),
    ("imbalanced_moons", 0.1, "topk_sv", 0.1),
    ("imbalanced_moons", 0.1, "alfa_tilt", 0.1),
    ("imbalanced_moons", 0.25, "none", 0.0),
    ("imbalanced_moons", 0.25, "topk_sv", 0.1),
    ("imbalanced_moons", 0.25, "alfa_tilt", 0.1),
    ("moons", None, "none", 0.0),
    ("moons", None, "alfa_tilt", 0.1),
    ("moons", None, "alfa_tilt", 0.25),
]
METRICS = ("accuracy", "balanced_accuracy", "minority_recall", "worst_recall")


def dataset_label(name, rate):
    if name == "imbalanced_moons":
        return f"imbalanced Moon, {rate:.0%} positives"
    return {"digits10": "digits (10 classes)", "moons": "Moon (balanced)"}[name]


def setting_label(attack, budget):
    return "clean" if attack == "none" else \
        f"{ {'topk_sv': 'top-k SV', 'alfa_tilt': 'alfa-tilt'}[attack]} {budget:.0%}"


def _class_balanced(X, y):
    """The validation set with each class's points repeated about n_max / n_c times, so
    that its accuracy is (exactly when the counts divide) its balanced accuracy."""
    classes, counts = np.unique(y, return_counts=True)
    reps = np.rint(counts.max() / counts).astype(int)
    idx = np.concatenate([np.repeat(np.flatnonzero(y == c), r) for c, r in zip(classes, reps)])
    return X[idx], y[idx]


def run_cell(setting, seed, cache_dir):
    """Poison once, fit SVC and every FloralSVC variant on the same labels."""
    from sklearn.svm import SVC

    from floral import FloralSVC
    from floral._validation import resolve_budget

    name, rate, attack, budget = setting
    data, gamma = load_dataset(name, seed, rate)
    tag = name if rate is None else f"{name}{rate:g}"
    y = poisoned_labels(data, attack, budget, seed, C=C, gamma=gamma, cache_dir=cache_dir,
                        tag=tag)
    minority = minority_class(data.y_train)
    base = dict(dataset=name, positive_rate=rate, attack=attack, budget=budget, seed=seed,
                gamma=gamma, n_flipped=int(np.count_nonzero(y != data.y_train)))
    records = []
    for cw in (None, "balanced"):
        svc = SVC(C=C, gamma=gamma, class_weight=cw).fit(data.X_train, y)
        records.append(dict(base, method="svc", class_weight=cw,
                            **class_scores(data.y_test, svc.predict(data.X_test), minority)))
    _, counts = np.unique(y, return_counts=True)
    k = resolve_budget(0.05, y.size)  # FloralSVC's default flip_budget
    vals = {False: {}, True: dict(X_val=data.X_val, y_val=data.y_val)}
    if name == "imbalanced_moons":
        Xb, yb = _class_balanced(data.X_val, data.y_val)
        vals["balanced"] = dict(X_val=Xb, y_val=yb)
    for cw in (None, "balanced"):
        box = C * (1.0 if cw is None else float(np.min(y.size / (counts.size * counts))))
        for val, kw in vals.items():
            # the leader alone: what the attacker costs on top of 500 projected-gradient steps
            clf = FloralSVC(C=C, gamma=gamma, flip_budget=0, class_weight=cw,
                            scoring="accuracy", random_state=seed,
                            n_jobs=1).fit(data.X_train, y, **kw)
            records.append(dict(
                base, method="floral_no_attacker", class_weight=cw, val=val,
                smallest_box=box,
                max_abs_coef=float(np.abs(clf.last_round().dual_coef_).max()),
                **class_scores(data.y_test, clf.predict(data.X_test), minority)))
            fits = {}
            for cap in CAPS:
                start = time.perf_counter()
                clf = FloralSVC(C=C, gamma=gamma, class_cap=cap, class_weight=cw,
                                scoring="accuracy", random_state=seed,
                                n_jobs=1).fit(data.X_train, y, **kw)
                seconds = time.perf_counter() - start
                fits[cap] = clf
                caps = (np.full(counts.size, k) if cap is None
                        else np.minimum(np.ceil(cap * k * counts / y.size - 1e-9), k))
                records.append(dict(
                    base, method="floral", class_cap=cap, class_weight=cw, val=val,
                    fit_seconds=seconds, k=k, caps=caps.astype(int).tolist(),
                    smallest_box=box,
                    # the box C_i binds only where some |c_i| reaches it
                    max_abs_coef=float(np.abs(clf.last_round().dual_coef_).max()),
                    **class_scores(data.y_test, clf.predict(data.X_test), minority)))
            free = fits[None]
            for rec, cap in zip(records[-len(CAPS):], CAPS):
                rec.update(_against_uncapped(fits[cap], free))
    return records


def _same_bits(a, b):
    return a.dual_coef_.shape == b.dual_coef_.shape \
        and a.dual_coef_.tobytes() == b.dual_coef_.tobytes() \
        and a.intercept_.tobytes() == b.intercept_.tobytes()


def _against_uncapped(clf, free):
    """Whether a fit equals the class_cap=None fit bit for bit, and where they part."""
    obj, ref = clf.history_["objective"], free.history_["objective"]
    differ = np.flatnonzero(obj != ref)
    return {"same_model_as_uncapped": _same_bits(clf, free),
            "same_last_round_as_uncapped": _same_bits(clf.last_round(), free.last_round()),
            # the round after the first relabelling the cap changed is the first to differ
            "first_round_differing": int(differ[0]) + 1 if differ.size else None}


def _short(values):
    """'.975±.004': mean ± sample std without the leading zeros, to keep the cells narrow."""
    mean, std = mean_std(values)
    return f"{mean:.3f}±{std:.3f}".replace("0.", ".")


def _select(records, **match):
    return [r for r in records if all(r.get(k) == v for k, v in match.items())]


VAL_NAMES = {False: "", True: ", val", "balanced": ", balanced val"}


def _rows(name):
    rows = [("SVC", dict(method="svc", class_weight=None)),
            ("SVC, class_weight='balanced'", dict(method="svc", class_weight="balanced"))]
    vals = [False, True] + (["balanced"] if name == "imbalanced_moons" else [])
    for val in vals:
        rows.append((f"no attacker (flip_budget 0){VAL_NAMES[val]}",
                     dict(method="floral_no_attacker", class_weight=None, val=val)))
        rows += [(f"cap {cap if cap is not None else 'None'}"
                  + (" (default)" if cap == 2.0 else "") + VAL_NAMES[val],
                  dict(method="floral", class_cap=cap, class_weight=None, val=val))
                 for cap in CAPS]
    return rows


def _class_weight_effect(records, name, rate):
    """Largest change of any score when FloralSVC gets class_weight='balanced', paired."""
    fl = [r for r in _select(records, dataset=name, positive_rate=rate)
          if r["method"] in ("floral", "floral_no_attacker")]

    def key(r):
        return (r["method"], r["attack"], r["budget"], r["seed"], r.get("class_cap"),
                str(r["val"]))

    plain = {key(r): r for r in fl if r["class_weight"] is None}
    diffs = [max(abs(r[m] - plain[key(r)][m]) for m in METRICS)
             for r in fl if r["class_weight"] == "balanced"]
    return max(diffs), max(r["max_abs_coef"] for r in fl), \
        min(r["smallest_box"] for r in fl)


def markdown(records, seeds, host, command, seconds):
    lines = [
        "# class_cap sweep", "",
        f"Command: `{command}` ({seconds:.0f} s)", "",
        f"Machine: {host}.", "",
        f"FloralSVC(C = {C:g}, the runner's gamma, all else default: flip_budget 0.05, "
        "candidate_factor 2, learning_rate 'auto', 500 rounds, selection 'auto') over "
        "class_cap. `val`: fitted with the trusted validation split (the 5 best rounds); "
        "without it the tail average. `balanced val`: the same split with each class's "
        "points repeated n_max / n_c times (9x the positives at 10%, 3x at 25%), so that "
        "the rounds are chosen by validation balanced accuracy. `no attacker`: flip_budget "
        f"= 0 (500 projected-gradient steps, nothing else). Seeds {seeds[0]}..{seeds[-1]}; "
        "each cell is mean±sample std of test accuracy / balanced accuracy / minority "
        "recall (digits: the lowest per-class recall, since its classes are nearly "
        "equal). Minority = the least frequent class of the clean training labels. "
        "FloralSVC rows are class_weight = None; the line under each table says what "
        "class_weight = 'balanced' changes.", "",
    ]
    for name, rate in dict.fromkeys((s[0], s[1]) for s in SETTINGS):
        third = "worst_recall" if name == "digits10" else "minority_recall"
        third_name = "worst-class recall" if name == "digits10" else "minority recall"
        attacks = [(a, b) for (n, r, a, b) in SETTINGS if (n, r) == (name, rate)]
        header = ["method"] + [setting_label(a, b) for a, b in attacks]
        lines += [f"## {dataset_label(name, rate)}", "",
                  f"Cells: accuracy / balanced accuracy / {third_name}.", "",
                  "| " + " | ".join(header) + " |",
                  "| " + " | ".join(["---"] * len(header)) + " |"]
        for label, match in _rows(name):
            cells = [label]
            for a, b in attacks:
                rs = _select(records, dataset=name, positive_rate=rate, attack=a,
                             budget=b, **match)
                cells.append(" / ".join(_short([r[m] for r in rs])
                                        for m in ("accuracy", "balanced_accuracy", third)))
            lines.append("| " + " | ".join(cells) + " |")
        diff, reach, box = _class_weight_effect(records, name, rate)
        lines += ["", f"class_weight = 'balanced' in FloralSVC: the largest change of any "
                  f"score in any paired fit is {diff:.4f}. The largest |c_i| of any last "
                  f"round is {reach:.2f}, below the smallest box C * class_weight = "
                  f"{box:.2f}: after 500 steps of the auto step no dual variable reaches "
                  "its bound, so C and class_weight do not enter the fit."
                  if reach < box else
                  f"class_weight = 'balanced' in FloralSVC: the largest change of any score "
                  f"in any paired fit is {diff:.4f}; the largest |c_i| of any last round is "
                  f"{reach:.2f} against a smallest box of {box:.2f}.", ""]
    lines += ["## Does the default cap bind?", "",
              "Fits with class_cap = 2.0 against the same fit with class_cap = None "
              "(same seed, labels, validation set and class_weight): how many fits per "
              "setting (seeds x validation variants x class_weight) return a model that is "
              "not bit-identical (dual_coef_ and intercept_), and the first round whose "
              "objective differs (the round after the first relabelling the cap changed). "
              "caps: the per-class caps ceil(2 k n_c / n) of the labels given to fit, over "
              "the seeds.", "",
              "| data | setting | k | caps per class (seeds) | fits not identical | "
              "first differing round (min / median) |", "| --- | --- | ---: | --- | ---: | --- |"]
    for name, rate, a, b in SETTINGS:
        rs = _select(records, method="floral", dataset=name, positive_rate=rate, attack=a,
                     budget=b, class_cap=2.0)
        differ = [r for r in rs if not r["same_model_as_uncapped"]]
        first = [r["first_round_differing"] for r in rs if r["first_round_differing"]]
        caps = sorted({tuple(r["caps"]) for r in rs})
        cap_text = "; ".join("/".join(map(str, c)) for c in caps)
        lines.append(
            f"| {dataset_label(name, rate)} | {setting_label(a, b)} | {rs[0]['k']} | "
            f"{cap_text} | {len(differ)} / {len(rs)} | "
            + (f"{min(first)} / {int(np.median(first))}" if first else "-") + " |")
    lines.append("")
    return "\n".join(lines)


def main(argv=None):
    # the digits cells are the long ones: start them first so the workers end together
    run_cell_bench(
        argv, doc=__doc__, script="class_cap_sweep.py", stem="class_cap",
        jobs=lambda seeds, cache: [(f"{s} seed {seed}", run_cell, (s, seed, cache))
                                   for s in SETTINGS for seed in seeds],
        markdown=markdown, extra={"C": C, "caps": CAPS})


if __name__ == "__main__":
    main()
