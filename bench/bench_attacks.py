"""Label-flip attacks: run time against n, and how much each one hurts an SVC on Moon.

Run time against n (each size in a child process with a time limit), SVC on Moon after
alfa-tilt against the paper's Table 1, each attack against random flips of the same
budget. Protocol and results: bench/README.md, "Label-flip attacks".

Writes bench/results/attacks.{json,md}. Timings, never assertions.
"""
import time

import numpy as np
from reproduce_table1 import PAPER
from sklearn.datasets import make_moons
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import _common as common
from _common import mean_std, pm, table

SVM = dict(C=10.0, gamma=1.0)
BUDGET = 0.10
# name in the tables -> (registry name, extra keywords)
SWEEP = {"random_flip": ("random", {}), "topk_sv_flip": ("topk_sv", {}), "alfa": ("alfa", {}),
         "alfa_tilt": ("alfa_tilt", {}), "lfa": ("lfa", {}),
         "lfa (max_candidates=25)": ("lfa", {"max_candidates": 25})}
# Floors of the growth exponent of each attack's run time (common.extrapolate): one SVC fit
# on a precomputed Gram matrix is at least O(n^2); LFA adds k ~ n greedy steps.
PRIOR_EXPONENT = {"random": 1.0, "topk_sv": 2.0, "alfa": 2.0, "alfa_tilt": 2.0, "lfa": 3.0}


# --- run time sweep ----------------------------------------------------------------------

def time_attack(label, n, min_total=2.0, max_repeats=15):
    """In a child process (:func:`runtime_sweep`): time one attack of SWEEP at one size, on
    Moon-like training and validation sets of n points each, standardised on train."""
    from floral import attacks

    registry_name, extra = SWEEP[label]
    X, y = make_moons(2 * n, noise=0.2, random_state=0)
    scaler = StandardScaler().fit(X[:n])
    X, y, X_val, y_val = scaler.transform(X[:n]), y[:n], scaler.transform(X[n:]), y[n:]
    kwargs = {} if registry_name == "random" else dict(SVM)
    if registry_name == "lfa":
        kwargs.update(X_val=X_val, y_val=y_val)
    kwargs.update(extra)
    times, total = [], 0.0
    while not times or (total < min_total and len(times) < max_repeats):
        t0 = time.perf_counter()
        y_adv = attacks.get(registry_name)(X, y, BUDGET, random_state=0, **kwargs)
        times.append(time.perf_counter() - t0)
        total += times[-1]
    return {"times": times, "n_flipped": int(np.count_nonzero(y_adv != y))}


def runtime_sweep(sizes, cap):
    """Each attack at each size in a fresh process (the child's imports count, a few seconds
    the limit absorbs), killed after 3 x ``cap`` s; a size extrapolated past ``cap``, and
    every size after it, is skipped."""
    records = {}
    for label, (registry_name, _) in SWEEP.items():
        measured, rows, stopped = [], [], None
        for n in sorted(sizes):
            expected = common.extrapolate(measured, n, PRIOR_EXPONENT[registry_name])
            row = {"n": n, "expected_s": expected}
            rec = None
            if stopped is not None:
                row.update(status="skipped", note=stopped)
            elif expected is not None and expected > cap:
                row.update(status="skipped", note=f"~{expected:.0f} s extrapolated")
            else:
                rec = common.run_child(time_attack, label, n, timeout=3 * cap)
                if rec["status"] == "failed":
                    raise RuntimeError(f"timing {label} at n = {n} failed: {rec['stderr']}")
            if rec is not None and rec["status"] == "killed":
                row.update(status="timed out",
                           note=f"killed after {3 * cap:g} s (extrapolated "
                                f"{expected if expected is not None else float('nan'):.0f} s)")
            elif rec is not None:
                # the fastest repeat: contention from other jobs only ever adds time
                seconds = float(np.min(rec["times"]))
                measured.append((n, seconds))
                row.update(status="ok", seconds=seconds, median_s=float(np.median(rec["times"])),
                           repeats=len(rec["times"]), all_seconds=rec["times"],
                           n_flipped=rec["n_flipped"])
            if row["status"] != "ok" and stopped is None:
                stopped = f"skipped (too slow, > {cap:g} s expected)"
            rows.append(row)
            shown = (f"{row['seconds']:.3g} s" if row["status"] == "ok"
                     else f"{row['status']} ({row['note']})")
            print(f"  {label:>24}  n={n:>6}  {shown}", flush=True)
        records[label] = rows
    return records


def runtime_table(records, cap):
    def cell(row):
        if row["status"] == "timed out":
            return f"timed out (> {3 * cap:g} s)"
        if row["status"] != "ok":
            return f"skipped (too slow, > {cap:g} s expected)"
        s = row["seconds"]
        return f"{s * 1e6:.0f} µs" if s < 1e-3 else f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"

    sizes = [row["n"] for row in next(iter(records.values()))]
    return table(["attack", *(f"n = {n}" for n in sizes)],
                 [[label, *map(cell, rows)] for label, rows in records.items()])


# --- accuracy on Moon (the paper's protocol) ---------------------------------------------

def moon_accuracies(seeds, budgets_by_attack):
    """{attack: {budget: [test accuracy per seed]}}, the attacks' seconds alike, and the
    clean accuracy per seed (budgets as strings, the JSON's keys)."""
    from floral.datasets import load_moons
    from floral.experiments import poison_labels

    acc = {name: {str(b): [] for b in budgets} for name, budgets in budgets_by_attack.items()}
    seconds = {name: {str(b): [] for b in budgets} for name, budgets in budgets_by_attack.items()}
    clean = []
    for seed in seeds:
        data = load_moons(random_state=seed)
        X, y = data.X_train, data.y_train
        clean.append(float(SVC(**SVM).fit(X, y).score(data.X_test, data.y_test)))
        for name, budgets in budgets_by_attack.items():
            for b in budgets:
                t0 = time.perf_counter()
                y_adv = poison_labels(X, y, name, b, random_state=seed, X_val=data.X_val,
                                      y_val=data.y_val, **SVM)
                seconds[name][str(b)].append(time.perf_counter() - t0)
                score = SVC(**SVM).fit(X, y_adv).score(data.X_test, data.y_test)
                acc[name][str(b)].append(float(score))
                print(f"  seed {seed}  {name:>9} {b:4.0%}  accuracy {score:.3f}  "
                      f"({seconds[name][str(b)][-1]:.2f} s)", flush=True)
    return acc, seconds, clean


def alfa_tilt_table(acc, clean):
    rows = [[setting, pm(accs), f"{paper:.3f}", f"{mean_std(accs)[0] - paper:+.3f}"]
            for setting, accs, paper in [("clean", clean, PAPER[0.0]["svm"][0])] + [
                (f"{b:.0%}", acc["alfa_tilt"][str(b)], PAPER[b]["svm"][1])
                for b in (0.05, 0.10, 0.25)]]
    return table(["budget", "SVC after alfa_tilt (this run)", "paper, SVM Last", "difference"],
                 rows)


def versus_random_table(acc, clean, budgets):
    rows = [["none (clean labels)", "0%", pm(clean), "", "", ""]]
    for name, label in (("alfa", "alfa"), ("alfa_tilt", "alfa_tilt"), ("lfa", "lfa"),
                        ("topk_sv", "topk_sv_flip")):
        for b in budgets:
            a, r = np.array(acc[name][str(b)]), np.array(acc["random"][str(b)])
            rows.append([label, f"{b:.0%}", pm(a), pm(r), f"{a.mean() - r.mean():+.3f}",
                         f"{int(np.sum(a < r))} / {a.size}"])
    return table(["attack", "budget", "SVC accuracy after attack", "after random_flip",
                  "attack − random", "seeds where attack < random"], rows, "llrrrr")


def main():
    ap = common.parser(__doc__, "attacks", "n 100, 200; seed 0", markdown)
    ap.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000, 2000],
                    help="training set sizes for the run time sweep")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                    help="seeds of the Moon accuracy tables")
    ap.add_argument("--cap", type=float, default=150.0,
                    help="skip a size whose extrapolated run time exceeds this (s); "
                         "a run is killed after 3x this")
    args = common.parse(ap, sizes=[100, 200], seeds=[0], cap=20.0)
    if any(n < 20 for n in args.sizes) or args.cap <= 0:
        ap.error("--sizes must be >= 20 and --cap > 0")

    load_before = common.load_average()
    started = time.perf_counter()
    print("Run time sweep (make_moons, C=10, gamma=1, budget 10%)", flush=True)
    sweep = runtime_sweep(args.sizes, args.cap)
    print("Moon, full protocol (500 train / 500 val / 1000 test)", flush=True)
    budgets = {"random": [0.05, 0.10, 0.25], "alfa_tilt": [0.05, 0.10, 0.25],
               "alfa": [0.10, 0.25], "lfa": [0.10, 0.25], "topk_sv": [0.10, 0.25]}
    acc, attack_seconds, clean = moon_accuracies(args.seeds, budgets)
    common.results(args.out, markdown, {
        "command": common.command(), "elapsed_s": time.perf_counter() - started,
        "machine": common.machine_info(),
        "load_average": {"start": load_before, "end": common.load_average()},
        "shared_machine": True, "svm": SVM,
        "runtime": {"budget": BUDGET, "cap_s": args.cap, "kill_after_s": 3 * args.cap,
                    "records": sweep},
        "moons": {"seeds": args.seeds, "clean_accuracy": clean, "accuracy": acc,
                  "attack_seconds": attack_seconds,
                  "paper_svm_last": {str(b): PAPER[b]["svm"][1] for b in (0.05, 0.10, 0.25)},
                  "paper_svm_clean": PAPER[0.0]["svm"][0]},
    })


def markdown(record):
    cap, moons = record["runtime"]["cap_s"], record["moons"]
    seeds = ", ".join(map(str, moons["seeds"]))
    load = record["load_average"]
    return common.doc(
        *common.header("Label-flip attacks", record["command"], record["elapsed_s"],
                       record["machine"]),
        f"Load average 1/5/15 min: {load['start']} at the start, {load['end']} at the end (a "
        "shared machine: run times can be inflated by contention). Protocol: "
        "bench/README.md, \"Label-flip attacks\"; a size was skipped when extrapolated "
        f"above {cap:g} s and killed after {3 * cap:g} s.",
        "## Run time against n", runtime_table(record["runtime"]["records"], cap),
        "## SVC on Moon after alfa-tilt, against the paper",
        f"Mean ± sample std over seeds {seeds}; the paper's column is Table 1, SVM, \"Last\".",
        alfa_tilt_table(moons["accuracy"], moons["clean_accuracy"]),
        "## Each attack against random flips of the same budget",
        f"Mean ± sample std over seeds {seeds}.",
        versus_random_table(moons["accuracy"], moons["clean_accuracy"], [0.10, 0.25]))


if __name__ == "__main__":
    main()
