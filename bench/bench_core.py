"""Per-round cost of floral's compiled FLORAL loop against NumPy baselines.

The dense round against a memory-bandwidth probe, the sparse round, 1 vs all threads, and
two NumPy loops of the same algorithm. Protocol and results: bench/README.md, "The compiled
core".

Usage: python bench/bench_core.py [--sizes 500 2000 ...] [--quick] [--layout auto|square]
Writes bench/results/core.json. Timings, never assertions.
"""
import json
import os
import time
from functools import partial

import numpy as np
from sklearn.datasets import make_moons
from sklearn.metrics.pairwise import rbf_kernel

import _common as common
from floral import show_config
from floral._config import config_info


def make_data(name, n, seed=0):
    if name == "moons":
        X, y = make_moons(n, noise=0.2, random_state=seed)
        return X, (2 * y - 1).astype(np.int8), 1.0
    rng = np.random.default_rng(seed)
    d = 768
    X = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    y = np.where(X @ w + rng.normal(scale=0.5 * np.sqrt(d), size=n) > 0, 1, -1).astype(np.int8)
    return X, y, 1.0 / d


def _project_bisect(v, a, C, iters=60):
    lo, hi = -np.abs(v).max() - C - 1.0, np.abs(v).max() + C + 1.0
    for _ in range(iters):
        mu = 0.5 * (lo + hi)
        if a @ np.clip(v - mu * a, 0.0, C) > 0:
            lo = mu
        else:
            hi = mu
    return np.clip(v - 0.5 * (lo + hi) * a, 0.0, C)


def numpy_round(X, y, gamma, *, C, lr, k, rounds, recompute):
    """DESIGN.md's round in dense float64 NumPy; the Gram matrix once or every round."""
    n = len(y)
    y = y.astype(float)
    lam, yt = np.zeros(n), y.copy()
    t0 = time.perf_counter()
    # NumPy's bundled OpenBLAS (0.3.31, AVX-512 kernels) segfaults in the multithreaded
    # X @ X.T (DSYRK) that rbf_kernel(X) issues at n=20000, d=768 on the Xeon this was
    # measured on; a copy as the second operand takes the GEMM path instead (about 1.3x
    # slower at n=5000, so it only flatters floral's ratio) and is used just there.
    Y = X.copy() if X.shape[0] * X.shape[1] > 10_000_000 else None
    K = None if recompute else rbf_kernel(X, Y, gamma=gamma)
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(rounds):
        if recompute:
            K = rbf_kernel(X, Y, gamma=gamma)
        f = K @ (yt * lam)
        lam = _project_bisect(lam - lr * (yt * f - 1.0), yt, C)
        f = K @ (yt * lam)
        free = (lam > 0) & (lam < C)
        _b = np.mean(yt[free] - f[free]) if free.any() else 0.0
        sv = np.flatnonzero(lam > 1e-5)
        top = sv[np.argpartition(-lam[sv], min(k, sv.size - 1))[:k]] if sv.size > k else sv
        yt = y.copy()
        yt[top] *= -1
    return {"per_round_s": (time.perf_counter() - t0) / rounds, "setup_s": setup,
            "rounds": rounds, "gram_product": "gemm" if Y is not None else "syrk"}


def _median_repeat(measure, repeats):
    """The record of the median repeat by per_round_s, with every repeat's time attached."""
    runs = sorted((measure() for _ in range(repeats)), key=lambda r: r["per_round_s"])
    rec = dict(runs[(len(runs) - 1) // 2])
    rec["repeats_per_round_s"] = [r["per_round_s"] for r in runs]
    return rec


def main():
    parser = common.parser(__doc__, "core.json", "n = 500 and 2,000, fewer rounds")
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="default 500 2000 5000 10000 20000 (--quick: 500 2000)")
    parser.add_argument("--datasets", nargs="+", default=["moons", "gauss768"])
    parser.add_argument("--layout", choices=["auto", "square"], default="auto",
                        help="Gram storage: what cache_size='auto' picks (the packed triangle "
                             "with hot rows), or every whole row")
    parser.add_argument("--repeats", type=int, default=3,
                        help="repeats of each floral and probe measurement; the median is kept")
    args = common.parse(parser)
    args.sizes = args.sizes or ([500, 2000] if args.quick else [500, 2000, 5000, 10000, 20000])
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    show_config()
    load_start = common.load_average()
    threads = config_info()["threads"]
    records = []
    for ds in args.datasets:
        for n in args.sizes:
            X, y, gamma = make_data(ds, n)
            rounds = 10 if args.quick else (60 if n <= 5000 else 25)
            rec = {"dataset": ds, "n": n, "d": X.shape[1]}
            # Each measurement is repeated and the median repeat kept (all are in the JSON):
            # on a shared VM a single pass can be stalled for milliseconds at any size.
            probes = {str(t): [common.bandwidth_probe(n * (n + 1) // 2, t)
                               for _ in range(args.repeats)] for t in (1, threads)}
            rec["bandwidth_bound_s"] = {t: float(np.median(v)) for t, v in probes.items()}
            rec["bandwidth_bound_repeats_s"] = probes
            # partial binds this iteration's values (a lambda would look them up late)
            rec["dense"] = {
                str(t): _median_repeat(partial(
                    common.floral_round, X, y, gamma, C=10.0, lr=1e-4, k=n // 20, cf=2.0,
                    rounds=rounds, n_jobs=t, layout=args.layout), args.repeats)
                for t in sorted({1, threads})
            }
            rec["sparse"] = _median_repeat(partial(
                common.floral_round, X, y, gamma, C=0.01, lr=5.0 / n, k=n // 100, cf=1.0,
                rounds=max(rounds, 200 if n <= 5000 else 100), n_jobs=threads, refresh=0,
                warmup=50, layout=args.layout), args.repeats)
            base_rounds = 3 if n >= 10000 else (5 if n >= 2000 else 20)
            rec["numpy_gram_once"] = numpy_round(X, y, gamma, C=10.0, lr=1e-4, k=n // 20,
                                                 rounds=base_rounds, recompute=False)
            rec["numpy_gram_every_round"] = numpy_round(
                X, y, gamma, C=10.0, lr=1e-4, k=n // 20, rounds=1 if n >= 5000 else base_rounds,
                recompute=True)
            records.append(rec)
            dense = rec["dense"][str(threads)]["per_round_s"]
            bound = rec["bandwidth_bound_s"][str(threads)]
            sp = rec["sparse"]
            print(f"{ds:>8} n={n:>6}  dense {dense * 1e3:8.3f} ms ({dense / bound:4.2f}x bw) "
                  f"1t/{threads}t {rec['dense']['1']['per_round_s'] / dense:4.2f}x  "
                  f"sparse {sp['per_round_s'] * 1e3:7.3f} ms |J|={sp['mean_changed']:7.0f} "
                  f"({sp['per_round_s'] / (n * sp['mean_changed']) * 1e9:5.2f} ns/(n|J|))  "
                  f"numpy(a) {rec['numpy_gram_once']['per_round_s'] * 1e3:9.2f} ms  "
                  f"numpy(b) {rec['numpy_gram_every_round']['per_round_s'] * 1e3:9.1f} ms",
                  flush=True)

    meta = {
        "machine": common.machine_info(),
        "config": {k: v for k, v in config_info().items() if k != "openmp_runtimes"},
        "threads": threads,
        "quick": args.quick,
        "layout": args.layout,
        "load_average_start": load_start,
        "load_average_end": common.load_average(),
        "repeats": args.repeats,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump({"meta": meta, "records": records}, fh, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
