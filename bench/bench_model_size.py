"""Size of the fitted model: FloralSVC's compact model against its full expansion, SVC and
LinearSVC, on the same data.

Support vectors, pickle bytes, test accuracy and the change of the decision values that
compaction makes, on Moon (n = 5,000, 10% flips) and on 256 Nystroem features. Protocol
and results: bench/README.md, "Model size".

Usage: python bench/bench_model_size.py [--quick]   (--quick: n = 2,000, 150 rounds)
Writes bench/results/model_size.{json,md}.
"""
import argparse
import json
import os
import pickle
import sys
import time

import numpy as np
from sklearn.datasets import make_moons
from sklearn.kernel_approximation import Nystroem
from sklearn.svm import SVC, LinearSVC

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _common import load_average, machine_info, quick_out  # noqa: E402
from floral import FloralSVC, _assembly  # noqa: E402


def moons(n, n_val, n_test, seed=0):
    X, y = make_moons(n + n_val + n_test, noise=0.2, random_state=seed)
    rng = np.random.default_rng(seed)
    ytr = y[:n].copy()
    ytr[rng.choice(n, n // 10, replace=False)] ^= 1
    return (X[:n], ytr, X[n:n + n_val], y[n:n + n_val], X[n + n_val:], y[n + n_val:])


def size(est):
    return len(pickle.dumps(est))


def timed_fit(est, *args, **kw):
    t0 = time.perf_counter()
    est.fit(*args, **kw)
    return est, time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "model_size"))
    args = parser.parse_args()
    if args.quick and args.out == parser.get_default("out"):
        args.out = quick_out(args.out)
    n, rounds = (2000, 150) if args.quick else (5000, 500)
    X, y, Xv, yv, Xt, yt = moons(n, 1000, 1000)
    load_start = load_average()
    rows = []
    svc, t_svc = timed_fit(SVC(C=10, gamma=1.0), X, y)
    svc_row = {"case": f"moons n={n}", "model": "SVC", "n_sv": int(svc.support_.size),
               "pickle_bytes": size(svc), "test_accuracy": float(svc.score(Xt, yt)),
               "fit_s": t_svc}
    for val in (False, True):
        kw = {"X_val": Xv, "y_val": yv} if val else {}
        case = f"moons n={n}" + (", X_val" if val else "")
        est = dict(C=10, gamma=1.0, n_rounds=rounds, random_state=0)
        compact, t_c = timed_fit(FloralSVC(**est), X, y, **kw)
        saved = _assembly.COMPACT_TOL
        _assembly.COMPACT_TOL = 0.0
        try:
            full, t_f = timed_fit(FloralSVC(**est), X, y, **kw)
        finally:
            _assembly.COMPACT_TOL = saved
        diff = float(np.max(np.abs(compact.decision_function(Xt) - full.decision_function(Xt))))
        rows.append({**svc_row, "case": case})
        for name, m, t in (("FloralSVC full expansion (before)", full, t_f),
                           ("FloralSVC compact (after)", compact, t_c)):
            rows.append({"case": case, "model": name, "n_sv": int(m.support_.size),
                         "pickle_bytes": size(m), "test_accuracy": float(m.score(Xt, yt)),
                         "fit_s": t})
        rows[-1].update(max_decision_change=diff, bound=float(compact._compaction_error),
                        ranking_unchanged=bool(np.array_equal(compact.kept_rounds_,
                                                              full.kept_rounds_)))
        print(rows[-3:], flush=True)

    Xl, yl, _, _, Xlt, ylt = moons(20000, 0, 5000, seed=1)
    ny = Nystroem(gamma=1.0, n_components=256, random_state=0).fit(Xl)
    F, Ft = ny.transform(Xl), ny.transform(Xlt)
    for name, est in (("LinearSVC", LinearSVC(C=1.0)),
                      ("FloralSVC(kernel='linear')", FloralSVC(kernel="linear", n_rounds=100,
                                                               random_state=0))):
        m, t = timed_fit(est, F, yl)
        rows.append({"case": "Nystroem 256 features, n=20000", "model": name,
                     "n_sv": int(getattr(m, "support_", np.empty(0)).size),
                     "pickle_bytes": size(m), "test_accuracy": float(m.score(Ft, ylt)),
                     "fit_s": t})
        print(rows[-1], flush=True)

    meta = {"machine": machine_info(), "loadavg_start": load_start,
            "loadavg_end": load_average(), "rounds": rounds, "n": n,
            "compact_tol": _assembly.COMPACT_TOL, "compact_min_sv": _assembly.COMPACT_MIN_SV}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as fh:
        json.dump({"meta": meta, "rows": rows}, fh, indent=1)
    lines = ["# Fitted model size (bench_model_size.py)", "",
             f"Load average at start {load_start}, at end {meta['loadavg_end']} (the machine "
             "was shared; fit times are information only, sizes are exact).", "",
             "| case | model | support vectors | pickle (bytes) | test accuracy | "
             "max test decision change | bound | ranking unchanged | fit (s) |",
             "|---|---|---:|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        extra = (f"{r['max_decision_change']:.2e} | {r['bound']:.2e} | "
                 f"{r['ranking_unchanged']}" if "bound" in r else " | | ")
        lines.append(f"| {r['case']} | {r['model']} | {r['n_sv']:,} | {r['pickle_bytes']:,} | "
                     f"{r['test_accuracy']:.4f} | {extra} | {r['fit_s']:.1f} |")
    text = "\n".join(lines) + "\n"
    with open(args.out + ".md", "w") as fh:
        fh.write(text)
    print(text)


if __name__ == "__main__":
    main()
