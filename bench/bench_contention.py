"""Per-round time of floral's loop on a machine that is doing something else.

The dense FLORAL round (Moon, every coefficient moving) with one thread and with the
default n_jobs, idle and beside a busy loop, each in a fresh subprocess, cells interleaved
over repeats; ``--builds name=path ...`` compares builds of floral in one run. Protocol
and results: bench/README.md, "Round time on a busy machine".

Usage: python bench/bench_contention.py [--quick] [--sizes 2000 5000 20000] [--repeats 2]
           [--explicit] [--builds before=/tmp/old after=.]
Writes bench/results/contention.{json,md}. Timings, never assertions.
"""
import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _busy(deadline):
    x = 0
    while time.time() < deadline:
        x += 1


def worker(n, threads, rounds):
    """One measurement in this process; prints a JSON record."""
    from sklearn.datasets import make_moons

    import floral
    from floral import _core, _memory

    X, y = make_moons(n, noise=0.2, random_state=0)
    y = (2 * y - 1).astype(np.int8)
    k = n // 20
    cache = _memory.plan_gram(n, k, 2.0, available=2**50).cache_mb
    res = _core.floral_fit(X, y, np.full(n, 10.0), np.zeros(n), gamma=1.0, n_rounds=rounds,
                           learning_rate=1e-4, flip_budget=k, candidate_factor=2.0,
                           refresh=50, cache_size=cache, n_jobs=threads, seed=0)
    s = res.history.seconds
    steps = np.diff(s)
    print(json.dumps({"mean_round_s": float(steps.mean()),
                      "median_round_s": float(np.median(steps)), "file": floral.__file__}))


def measure(build, n, threads, rounds, loaded, busy_limit):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.abspath(build) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", str(n),
           "none" if threads is None else str(threads), str(rounds)]
    load_before = os.getloadavg()
    busy = None
    if loaded:
        busy = mp.get_context("spawn").Process(target=_busy, args=(time.time() + busy_limit,),
                                               daemon=True)
        busy.start()
        time.sleep(0.2)  # let it reach the CPU
    try:
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True,
                             timeout=busy_limit).stdout
    finally:
        if busy is not None:
            busy.terminate()
            busy.join()
    rec = json.loads(out.strip().splitlines()[-1])
    rec["loadavg_before"] = [round(v, 2) for v in load_before]
    return rec


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--quick", action="store_true",
                        help="n = 2,000 and 5,000 only, one repeat, fewer rounds")
    parser.add_argument("--explicit", action="store_true",
                        help="also n_jobs=-1 (all cores, fixed: what n_jobs=None did before)")
    parser.add_argument("--builds", nargs="+", default=None,
                        help="name=path pairs (default: this checkout as 'current')")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "contention"))
    args = parser.parse_args()
    from _common import machine_info, quick_out, write_results

    if args.quick and args.out == parser.get_default("out"):
        args.out = quick_out(args.out)
    if args.worker:
        n, t, rounds = args.worker
        worker(int(n), None if t == "none" else int(t), int(rounds))
        return

    sizes = args.sizes or ([2000, 5000] if args.quick else [2000, 5000, 20000])
    repeats = args.repeats or (1 if args.quick else 2)
    builds = [b.split("=", 1) for b in (args.builds or [f"current={ROOT}"])]
    busy_limit = 600.0

    def rounds_for(n):
        if args.quick:
            return 40 if n <= 5000 else 10
        return 100 if n <= 5000 else 20

    t_start = time.time()
    load_start = os.getloadavg()
    cells = {}
    for n in sizes:
        for rep in range(repeats):
            for name, path in builds:
                for loaded in (False, True):
                    for threads in (1, None, -1) if args.explicit else (1, None):
                        rec = measure(path, n, threads, rounds_for(n), loaded, busy_limit)
                        key = (name, n, "loaded" if loaded else "idle",
                               {1: "1", None: "default", -1: "all"}[threads])
                        cells.setdefault(key, []).append(rec)
                        print(f"n={n:>6} rep {rep} {name:>8} {key[2]:>6} {key[3]:>7}: "
                              f"{rec['mean_round_s'] * 1e3:8.2f} ms/round (median "
                              f"{rec['median_round_s'] * 1e3:7.2f}), load "
                              f"{rec['loadavg_before'][0]:.2f}", flush=True)
    load_end = os.getloadavg()

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

    info = machine_info()
    meta = {"machine": info, "loadavg_start": [round(v, 2) for v in load_start],
            "loadavg_end": [round(v, 2) for v in load_end], "wall_s": time.time() - t_start,
            "repeats": repeats, "builds": dict(builds),
            "note": "the loaded cells add ONE busy-loop process started by this script; "
                    "the load average shows what else was running on the machine"}
    raw = {f"{k[0]}|{k[1]}|{k[2]}|{k[3]}": v for k, v in cells.items()}
    lines = [
        "# Per-round time under contention (bench_contention.py)",
        "",
        f"Machine: {info['platform']}, {info['cpu']}, os.cpu_count() = {info['cpu_count']}. "
        f"Load average (1/5/15 min) at start {meta['loadavg_start']}, at end "
        f"{meta['loadavg_end']}: other processes were running unless these are near 0. "
        f"Median of {repeats} interleaved repeat(s); mean round over rounds 2..end, ms.",
        "",
        "| build | n | rounds | idle 1 thread | idle default | idle 1t/default | "
        "loaded 1 thread | loaded default | loaded default/1t |"
        + (" idle n_jobs=-1 | loaded n_jobs=-1 |" if args.explicit else ""),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if args.explicit else ""),
    ]
    for r in rows:
        i, ld = r["idle"], r["loaded"]
        lines.append(
            f"| {r['build']} | {r['n']:,} | {r['rounds']} | {i['one_thread_s'] * 1e3:.2f} | "
            f"{i['default_s'] * 1e3:.2f} | {1 / i['default_over_one']:.2f}x | "
            f"{ld['one_thread_s'] * 1e3:.2f} | {ld['default_s'] * 1e3:.2f} | "
            f"{ld['default_over_one']:.2f}x |"
            + (f" {i['all_threads_s'] * 1e3:.2f} | {ld['all_threads_s'] * 1e3:.2f} |"
               if args.explicit else ""))
    write_results(args.out, {"meta": meta, "rows": rows, "raw": raw}, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
