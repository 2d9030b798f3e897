"""What the trusted set costs: FloralSVC's search against one fit (``--digits-seeds``: its
accuracy on the ten digits beside ``SVC()``). Protocol and results: bench/README.md,
"FloralSVC chooses its game on the trusted set" (the cost of validating every round is
sweeps/validation_cost.py's).

Writes bench/results/selection.{json,md} (records of sizes not run this time are kept).
"""
import numpy as np
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import _common as common
from _common import load_average, machine_line, table
from floral import FloralSVC
from floral.experiments import poison_labels

N_VAL, N_TEST, FLIP = 500, 5000, 0.10


def data(n, seed):
    X, y = make_moons(n + N_VAL + N_TEST, noise=0.2, random_state=seed)
    X, Xt, y, yt = train_test_split(X, y, test_size=N_TEST, stratify=y, random_state=seed)
    X, Xv, y, yv = train_test_split(X, y, test_size=N_VAL, stratify=y, random_state=seed)
    sc = StandardScaler().fit(X)
    y = poison_labels(X, y, "random", FLIP, random_state=seed)
    return sc.transform(X), y, sc.transform(Xv), yv, sc.transform(Xt), yt


def run(n, seed):
    X, y, Xv, yv, Xt, yt = data(n, seed)
    default = FloralSVC(random_state=seed)
    t_default = common.timed(default.fit, X, y)
    fixed = FloralSVC(flip_budget=0.05, gamma="scale", random_state=seed)
    t_fixed = common.timed(fixed.fit, X, y, X_val=Xv, y_val=yv)
    search = FloralSVC(random_state=seed)
    t_search = common.timed(search.fit, X, y, X_val=Xv, y_val=yv)
    res = search.search_results_
    return dict(n=n, seed=seed, default_seconds=t_default, fixed_val_seconds=t_fixed,
                search_seconds=t_search, ratio=t_search / t_fixed,
                ratio_to_default=t_search / t_default,
                candidates=[dict(flip_budget=float(b), gamma_factor=float(f),
                                 val_score=float(s), seconds=float(t))
                            for b, f, s, t in zip(res["flip_budget"], res["gamma_factor"],
                                                  res["val_score"], res["fit_time"])],
                chosen=dict(flip_budget=float(search.flip_budget_), gamma=float(search.gamma_)),
                accuracy=dict(default=float(default.score(Xt, yt)),
                              fixed_val=float(fixed.score(Xt, yt)),
                              search=float(search.score(Xt, yt))),
                load=load_average())


def run_digits(seed):
    from sklearn.svm import SVC

    from floral.datasets import load_digits

    d = load_digits(random_state=seed)
    est = FloralSVC(random_state=seed).fit(d.X_train, d.y_train, X_val=d.X_val,
                                           y_val=d.y_val)
    svc = SVC().fit(d.X_train, d.y_train)
    return dict(seed=seed, floral=float(est.score(d.X_test, d.y_test)),
                svc=float(svc.score(d.X_test, d.y_test)), flip_budget=float(est.flip_budget_),
                gamma=float(est.gamma_))


def digits_lines(digits):
    if not digits:
        return []
    f = np.mean([r["floral"] for r in digits])
    s = np.mean([r["svc"] for r in digits])
    per = ", ".join(f"seed {r['seed']}: {r['floral']:.3f} vs {r['svc']:.3f} (budget "
                    f"{r['flip_budget']:g})" for r in digits)
    return [f"Ten digits, clean labels, {len(digits)} seeds: default FloralSVC with X_val "
            f"{f:.3f}, SVC() {s:.3f} ({100 * (f - s):+.1f} points); {per}."]


def markdown(payload):
    records = payload["records"]
    sizes = sorted({r["n"] for r in records})
    rows = []
    for n in sizes:
        rs = [r for r in records if r["n"] == n]
        med = {k: float(np.median([r[k] for r in rs])) for k in (
            "default_seconds", "fixed_val_seconds", "search_seconds", "ratio",
            "ratio_to_default")}
        chosen = ", ".join(f"({r['chosen']['flip_budget']:g}, {r['chosen']['gamma']:.3g})"
                           for r in rs)
        acc = "; ".join(f"{r['accuracy']['default']:.3f} / {r['accuracy']['fixed_val']:.3f} / "
                        f"{r['accuracy']['search']:.3f}" for r in rs)
        rows.append([f"{n:,}", len(rs), *(f"{v:.2f}" for v in med.values()), chosen, acc])
    firsts = [[r for r in records if r["n"] == n][0] for n in sizes]
    return common.doc(
        f"Machine: {machine_line(payload['machine'])} (shared with other jobs; timings noisy).",
        table(["n", "repeats", "default fit (s)", "fixed game + X_val (s)", "search (s)",
               "search / fixed (median)", "search / default (median)",
               "chosen (budget, gamma)", "test acc default / fixed / search"], rows,
              "rrrrrrrll"),
        "Per candidate (first repeat): budget, gamma factor, seconds.",
        [f"- n = {r['n']:,}: " + ", ".join(f"({c['flip_budget']:g}, x{c['gamma_factor']:.2g}, "
                                           f"{c['seconds']:.2f} s)" for c in r["candidates"])
         for r in firsts],
        digits_lines(payload["digits"]))


def main():
    ap = common.parser(__doc__, "selection", "n = 300, once", markdown)
    ap.add_argument("--sizes", type=int, nargs="*", default=[1000, 20000])
    ap.add_argument("--repeats", type=int, nargs="+", default=[3, 1],
                    help="repeats per size (the last value repeats for further sizes)")
    ap.add_argument("--digits-seeds", type=int, default=0)
    args = common.parse(ap, sizes=[300], repeats=[1])
    digits = [run_digits(s) for s in range(args.digits_seeds)]
    records = []
    for i, n in enumerate(args.sizes):
        reps = args.repeats[min(i, len(args.repeats) - 1)]
        for seed in range(reps):
            rec = run(n, seed)
            print(f"n={n} seed={seed}: default {rec['default_seconds']:.2f} s, fixed+val "
                  f"{rec['fixed_val_seconds']:.2f} s, search {rec['search_seconds']:.2f} s "
                  f"(x{rec['ratio']:.2f})", flush=True)
            records.append(rec)
    # sizes run separately (n = 20,000 takes long on a shared machine) share one table
    old = common.recorded(args.out)
    records = [r for r in old.get("records", []) if r["n"] not in args.sizes] + records
    common.results(args.out, markdown, {"machine": common.machine_info(), "records": records,
                                        "digits": digits or old.get("digits", [])})


if __name__ == "__main__":
    main()
