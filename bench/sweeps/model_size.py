"""The fitted model's size before and after compaction: support vectors and pickle bytes of
FloralSVC against SVC and LinearSVC.

A before/after study of one change, behind ``floral._assembly.COMPACT_TOL``: "full" is the
expansion the game produced (every training point with a nonzero coefficient, what fit
returned before compaction), "compact" what fit returns now, both from the same run of the
game. tests/test_model_size.py bounds the same counts and pickle sizes. Protocol and
results: bench/README.md, "Model size". Sizes are exact; fit times are information only.

Usage: python bench/sweeps/model_size.py [--quick] [--from-json]
Writes bench/sweeps/results/model_size.{json,md}.
"""
import os
import pickle
import sys
import time

import numpy as np
from sklearn.datasets import make_moons

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _common as common  # noqa: E402


def moons(n, n_val, n_test, seed=0):
    """make_moons with 10% of the training labels flipped: train, val and test splits."""
    X, y = make_moons(n + n_val + n_test, noise=0.2, random_state=seed)
    ytr = y[:n].copy()
    ytr[np.random.default_rng(seed).choice(n, n // 10, replace=False)] ^= 1
    return (X[:n], ytr, X[n:n + n_val], y[n:n + n_val], X[n + n_val:], y[n + n_val:])


def size_row(case, name, est, X, y, Xt, yt, **fit_kw):
    start = time.perf_counter()
    est.fit(X, y, **fit_kw)
    return {"case": case, "model": name, "n_sv": int(np.size(getattr(est, "support_", ()))),
            "pickle_bytes": len(pickle.dumps(est)), "test_accuracy": float(est.score(Xt, yt)),
            "fit_s": time.perf_counter() - start}


def run(n, rounds):
    from sklearn.kernel_approximation import Nystroem
    from sklearn.svm import SVC, LinearSVC

    from floral import FloralSVC, _assembly

    X, y, Xv, yv, Xt, yt = moons(n, 1000, 1000)
    svc = size_row(f"moons n={n}", "SVC", SVC(C=10, gamma=1.0), X, y, Xt, yt)
    rows = []
    for kw in ({}, {"X_val": Xv, "y_val": yv}):
        case = f"moons n={n}" + (", X_val" if kw else "")
        est = dict(C=10, gamma=1.0, n_rounds=rounds, random_state=0)
        compact = FloralSVC(**est)
        after = size_row(case, "FloralSVC compact (after)", compact, X, y, Xt, yt, **kw)
        full, saved, _assembly.COMPACT_TOL = FloralSVC(**est), _assembly.COMPACT_TOL, 0.0
        try:
            before = size_row(case, "FloralSVC full expansion (before)", full, X, y, Xt, yt,
                              **kw)
        finally:
            _assembly.COMPACT_TOL = saved
        rows += [{**svc, "case": case}, before, after]
        diff = np.abs(compact.decision_function(Xt) - full.decision_function(Xt)).max()
        rows[-1].update(max_decision_change=float(diff),
                        bound=float(compact._compaction_error),
                        ranking_unchanged=bool(np.array_equal(compact.kept_rounds_,
                                                              full.kept_rounds_)))
        print(rows[-3:], flush=True)
    Xl, yl, _, _, Xlt, ylt = moons(20000, 0, 5000, seed=1)
    ny = Nystroem(gamma=1.0, n_components=256, random_state=0).fit(Xl)
    F, Ft = ny.transform(Xl), ny.transform(Xlt)
    for name, est in (("LinearSVC", LinearSVC(C=1.0)),
                      ("FloralSVC(kernel='linear')",
                       FloralSVC(kernel="linear", n_rounds=100, random_state=0))):
        rows.append(size_row("Nystroem 256 features, n=20000", name, est, F, yl, Ft, ylt))
        print(rows[-1], flush=True)
    return rows


def markdown(payload):
    meta = payload["meta"]
    body = [[r["case"], r["model"], f"{r['n_sv']:,}", f"{r['pickle_bytes']:,}",
             f"{r['test_accuracy']:.4f}",
             *((f"{r['max_decision_change']:.2e}", f"{r['bound']:.2e}",
                r["ranking_unchanged"]) if "bound" in r else ("", "", "")),
             f"{r['fit_s']:.1f}"] for r in payload["rows"]]
    return common.doc(
        "# Fitted model size",
        f"Load average at start {meta['loadavg_start']}, at end {meta['loadavg_end']} "
        "(the machine was shared; fit times are information only, sizes are exact).",
        common.table(["case", "model", "support vectors", "pickle (bytes)", "test accuracy",
                      "max test decision change", "bound", "ranking unchanged", "fit (s)"],
                     body, "llrrrrrlr"))


def main(argv=None):
    from floral import _assembly

    ap = common.parser(__doc__, "model_size", "n = 2,000, 150 rounds", markdown,
                       common.SWEEP_RESULTS)
    ap.add_argument("--n", type=int, default=5000, help="Moon training points (5,000)")
    ap.add_argument("--rounds", type=int, default=500)
    args = common.parse(ap, argv, n=2000, rounds=150)
    n, rounds = args.n, args.rounds
    load_start = common.load_average()
    rows = run(n, rounds)
    meta = {"machine": common.machine_info(), "loadavg_start": load_start,
            "loadavg_end": common.load_average(), "rounds": rounds, "n": n,
            "compact_tol": _assembly.COMPACT_TOL, "compact_min_sv": _assembly.COMPACT_MIN_SV}
    common.results(args.out, markdown, {"meta": meta, "rows": rows})


if __name__ == "__main__":
    sys.exit(main())
