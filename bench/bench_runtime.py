"""The round's cost and what surrounds the fit: the compiled core against NumPy, round time
on a busy machine, Ctrl-C latency, model size.

Four studies, one subcommand each, each writing bench/results/<subcommand>.{json,md}:
``core`` (the compiled round against a memory-bandwidth probe and two NumPy loops of the
same algorithm, the sparse round, 1 vs all threads; JSON only), ``contention`` (per-round
time idle and beside a busy loop, each cell in a fresh process; ``--builds name=path ...``
compares builds), ``interrupt`` (seconds from SIGINT to exit, phase by phase at
n = 30,000), ``model_size`` (support vectors and pickle bytes against SVC and LinearSVC).
Protocols and results: bench/README.md, "The compiled core", "Round time on a busy
machine", "Ctrl-C during fit", "Model size". Timings, never assertions.

Usage: python bench/bench_runtime.py {core,contention,interrupt,model_size} [--quick] [...]
"""
import multiprocessing as mp
import os
import pickle
import signal
import subprocess
import sys
import textwrap
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
            probes = {str(t): [common.bandwidth_probe(n * (n + 1) // 2, t)
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


# --- interrupt -------------------------------------------------------------------------

N_INTERRUPT = 30_000
PHASES = {
    # the floor: a child in time.sleep, interrupted at once; what remains is the unwinding
    # and the interpreter's exit on this machine
    "floor: Python in time.sleep": """
        start()
        time.sleep(1000)
    """,
    "kernel storage (packed triangle, 1.8 GB)": f"""
        X = np.random.default_rng(0).normal(size=({N_INTERRUPT}, 20))
        start()
        gram_rows(X, kernel="rbf", gamma=0.1, cache_size=2000)
    """,
    "power iteration (learning_rate='auto')": """
        A = np.random.default_rng(0).normal(size=(3000, 5))
        X = np.vstack([A, A[:-1] + 1000.0])
        start()
        kernel_lambda_max(X, gamma=0.1, max_iter=10**9, rtol=0.0)
    """,
    "init='svc' (libsvm)": f"""
        rng = np.random.default_rng(0)
        X, y = rng.normal(size=({N_INTERRUPT}, 10)), rng.integers(0, 2, {N_INTERRUPT})
        start()
        FloralSVC(init="svc", C=1e4, gamma=10.0, n_rounds=1, cache_size=200).fit(X, y)
    """,
    "whole fit (storage, power iteration, rounds)": f"""
        rng = np.random.default_rng(0)
        X, y = rng.normal(size=({N_INTERRUPT}, 20)), rng.integers(0, 2, {N_INTERRUPT})
        start()
        FloralSVC(n_rounds=500, cache_size=2000, random_state=0).fit(X, y)
    """,
}
# SIGINT's default handler again: a child of a background job starts with SIGINT ignored
PRELUDE = f"""
import signal, sys, time
import numpy as np
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path[0] = {common.HERE!r}  # bench/, not the working directory
from _common import gram_rows, kernel_lambda_max
from floral import FloralSVC
def start():
    print("start", flush=True)
"""


def interrupt_latency(code, delay):
    """Seconds from SIGINT to the child's exit, None if it finished first."""
    source = textwrap.dedent(PRELUDE) + textwrap.dedent(code) + 'print("finished")\n'
    proc = subprocess.Popen([sys.executable, "-c", source], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "start"
    time.sleep(delay)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate()
    took = time.monotonic() - sent
    return took if "finished" not in out and "KeyboardInterrupt" in err else None


def interrupt(args):
    phases, args.repeats = PHASES, args.repeats or 3
    if args.quick:  # the two phases that need no large memory
        args.repeats = 1
        phases = {k: v for k, v in PHASES.items() if k.startswith(("floor", "power"))}
    rows = []
    for name, code in phases.items():
        got = [interrupt_latency(code, args.delay) for _ in range(args.repeats)]
        lat = [round(g, 3) for g in got if g is not None]
        rows.append({"phase": name, "latencies_s": lat,
                     "finished_before_signal": len(got) - len(lat)})
        print(name, lat, flush=True)
    common.results(args.out, interrupt_markdown, {
        "n": N_INTERRUPT, "delay_s": args.delay, "repeats": args.repeats, "rows": rows,
        "load_average": common.load_average(), "machine": common.machine_info()})


def interrupt_markdown(payload):
    body = [[r["phase"], *((f"{np.median(lat):.2f}", f"{max(lat):.2f}") if lat else ("-", "-")),
             f"{len(lat)}/{payload['repeats']}"] for r in payload["rows"]
            for lat in [r["latencies_s"]]]
    return "\n".join([f"SIGINT {payload['delay_s']} s into each phase at n = {payload['n']:,}; "
                      "seconds from the signal to the child's exit", "",
                      *common.table(["phase", "median", "max", "interrupted"], body, "llll")]
                     ) + "\n"


# --- model size ------------------------------------------------------------------------

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


def model_size(args):
    from sklearn.kernel_approximation import Nystroem
    from sklearn.svm import SVC, LinearSVC

    from floral import FloralSVC, _assembly

    n, rounds = (2000, 150) if args.quick else (5000, 500)
    X, y, Xv, yv, Xt, yt = moons(n, 1000, 1000)
    load_start = common.load_average()
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
    meta = {"machine": common.machine_info(), "loadavg_start": load_start,
            "loadavg_end": common.load_average(), "rounds": rounds, "n": n,
            "compact_tol": _assembly.COMPACT_TOL, "compact_min_sv": _assembly.COMPACT_MIN_SV}
    common.results(args.out, model_size_markdown, {"meta": meta, "rows": rows})


def model_size_markdown(payload):
    meta = payload["meta"]
    body = [[r["case"], r["model"], f"{r['n_sv']:,}", f"{r['pickle_bytes']:,}",
             f"{r['test_accuracy']:.4f}",
             *((f"{r['max_decision_change']:.2e}", f"{r['bound']:.2e}",
                r["ranking_unchanged"]) if "bound" in r else ("", "", "")),
             f"{r['fit_s']:.1f}"] for r in payload["rows"]]
    lines = ["# Fitted model size (bench_runtime.py model_size)", "",
             f"Load average at start {meta['loadavg_start']}, at end {meta['loadavg_end']} "
             "(the machine was shared; fit times are information only, sizes are exact).", "",
             *common.table(["case", "model", "support vectors", "pickle (bytes)", "test accuracy",
                     "max test decision change", "bound", "ranking unchanged", "fit (s)"],
                    body, "llrrrrrlr")]
    return "\n".join(lines) + "\n"


# subcommand -> (run, its markdown for --from-json, what --quick runs)
STUDIES = {"core": (core, None, "n = 500 and 2,000, fewer rounds"),
           "contention": (contention, contention_markdown,
                          "n = 2,000 and 5,000, one repeat, fewer rounds"),
           "interrupt": (interrupt, interrupt_markdown,
                         "once, the two phases that need no large memory"),
           "model_size": (model_size, model_size_markdown, "n = 2,000, 150 rounds")}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in STUDIES:
        sys.exit(f"usage: python bench/bench_runtime.py {{{','.join(STUDIES)}}} [--quick] ...")
    run, markdown, quick = STUDIES[argv[0]]
    ap = common.parser(__doc__, argv[0], quick, markdown)
    if run is not model_size:
        ap.add_argument("--repeats", type=int, help="repeats of each measurement, the median "
                        "kept (default 3; contention 2)")
    if run in (core, contention):
        ap.add_argument("--sizes", type=int, nargs="+", help="n (default: see --quick)")
    if run is core:
        ap.add_argument("--datasets", nargs="+", default=["moons", "gauss768"])
        ap.add_argument("--layout", choices=["auto", "square"], default="auto",
                        help="Gram storage: what cache_size='auto' picks (the packed triangle "
                             "with hot rows), or every whole row")
    elif run is contention:
        ap.add_argument("--explicit", action="store_true",
                        help="also n_jobs=-1 (all cores, fixed: what n_jobs=None did before)")
        ap.add_argument("--builds", nargs="+", default=None,
                        help="name=path pairs (default: this checkout as 'current')")
    elif run is interrupt:
        ap.add_argument("--delay", type=float, default=1.0)
    run(common.parse(ap, argv[1:]))


if __name__ == "__main__":
    main()
