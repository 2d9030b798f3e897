"""The CPU cost of scoring the validation set every round (selection="best").

A before/after study of one change (the core keeps the validation decision values and
counts the accuracy in C++, float32 validation kernel rows): FloralSVC with a validation
set scored every round against the same fit without one, Moon, one thread, process CPU
time, medians of interleaved repeats; the per-round cost is the difference between 1,000
and 3,000 rounds. Protocol and results: bench/README.md, "Cost of validating every round".
Timings, never assertions.

Usage: python bench/sweeps/validation_cost.py [--repeats 9] [--quick]
Writes bench/sweeps/results/validation_cost.json.
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _common as common  # noqa: E402
from floral import FloralSVC  # noqa: E402
from floral.datasets import load_moons  # noqa: E402


def main(argv=None):
    ap = common.parser(__doc__, "validation_cost", "one repeat", folder=common.SWEEP_RESULTS)
    ap.add_argument("--repeats", type=int, default=9, help="interleaved repeats (9)")
    args = common.parse(ap, argv, repeats=1)
    d = load_moons(random_state=0)

    def cpu_seconds(n_rounds, with_val):
        clf = FloralSVC(C=10, gamma=1.0, n_rounds=n_rounds, n_jobs=1, random_state=0)
        start = time.process_time()
        clf.fit(d.X_train, d.y_train, **(dict(X_val=d.X_val, y_val=d.y_val) if with_val else {}))
        return time.process_time() - start

    runs = {(t, v): [] for t in (1000, 3000) for v in (False, True)}
    for _ in range(args.repeats):
        for key in runs:  # interleaved, so drifts in machine load hit every variant
            runs[key].append(cpu_seconds(*key))
    med = {key: float(np.median(v)) for key, v in runs.items()}
    fit_ratio = med[(1000, True)] / med[(1000, False)]
    per_round = {v: (med[(3000, v)] - med[(1000, v)]) / 2000 for v in (False, True)}
    round_ratio = per_round[True] / per_round[False]
    common.results(args.out, None, dict(
        machine=common.machine_info(), repeats=args.repeats,
        medians_seconds={f"{t}_rounds_{'val' if v else 'no_val'}": s
                         for (t, v), s in med.items()},
        per_round_us={"no_val": per_round[False] * 1e6, "val": per_round[True] * 1e6},
        fit_ratio_1000_rounds=fit_ratio, per_round_ratio=round_ratio))
    print(f"CPU seconds, no validation set / validation every round: fit of 1000 rounds "
          f"{med[(1000, False)]:.3f} / {med[(1000, True)]:.3f} ({fit_ratio:.2f}x), per round "
          f"{per_round[False] * 1e6:.1f} / {per_round[True] * 1e6:.1f} us ({round_ratio:.2f}x)")


if __name__ == "__main__":
    sys.exit(main())
