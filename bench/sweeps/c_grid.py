"""Which box constraints C="auto" tries: FloralSVC() with a validation set, the search's C
grid swapped, against the SVC tuned on the same validation split.

A one-off sweep behind ``floral._selection.C_GRID``: the plain-SVM stage tries every
(width, C) pair, so each C in the grid costs three libsvm fits; issue 19 asks for FloralSVC
within 0.5 point of the tuned SVC in every cell at no more than 5x one fit. Data, seeds,
attacks and the tuned SVC are bench_robustness.py's. Protocol and results:
bench/README.md, "FloralSVC chooses its game on the trusted set".

Usage: python bench/sweeps/c_grid.py [--seeds 10] [--quick]
Writes bench/sweeps/results/c_grid.{json,md}.
"""
import os
import sys
import time
import warnings
from collections import Counter
from unittest import mock

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import bench_robustness as rob  # noqa: E402

import _common as common  # noqa: E402
from _common import doc, machine_info, machine_line, poisoned_settings, table  # noqa: E402
from floral import FloralSVC, _selection  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
GRIDS = {"{0.1, 1, 10}": (0.1, 1.0, 10.0), "{1, 10}": (1.0, 10.0),
         "{1, 10, 100}": (1.0, 10.0, 100.0)}


def run(dataset, seed):
    loader, gamma, _ = rob.DATASETS[dataset]
    out = []
    for setting, d, g, y in poisoned_settings(loader, gamma, seed, rob.SETTINGS, rob.C,
                                              common.ATTACK_PARAMS):
        X, Xv, yv, Xt, yt = d.X_train, d.X_val, d.y_val, d.X_test, d.y_test
        base = dict(dataset=dataset, seed=seed, setting=setting)
        out.append(dict(base, grid="tuned SVC",
                        accuracy=float(rob.tuned_svc(X, y, Xv, yv, g)[0].score(Xt, yt))))
        for name, grid in GRIDS.items():
            with mock.patch.object(_selection, "C_GRID", grid), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # accuracies only, as bench_robustness
                est = FloralSVC(n_jobs=1, random_state=seed).fit(X, y, X_val=Xv, y_val=yv)
            out.append(dict(base, grid=name, accuracy=float(est.score(Xt, yt)),
                            C=float(est.C_), flip_budget=float(est.flip_budget_),
                            seconds=float(est.search_results_["fit_time"].sum())))
    return out


def markdown(payload):
    records, meta = payload["records"], payload["meta"]
    datasets = [d for d in rob.DATASETS if any(r["dataset"] == d for r in records)]
    settings = [s[0] for s in rob.SETTINGS]

    def mean(**match):
        return float(np.mean([r["accuracy"] for r in records
                              if all(r[k] == v for k, v in match.items())]))

    def gap(grid, d, s):
        return 100 * (mean(grid=grid, dataset=d, setting=s)
                      - mean(grid="tuned SVC", dataset=d, setting=s))

    rows, cells = [], []
    for grid in GRIDS:
        recs = [r for r in records if r["grid"] == grid]
        gaps = [gap(grid, d, s) for d in datasets for s in settings]
        chosen = Counter(r["C"] for r in recs)
        rows.append([grid, f"{mean(grid=grid):.4f}", sum(g < -0.5 for g in gaps),
                     f"{min(gaps):+.1f}",
                     f"{np.mean([gap(grid, d, 'alfa-tilt 25%') for d in datasets]):+.1f}",
                     f"{sum(r['seconds'] for r in recs):.1f}",
                     ", ".join(f"{c:g}: {n}" for c, n in sorted(chosen.items()))])
        cells += [[grid, rob.DATASETS[d][2], *(f"{gap(grid, d, s):+.1f}" for s in settings)]
                  for d in datasets]
    return doc("# C=\"auto\": which box constraints the search tries",
               f"Command: `{meta['command']}` ({meta['seconds']:.0f} s). "
               f"Machine: {meta['machine']}.",
               f"FloralSVC() given the validation split, {meta['seeds']} seeds x "
               f"{len(datasets)} data sets x {len(settings)} settings per grid; points against "
               "the SVC tuned on the same split (bench_robustness.py's grid); search seconds "
               "summed over the fits (search_results_['fit_time']).",
               table(["C grid", "mean test accuracy", "cells below tuned SVC - 0.5",
                      "worst cell", "alfa-tilt 25%, mean gain", "search s", "C chosen"], rows),
               table(["C grid", "data set", *settings], cells, "ll" + "r" * len(settings)))


def main(argv=None):
    from joblib import Parallel, delayed

    ap = common.parser(__doc__, "", "one seed, wine only", markdown)
    ap.set_defaults(out=os.path.join(HERE, "results"))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--datasets", nargs="+", default=list(rob.DATASETS), choices=rob.DATASETS)
    args = common.parse(ap, argv, name="c_grid", seeds=1, datasets=["wine_1vr"])
    start = time.perf_counter()
    chunks = Parallel(n_jobs=args.n_jobs)(delayed(run)(d, s) for d in args.datasets
                                          for s in range(args.seeds))
    meta = dict(command=common.command(argv), seconds=time.perf_counter() - start,
                seeds=args.seeds, machine=machine_line(machine_info()))
    common.results(args.stem, markdown, dict(meta=meta, records=[r for c in chunks for r in c]),
                   one_per_line="records")


if __name__ == "__main__":
    sys.exit(main())
