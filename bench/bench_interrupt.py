"""How fast Ctrl-C stops FloralSVC.fit at n = 30,000, phase by phase.

Each case runs in a child process; SIGINT is sent ``--delay`` seconds after the phase
starts and the time until the child has exited is recorded. Results: bench/README.md,
"Ctrl-C during fit".

Usage: python bench/bench_interrupt.py [--repeats 3] [--delay 1.0] [--quick]
Writes bench/results/interrupt.{json,md}.
"""
import argparse
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np

from _common import load_average, machine_info, write_results

N = 30_000

PHASES = {
    # the floor: a child in time.sleep, interrupted at once; what remains is the unwinding
    # and the interpreter's exit on this machine
    "floor: Python in time.sleep": """
        import time
        start()
        time.sleep(1000)
    """,
    "kernel storage (packed triangle, 1.8 GB)": f"""
        X = np.random.default_rng(0).normal(size=({N}, 20))
        start()
        _testing.GramRows(X, kernel="rbf", gamma=0.1, cache_size=2000)
    """,
    "power iteration (learning_rate='auto')": """
        A = np.random.default_rng(0).normal(size=(3000, 5))
        X = np.vstack([A, A[:-1] + 1000.0])
        start()
        _testing.kernel_lambda_max(X, gamma=0.1, max_iter=10**9, rtol=0.0)
    """,
    "init='svc' (libsvm)": f"""
        rng = np.random.default_rng(0)
        X, y = rng.normal(size=({N}, 10)), rng.integers(0, 2, {N})
        start()
        FloralSVC(init="svc", C=1e4, gamma=10.0, n_rounds=1, cache_size=200).fit(X, y)
    """,
    "whole fit (storage, power iteration, rounds)": f"""
        rng = np.random.default_rng(0)
        X, y = rng.normal(size=({N}, 20)), rng.integers(0, 2, {N})
        start()
        FloralSVC(n_rounds=500, cache_size=2000, random_state=0).fit(X, y)
    """,
}

PRELUDE = """
import numpy as np
from floral import FloralSVC, _core
from floral._core import _testing
def start():
    print("start", flush=True)
"""


def one(code, delay):
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(PRELUDE) + textwrap.dedent(code)
                             + 'print("finished", flush=True)\n'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "start"
    time.sleep(delay)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate()
    took = time.monotonic() - sent
    interrupted = "finished" not in out and "KeyboardInterrupt" in err
    return took if interrupted else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--delay", type=float, default=1.0)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "results", "interrupt"),
                    help="path of the results without .json / .md")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: once, the two phases that need no large memory, to /tmp")
    args = ap.parse_args()
    phases = PHASES
    if args.quick:
        args.repeats, args.out = 1, "/tmp/bench_interrupt_quick/interrupt"
        phases = {k: v for k, v in PHASES.items() if k.startswith(("floor", "power"))}
    rows = []
    print(f"{'phase':48} {'median s':>9} {'max s':>7}  runs")
    for name, code in phases.items():
        got = [one(code, args.delay) for _ in range(args.repeats)]
        lat = [g for g in got if g is not None]
        row = {"phase": name, "latencies_s": [round(g, 3) for g in lat],
               "finished_before_signal": len(got) - len(lat)}
        rows.append(row)
        med = f"{np.median(lat):9.2f} {max(lat):7.2f}" if lat else f"{'-':>9} {'-':>7}"
        print(f"{name:48} {med}  {len(lat)}/{len(got)} interrupted")
    out = {"n": N, "delay_s": args.delay, "repeats": args.repeats, "rows": rows,
           "load_average": load_average(), "machine": machine_info()}
    lines = [f"SIGINT {args.delay} s into each phase at n = {N:,}; seconds from the signal "
             "to the child's exit", "", "| phase | median | max | interrupted |",
             "| --- | --- | --- | --- |"]
    for r in rows:
        lat = r["latencies_s"]
        lines.append(f"| {r['phase']} | {np.median(lat):.2f} | {max(lat):.2f} | "
                     f"{len(lat)}/{args.repeats} |" if lat else
                     f"| {r['phase']} | - | - | 0/{args.repeats} |")
    write_results(args.out, out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
