"""What the bench scripts share: a description of the machine and mean ± std over seeds."""
import os
import platform

import numpy as np


def cpu_model():
    """The CPU's model name (/proc/cpuinfo where it exists; platform.processor() is often empty)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # not on every platform
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def load_average():
    """1/5/15-minute load averages, or None where the OS has none."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def machine_info():
    """Platform, CPU, core count and the versions a result depends on, for JSON and markdown."""
    import scipy
    import sklearn

    from floral import __version__

    info = {"platform": platform.platform(), "cpu": cpu_model(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "sklearn": sklearn.__version__, "floral": __version__}
    from threadpoolctl import threadpool_info

    info["blas"] = [{k: p.get(k) for k in ("internal_api", "num_threads", "version")}
                    for p in threadpool_info()]
    return info


def machine_line(info):
    """One markdown line from machine_info()."""
    return (f"{info['platform']}, {info['cpu']}, os.cpu_count() = {info['cpu_count']}; "
            f"Python {info['python']}, NumPy {info['numpy']}, SciPy {info['scipy']}, "
            f"scikit-learn {info['sklearn']}, floral {info['floral']}")


def mean_std(values):
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


def pm(values):
    """'mean ± std' to three decimals."""
    mean, std = mean_std(values)
    return f"{mean:.3f} ± {std:.3f}"


def poisoned_labels(data, attack, budget, seed, *, C, gamma, cache_dir=None, tag=""):
    """``attack``'s labels for ``data``'s training split, as the experiment runner makes them.

    The attack gets the grid's ``C``, the resolved ``gamma`` and ``random_state=seed``;
    ``attack="none"`` is the clean copy. With ``cache_dir`` the labels are kept in
    ``{cache_dir}/{tag}-{attack}-{budget}-{seed}.npz`` beside a fingerprint of the training
    split, so a rerun reuses them and a changed split or loader recomputes them instead of
    reading stale labels.
    """
    import hashlib
    import inspect

    from floral import attacks

    if attack == "none" or budget == 0:
        return np.array(data.y_train, copy=True)
    digest = hashlib.sha256(np.ascontiguousarray(data.X_train).tobytes()
                            + np.ascontiguousarray(data.y_train).tobytes()).hexdigest()
    path = None
    if cache_dir is not None:
        os.makedirs(cache_dir, exist_ok=True)
        path = os.path.join(cache_dir, f"{tag}-{attack}-{budget:g}-{seed}.npz")
        if os.path.exists(path):
            with np.load(path) as f:
                if str(f["digest"]) == digest and float(f["C"]) == C \
                        and float(f["gamma"]) == gamma:
                    return f["y"]
    fn = attacks.get(attack)
    # as the runner does: the SVM's parameters only for the attacks that fit one
    kwargs = {k: v for k, v in {"C": C, "gamma": gamma}.items()
              if k in inspect.signature(fn).parameters}
    y = fn(data.X_train, data.y_train, budget, random_state=seed, **kwargs)
    if path is not None:
        # written under another name first so a worker killed mid-write leaves no torn file
        tmp = f"{path}.{os.getpid()}.tmp.npz"
        np.savez(tmp, y=y, digest=digest, C=C, gamma=gamma)
        os.replace(tmp, path)
    return y


def class_scores(y_true, y_pred, minority):
    """Accuracy, balanced accuracy, the recall of class ``minority`` and the lowest recall
    of any class (the one that matters with many nearly equal classes)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    recalls = [float(np.mean(y_pred[y_true == c] == c)) for c in np.unique(y_true)]
    return {"accuracy": float(np.mean(y_true == y_pred)),
            "balanced_accuracy": float(np.mean(recalls)),
            "minority_recall": float(np.mean(y_pred[y_true == minority] == minority)),
            "worst_recall": float(min(recalls))}


def minority_class(y):
    """The least frequent class of ``y`` (the first in sorted order on ties), as the runner
    defines it: on the clean training labels, since poisoning may have thinned it."""
    classes, counts = np.unique(y, return_counts=True)
    return classes[int(np.argmin(counts))]


def load_dataset(name, seed, positive_rate=None):
    """(data, gamma) for a runner dataset name, with the runner's gamma for it resolved on
    the training split (the paper's 1.0 on ``moons``, SVC's "scale" elsewhere)."""
    from floral import datasets
    from floral._validation import resolve_gamma
    from floral.experiments import DEFAULT_GAMMA

    if name == "imbalanced_moons":
        data = datasets.load_imbalanced_moons(positive_rate, random_state=seed)
    else:
        data = {"moons": datasets.load_moons, "digits10": datasets.load_digits}[name](
            random_state=seed)
    return data, float(resolve_gamma(DEFAULT_GAMMA.get(name, "scale"), data.X_train))


_THREAD_LIMITS = None


def _one_thread():
    """Worker initializer of run_cell_bench: one BLAS and OpenMP thread per fit, since the
    workers are the parallelism (the limit holds for the worker's lifetime)."""
    global _THREAD_LIMITS
    from threadpoolctl import threadpool_limits

    _THREAD_LIMITS = threadpool_limits(limits=1)


def run_cell_bench(argv, *, doc, script, stem, jobs, markdown, extra=None, options=(),
                   before=None):
    """The driver the cell benchmarks share (bench_multiclass, class_cap_sweep,
    multiclass_probes).

    Options: --seeds N (0..N-1), --jobs (worker processes), --cache (poisoned labels),
    --out, --from-json (only rewrite the markdown), plus ``options`` (``(flags, kwargs)``
    for ``add_argument``). ``jobs(seeds, cache)`` lists ``(label, function, args)``; each
    function returns a list of records. ``before(args)`` may return the path of a JSON to
    rewrite the markdown from instead of running. Writes ``<out>/<stem>.json`` (with
    ``extra``) and ``<out>/<stem>.md`` from ``markdown(records, seeds, machine, command,
    seconds)``.
    """
    import argparse
    import json
    import sys
    import time
    from concurrent.futures import ProcessPoolExecutor

    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--cache", default=os.path.join(here, ".cache"),
                        help="directory for the poisoned labels ('' = no cache)")
    parser.add_argument("--out", default=os.path.join(here, "results"))
    parser.add_argument("--from-json", metavar="PATH",
                        help="only rewrite the markdown from an earlier run's JSON")
    for flags, kwargs in options:
        parser.add_argument(*flags, **kwargs)
    args = parser.parse_args(argv)
    md_path = os.path.join(args.out, f"{stem}.md")
    from_json = args.from_json or (before(args) if before is not None else None)
    if from_json:
        with open(from_json) as fh:
            run = json.load(fh)
        text = markdown(run["records"], run["seeds"], run["machine"], run["command"],
                        run["seconds"])
        with open(md_path, "w") as fh:
            fh.write(text)
        print(text)
        return
    seeds = list(range(args.seeds))
    host = f"{machine_line(machine_info())}; load average {load_average()} at the start"
    command = (f"python bench/{script} " + " ".join(argv or sys.argv[1:])).strip()
    start = time.perf_counter()
    records = []
    with ProcessPoolExecutor(max_workers=args.jobs, initializer=_one_thread) as pool:
        futures = [(label, pool.submit(fn, *fn_args))
                   for label, fn, fn_args in jobs(seeds, args.cache or None)]
        for label, fut in futures:
            records += fut.result()
            print(f"done {label} ({time.perf_counter() - start:.0f} s)", flush=True)
    seconds = time.perf_counter() - start
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"{stem}.json"), "w") as fh:
        json.dump({"command": command, "seconds": seconds, "machine": host, "seeds": seeds,
                   **(extra or {}), "records": records}, fh, indent=1)
    text = markdown(records, seeds, host, command, seconds)
    with open(md_path, "w") as fh:
        fh.write(text)
    print(text)
