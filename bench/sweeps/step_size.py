"""How learning_rate="auto" was chosen: FloralSVC's step as a multiple of 1 / lambda_max(K).

A one-off sweep: test accuracy of the returned models for steps ``s / lambda_max(K)`` on
three data sets under five label settings, and where the divergence warning starts.
Protocol and results: bench/README.md, "Step size".

Usage: python bench/sweeps/step_size.py [--seeds 5] [--quick]
Writes bench/sweeps/results/step_size.{json,md}.
"""
import argparse
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _common import machine_info, machine_line, pm, testing, write_results  # noqa: E402
from floral import FloralSVC, datasets  # noqa: E402
from floral._validation import resolve_gamma  # noqa: E402
from floral.experiments import poison_labels  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATASETS = {"moons": (datasets.load_moons, 1.0), "digits_1v7": (datasets.load_digits_1v7, "scale"),
            "breast_cancer": (datasets.load_breast_cancer, "scale")}
SETTINGS = [("none", 0.0), ("alfa_tilt", 0.10), ("alfa_tilt", 0.25), ("topk_sv", 0.25),
            ("random", 0.25)]


def accuracy_sweep(scales, seeds):
    rows = []
    for name, (loader, gamma_spec) in DATASETS.items():
        for attack, budget in SETTINGS:
            cell = {s: {"best": [], "average": []} for s in scales}
            for seed in seeds:
                d = loader(random_state=seed)
                gamma = resolve_gamma(gamma_spec, d.X_train)
                y = poison_labels(d.X_train, d.y_train, attack, budget, random_state=seed,
                                  C=10.0, gamma=gamma)
                lmax, _ = testing().kernel_lambda_max(d.X_train, gamma=gamma)
                for s in scales:
                    kw = dict(C=10.0, gamma=gamma, learning_rate=s / lmax, n_jobs=1,
                              random_state=seed)
                    best = FloralSVC(**kw).fit(d.X_train, y, X_val=d.X_val, y_val=d.y_val)
                    avg = FloralSVC(**kw).fit(d.X_train, y)
                    cell[s]["best"].append(best.score(d.X_test, d.y_test))
                    cell[s]["average"].append(avg.score(d.X_test, d.y_test))
            for s in scales:
                rows.append(dict(dataset=name, attack=attack, budget=budget, scale=s,
                                 best=cell[s]["best"], average=cell[s]["average"]))
            print(f"{name} {attack} {budget}: " + "  ".join(
                f"{s}: {np.mean(cell[s]['best']):.3f}/{np.mean(cell[s]['average']):.3f}"
                for s in scales), flush=True)
    return rows


def stability(multiples):
    from sklearn.datasets import make_moons

    X, y = make_moons(3500, noise=0.3, random_state=0)
    Xt, yt, X, y = X[1500:], y[1500:], X[:1500], y[:1500]
    y = poison_labels(X, y, "random", 0.1, random_state=0)
    lmax, _ = testing().kernel_lambda_max(X, gamma=1.0)
    rows = []
    for mult in multiples:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clf = FloralSVC(C=10, gamma=1.0, flip_budget=0.01, n_rounds=150,
                            learning_rate=mult / lmax, random_state=0, n_jobs=1).fit(X, y)
        rows.append(dict(multiple=mult, warned=any("diverged" in str(w.message) for w in caught),
                         rounds_rising=int(np.sum(clf.history_["ascent"] > 0)),
                         max_objective=float(np.max(clf.history_["objective"])),
                         accuracy=float(clf.score(Xt, yt))))
        print(rows[-1], flush=True)
    return dict(lambda_max=lmax, rows=rows)


def markdown(out):
    scales = out["scales"]
    lines = [f"Machine: {machine_line(out['machine'])}", "",
             f"Test accuracy, mean ± std over seeds {out['seeds']}; each cell "
             "`best 5 (X_val) / tail average (no X_val)`; step = s / lambda_max(K).", "",
             "| dataset | setting | " + " | ".join(f"s = {s}" for s in scales) + " |",
             "| --- | --- | " + " | ".join("---" for _ in scales) + " |"]
    cells = {}
    for r in out["accuracy"]:
        cells.setdefault((r["dataset"], r["attack"], r["budget"]), {})[r["scale"]] = r
    for (name, attack, budget), by_scale in cells.items():
        setting = "clean" if attack == "none" else f"{attack} {budget:.0%}"
        lines.append(f"| {name} | {setting} | " + " | ".join(
            f"{pm(by_scale[s]['best'])} / {pm(by_scale[s]['average'])}" for s in scales) + " |")
    means = {s: np.mean([np.mean(r["best"]) for r in out["accuracy"] if r["scale"] == s])
             for s in scales}
    lines += ["", "Mean over all cells (best 5): " + ", ".join(
        f"s = {s}: {m:.4f}" for s, m in means.items()), "",
        f"Stability, moons n = 1,500, lambda_max(K) = {out['stability']['lambda_max']:.1f}:", "",
        "| step x lambda_max | warned | rounds rising | max objective | test accuracy |",
        "| --- | --- | --- | --- | --- |"]
    for r in out["stability"]["rows"]:
        lines.append(f"| {r['multiple']} | {'yes' if r['warned'] else 'no'} | "
                     f"{r['rounds_rising']} | {r['max_objective']:.3g} | {r['accuracy']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.1, 0.25, 0.5, 1.0, 1.8])
    parser.add_argument("--multiples", type=float, nargs="+",
                        default=[0.5, 1.0, 1.9, 3.0, 5.0, 10.0, 20.0])
    parser.add_argument("--out", default=os.path.join(HERE, "results", "step_size"),
                        help="path of the results without .json / .md")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: one seed, two scales, two multiples, to /tmp")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.scales, args.multiples = 1, [0.5], [1.0, 3.0]
        args.out = "/tmp/bench_step_quick/step_size"
    seeds = list(range(args.seeds))
    out = dict(machine=machine_info(), seeds=seeds, scales=args.scales,
               accuracy=accuracy_sweep(args.scales, seeds),
               stability=stability(args.multiples))
    write_results(args.out, out, markdown(out))


if __name__ == "__main__":
    main()
