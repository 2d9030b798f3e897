"""The round's cost: the compiled core against NumPy, and round time on a busy machine.

Two studies, one subcommand each, each writing bench/results/<subcommand>.{json,md}:
``core`` (the compiled round against a memory-bandwidth probe and two NumPy loops of the
same algorithm, the sparse round, 1 vs all threads; JSON only), ``contention`` (per-round
time idle and beside a busy loop, each cell in a fresh process; ``--builds name=path ...``
compares builds). Protocols and results: bench/README.md, "The compiled core" and "Round
time on a busy machine". Timings, never assertions.

Usage: python bench/bench_runtime.py {core,contention} [--quick] [...]
"""
import multiprocessing as mp
import os
import sys
import time
from functools import partial

import numpy as np
from sklearn.datasets import make_moons
from sklearn.metrics.pairwise import rbf_kernel

import _common as common

ROOT = os.path.dirname(common.HERE)


# --- core ------------------------------------------------------------------------------

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


def core(args):
    from floral import show_config
    from floral._config import config_info

    show_config()
    sizes = args.sizes or ([500, 2000] if args.quick else [500, 2000, 5000, 10000, 20000])
    repeats = args.repeats or 3
    load_start = common.load_average()
    threads = config_info()["threads"]
    records = []
    for ds in args.datasets:
        for n in sizes:
            X, y, gamma = make_data(ds, n)
            rounds = 10 if args.quick else (60 if n <= 5000 else 25)
            rec = {"dataset": ds, "n": n, "d": X.shape[1]}
            # Each measurement is repeated and the median repeat kept (all are in the JSON):
            # on a shared VM a single pass can be stalled for milliseconds at any size.
            probes = {str(t): [common.testing().bandwidth_probe(n * (n + 1) // 2, n_jobs=t)
                               for _ in range(repeats)] for t in (1, threads)}
            rec["bandwidth_bound_s"] = {t: float(np.median(v)) for t, v in probes.items()}
            rec["bandwidth_bound_repeats_s"] = probes
            # partial binds this iteration's values (a lambda would look them up late)
            rec["dense"] = {
                str(t): _median_repeat(partial(
                    common.floral_round, X, y, gamma, C=10.0, lr=1e-4, k=n // 20, cf=2.0,
                    rounds=rounds, n_jobs=t, layout=args.layout), repeats)
                for t in sorted({1, threads})
            }
            rec["sparse"] = _median_repeat(partial(
                common.floral_round, X, y, gamma, C=0.01, lr=5.0 / n, k=n // 100, cf=1.0,
                rounds=max(rounds, 200 if n <= 5000 else 100), n_jobs=threads, refresh=0,
                warmup=50, layout=args.layout), repeats)
            base_rounds = 3 if n >= 10000 else (5 if n >= 2000 else 20)
            rec["numpy_gram_once"] = numpy_round(X, y, gamma, C=10.0, lr=1e-4, k=n // 20,
                                                 rounds=base_rounds, recompute=False)
            rec["numpy_gram_every_round"] = numpy_round(
                X, y, gamma, C=10.0, lr=1e-4, k=n // 20, rounds=1 if n >= 5000 else base_rounds,
                recompute=True)
            records.append(rec)
            dense = rec["dense"][str(threads)]["per_round_s"]
            print(f"{ds:>8} n={n:>6}  ms per round: dense {dense * 1e3:.3f} "
                  f"({dense / rec['bandwidth_bound_s'][str(threads)]:.2f}x bandwidth), "
                  + ", ".join(f"{key} {rec[key]['per_round_s'] * 1e3:.3f}" for key in (
                      "sparse", "numpy_gram_once", "numpy_gram_every_round")), flush=True)
    meta = {"machine": common.machine_info(),
            "config": {k: v for k, v in config_info().items() if k != "openmp_runtimes"},
            "threads": threads, "quick": args.quick, "layout": args.layout,
            "load_average_start": load_start, "load_average_end": common.load_average(),
            "repeats": repeats}
    common.results(args.stem, None, {"meta": meta, "records": records})


# --- contention ------------------------------------------------------------------------

def contention_worker(n, threads, rounds):
    """One measurement, in a child of :func:`contention_cell`."""
    import floral

    X, y, gamma = make_data("moons", n)
    rec = common.floral_round(X, y, gamma, C=10.0, lr=1e-4, k=n // 20, cf=2.0, rounds=rounds,
                              n_jobs=threads, warmup=1)
    return {"mean_round_s": rec["mean_round_s"], "median_round_s": rec["per_round_s"],
            "file": floral.__file__}


def _busy(deadline):
    while time.time() < deadline:
        pass


def contention_cell(build, n, threads, rounds, loaded, limit=600.0):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.abspath(build) + os.pathsep + env.get("PYTHONPATH", "")
    load_before = common.load_average()
    busy = None
    if loaded:
        busy = mp.get_context("spawn").Process(target=_busy, args=(time.time() + limit,),
                                               daemon=True)
        busy.start()
        time.sleep(0.2)  # let it reach the CPU
    try:
        rec = common.run_child(contention_worker, n, threads, rounds, timeout=limit, env=env)
    finally:
        if busy is not None:
            busy.terminate()
            busy.join()
    if rec["status"] != "ok":
        raise RuntimeError(f"contention worker {rec['status']}: {rec.get('stderr', '')}")
    return {**rec, "loadavg_before": load_before}


def contention(args):
    sizes = args.sizes or ([2000, 5000] if args.quick else [2000, 5000, 20000])
    repeats = args.repeats or (1 if args.quick else 2)
    builds = [b.split("=", 1) for b in (args.builds or [f"current={ROOT}"])]
    big = 10 if args.quick else 20

    def rounds_for(n):
        return (40 if args.quick else 100) if n <= 5000 else big

    t_start, load_start = time.time(), common.load_average()
    threads = {1: "1", None: "default", -1: "all"}
    if not args.explicit:
        del threads[-1]
    cells = {}
    for n in sizes:
        for rep in range(repeats):
            for name, path in builds:
                for load in ("idle", "loaded"):
                    for t, label in threads.items():
                        rec = contention_cell(path, n, t, rounds_for(n), load == "loaded")
                        cells.setdefault((name, n, load, label), []).append(rec)
                        print(f"n={n:>6} rep {rep} {name:>8} {load:>6} {label:>7}: "
                              f"{rec['mean_round_s'] * 1e3:8.2f} ms/round (median "
                              f"{rec['median_round_s'] * 1e3:7.2f}), load "
                              f"{rec['loadavg_before'][0]:.2f}", flush=True)

    def med(key, field="mean_round_s"):
        return float(np.median([r[field] for r in cells[key]]))

    rows = []
    for name, _ in builds:
        for n in sizes:
            row = {"build": name, "n": n, "rounds": rounds_for(n)}
            for load in ("idle", "loaded"):
                one, dflt = med((name, n, load, "1")), med((name, n, load, "default"))
                row[load] = {
                    "one_thread_s": one, "default_s": dflt, "default_over_one": dflt / one,
                    "one_thread_median_round_s": med((name, n, load, "1"), "median_round_s"),
                    "default_median_round_s": med((name, n, load, "default"), "median_round_s"),
                }
                if (name, n, load, "all") in cells:
                    row[load]["all_threads_s"] = med((name, n, load, "all"))
            rows.append(row)
    meta = {"machine": common.machine_info(), "loadavg_start": load_start,
            "loadavg_end": common.load_average(), "wall_s": time.time() - t_start,
            "repeats": repeats, "builds": dict(builds),
            "note": "the loaded cells add ONE busy-loop process started by this script; "
                    "the load average shows what else was running on the machine"}
    raw = {"|".join(map(str, k)): v for k, v in cells.items()}
    common.results(args.out, contention_markdown, {"meta": meta, "rows": rows, "raw": raw})


def contention_markdown(payload):
    meta, rows = payload["meta"], payload["rows"]
    info, explicit = meta["machine"], "all_threads_s" in rows[0]["idle"]
    head = ["build", "n", "rounds", "idle 1 thread", "idle default", "idle 1t/default",
            "loaded 1 thread", "loaded default", "loaded default/1t"]
    head += ["idle n_jobs=-1", "loaded n_jobs=-1"] if explicit else []
    body = []
    for r in rows:
        i, ld = r["idle"], r["loaded"]
        body.append([r["build"], f"{r['n']:,}", r["rounds"], f"{i['one_thread_s'] * 1e3:.2f}",
                     f"{i['default_s'] * 1e3:.2f}", f"{1 / i['default_over_one']:.2f}x",
                     f"{ld['one_thread_s'] * 1e3:.2f}", f"{ld['default_s'] * 1e3:.2f}",
                     f"{ld['default_over_one']:.2f}x"]
                    + ([f"{i['all_threads_s'] * 1e3:.2f}", f"{ld['all_threads_s'] * 1e3:.2f}"]
                       if explicit else []))
    return common.doc(
        "# Per-round time under contention (bench_runtime.py contention)",
        f"Machine: {info['platform']}, {info['cpu']}, os.cpu_count() = {info['cpu_count']}. "
        f"Load average (1/5/15 min) at start {meta['loadavg_start']}, at end "
        f"{meta['loadavg_end']}: other processes were running unless these are near 0. Median "
        f"of {meta['repeats']} interleaved repeat(s); mean round over rounds 2..end, ms.",
        common.table(head, body))


# subcommand -> (run, its markdown for --from-json, what --quick runs)
STUDIES = {"core": (core, None, "n = 500 and 2,000, fewer rounds"),
           "contention": (contention, contention_markdown,
                          "n = 2,000 and 5,000, one repeat, fewer rounds")}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in STUDIES:
        sys.exit(f"usage: python bench/bench_runtime.py {{{','.join(STUDIES)}}} [--quick] ...")
    run, markdown, quick = STUDIES[argv[0]]
    ap = common.parser(__doc__, argv[0], quick, markdown)
    ap.add_argument("--repeats", type=int, help="repeats of each measurement, the median "
                    "kept (default 3; contention 2)")
    ap.add_argument("--sizes", type=int, nargs="+", help="n (default: see --quick)")
    if run is core:
        ap.add_argument("--datasets", nargs="+", default=["moons", "gauss768"])
        ap.add_argument("--layout", choices=["auto", "square"], default="auto",
                        help="Gram storage: what cache_size='auto' picks (the packed triangle "
                             "with hot rows), or every whole row")
    else:
        ap.add_argument("--explicit", action="store_true",
                        help="also n_jobs=-1 (all cores, fixed: what n_jobs=None did before)")
        ap.add_argument("--builds", nargs="+", default=None,
                        help="name=path pairs (default: this checkout as 'current')")
    run(common.parse(ap, argv[1:]))


if __name__ == "__main__":
    main()
