"""Baseline defenses against SVC and FLORAL on Moon under 10% label poisoning.

Protocol (the FLORAL paper's Moon setting): ``floral.datasets.load_moons(random_state=seed)``
(500 train / 500 validation / 1000 test), training labels poisoned by

* ``alfa_tilt`` (Xiao et al. 2015), the attack of the paper's Table 1, and
* ``topk_sv_flip`` with ``candidate_factor=2`` (FLORAL's own attacker applied once, as
  ``floral demo`` runs it),

each at 10% of the training set with the paper's SVM (C = 10, gamma = 1) and
``random_state=seed``; plus the clean labels for reference. Methods, all with C = 10 and
gamma = 1: SVC; FloralSVC with the runner's settings (``floral.experiments.FLORAL_PARAMS``,
i.e. FloralSVC's defaults: flip_budget 5%, 500 rounds, learning_rate "auto") and the
validation split: the model ``fit`` returns (the 5 best validation rounds averaged), its
single best validation round (``best_round()``) and its last round (``last_round()``);
LNSVC, CurieSVC, LabelSanitizedSVC and KLIDSVC with their default parameters. Test
accuracy, mean ± sample std over the seeds.

Usage: python bench/bench_defenses.py [--seeds 0 1 2] [--budget 0.1]
Prints a markdown table and writes bench/results/defenses.json and
bench/results/defenses.md. Accuracies, never assertions.
"""
import argparse
import json
import os
import shlex
import sys
import time

import numpy as np
from sklearn.svm import SVC

from _common import machine_info, machine_line, pm
from floral import attacks
from floral.datasets import load_moons
from floral.defenses import KLIDSVC, LNSVC, CurieSVC, LabelSanitizedSVC
from floral.experiments import FLORAL_PARAMS
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
    spec = SETTINGS[setting]
    if spec is None:
        return y
    params = dict(spec)
    attack = attacks.get(params.pop("name"))
    return attack(X, y, budget, **SVM, **params, random_state=seed)


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
    parser.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    args = parser.parse_args()

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
    print(table)

    machine = machine_info()
    command = "python bench/bench_defenses.py" + (
        " " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "")
    seeds = ", ".join(str(s) for s in args.seeds)
    md = f"""# Baseline defenses on Moon

Command: `{command}` ({elapsed:.0f} s)

Machine: {machine_line(machine)}.

`load_moons(random_state=seed)`: 500 train / 500 validation / 1000 test. Training labels
poisoned by alfa_tilt or topk_sv_flip (candidate_factor = 2) at {pct} of the training set,
attack SVM C = 10, gamma = 1, `random_state=seed`. Every method uses C = 10, gamma = 1;
FloralSVC runs its defaults (flip_budget 5%, 500 rounds, learning_rate "auto") with the
validation split: Model = what `fit` returns (the 5 best validation rounds averaged), Best =
the single best validation round, Last = the final round; the four defenses run with their
default parameters. Test accuracy, mean ± sample std over seeds {seeds}. The paper's
column is its Table 1 at alfa-tilt 10% (FLORAL Best and Last on their own rows; the
baselines' "Best / Last" come from the paper's training curves, while floral's defenses
are fitted once, so one number each here).

{table}
"""
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "defenses.md"), "w") as fh:
        fh.write(md)
    with open(os.path.join(args.out_dir, "defenses.json"), "w") as fh:
        json.dump({"command": command, "seconds": elapsed, "machine": machine,
                   "seeds": args.seeds, "budget": args.budget, "svm": SVM,
                   "floral": FLORAL_PARAMS, "labels_flipped": flips, "test_accuracy": acc,
                   "paper_alfa_tilt_10pct": PAPER_10PCT}, fh, indent=1)


if __name__ == "__main__":
    main()
