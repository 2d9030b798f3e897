"""The cost of validation-based selection: FloralSVC with a validation set evaluated every
round against the same fit without one (Moon, one thread, process CPU time). Protocol and
results: bench/README.md, "Cost of validating every round".

Usage: python bench/bench_validation.py [--repeats 9] [--quick]
Writes bench/results/validation.json and prints a table.
"""
import json
import os
import time

import numpy as np

import _common as common
from floral import FloralSVC
from floral.datasets import load_moons


def cpu_seconds(data, n_rounds, with_val):
    clf = FloralSVC(C=10, gamma=1.0, n_rounds=n_rounds, n_jobs=1, random_state=0)
    start = time.process_time()
    if with_val:
        clf.fit(data.X_train, data.y_train, X_val=data.X_val, y_val=data.y_val)
    else:
        clf.fit(data.X_train, data.y_train)
    return time.process_time() - start


def main(argv=None):
    parser = common.parser(__doc__, "validation.json", "once")
    parser.add_argument("--repeats", type=int, default=9)
    args = common.parse(parser, argv)
    if args.quick:
        args.repeats = 1
    data = load_moons(random_state=0)
    runs = {(t, v): [] for t in (1000, 3000) for v in (False, True)}
    for _ in range(args.repeats):
        for key in runs:  # interleaved, so drifts in machine load hit every variant
            runs[key].append(cpu_seconds(data, *key))
    med = {key: float(np.median(v)) for key, v in runs.items()}
    fit_ratio = med[(1000, True)] / med[(1000, False)]
    per_round = {v: (med[(3000, v)] - med[(1000, v)]) / 2000 for v in (False, True)}
    round_ratio = per_round[True] / per_round[False]
    out = dict(machine=common.machine_info(), repeats=args.repeats,
               medians_seconds={f"{t}_rounds_{'val' if v else 'no_val'}": s
                                for (t, v), s in med.items()},
               per_round_us={"no_val": per_round[False] * 1e6, "val": per_round[True] * 1e6},
               fit_ratio_1000_rounds=fit_ratio, per_round_ratio=round_ratio)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1)
    print(common.machine_line(out["machine"]))
    print("\n".join(common.table(
        ["", "no validation set", "validation every round", "ratio"],
        [["fit, 1000 rounds (CPU s)", f"{med[(1000, False)]:.3f}", f"{med[(1000, True)]:.3f}",
          f"{fit_ratio:.2f}"],
         ["per round (CPU us)", f"{per_round[False] * 1e6:.1f}", f"{per_round[True] * 1e6:.1f}",
          f"{round_ratio:.2f}"]], "llll")))


if __name__ == "__main__":
    main()
