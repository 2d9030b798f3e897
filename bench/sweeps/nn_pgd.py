"""NN-PGD's attack settings on Moon: how epsilon, pgd_steps and pgd_step_size move Best/Last.

A one-off sweep that chose :class:`floral.defenses.PGDTrainedMLP`'s defaults on the
validation columns of seeds 100.. (disjoint from Table 1's). Protocol and results:
bench/README.md, "NN-PGD attack settings on Moon".

Usage: python bench/sweeps/nn_pgd.py [--seeds 5] [--n-jobs -1] [--quick]
Writes bench/sweeps/results/nn_pgd.{json,md}. Numbers, never assertions.
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # bench/_common.py

from _common import load_average, machine_info, machine_line, mean_std, write_results  # noqa: E402, E501
from floral.defenses import PGDTrainedMLP  # noqa: E402
from floral.experiments import run_grid  # noqa: E402

BUDGETS = [0.0, 0.10, 0.25]
# (epsilon, pgd_steps, pgd_step_size); epsilon = 0 is the plain network (nn, exactly)
SETTINGS = [
    (0.0, 5, "auto"),
    (0.05, 5, "auto"),
    (0.1, 5, "auto"),
    (0.2, 5, "auto"),
    (0.3, 5, "auto"),
    (0.1, 1, "auto"),
    (0.1, 10, "auto"),
    (0.1, 5, 0.025),
]


def label(setting, defaults):
    eps, steps, size = setting
    if eps == 0:
        return "epsilon 0 (= nn)"
    alpha = 2.5 * eps / steps if size == "auto" else size
    text = (f"epsilon {eps:g}, {steps} step{'s' if steps > 1 else ''} of {alpha:.3g}"
            + (" (auto)" if size == "auto" else ""))
    return f"**{text} (default)**" if list(setting) == list(defaults.values()) else text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 100..100+N-1 (default 5)")
    parser.add_argument("--n-jobs", type=int, default=-1, help="joblib n_jobs (default -1)")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "nn_pgd"),
                        help="path of the results without .json / .md")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: one seed, two settings, 5 epochs, to /tmp")
    args = parser.parse_args(argv)
    settings, quick = SETTINGS, {}
    if args.quick:
        args.seeds, args.out, settings = 1, "/tmp/bench_nn_pgd_quick/nn_pgd", SETTINGS[:2]
        quick = {"max_iter": 5}
    seeds = list(range(100, 100 + args.seeds))
    host = f"{machine_line(machine_info())}; load average {load_average()} at the start"
    defaults = {k: PGDTrainedMLP().get_params()[k]
                for k in ("epsilon", "pgd_steps", "pgd_step_size")}

    records, rows = [], []
    start_all = time.perf_counter()
    for setting in settings:
        eps, steps, size = setting
        params = dict(epsilon=eps, pgd_steps=steps, pgd_step_size=size)
        res = run_grid("moons", "alfa_tilt", BUDGETS, ["nn-pgd"], seeds, n_jobs=args.n_jobs,
                       C=10.0, gamma=1.0, method_params={"nn-pgd": {**params, **quick}})
        records += [dict(r, **params) for r in res]
        row = {"setting": label(setting, defaults), **params}
        for b in BUDGETS:
            recs = [r for r in res if float(r["budget"]) == b]
            for key in ("best_accuracy", "last_accuracy", "best_val_accuracy",
                        "last_val_accuracy"):
                row[(b, key)] = mean_std([r[key] for r in recs])
        rows.append(row)
        print(f"{row['setting']}: " + ", ".join(
            f"{b:.0%} best {row[(b, 'best_accuracy')][0]:.3f} last "
            f"{row[(b, 'last_accuracy')][0]:.3f}" for b in BUDGETS), flush=True)
    elapsed = time.perf_counter() - start_all

    def cell(row, b, best, last):
        (bm, bs), (lm, ls) = row[(b, best)], row[(b, last)]
        return f"{bm:.3f} ± {bs:.3f} / {lm:.3f} ± {ls:.3f}"

    head = "| setting | " + " | ".join(("clean" if b == 0 else f"{b:.0%}") for b in BUDGETS)
    lines = [
        "# NN-PGD attack settings on Moon",
        "",
        f"Command: `python bench/sweeps/nn_pgd.py --seeds {args.seeds}` ({elapsed:.0f} s)",
        "",
        f"Machine: {host}.",
        "",
        "The runner's `nn-pgd` (two hidden layers of 32 ReLU units, Adam 1e-3, batches of "
        "32, 200 epochs) on `load_moons` under alfa-tilt (C = 10, gamma = 1), seeds "
        f"{seeds[0]}..{seeds[-1]} (disjoint from Table 1's). Each cell is Best / Last, mean "
        "± sample std over seeds; Best is the epoch with the highest validation accuracy. "
        f"Defaults of `PGDTrainedMLP`: {defaults}. A fit costs about pgd_steps + 1 "
        "forward and backward passes per minibatch; the per-fit seconds are in the JSON "
        "(`fit_seconds`), measured on a machine shared with other jobs.",
        "",
        "## Validation accuracy (what the defaults were chosen on)",
        "",
        head + " |",
        "| --- |" + " --- |" * len(BUDGETS),
    ]
    for row in rows:
        lines.append(f"| {row['setting']} | " + " | ".join(
            cell(row, b, "best_val_accuracy", "last_val_accuracy") for b in BUDGETS) + " |")
    lines += ["", "## Test accuracy", "", head + " |", "| --- |" + " --- |" * len(BUDGETS)]
    for row in rows:
        lines.append(f"| {row['setting']} | " + " | ".join(
            cell(row, b, "best_accuracy", "last_accuracy") for b in BUDGETS) + " |")
    write_results(args.out, {"machine": host, "seeds": seeds, "budgets": BUDGETS,
                             "defaults": defaults, "records": records},
                  "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
