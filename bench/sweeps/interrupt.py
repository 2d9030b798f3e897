"""Seconds from Ctrl-C to exit in each phase of a fit at n = 30,000.

A before/after study of one change (the core asks Python for signals every 0.1 s in the
kernel storage build, the power iteration and the rounds, and libsvm runs in a worker
thread): each phase runs in a child process, SIGINT is sent ``--delay`` s after the phase
starts, and the time until the child has exited is recorded. tests/test_reliability.py
bounds the same measurement at 10 s. Protocol and results: bench/README.md, "Ctrl-C during
fit". Timings, never assertions.

Usage: python bench/sweeps/interrupt.py [--repeats 3] [--quick] [--from-json]
Writes bench/sweeps/results/interrupt.{json,md}.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _common as common  # noqa: E402

N = 30_000
PHASES = {
    # the floor: a child in time.sleep, interrupted at once; what remains is the unwinding
    # and the interpreter's exit on this machine
    "floor: Python in time.sleep": """
        start()
        time.sleep(1000)
    """,
    "kernel storage (packed triangle, 1.8 GB)": f"""
        X = np.random.default_rng(0).normal(size=({N}, 20))
        start()
        testing().GramRows(X, kernel="rbf", gamma=0.1, cache_size=2000)
    """,
    "power iteration (learning_rate='auto')": """
        A = np.random.default_rng(0).normal(size=(3000, 5))
        X = np.vstack([A, A[:-1] + 1000.0])
        start()
        testing().kernel_lambda_max(X, gamma=0.1, max_iter=10**9, rtol=0.0)
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
# SIGINT's default handler again: a child of a background job starts with SIGINT ignored
PRELUDE = f"""
import signal, sys, time
import numpy as np
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path[0] = {common.HERE!r}  # bench/, not the working directory
from _common import testing
from floral import FloralSVC
def start():
    print("start", flush=True)
"""


def latency(code, delay):
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


def markdown(payload):
    body = [[r["phase"], *((f"{np.median(lat):.2f}", f"{max(lat):.2f}") if lat else ("-", "-")),
             f"{len(lat)}/{payload['repeats']}"] for r in payload["rows"]
            for lat in [r["latencies_s"]]]
    return common.doc(f"SIGINT {payload['delay_s']} s into each phase at n = {payload['n']:,}; "
                      "seconds from the signal to the child's exit",
                      common.table(["phase", "median", "max", "interrupted"], body, "llll"))


def main(argv=None):
    ap = common.parser(__doc__, "interrupt", "once, the two phases that need no large memory",
                       markdown, common.SWEEP_RESULTS)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each phase (3)")
    ap.add_argument("--delay", type=float, default=1.0, help="seconds into the phase (1)")
    args = common.parse(ap, argv, repeats=1)
    phases = {k: v for k, v in PHASES.items()
              if not args.quick or k.startswith(("floor", "power"))}
    rows = []
    for name, code in phases.items():
        got = [latency(code, args.delay) for _ in range(args.repeats)]
        lat = [round(g, 3) for g in got if g is not None]
        rows.append({"phase": name, "latencies_s": lat,
                     "finished_before_signal": len(got) - len(lat)})
        print(name, lat, flush=True)
    common.results(args.out, markdown, {
        "n": N, "delay_s": args.delay, "repeats": args.repeats, "rows": rows,
        "load_average": common.load_average(), "machine": common.machine_info()})


if __name__ == "__main__":
    sys.exit(main())
