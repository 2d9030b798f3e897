"""Why FloralSVC measures as it does on digits and imbalanced Moon (issue 15, notes).

Five probes, each on the bench's data and labels (bench_multiclass.py's seeds, poisoned
labels from the same cache), C = 10 unless varied, the runner's gamma:

1. **Does the box bind?** FloralSVC on Moon with 10% positives (clean, alfa-tilt 10%) with
   C in {0.5, 1, 10} and class_weight None / "balanced": the largest dual variable the
   run reaches, and the scores. After 500 rounds of the auto step a dual variable has
   moved at most about 500 * 0.5 / lambda_max(K), so a box above that never binds.
2. **The attacker's budget on clean digits.** FloralSVC with flip_budget in
   {0, 0.01, 0.02, 0.05} on the ten digits, clean and under 25% top-k SV flips.
3. **The relabelling rule.** A dense NumPy re-implementation of the multi-class game
   (FloralSVC's round: projected-gradient step on each one-vs-rest dual, shared
   randomised top-k attacker with the per-class cap, tail average) with the chosen points
   relabelled to (a) the runner-up class by decision value, FloralSVC's rule, or (b) a
   class drawn uniformly among the others, on the digits, clean and top-k 25%. The same
   code runs both rules, so their difference is the rule's; (a) is set beside FloralSVC
   itself as a check of the re-implementation (its random draws differ from the core's).
4. **SVC's C.** SVC with C in {0.3, 1, 3, 10} on the same poisoned labels (the attacks
   picked their flips against SVC with C = 10, the bench's baseline).
5. **Whom the attacker relabels** under alfa-tilt at 10% positives, with the default cap
   and without: how many of its relabellings hit alfa-tilt's flipped points.

Fits with a validation set rank rounds by validation accuracy (``scoring="accuracy"``), as
when these probes were run, before balanced accuracy became FloralSVC's default.

Writes bench/results/multiclass_probes.{json,md}.
Usage: python bench/multiclass_probes.py [--seeds 5] [--jobs 2] [--cache bench/.cache]
"""
import json
import math
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


def _data(name, rate, attack, budget, seed, cache_dir):
    data, gamma = load_dataset(name, seed, rate)
    tag = name if rate is None else f"{name}{rate:g}"
    y = poisoned_labels(data, attack, budget, seed, C=C, gamma=gamma, cache_dir=cache_dir,
                        tag=tag)
    return data, gamma, y, minority_class(data.y_train)


def probe_box(attack, budget, seed, cache_dir):
    from floral import FloralSVC

    data, gamma, y, minority = _data("imbalanced_moons", 0.1, attack, budget, seed, cache_dir)
    out = []
    for c in (0.5, 1.0, 10.0):
        for cw in (None, "balanced"):
            for val in (False, True):
                kw = dict(X_val=data.X_val, y_val=data.y_val) if val else {}
                clf = FloralSVC(C=c, gamma=gamma, class_weight=cw, random_state=seed,
                                scoring="accuracy", n_jobs=1).fit(data.X_train, y, **kw)
                out.append(dict(probe="box", attack=attack, budget=budget, seed=seed, C=c,
                                class_weight=cw, val=val,
                                reach=float(np.abs(clf.last_round().dual_coef_).max()),
                                lambda_max=float(clf.lambda_max_),
                                step=float(clf.learning_rate_),
                                **class_scores(data.y_test, clf.predict(data.X_test),
                                               minority)))
    return out


def probe_budget(attack, budget, seed, cache_dir):
    from floral import FloralSVC

    data, gamma, y, minority = _data("digits10", None, attack, budget, seed, cache_dir)
    out = []
    for k in (0, 0.01, 0.02, 0.05):
        for val in (False, True):
            kw = dict(X_val=data.X_val, y_val=data.y_val) if val else {}
            clf = FloralSVC(C=C, gamma=gamma, flip_budget=k, random_state=seed,
                            scoring="accuracy", n_jobs=1).fit(data.X_train, y, **kw)
            out.append(dict(probe="budget", attack=attack, budget=budget, seed=seed,
                            flip_budget=k, val=val,
                            **class_scores(data.y_test, clf.predict(data.X_test), minority)))
    return out


def _project(v, a, upper):
    """Euclidean projection onto {0 <= x <= upper, a'x = 0}, a in {-1, +1}^n: bisection on
    the multiplier, then the exact solution on the linear piece it lands in."""
    def phi(mu):
        return float(np.sum(a * np.clip(v - mu * a, 0.0, upper)))

    span = float(np.max(np.abs(v)) + np.max(upper)) + 1.0
    lo, hi = -span, span  # phi(lo) >= 0 >= phi(hi): phi decreases in mu
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if phi(mid) > 0:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * max(1.0, abs(mid)):
            break
    mu = 0.5 * (lo + hi)
    x = v - mu * a
    inside = (x > 0) & (x < upper)
    if inside.any():
        # on this piece phi is linear with slope -|inside|: step to its zero
        mu += phi(mu) / inside.sum()
    return np.clip(v - mu * a, 0.0, upper)


def numpy_game(K, y, n_classes, *, rule, k, rng, C_box, n_rounds=500, candidate_factor=2.0,
               class_cap=2.0, tol=1e-5, average_start=0.5, step_scale=0.5):
    """FloralSVC's multi-class round loop in dense NumPy; returns the tail average
    (coef P x n, b P). ``rule``: "runner-up" or "random" (another class, uniformly)."""
    n = y.size
    eta = step_scale / float(np.linalg.eigvalsh(K)[-1])
    counts = np.bincount(y, minlength=n_classes)
    caps = np.full(n_classes, k) if class_cap is None else \
        np.minimum(np.ceil(class_cap * k * counts / n - 1e-9), k).astype(int)
    n_cand = max(k, math.ceil(candidate_factor * k - 1e-9))
    classes = np.arange(n_classes)
    labels = y.copy()
    lam = np.zeros((n_classes, n))
    first = math.floor(average_start * n_rounds) + 1
    coef_sum, b_sum = np.zeros((n_classes, n)), np.zeros(n_classes)
    for t in range(1, n_rounds + 1):
        yt = np.where(labels[None, :] == classes[:, None], 1.0, -1.0)
        f = (K @ (yt * lam).T).T
        for p in range(n_classes):
            lam[p] = _project(lam[p] - eta * (yt[p] * f[p] - 1.0), yt[p], C_box)
        coef = yt * lam
        f = (K @ coef.T).T
        b = np.zeros(n_classes)
        for p in range(n_classes):
            free = (lam[p] > 0) & (lam[p] < C_box)
            b[p] = np.mean(yt[p, free] - f[p, free]) if free.any() else 0.0
        if t >= first:
            coef_sum += coef
            b_sum += b
        if t == n_rounds:
            break
        weight = lam.sum(axis=0)
        sv = np.flatnonzero(weight > tol)
        cand = sv[np.lexsort((sv, -weight[sv]))][:n_cand]
        cand = cand[rng.permutation(cand.size)]
        labels = y.copy()
        taken = np.zeros(n_classes, int)
        picked = 0
        for i in cand:
            if picked == k:
                break
            if taken[y[i]] >= caps[y[i]]:
                continue
            taken[y[i]] += 1
            picked += 1
            if rule == "runner-up":
                score = f[:, i] + b
                score[y[i]] = -np.inf
                labels[i] = int(np.argmax(score))
            else:
                others = np.delete(classes, y[i])
                labels[i] = int(rng.choice(others))
    m = n_rounds - first + 1
    return coef_sum / m, b_sum / m


def probe_rule(attack, budget, seed, cache_dir):
    from floral import FloralSVC
    from floral._validation import gram, kernel_params

    data, gamma, y, minority = _data("digits10", None, attack, budget, seed, cache_dir)
    classes, codes = np.unique(y, return_inverse=True)
    params = kernel_params("rbf", gamma, 3, 0.0)
    K = gram(data.X_train, data.X_train, params)
    K_test = gram(data.X_test, data.X_train, params)
    k = int(math.floor(0.05 * y.size + 0.5))
    out = []
    clf = FloralSVC(C=C, gamma=gamma, random_state=seed, n_jobs=1).fit(data.X_train, y)
    out.append(dict(probe="rule", attack=attack, budget=budget, seed=seed, rule="FloralSVC",
                    **class_scores(data.y_test, clf.predict(data.X_test), minority)))
    for rule in ("runner-up", "random"):
        start = time.perf_counter()
        coef, b = numpy_game(K, codes, classes.size, rule=rule, k=k, C_box=C,
                             rng=np.random.default_rng(seed))
        pred = classes[np.argmax(K_test @ coef.T + b, axis=1)]
        out.append(dict(probe="rule", attack=attack, budget=budget, seed=seed, rule=rule,
                        seconds=time.perf_counter() - start,
                        **class_scores(data.y_test, pred, minority)))
    return out


SVC_SETTINGS = [("digits10", None, "none", 0.0), ("digits10", None, "topk_sv", 0.25),
                ("imbalanced_moons", 0.1, "none", 0.0),
                ("imbalanced_moons", 0.1, "alfa_tilt", 0.1),
                ("moons", None, "alfa_tilt", 0.25)]


def probe_svc(seed, cache_dir):
    from sklearn.svm import SVC

    out = []
    for name, rate, attack, budget in SVC_SETTINGS:
        data, gamma, y, minority = _data(name, rate, attack, budget, seed, cache_dir)
        for c in (0.3, 1.0, 3.0, 10.0):
            pred = SVC(C=c, gamma=gamma).fit(data.X_train, y).predict(data.X_test)
            out.append(dict(probe="svc", dataset=name, positive_rate=rate, attack=attack,
                            budget=budget, seed=seed, C=c,
                            **class_scores(data.y_test, pred, minority)))
    return out


def probe_relabel(seed, cache_dir):
    """Whom the attacker relabels under alfa-tilt at 10% positives, capped and not."""
    from floral import FloralSVC

    data, gamma, y, _ = _data("imbalanced_moons", 0.1, "alfa_tilt", 0.1, seed, cache_dir)
    poisoned = y != data.y_train
    out = []
    for cap in (2.0, None):
        clf = FloralSVC(C=C, gamma=gamma, class_cap=cap, random_state=seed,
                        n_jobs=1).fit(data.X_train, y)
        last = clf.last_round().flipped_
        out.append(dict(probe="relabel", seed=seed, class_cap=cap,
                        n_poisoned=int(poisoned.sum()),
                        given_positives=int(np.sum(y == 1)),
                        last_relabelled=int(last.size),
                        last_relabelled_poisoned=int(poisoned[last].sum()),
                        kept_relabelled=int(clf.flipped_.size),
                        kept_relabelled_poisoned=int(poisoned[clf.flipped_].sum())))
    return out


def _group(records, **match):
    return [r for r in records if all(r.get(k) == v for k, v in match.items())]


def _cells(rs):
    return " | ".join(pm([r[m] for r in rs]) for m in
                      ("accuracy", "balanced_accuracy", "minority_recall"))


def markdown(records, seeds, host, command, seconds):
    lines = ["# Issue 15 probes", "", f"Command: `{command}` ({seconds:.0f} s)", "",
             f"Machine: {host}.", "", f"Seeds {seeds[0]}..{seeds[-1]}, mean ± sample std.", "",
             "## 1. Does the box bind? (Moon, 10% positives)", "",
             "`reach`: the largest |c_i| = lambda_i of the last round; the box of class c "
             "is C * class_weight[c] (balanced: 0.56 C for the majority, 5 C for the "
             "minority).", "",
             "| setting | C | class_weight | val | reach | accuracy | balanced accuracy | "
             "minority recall |", "| --- | ---: | --- | --- | ---: | --- | --- | --- |"]
    for attack in ("none", "alfa_tilt"):
        for c in (0.5, 1.0, 10.0):
            for cw in (None, "balanced"):
                for val in (False, True):
                    rs = _group(records, probe="box", attack=attack, C=c, class_weight=cw,
                                val=val)
                    lines.append(f"| {'clean' if attack == 'none' else 'alfa-tilt 10%'} | "
                                 f"{c:g} | {cw} | {'yes' if val else 'no'} | "
                                 f"{pm([r['reach'] for r in rs])} | {_cells(rs)} |")
    rs = _group(records, probe="box")
    lines += ["", f"Step: {pm([r['step'] for r in rs])} (0.5 / lambda_max(K), lambda_max "
              f"{pm([r['lambda_max'] for r in rs])}); 500 steps reach "
              f"{500 * np.mean([r['step'] for r in rs]):.2f}.", "",
              "## 2. Attacker budget on the digits", "",
              "Cells: accuracy, balanced accuracy, lowest per-class recall.", "",
              "| setting | flip_budget | val | accuracy | balanced accuracy | worst-class "
              "recall |", "| --- | ---: | --- | --- | --- | --- |"]
    for attack in ("none", "topk_sv"):
        for k in (0, 0.01, 0.02, 0.05):
            for val in (False, True):
                rs = _group(records, probe="budget", attack=attack, flip_budget=k, val=val)
                lines.append(f"| {'clean' if attack == 'none' else 'top-k SV 25%'} | {k:g} | "
                             f"{'yes' if val else 'no'} | "
                             + " | ".join(pm([r[m] for r in rs]) for m in
                                          ("accuracy", "balanced_accuracy", "worst_recall"))
                             + " |")
    lines += ["", "## 3. Relabelling rule on the digits (tail average, no validation set)",
              "", "| setting | game | accuracy | balanced accuracy | worst-class recall |",
              "| --- | --- | --- | --- | --- |"]
    for attack in ("none", "topk_sv"):
        for rule, label in (("FloralSVC", "FloralSVC (core, runner-up)"),
                            ("runner-up", "NumPy game, runner-up"),
                            ("random", "NumPy game, random other class")):
            rs = _group(records, probe="rule", attack=attack, rule=rule)
            lines.append(f"| {'clean' if attack == 'none' else 'top-k SV 25%'} | {label} | "
                         + " | ".join(pm([r[m] for r in rs]) for m in
                                      ("accuracy", "balanced_accuracy", "worst_recall"))
                         + " |")
    lines += ["", "## 4. SVC's C on the same labels (the attacks chose their flips against "
              "SVC with C = 10)", "",
              "| data | setting | C | accuracy | balanced accuracy | minority (digits: "
              "worst-class) recall |", "| --- | --- | ---: | --- | --- | --- |"]
    for name, rate, attack, budget in SVC_SETTINGS:
        third = "worst_recall" if name == "digits10" else "minority_recall"
        for c in (0.3, 1.0, 3.0, 10.0):
            rs = _group(records, probe="svc", dataset=name, positive_rate=rate,
                        attack=attack, C=c)
            data_label = f"Moon {rate:.0%} positives" if name == "imbalanced_moons" \
                else {"digits10": "digits", "moons": "Moon"}[name]
            setting = "clean" if attack == "none" else \
                f"{ {'topk_sv': 'top-k SV', 'alfa_tilt': 'alfa-tilt'}[attack]} {budget:.0%}"
            lines.append(f"| {data_label} | {setting} | {c:g} | "
                         + " | ".join(pm([r[m] for r in rs]) for m in
                                      ("accuracy", "balanced_accuracy", third)) + " |")
    rs = _group(records, probe="relabel")
    if rs:
        lines += ["", "## 5. Whom the attacker relabels (Moon 10% positives, alfa-tilt 10%)", "",
                  "alfa-tilt's flipped training points against FloralSVC's attacker: in the "
                  "final round's move, and in any move of the averaged rounds 251-500.", "",
                  "| class_cap | poisoned points | given positives | final move: relabelled "
                  "/ of them poisoned | rounds 251-500: relabelled / of them poisoned |",
                  "| --- | --- | --- | --- | --- |"]
        for cap in (2.0, None):
            g = _group(rs, class_cap=cap)

            def count(key, g=g):
                mean, std = mean_std([r[key] for r in g])
                return f"{mean:.1f} ± {std:.1f}"

            lines.append(f"| {cap} | {count('n_poisoned')} | {count('given_positives')} | "
                         f"{count('last_relabelled')} / {count('last_relabelled_poisoned')} | "
                         f"{count('kept_relabelled')} / {count('kept_relabelled_poisoned')} |")
    lines.append("")
    return "\n".join(lines)


def _jobs(seeds, cache):
    jobs = [(fn, a, b) for fn in (probe_rule, probe_budget)
            for a, b in (("none", 0.0), ("topk_sv", 0.25))]
    jobs += [(probe_box, a, b) for a, b in (("none", 0.0), ("alfa_tilt", 0.1))]
    out = [(f"{fn.__name__} {a} seed {seed}", fn, (a, b, seed, cache))
           for fn, a, b in jobs for seed in seeds]
    out += [(f"{fn.__name__} seed {seed}", fn, (seed, cache))
            for fn in (probe_svc, probe_relabel) for seed in seeds]
    return out


def _only_relabel(args):
    """--only-relabel: rerun probe 5 into the existing JSON, then rewrite the markdown."""
    if not args.only_relabel:
        return None
    path = os.path.join(args.out, "multiclass_probes.json")
    with open(path) as fh:
        run = json.load(fh)
    run["records"] = [r for r in run["records"] if r["probe"] != "relabel"]
    for seed in run["seeds"]:
        run["records"] += probe_relabel(seed, args.cache or None)
    with open(path, "w") as fh:
        json.dump(run, fh, indent=1)
    return path


def main(argv=None):
    run_cell_bench(
        argv, doc=__doc__, script="multiclass_probes.py", stem="multiclass_probes",
        jobs=_jobs, markdown=markdown, before=_only_relabel,
        options=[(("--only-relabel",), dict(
            action="store_true", help="run probe 5 only and merge it into the existing JSON"))])


if __name__ == "__main__":
    main()
