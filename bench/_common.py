"""What the bench scripts share: the command line, the machine, tables, the results files,
child processes, the poisoned labels and the tuned peers.

The calls into floral's private core (``_core.floral_fit``, ``topk``) and its test
bindings (``_core._testing``: ``GramRows``, ``kernel_lambda_max``, ``bandwidth_probe``) go
through the helpers at the end, so that a change of the core's contract is one edit here.
"""
import argparse
import inspect
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
SWEEP_RESULTS = os.path.join(HERE, "sweeps", "results")
LABEL_CACHE = os.path.join(HERE, ".cache", "labels")
# the attacks' settings every poisoned-label protocol uses (top-k SV ranks twice its budget)
ATTACK_PARAMS = {"topk_sv": {"candidate_factor": 2.0}}


# --- command line and machine --------------------------------------------------------

def parser(doc, out, quick, markdown=None, folder=RESULTS):
    """An ArgumentParser with ``--out`` (default ``<folder>/<out>``, ``folder`` bench/results,
    or the folder if ``out`` is empty) and ``--quick`` (help: ``quick``), and with a
    ``markdown`` renderer a ``--from-json`` for :func:`results`; parse with :func:`parse`."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(folder, out) if out else folder,
                    help="where the results go (without .json / .md)")
    ap.add_argument("--quick", action="store_true", help=f"smoke run: {quick}")
    ap.markdown = markdown
    if markdown:
        ap.add_argument("--from-json", action="store_true",
                        help="rebuild the markdown from the JSON of --out, without running")
    return ap


def parse(ap, argv=None, name=None, **quick):
    """Parsed arguments, with ``stem`` (``--out``, or the file ``name`` in that folder;
    ``name`` may be a function of the arguments) and the ``quick`` values where ``--quick``
    is given; a ``--quick`` run without ``--out`` writes to a temporary folder, never over
    the recorded results. ``--from-json`` rebuilds the markdown and exits."""
    args = ap.parse_args(argv)
    if args.quick:
        vars(args).update(quick)
        if args.out == ap.get_default("out"):
            args.out = os.path.join(tempfile.gettempdir(), "bench_quick",
                                    os.path.basename(args.out))
    if callable(name):
        name = name(args)
    args.stem = os.path.join(args.out, name) if name else args.out
    if getattr(args, "from_json", False):
        results(args.stem, ap.markdown)
        sys.exit(0)
    return args


def command(argv=None):
    """The command line that ran this script, for the results."""
    argv = sys.argv[1:] if argv is None else argv
    script = os.path.relpath(os.path.abspath(sys.argv[0]), os.path.dirname(HERE))
    return " ".join(["python", script, *([shlex.join(argv)] if argv else [])])


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
    from threadpoolctl import threadpool_info

    from floral import __version__

    info = {"platform": platform.platform(), "cpu": cpu_model(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "sklearn": sklearn.__version__, "floral": __version__}
    info["blas"] = [{k: p.get(k) for k in ("internal_api", "num_threads", "version")}
                    for p in threadpool_info()]
    return info


def machine_line(info):
    """One markdown line from machine_info()."""
    return (f"{info['platform']}, {info['cpu']}, os.cpu_count() = {info['cpu_count']}; "
            f"Python {info['python']}, NumPy {info['numpy']}, SciPy {info['scipy']}, "
            f"scikit-learn {info['sklearn']}, floral {info['floral']}")


def host_line(info):
    """machine_line() and the load average now."""
    return f"{machine_line(info)}; load average {load_average()} at the start"


def header(title, cmd, seconds, info):
    """The first blocks of a results markdown (see :func:`doc`): title, command and time,
    machine."""
    return [f"# {title}", f"Command: `{cmd}` ({seconds:.0f} s)", f"Machine: {machine_line(info)}."]


# --- numbers and tables --------------------------------------------------------------

def mean_std(values):
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


def pm(values, empty="—"):
    """'mean ± std' to three decimals (``empty`` for no values)."""
    if len(values) == 0:
        return empty
    mean, std = mean_std(values)
    return f"{mean:.3f} ± {std:.3f}"


def select(records, **match):
    """The records whose fields equal ``match``."""
    return [r for r in records if all(r.get(k) == v for k, v in match.items())]


def doc(*blocks):
    """A markdown text from blocks with a blank line between them: a paragraph (a string)
    or lines (a list, such as a :func:`table`); empty blocks are left out."""
    return "\n\n".join(b if isinstance(b, str) else "\n".join(b) for b in blocks if b) + "\n"


def table(head, rows, align=None):
    """Markdown table lines; ``align`` is one character per column ('l' or 'r', default
    'l' for the first column and 'r' for the others)."""
    align = align or "l" + "r" * (len(head) - 1)
    return ["| " + " | ".join(head) + " |",
            "| " + " | ".join("---:" if a == "r" else "---" for a in align) + " |",
            *("| " + " | ".join(str(c) for c in row) + " |" for row in rows)]


def pivot(records, rows, cols, cell, corner=("",), align=None):
    """A :func:`table` of ``records``: one row per ``(labels, match)`` of ``rows`` (labels:
    the row's leading cells, under the heads ``corner``), one column per ``(head, match)``
    of ``cols``; a cell is ``cell`` of the records that match both."""
    return table([*corner, *(head for head, _ in cols)],
                 [[*labels, *(cell(select(records, **match, **col)) for _, col in cols)]
                  for labels, match in rows], align)


def recorded(stem):
    """The payload an earlier run wrote to ``{stem}.json``, {} if none: what a partial run
    merges its records into."""
    if not os.path.exists(stem + ".json"):
        return {}
    with open(stem + ".json") as fh:
        return json.load(fh)


def results(stem, markdown, payload=None, one_per_line=None):
    """Write ``payload`` to ``{stem}.json`` and ``markdown(payload)`` to ``{stem}.md``
    (folders made as needed) and print the markdown; ``markdown`` None: the JSON only.
    Without a payload (``--from-json``) the markdown is rebuilt from ``{stem}.json``,
    without running anything; a fresh payload goes through JSON first, so that both ways
    render the same values. ``one_per_line`` names a list of the payload written one item
    per line (diff- and grep-friendly)."""
    if payload is None:
        with open(stem + ".json") as fh:
            payload = json.load(fh)
    else:
        payload = json.loads(json.dumps(payload))
        os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
        with open(stem + ".json", "w") as fh:
            if one_per_line is None:
                json.dump(payload, fh, indent=1)
            else:
                fh.write("{" + "".join(f"{json.dumps(k)}: {json.dumps(v)},\n "
                                       for k, v in payload.items() if k != one_per_line)
                         + f'"{one_per_line}": [\n  '
                         + ",\n  ".join(json.dumps(r) for r in payload[one_per_line])
                         + "\n]}\n")
    if markdown is None:
        print(f"wrote {stem}.json")
        return payload
    text = markdown(payload)
    with open(stem + ".md", "w") as fh:
        fh.write(text)
    print(text)
    return payload


def write_results(stem, payload, text):
    """:func:`results` with the markdown already rendered (the sweeps under bench/sweeps/)."""
    results(stem, lambda _: text, payload)


# --- timings and child processes ---------------------------------------------------

def timed(fn, *args, repeats=1, **kw):
    """The median wall time of ``repeats`` calls of ``fn(*args, **kw)``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args, **kw)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run_child(func, *args, timeout=None, env=None):
    """Run ``func(*args)`` (a function of a script in bench/, arguments that JSON carries)
    in a fresh Python process, and return the JSON record it returned plus ``wall_s``;
    ``status`` is "ok", "killed" (past ``timeout``) or "failed" (with the end of stderr)."""
    module = os.path.splitext(os.path.basename(inspect.getfile(func)))[0]
    # bench/ first on the path, as for a script (not the working directory, '' for -c)
    code = (f"import json, sys; sys.path[0] = {HERE!r}; import {module}; "
            f"print('RESULT ' + json.dumps({module}.{func.__name__}(*json.loads(sys.argv[1]))))")
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", code, json.dumps(args)],
                              capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"status": "killed", "reason": f"ran past {timeout:.0f} s",
                "wall_s": time.perf_counter() - start}
    found = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not found:
        return {"status": "failed", "returncode": proc.returncode,
                "stderr": proc.stderr[-2000:], "wall_s": time.perf_counter() - start}
    return {**json.loads(found[-1][len("RESULT "):]), "status": "ok",
            "wall_s": time.perf_counter() - start}


def extrapolate(measured, n, prior):
    """A run time at ``n`` from [(n_i, seconds_i), ...] in increasing n, as a power law
    through the last two points with an exponent of at least ``prior`` (at small n fixed
    overheads flatten the curve, and an optimistic exponent is what would let a run hang);
    None if nothing was measured."""
    if not measured:
        return None
    n1, t1 = measured[-1]
    exponent = prior
    if len(measured) >= 2:
        n0, t0 = measured[-2]
        if t0 > 0 and t1 > 0 and n1 != n0:
            exponent = max(prior, np.log(t1 / t0) / np.log(n1 / n0))
    return t1 * (n / n1) ** exponent


def peak_rss_mb():
    """This process's peak resident set, MB."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def status_kib(field):
    """A field of /proc/self/status in KiB (VmRSS, VmHWM), None where there is none."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# --- data, poisoned labels and tuned peers -------------------------------------------

def scale_gamma(X, gamma="scale"):
    """SVC's gamma="scale" on the training split (another ``gamma`` as a float)."""
    return 1.0 / (X.shape[1] * X.var()) if gamma == "scale" else float(gamma)


def poisoned(X, y, attack, budget, seed, gamma, C=10.0, attack_params=None):
    """The attack's labels through the runner's poisoning path and the shared label cache
    (``attack`` None: the clean labels)."""
    from floral.experiments import poison_labels

    return poison_labels(X, y, attack or "none", budget, random_state=seed, C=C,
                         gamma=float(gamma), attack_params=(attack_params or {}).get(attack),
                         cache_dir=LABEL_CACHE)


def poisoned_settings(loader, gamma, seed, settings, C=10.0, attack_params=None):
    """For each ``(setting, attack, budget)`` of ``settings``: ``(setting, d, g, y)``, with
    ``d = loader(random_state=seed)`` (loaded once), ``g`` the data set's ``gamma`` as
    :func:`scale_gamma` reads it and ``y`` its training labels :func:`poisoned` by that
    attack (the cells of the robustness protocol, which several scripts share)."""
    d = loader(random_state=seed)
    g = scale_gamma(d.X_train, gamma)
    for setting, attack, budget in settings:
        yield setting, d, g, poisoned(d.X_train, d.y_train, attack, budget, seed, g, C,
                                      attack_params)


def tune(fit, grid, X_val, y_val, distance=None):
    """The model of ``grid`` with the highest validation accuracy: (model, setting).
    ``fit(setting)`` returns a fitted model; ties go to the smallest ``distance(setting)``
    (default: the first in ``grid``), so a validation set too small to tell settings apart
    leaves the default alone."""
    best = None
    for i, setting in enumerate(grid):
        model = fit(setting)
        key = (-model.score(X_val, y_val), i if distance is None else distance(setting))
        if best is None or key < best[0]:
            best = (key, model, setting)
    return best[1], best[2]


def cleanlab_proba(X, y, C, gamma, seed):
    """(encoded labels, out-of-fold probabilities of a calibrated SVC): cleanlab's input."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.svm import SVC

    _, y_enc = np.unique(y, return_inverse=True)
    calibrated = CalibratedClassifierCV(SVC(C=C, gamma=gamma), method="sigmoid", cv=3)
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    return y_enc, cross_val_predict(calibrated, X, y_enc, cv=folds, method="predict_proba")


def cleanlab_issues(y_enc, proba):
    """cleanlab's flags; n_jobs=1: its own pool fails inside a joblib worker and buys
    nothing at these sizes on a shared machine."""
    from cleanlab.filter import find_label_issues

    return find_label_issues(y_enc, proba, n_jobs=1)


# --- floral's private core (one place to change when its contract moves) -------------

def cache_mb(n, k, cf, layout):
    """The budget that gives the layout: FloralSVC's cache_size="auto" (packed triangle and
    hot rows for the attacker), or the whole square."""
    if layout == "square":
        return 4.0 * n * (-(-n // 16) * 16) / 2**20 + 1.0
    from floral import _memory

    return _memory.plan_gram(n, k, cf, available=2**50).cache_mb


def floral_round(X, y, gamma, *, C, lr, k, cf, rounds, n_jobs, layout="auto", refresh=50,
                 warmup=3):
    """The per-round time of one fit of ``_core.floral_fit`` from zero coefficients with
    cost ``C`` on every point (bench_runtime's core and contention): rounds ``warmup`` and
    later."""
    from floral import _core

    n = len(y)
    t0 = time.perf_counter()
    res = _core.floral_fit(X, y, np.full(n, C), np.zeros(n), gamma=gamma, diagnostics=True,
                           n_rounds=rounds, learning_rate=lr, flip_budget=k,
                           candidate_factor=cf, refresh=refresh, n_jobs=n_jobs, seed=0,
                           cache_size=cache_mb(n, k, cf, layout))
    total = time.perf_counter() - t0
    h = res.history
    # The median round, not the mean: on a shared VM a stall of another tenant lands in a
    # few rounds and would dominate the mean. The mean (which also amortises the exact
    # refresh every `refresh` rounds) is kept beside it.
    steps = np.diff(h.seconds[warmup - 1:])
    return {
        "per_round_s": float(np.median(steps)),
        "mean_round_s": float(steps.mean()),
        "setup_s": total - h.seconds[-1],  # Gram matrix materialisation and conversions
        "mean_changed": float(h.n_changed[warmup:].mean()),
        "dense_passes": res.diagnostics.dense_passes,
        "rounds": rounds,
        "layout": res.cache["layout"],
    }


def testing():
    """The core's test bindings (the kernel storage as an object, the power iteration, the
    memory-bandwidth probe), which the shipped extension does not export."""
    from floral._core import _testing

    return _testing


def topk(values, k):
    from floral import _core

    return _core.topk(values, k, 0.0)
