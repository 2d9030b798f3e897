"""Baseline defenses against SVC and FLORAL on Moon under 10% label poisoning.

The paper's Moon setting (500 train / 500 validation / 1000 test, C = 10, gamma = 1) under
alfa-tilt and top-k SV flips (candidate_factor 2), run through the experiment runner
(:func:`floral.experiments.run_grid`): SVC, FloralSVC's returned model, best and last
rounds, and the four defenses with their defaults. Protocol and results: bench/README.md,
"Baseline defenses on Moon".

Usage: python bench/bench_defenses.py [--seeds 0 1 2] [--budget 0.1] [--quick]
Writes bench/results/defenses.{json,md}. Accuracies, never assertions.
"""
import argparse
import os
import shlex
import sys
import time

from _common import machine_info, machine_line, quick_out, write_results
from floral.experiments import FLORAL_PARAMS, run_grid

HERE = os.path.dirname(os.path.abspath(__file__))
ATTACKS = {"alfa_tilt": "alfa_tilt", "topk_sv": "topk_sv_flip"}
ATTACK_PARAMS = {"topk_sv": {"candidate_factor": 2.0}}
# (row, runner method, which of its scores)
ROWS = [("SVC", "svm", "model"), ("FLORAL Model", "floral", "model"),
        ("FLORAL Best", "floral", "best"), ("FLORAL Last", "floral", "last"),
        ("LNSVC", "ln-svm", "model"), ("CurieSVC", "curie", "model"),
        ("LabelSanitizedSVC", "ls-svm", "model"), ("KLIDSVC", "k-lid", "model")]
# Table 1 of the paper, alfa-tilt 10% (Best / Last)
PAPER_10PCT = {"SVC": ".910 / .886", "FLORAL Model": "—", "FLORAL Best": ".971",
               "FLORAL Last": ".928",
               "LNSVC": ".930 / .930", "CurieSVC": ".920 / .902",
               "LabelSanitizedSVC": ".898 / .896", "KLIDSVC": ".926 / .926"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=0.1,
                        help="fraction of training labels the attacks flip (default 0.1)")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "defenses"),
                        help="path of the results without .json / .md")
    parser.add_argument("--quick", action="store_true", help="smoke run: seed 0 only")
    args = parser.parse_args()
    if args.quick and args.out == parser.get_default("out"):
        args.out = quick_out(args.out)
    if args.quick:
        args.seeds = [0]

    start = time.perf_counter()
    res = run_grid("moons", list(ATTACKS), [0, args.budget], sorted({m for _, m, _ in ROWS}),
                   args.seeds, n_jobs=1, C=10.0, gamma=1.0, attack_params=ATTACK_PARAMS)
    elapsed = time.perf_counter() - start
    summary = {(r["attack"], r["method"]): r for r in res.summary()}

    pct = f"{args.budget:.0%}"
    settings = [("none", "clean")] + [(a, f"{name} {pct}") for a, name in ATTACKS.items()]
    lines = ["| method | " + " | ".join(s for _, s in settings)
             + " | paper, alfa-tilt 10% (Best / Last) |",
             "| --- | " + " | ".join("---:" for _ in settings) + " | ---: |"]
    for row, method, which in ROWS:
        cells = []
        for attack, _ in settings:
            s = summary[(attack, method)]
            std = s[f"{which}_std"]
            cells.append(f"{s[f'{which}_mean']:.3f} ± {0.0 if std != std else std:.3f}")
        lines.append(f"| {row} | " + " | ".join(cells) + f" | {PAPER_10PCT[row]} |")
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

""" + "\n".join(lines) + "\n"
    write_results(args.out, {"command": command, "seconds": elapsed, "machine": machine,
                             "seeds": args.seeds, "budget": args.budget,
                             "floral": FLORAL_PARAMS, "attack_params": ATTACK_PARAMS,
                             "paper_alfa_tilt_10pct": PAPER_10PCT, "records": list(res)}, md)


if __name__ == "__main__":
    main()
