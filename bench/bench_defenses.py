"""Baseline defenses against SVC and FLORAL on Moon under 10% label poisoning.

The paper's Moon setting (500 train / 500 validation / 1000 test, C = 10, gamma = 1) under
alfa-tilt and top-k SV flips (candidate_factor 2): SVC, FloralSVC's returned model, best
and last rounds, and the four defenses with their defaults. Protocol and results:
bench/README.md, "Baseline defenses on Moon".

Usage: python bench/bench_defenses.py [--seeds 0 1 2] [--budget 0.1] [--quick]
Writes bench/results/defenses.{json,md}. Accuracies, never assertions.
"""
import argparse
import os
import shlex
import sys
import time

import numpy as np
from sklearn.svm import SVC

from _common import machine_info, machine_line, pm, write_results
from floral.datasets import load_moons
from floral.defenses import KLIDSVC, LNSVC, CurieSVC, LabelSanitizedSVC
from floral.experiments import FLORAL_PARAMS, poison_labels
from floral.svm import FloralSVC

HERE = os.path.dirname(os.path.abspath(__file__))
SVM = dict(C=10, gamma=1.0)

SETTINGS = {
    "clean": None,
    "alfa_tilt": dict(name="alfa_tilt"),
    "topk_sv_flip": dict(name="topk_sv", candidate_factor=2.0),
}
METHODS = ["SVC", "FLORAL Model", "FLORAL Best", "FLORAL Last", "LNSVC", "CurieSVC",
           "LabelSanitizedSVC", "KLIDSVC"]
# Table 1 of the paper, alfa-tilt 10% (Best / Last); the baselines' rows by method
PAPER_10PCT = {"SVC": ".910 / .886", "FLORAL Model": "—", "FLORAL Best": ".971",
               "FLORAL Last": ".928",
               "LNSVC": ".930 / .930", "CurieSVC": ".920 / .902",
               "LabelSanitizedSVC": ".898 / .896", "KLIDSVC": ".926 / .926"}


def poison(setting, X, y, budget, seed):
    params = dict(SETTINGS[setting] or {"name": "none"})
    return poison_labels(X, y, params.pop("name"), budget, random_state=seed,
                         attack_params=params, **SVM)


def evaluate(data, y_train, seed):
    """Test accuracy of every method trained on (X_train, y_train)."""
    X, Xt, yt = data.X_train, data.X_test, data.y_test
    out = {"SVC": SVC(**SVM).fit(X, y_train).score(Xt, yt)}
    floral = FloralSVC(**SVM, **FLORAL_PARAMS, n_jobs=1, random_state=seed)
    floral.fit(X, y_train, X_val=data.X_val, y_val=data.y_val)
    out["FLORAL Model"] = floral.score(Xt, yt)
    out["FLORAL Best"] = floral.best_round().score(Xt, yt)
    out["FLORAL Last"] = floral.last_round().score(Xt, yt)
    for cls in (LNSVC, CurieSVC, LabelSanitizedSVC, KLIDSVC):
        out[cls.__name__] = cls(**SVM).fit(X, y_train).score(Xt, yt)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=0.1,
                        help="fraction of training labels the attacks flip (default 0.1)")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "defenses"),
                        help="path of the results without .json / .md")
    parser.add_argument("--quick", action="store_true", help="smoke run: seed 0 only")
    args = parser.parse_args()
    if args.quick:
        args.seeds = [0]

    start = time.perf_counter()
    acc = {s: {m: [] for m in METHODS} for s in SETTINGS}
    flips = {s: [] for s in SETTINGS}
    for seed in args.seeds:
        data = load_moons(random_state=seed)
        for setting in SETTINGS:
            y_train = poison(setting, data.X_train, data.y_train, args.budget, seed)
            flips[setting].append(int(np.count_nonzero(y_train != data.y_train)))
            for method, value in evaluate(data, y_train, seed).items():
                acc[setting][method].append(float(value))
            print(f"seed {seed} {setting:>12}: " + "  ".join(
                f"{m} {acc[setting][m][-1]:.3f}" for m in METHODS), file=sys.stderr)
    elapsed = time.perf_counter() - start

    pct = f"{args.budget:.0%}"
    columns = ["clean", f"alfa_tilt {pct}", f"topk_sv_flip {pct}"]
    lines = ["| method | " + " | ".join(columns) + " | paper, alfa-tilt 10% (Best / Last) |",
             "| --- | " + " | ".join("---:" for _ in columns) + " | ---: |"]
    for m in METHODS:
        cells = [pm(acc[s][m]) for s in SETTINGS]
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {PAPER_10PCT[m]} |")
    table = "\n".join(lines)

    machine = machine_info()
    command = "python bench/bench_defenses.py" + (
        " " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "")
    seeds = ", ".join(str(s) for s in args.seeds)
    md = f"""# Baseline defenses on Moon

Command: `{command}` ({elapsed:.0f} s)

Machine: {machine_line(machine)}.

Attacks at {pct} of the training set; test accuracy, mean ± sample std over seeds {seeds};
protocol: bench/README.md, "Baseline defenses on Moon". The paper's column is its Table 1
at alfa-tilt 10%.

{table}
"""
    write_results(args.out, {"command": command, "seconds": elapsed, "machine": machine,
                             "seeds": args.seeds, "budget": args.budget, "svm": SVM,
                             "floral": FLORAL_PARAMS, "labels_flipped": flips,
                             "test_accuracy": acc, "paper_alfa_tilt_10pct": PAPER_10PCT}, md)


if __name__ == "__main__":
    main()
