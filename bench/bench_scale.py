"""FLORAL at large n on the CPU: exact kernel, Nystroem features + FloralSVC(kernel="linear"),
and scikit-learn's SVC and Nystroem + LinearSVC beside them, all in the same run.

Every cell runs in a fresh child process; cells that cannot fit or would run past --cap
are skipped with the reason. Protocol: bench/README.md, "Large n".

Writes bench/results/scale.{json,md} (merged with an existing file cell by cell unless
--fresh). Timings, never assertions.
"""
import time

import numpy as np

import _common as common
from _common import table

SECTIONS = ("exact", "nystroem", "svc", "linsvc", "linear", "rowcache", "million", "peers")
PEER_METHODS = ("exact", "svc", "sklearnex_svc", "thundersvm_svc")
C = 10.0
N_TEST = 10_000
MILLION = 1_000_000


# --- data -----------------------------------------------------------------------------

def make_data(dataset, n, seed=0):
    """(X, y, X_test, y_test, gamma), standardised with the training statistics."""
    rng = np.random.default_rng(seed)
    if dataset == "moons":
        from sklearn.datasets import make_moons

        X, y = make_moons(n, noise=0.2, random_state=seed)
        Xt, yt = make_moons(N_TEST, noise=0.2, random_state=seed + 1)
        gamma = 1.0
    else:  # blobs768
        d = 768
        u = rng.normal(size=d)
        u /= np.linalg.norm(u)

        def draw(m):
            labels = rng.integers(0, 2, m)
            return rng.normal(size=(m, d)) + np.outer(np.where(labels == 1, 1.5, -1.5), u), labels

        X, y = draw(n)
        Xt, yt = draw(N_TEST)
        gamma = 1.0 / d
    y, yt = np.where(y == 1, 1, -1), np.where(yt == 1, 1, -1)
    y[rng.choice(n, n // 10, replace=False)] *= -1
    mean, std = X.mean(axis=0), X.std(axis=0)
    return (np.ascontiguousarray((X - mean) / std), y, np.ascontiguousarray((Xt - mean) / std),
            yt, gamma)


# --- one cell, in a child process ----------------------------------------------------------

# SVC-like peers: method -> the module whose SVC it fits
SVC_MODULES = {"svc": "sklearn.svm", "sklearnex_svc": "sklearnex.svm",
               "thundersvm_svc": "thundersvm"}


def nystroem(gamma, m, last):
    """Standardised features, ``m`` Nystroem components, then ``last``."""
    from sklearn.kernel_approximation import Nystroem
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), Nystroem(gamma=gamma, n_components=m, random_state=0),
                         last)


def fit_cell(spec):
    import importlib
    import pickle
    import warnings

    from threadpoolctl import threadpool_limits

    from floral import FloralSVC

    X, y, Xt, yt, gamma = make_data(spec["dataset"], spec["n"])
    if spec.get("dtype"):
        X, Xt = X.astype(spec["dtype"]), Xt.astype(spec["dtype"])
    rec = {"rss_before_fit_mb": (common.status_kib("VmRSS") or float("nan")) / 1024}
    threads = spec["threads"]
    method = spec["method"]
    floral_kw = dict(C=C, flip_budget=spec["flip"], n_rounds=spec["rounds"], random_state=0,
                     n_jobs=threads)
    if method in ("exact", "rowcache"):  # rowcache: through an explicit small cache_size
        est = FloralSVC(kernel="rbf", gamma=gamma, cache_size=spec.get("cache_mb", "auto"),
                        **floral_kw)
    elif method == "linear":
        est = FloralSVC(kernel="linear", **floral_kw)
        with threadpool_limits(limits=threads):
            rec["pass_over_X_s"] = common.timed(
                X.dot, np.random.default_rng(0).normal(size=X.shape[1]), repeats=11)
    elif method.startswith("nystroem") and method[8:].removesuffix("_f32").isdigit():
        if method.endswith("_f32"):
            X, Xt = X.astype(np.float32), Xt.astype(np.float32)
            rec["dtype"] = "float32"
        est = nystroem(gamma, int(method[8:].removesuffix("_f32")),
                       FloralSVC(kernel="linear", **floral_kw))
    elif method in SVC_MODULES:
        est = importlib.import_module(SVC_MODULES[method]).SVC(C=C, gamma=gamma, kernel="rbf")
    elif method == "nystroem_linsvc":
        from sklearn.svm import LinearSVC

        est = nystroem(gamma, 1024, LinearSVC(C=C))
    else:
        raise ValueError(method)
    with threadpool_limits(limits=threads), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        est.fit(X, y)
        rec["fit_s"] = time.perf_counter() - t0
        rec["peak_rss_mb"] = common.peak_rss_mb()
        t0 = time.perf_counter()
        rec["test_accuracy"] = float(est.score(Xt, yt))
        rec["predict_s"] = time.perf_counter() - t0
    rec["warnings"] = sorted({f"{w.category.__name__}: {str(w.message)[:200]}" for w in caught})
    clf = est[-1] if hasattr(est, "steps") else est
    try:
        rec["pickle_bytes"] = len(pickle.dumps(est))
    except Exception as exc:  # a peer's model may not pickle
        rec["pickle_error"] = repr(exc)[:200]
    if hasattr(clf, "support_"):
        rec["n_sv"] = int(np.asarray(clf.support_).size)
    if isinstance(clf, FloralSVC):
        seconds, obj = clf.history_["seconds"], clf.history_["objective"]
        steps = np.diff(seconds)
        rec.update(round_median_s=float(np.median(steps)) if steps.size else float("nan"),
                   round_mean_s=float(seconds[-1] / len(seconds)), loop_s=float(seconds[-1]),
                   rounds_run=int(clf.n_rounds_), selection=clf.selection,
                   learning_rate_used=float(clf.learning_rate_), storage=dict(clf._storage),
                   diverged=bool(not np.isfinite(obj).all() or obj[-1] > obj.min() + 1e6))
    if hasattr(est, "steps"):
        rec["n_components"] = int(est[1].n_components)
    return rec


# --- the grid ---------------------------------------------------------------------------

def svc_estimate(records, dataset, n):
    """SVC time at n extrapolated from measured sizes (power law, exponent >= 2)."""
    return common.extrapolate(sorted((r["n"], r["fit_s"]) for r in records if r["method"] == "svc"
                                     and r["dataset"] == dataset and r["status"] == "ok"), n, 2.0)


def exact_estimate(dataset, n):
    """A rough time for the exact cell on a 2-core machine (setup n^2 d / 2 FMAs at
    ~1e10/s, 500 dense passes over the 2 n^2-byte triangle at ~10 GB/s)."""
    d = 2 if dataset == "moons" else 768
    return n * n * d / 2 / 1e10 + 500 * 2.0 * n * n / 1e10


def main():
    parser = common.parser(__doc__, "scale", "moons, n = 2,000, 50 rounds, 1 thread",
                           markdown)
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument("--datasets", nargs="+", default=["moons", "blobs768"],
                        choices=["moons", "blobs768"])
    parser.add_argument("--sizes", type=int, nargs="+",
                        default=[10_000, 20_000, 50_000, 100_000, 200_000])
    parser.add_argument("--threads", nargs="+", default=["1", "all"],
                        help="FLORAL thread counts: integers and/or 'all'")
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--flip", type=float, default=0.01)
    parser.add_argument("--cap", type=float, default=900.0, help="seconds per cell")
    parser.add_argument("--million-threads", nargs="+", default=["all"])
    parser.add_argument("--million-dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--nystroem-dtypes", nargs="+", default=["float64", "float32"],
                        choices=["float64", "float32"])
    parser.add_argument("--rowcache-sizes", type=int, nargs="+", default=[20_000, 40_000])
    parser.add_argument("--rowcache-mb", type=float, default=200.0)
    parser.add_argument("--rowcache-rounds", type=int, default=10)
    parser.add_argument("--peer-cells", nargs="+", default=["blobs768:5000", "moons:20000"],
                        help="dataset:n cells of the peers section")
    parser.add_argument("--fresh", action="store_true", help="do not merge with --out")
    args = common.parse(parser, sections=["exact", "nystroem", "svc"], datasets=["moons"],
                        sizes=[2000], threads=["1"], rounds=50, nystroem_dtypes=["float64"],
                        fresh=True)
    from floral import _memory
    from floral._config import config_info

    threads = [None if t == "all" else int(t) for t in args.threads]
    available = _memory.available_memory()
    records = []
    started = time.time()
    load_start = common.load_average()

    def cell(dataset, n, method, nthreads, skip=None, **extra):
        rounds = extra.pop("rounds", args.rounds)
        rec = {"dataset": dataset, "n": n, "method": method,
               "threads": nthreads or config_info()["threads"], "rounds": rounds,
               "flip": args.flip, "learning_rate": "auto", **extra}
        if skip:
            rec.update(status="skipped", reason=skip)
        else:
            spec = dict(dataset=dataset, n=n, method=method, threads=nthreads,
                        rounds=rounds, flip=args.flip, **extra)
            rec.update(common.run_child(fit_cell, spec, timeout=args.cap + 300))
        records.append(rec)
        show(rec)
        return rec

    grid = [s for s in args.sections if s not in ("million", "rowcache", "peers")]
    for dataset in args.datasets if grid else []:
        for n in args.sizes:
            if "exact" in grid:
                packed = _memory.packed_gram_bytes(n)
                skip = None
                if available is not None and packed > _memory.AUTO_SHARE * available:
                    skip = (f"the packed triangle ({packed / 1e9:.1f} GB) exceeds half of the "
                            f"{available / 1e9:.1f} GB available: the row cache's rounds "
                            "would take well over the cap")
                elif exact_estimate(dataset, n) > args.cap:
                    skip = f"expected ~{exact_estimate(dataset, n):.0f} s > cap {args.cap:.0f} s"
                for t in threads:
                    cell(dataset, n, "exact", t, skip)
            if "nystroem" in grid:
                for m in (256, 1024):
                    for suffix in ("" if dt == "float64" else "_f32"
                                   for dt in args.nystroem_dtypes):
                        for t in threads:
                            cell(dataset, n, f"nystroem{m}{suffix}", t)
            if "svc" in grid:
                est = svc_estimate(records, dataset, n)
                skip = (f"expected ~{est:.0f} s (extrapolated) > cap {args.cap:.0f} s"
                        if est is not None and est > args.cap else None)
                cell(dataset, n, "svc", None, skip=skip)
            if "linsvc" in grid:
                cell(dataset, n, "nystroem_linsvc", None)
            if "linear" in grid and dataset == "blobs768":
                for t in threads:
                    cell(dataset, n, "linear", t)
    if "rowcache" in args.sections:
        for dataset in args.datasets:
            for n in args.rowcache_sizes:
                for t in threads:
                    cell(dataset, n, "rowcache", t, cache_mb=args.rowcache_mb,
                         rounds=args.rowcache_rounds)
    if "peers" in args.sections:
        for spec in args.peer_cells:
            dataset, n = spec.split(":")
            for method in PEER_METHODS:
                cell(dataset, int(n), method, None)
    if "million" in args.sections:
        for t in [None if v == "all" else int(v) for v in args.million_threads]:
            cell("moons", MILLION, "nystroem256", t, dtype=args.million_dtype)

    meta = {"machine": common.machine_info(),
            "config": {k: v for k, v in config_info().items() if k != "openmp_runtimes"},
            "available_memory_bytes": available, "load_average_start": load_start,
            "load_average_end": common.load_average(), "elapsed_s": time.time() - started,
            "args": {k: v for k, v in vars(args).items() if k != "stem"}}
    old = [] if args.fresh else common.recorded(args.out).get("records", [])
    fields = ("dataset", "n", "method", "threads", "rounds", "flip")
    merged = {tuple(r[f] for f in fields): r for r in old + records}
    common.results(args.out, markdown, {"meta": meta, "records": sorted(
        merged.values(), key=lambda r: (r["dataset"], r["n"], r["method"], r["threads"]))})


def show(rec):
    """One line of progress."""
    head = f"{rec['dataset']:>8} n={rec['n']:>7} {rec['method']:>15} t={rec['threads']}"
    if rec["status"] != "ok":
        tail = f"{rec['status']}: {rec.get('reason', rec.get('stderr', ''))[-300:]}"
    else:
        tail = "  ".join(f"{key} {rec[key]:.4g}" for key in (
            "fit_s", "test_accuracy", "peak_rss_mb", "rss_before_fit_mb", "pass_over_X_s",
            "round_median_s", "round_mean_s") if key in rec) + f"  {rec.get('storage', '')}"
    print(f"{head}  {tail}", flush=True)


# --- the report ---------------------------------------------------------------------------

METHOD_NAMES = {
    "exact": "FloralSVC exact RBF",
    "nystroem256": "Nystroem m=256 + FloralSVC",
    "nystroem1024": "Nystroem m=1024 + FloralSVC",
    "nystroem256_f32": "Nystroem m=256 + FloralSVC, float32",
    "nystroem1024_f32": "Nystroem m=1024 + FloralSVC, float32",
    "linear": "FloralSVC linear on X",
    "svc": "SVC (one fit)",
    "nystroem_linsvc": "Nystroem m=1024 + LinearSVC",
}
PEER_NAMES = {"exact": "FloralSVC exact RBF", "svc": "scikit-learn SVC",
              "sklearnex_svc": "scikit-learn-intelex SVC", "thundersvm_svc": "ThunderSVM SVC"}


def _max_threads(records, **match):
    return max((r["threads"] for r in common.select(records, **match)
                if isinstance(r.get("threads"), int)), default=None)


def _failed(r):
    why = (r.get("reason") or r.get("stderr", "")).strip().splitlines()
    return f"{r.get('status')}: {why[-1][:120] if why else ''}"


def peers_markdown(records):
    """The peers section: per cell, each method's fit, FloralSVC's time over it, fastest."""
    rows = []
    for dataset, n in sorted({(r["dataset"], r["n"]) for r in records
                              if r["method"] in ("sklearnex_svc", "thundersvm_svc")}):
        by = {r["method"]: r for r in records if r["dataset"] == dataset and r["n"] == n
              and r["method"] in PEER_NAMES and r.get("threads") == _max_threads(records)}
        floral = by.get("exact", {})
        ok = {m: r for m, r in by.items() if r.get("status") == "ok"}
        fastest = min(ok, key=lambda m: ok[m]["fit_s"]) if ok else None
        for method in (m for m in PEER_NAMES if m in by):
            r = by[method]
            if r.get("status") != "ok":
                rows.append([dataset, f"{n:,}", PEER_NAMES[method], "", "", "", "", "",
                             _failed(r)])
                continue
            ratio = (f"{floral['fit_s'] / r['fit_s']:.2f}" if floral.get("status") == "ok"
                     else "")
            rows.append([dataset, f"{n:,}", PEER_NAMES[method], f"{r['fit_s']:.1f}", ratio,
                         f"{r['test_accuracy']:.4f}", r.get("n_sv", ""),
                         r.get("pickle_bytes", ""), "fastest" if method == fastest else ""])
    return ["## Peers: FloralSVC beside SVC implementations (all threads)",
            table(["dataset", "n", "method", "fit (s)", "FloralSVC fit / this", "test accuracy",
                   "support vectors", "pickle (bytes)", "note"], rows, "lrlrrrrrl")]


def markdown(payload):
    """bench/results/scale.md: one table per dataset (cells with all threads), the thread
    scaling of the FLORAL cells, the row-cache cells and the returned-vs-last accuracies."""
    records = sorted(payload["records"], key=lambda r: (r["dataset"], r["n"], r["method"],
                                                        str(r["threads"])))
    ok = [r for r in records if r.get("status") == "ok"]
    out = ["# FloralSVC at large n (generated by bench/bench_scale.py)"]
    for dataset in sorted({r["dataset"] for r in records}):
        top = _max_threads(records, dataset=dataset)
        cells = [r for r in records if r["dataset"] == dataset and r["method"] in METHOD_NAMES
                 and r["n"] < MILLION and r["threads"] == top]
        rows = []
        for r in sorted(cells, key=lambda r: (r["n"], list(METHOD_NAMES).index(r["method"]))):
            step = r.get("learning_rate")
            step = "" if r["method"] in ("svc", "nystroem_linsvc") else (
                "auto" if step in (None, "auto") else "1/lambda_max")
            head = [f"{r['n']:,}", METHOD_NAMES[r["method"]], step]
            if r.get("status") != "ok":
                rows.append(head + ["", "", "", "", f"{r.get('status')}: {r.get('reason', '')}"])
                continue
            rows.append(head + [
                f"{r['fit_s']:.1f}",
                f"{r['round_median_s'] * 1e3:.1f}" if "round_median_s" in r else "",
                f"{r['peak_rss_mb']:.0f}", f"{r['test_accuracy']:.4f}",
                f"one pass over X {r['pass_over_X_s'] * 1e3:.2f} ms"
                if "pass_over_X_s" in r else ""])
        out += [f"## {dataset}: all threads",
                table(["n", "method", "step", "fit (s)", "round median (ms)", "peak RSS (MB)",
                       "test accuracy", "note"], rows, "rllrrrrl")]
    pairs = {}
    for r in ok:  # 1 vs all threads only between cells run with the same step
        if "round_median_s" in r and r["method"] != "rowcache":
            step = "auto" if r.get("learning_rate") in (None, "auto") else "explicit"
            pairs.setdefault((r["dataset"], r["n"], r["method"], step), {})[r["threads"]] = r
    if any(r["method"] in ("sklearnex_svc", "thundersvm_svc") for r in records):
        out += peers_markdown(records)
    rows = [[dataset, f"{n:,}", method, f"{by[1]['loop_s']:.1f}",
             f"{by[max(by)]['loop_s']:.1f}", f"{by[1]['loop_s'] / by[max(by)]['loop_s']:.2f}"]
            for (dataset, n, method, _), by in sorted(pairs.items()) if 1 in by and len(by) > 1]
    out += ["## Threads: FLORAL loop time, 1 thread / all threads",
            table(["dataset", "n", "method", "loop 1 thread (s)", "loop all (s)", "speed-up"],
                  rows, "lrlrrr")]
    rows = [[r["dataset"], f"{r['n']:,}", f"{r['cache_mb']:.0f}", r["threads"],
             f"{r['round_median_s']:.2f}", f"{r['peak_rss_mb']:.0f}"]
            for r in sorted((r for r in ok if r["method"] == "rowcache"),
                            key=lambda r: (r["dataset"], r["n"], r["threads"]))]
    out += ["## Row cache (exact kernel through an explicit small cache_size)",
            table(["dataset", "n", "cache (MB)", "threads", "round median (s)", "peak RSS (MB)"],
                  rows, "lrrrrr")]
    rows = [[r["threads"], r.get("dtype", "float64"), f"{r['fit_s']:.1f}",
             f"{r['round_median_s'] * 1e3:.0f}", f"{r['peak_rss_mb']:.0f}",
             f"{r['test_accuracy']:.4f}"]
            for r in sorted((r for r in ok if r["n"] == MILLION), key=lambda r: r["threads"])]
    out += ["## n = 1,000,000 (moons, Nystroem m = 256 + FloralSVC)",
            table(["threads", "input dtype", "fit (s)", "round median (ms)", "peak RSS (MB)",
                   "test accuracy"], rows, "rlrrrr")]
    # records of the removed "average" section (returned model against the last round)
    rows = [[r["dataset"], f"{r['n']:,}", name, f"{acc.get('returned', acc.get('average')):.4f}",
             f"{acc['last']:.4f}"]
            for r in sorted((r for r in ok if r["method"] == "average"),
                            key=lambda r: (r["dataset"], r["n"]))
            for name, acc in r["accuracy"].items()]
    return common.doc(*out, "## Returned model (no validation set: average) against the last round",
                      table(["dataset", "n", "model", "returned", "last round"], rows, "lrlrr"))


if __name__ == "__main__":
    main()
