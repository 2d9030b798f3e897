"""Which leader should the FLORAL game use? A NumPy study for issue 19 item 2.

The game replayed densely with a pluggable leader: ``pg1`` (the core today: one projected-
gradient step of 0.5 / lambda_max(K) per round; first checked against ``_core.floral_fit``,
same attacker draws), ``pg5`` / ``pg20`` (m such steps per round), ``fista5`` (5 FISTA steps
of 1 / lambda_max, momentum restarted each round), ``exact`` (the optimum under the round's
labels: libsvm on the precomputed kernel, tol 1e-3, C per point by sample_weight). FloralSVC's
default attacker; the kept model is the mean of the 5 rounds with the best balanced accuracy
on the trusted split ("noval": tail average). "sel": the search's pick between SVC and the
game at 5 % (the game if it beats SVC on validation by one standard error; the search's 10 %
and three widths left out for CPU). Data, attacks, C = 10 as bench_robustness.py; Moon at
n = 1,000. ``pg1w`` (knobs only: it is pg1 under equal weights) preconditions pg1's step by
C_i / mean(C). Usage: nice -n 19 python bench/sweeps/leader.py [--seeds 5] [--sweep] [--from-json]
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
from sklearn.datasets import make_moons
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.svm import SVC

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
# bench/'s shared helpers and the robustness bench's data sets; the tests' dense oracles
# (the intercept rule and the xoshiro stream the core uses)
sys.path[:0] = [BENCH, os.path.join(BENCH, os.pardir, "tests")]
from bench_robustness import DATASETS  # noqa: E402

from _common import ATTACK_PARAMS, load_average, machine_info, machine_line, poisoned, scale_gamma  # noqa: E402
from floral.datasets import load_imbalanced_moons  # noqa: E402
from floral.datasets._splits import _split_scale  # noqa: E402
from oracles import intercept_reference, xoshiro256ss  # noqa: E402

C = 10.0
LEADERS = {"pg1": ("pg", 1), "pg5": ("pg", 5), "pg20": ("pg", 20), "fista5": ("fista", 5),
           "exact": ("exact", 1), "pg1w": ("pgw", 1)}
SETTINGS = [("clean", None, 0.0), ("alfa-tilt 25%", "alfa_tilt", 0.25),
            ("top-k SV 25%", "topk_sv", 0.25), ("random 25%", "random", 0.25)]
DATA = ["moons1000", "digits_1v7", "breast_cancer", "digits_parity"]
BUDGET = 0.05
SWEEP_C = (0.1, 0.3, 1.0, 3.0, 10.0)


def load_moons1000(random_state=0):
    X, y = make_moons(2500, noise=0.2, random_state=random_state)
    return _split_scale(X, y.astype(np.int64), 1000, 500, random_state=random_state,
                        name="moons1000", source="make_moons(2500, noise=0.2)")


def project(v, a, C, d=1.0):
    """Exact projection onto {0 <= x <= C, a^T x = 0} in the metric diag(1 / d), a in
    {-1, +1}^n: x_i = clip(v_i - mu d_i a_i, 0, C_i), and phi(mu) = a^T x falls piecewise
    linearly between the breakpoints lo_i, lo_i + C_i / d_i; bisect over the sorted
    breakpoints, then solve on the segment."""
    s, d = a * v, np.broadcast_to(d, v.shape)
    lo = np.where(a > 0, s - C, s) / d
    hi = lo + C / d
    phi = lambda mu: np.sum(a * np.clip(v - mu * d * a, 0.0, C))  # noqa: E731
    bps = np.sort(np.concatenate([lo, hi]))
    i, j = 0, bps.size - 1
    if phi(bps[j]) >= 0:
        mu = bps[j]
    else:
        while j - i > 1:  # phi(bps[i]) >= 0 > phi(bps[j])
            mid = (i + j) // 2
            i, j = (mid, j) if phi(bps[mid]) >= 0 else (i, mid)
        m = 0.5 * (bps[i] + bps[j])
        free = (lo < m) & (m < hi)
        fixed = np.sum(a[~free] * np.clip(v[~free] - m * d[~free] * a[~free], 0.0, C[~free]))
        mu = (fixed + s[free].sum()) / d[free].sum() if free.any() else m
    return np.clip(v - mu * d * a, 0.0, C)


def lead(kind, m, K, yt, lam, f, C, L):
    """The leader's move under labels yt from lam (f = K (yt lam)): (lam, f, steps)."""
    if kind == "exact":  # libsvm on the precomputed kernel; sample_weight scales C per point
        svc = SVC(C=1.0, kernel="precomputed", tol=1e-3).fit(K, yt, sample_weight=C)
        lam = np.zeros_like(lam)
        lam[svc.support_] = np.abs(svc.dual_coef_[0])
        return lam, K @ (yt * lam), 1
    if kind in ("pg", "pgw"):
        # pgw: the step preconditioned by d = C_i / mean(C) (L is then lambda_max of
        # d^1/2 K d^1/2): weights act from the first round; d = 1 (pg) for equal weights
        eta, d = 0.5 / L, (C / C.mean() if kind == "pgw" else 1.0)
        for _ in range(m):
            lam = project(lam - eta * d * (yt * f - 1.0), yt, C, d)
            f = K @ (yt * lam)
        return lam, f, m
    eta = 1.0 / L  # FISTA's step
    z, fz, t = lam, f, 1.0
    for _ in range(m):
        new = project(z - eta * (yt * fz - 1.0), yt, C)
        fnew = K @ (yt * new)
        t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        beta = (t - 1.0) / t_next
        z, fz = new + beta * (new - lam), fnew + beta * (fnew - f)
        lam, f, t = new, fnew, t_next
    return lam, f, m


def balanced(y, pred):
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


def play(K, y01, C, leader, k, draw, L, *, Kv, yv, n_rounds=500, n_best=5, factor=2.0,
         cap=2.0, tol=1e-5):
    """The FLORAL game (DESIGN.md) with the given leader; draw(bound) is the attacker's
    uniform integer in [0, bound). Returns the kept models and the cost."""
    (kind, m), n, y = LEADERS[leader], y01.size, np.where(y01 == 1, 1.0, -1.0)
    caps = np.minimum(np.ceil(cap * k * np.bincount(y01, minlength=2) / n - 1e-9), k)
    n_cand = min(n, math.ceil(factor * k - 1e-9)) if k else 0
    lam, yt = np.zeros(n), y.copy()
    f = K @ (yt * lam)
    best, tail, steps, t0 = [], [], 0, time.perf_counter()
    for t in range(1, n_rounds + 1):
        lam, f, s = lead(kind, m, K, yt, lam, f, C, L)
        steps += s
        c = yt * lam
        b = intercept_reference(lam, yt, f, C)
        score = balanced(yv, (Kv @ c + b > 0).astype(int))
        if len(best) < n_best or score > best[-1][0]:  # earliest round wins ties
            best = best[:n_best - 1] + [(score, t, c, b)]
            best.sort(key=lambda r: (-r[0], r[1]))
        if t > n_rounds // 2:
            tail.append((c, b))
        if t == n_rounds or k == 0:
            continue
        # k of the top ceil(factor k) SVs by lazy Fisher-Yates, at most caps[c] of class c
        sv = np.flatnonzero(lam > tol)
        cand = list(sv[np.lexsort((sv, -lam[sv]))][:n_cand])
        new, taken = y.copy(), np.zeros(2)
        for r in range(len(cand)):
            if taken.sum() >= k:
                break
            if len(cand) > k:
                j = r + draw(len(cand) - r)
                cand[r], cand[j] = cand[j], cand[r]
            if taken[y01[cand[r]]] < caps[y01[cand[r]]]:
                taken[y01[cand[r]]] += 1
                new[cand[r]] = -y[cand[r]]
        moved = (new != yt) & (lam != 0)
        f, yt = f + K[:, moved] @ ((new - yt) * lam)[moved], new
    seconds = time.perf_counter() - t0
    kept = {key: (np.mean([r[-2] for r in ms], 0), float(np.mean([r[-1] for r in ms])))
            for key, ms in (("best", best), ("avg", tail))}
    return dict(kept, kept=kept, last=(c, b), steps=steps, seconds=seconds, rounds=n_rounds,
                val_score=balanced(yv, (Kv @ kept["best"][0] + kept["best"][1] > 0)), lam=lam,
                yt=yt)


def xoshiro_draw(seed):
    """below(bound) of the core's attacker stream (rng.hpp), from the tests' oracle."""
    stream, top = iter(xoshiro256ss(seed, 100_000)), 2**64 - 1
    return lambda bound: next(r for r in stream if r < top - top % bound) % bound


def parity_check():
    """pg1 against _core.floral_fit: same data, step, attacker draws and rounds."""
    from floral import _core
    X, y01 = make_moons(300, noise=0.2, random_state=0)
    Xv, yv = make_moons(100, noise=0.2, random_state=1)
    n, k, seed, T, Cv = 300, 15, 12345, 200, np.full(300, 10.0)
    res = _core.floral_fit(X, np.where(y01 == 1, 1, -1), Cv, np.zeros(n), gamma=1.0,
                           n_rounds=T, learning_rate=None, step_scale=0.5, flip_budget=k,
                           candidate_factor=2.0, class_cap=[15, 15], seed=seed, refresh=50,
                           X_eval=Xv, y_eval=np.where(yv == 1, 1, -1), n_best=5, n_jobs=1,
                           diagnostics=True)
    K, Kv = (rbf_kernel(A, X, gamma=1.0).astype(np.float32).astype(float) for A in (X, Xv))
    g = play(K, y01, Cv, "pg1", k, xoshiro_draw(seed), 0.5 / res.learning_rate, Kv=Kv,
             yv=yv, n_rounds=T)
    best = np.mean([r.coef for r in res.best], 0)
    return dict(lam_maxdiff=float(np.max(np.abs(g["lam"] - res.diagnostics.lam))),
                labels_equal=bool(np.array_equal(g["yt"] > 0, res.labels == 1)),
                b_diff=abs(g["last"][1] - float(np.ravel(res.b)[0])),
                best_coef_maxdiff=float(np.max(np.abs(g["best"][0] - best))))


def _game(K, y, Cv, ld, seed, L, Kv, yv, Kt, yt, k=None):
    """The game at budget 5 %; its result and the test accuracy of the kept models."""
    gm = play(K, y, Cv, ld, math.ceil(BUDGET * y.size - 1e-9) if k is None else k,
              np.random.default_rng([seed, 7] if k is None else seed).integers, L, Kv=Kv,
              yv=yv)
    return gm, {m: (Kt @ gm[m][0] + gm[m][1] > 0).astype(int) for m in gm["kept"]}


def knob_study(seeds, leaders):
    """C and class_weight on imbalanced Moon (10 % positives), budget 5 %, clean labels."""
    out = []
    for seed in seeds:
        d = load_imbalanced_moons(0.1, random_state=seed)
        X, y, Xv, yv, Xt, yt = d.X_train, d.y_train, d.X_val, d.y_val, d.X_test, d.y_test
        K, Kv, Kt = (rbf_kernel(A, X, gamma=1.0) for A in (X, Xv, Xt))
        for cw in (None, "balanced"):
            w = np.ones(y.size) if cw is None else (y.size / (2 * np.bincount(y)))[y]
            for c in (1.0, 10.0, 100.0):
                svc = SVC(C=c, gamma=1.0, class_weight=cw).fit(X, y)
                rows = {"svc": (np.abs(svc.dual_coef_).max(), svc.predict(Xt))}
                for ld in leaders:
                    r = np.sqrt(w if ld == "pg1w" else np.ones(y.size))  # pgw's metric
                    gm, pred = _game(K, y, c * w, ld, seed, np.linalg.eigvalsh(
                        r[:, None] * K * r)[-1], Kv, yv, Kt, yt, k=round(0.05 * y.size))
                    rows[ld] = (np.abs(gm["best"][0]).max(), pred["best"])
                out += [dict(seed=seed, class_weight=str(cw), C=c, leader=ld,
                             max_alpha=float(amax), acc=float(np.mean(pred == yt)),
                             minority_recall=float(np.mean(pred[yt == 1] == 1)))
                        for ld, (amax, pred) in rows.items()]
    return out


def _data(dataset, seed):
    loader, gamma = (load_moons1000, 1.0) if dataset == "moons1000" else DATASETS[dataset][:2]
    d = loader(random_state=seed)
    # the game codes labels 0 / 1 (digits 1-vs-7 has 1 and 7; attacks keep the given codes)
    d.y_train, yv, yt = (np.searchsorted(np.unique(d.y_train), v) for v in
                         (d.y_train, d.y_val, d.y_test))
    X, Xv, Xt = d.X_train, d.X_val, d.X_test
    g = scale_gamma(X, gamma)
    K, Kv, Kt = (rbf_kernel(A, X, gamma=g) for A in (X, Xv, Xt))
    return d, X, Xv, yv, Xt, yt, g, K, Kv, Kt, np.linalg.eigvalsh(K)[-1]


def c_sweep(dataset, seed, leaders):
    """The game's test accuracy against C, and at the C of the best validation score."""
    d, X, Xv, yv, Xt, yt, g, K, Kv, Kt, L = _data(dataset, seed)
    out = []
    for setting, attack, budget in [SETTINGS[i] for i in (0, 1, 3)]:
        y = poisoned(X, d.y_train, attack, budget, seed, g, C, ATTACK_PARAMS)
        for ld in ["svc"] + leaders:
            rows = {}
            for c in SWEEP_C:
                if ld == "svc":
                    m = SVC(C=c, gamma=g, tol=1e-5).fit(X, y)
                    rows[c] = (balanced(yv, m.predict(Xv)), m.score(Xt, yt))
                else:
                    gm, pred = _game(K, y, np.full(y.size, c), ld, seed, L, Kv, yv, Kt, yt)
                    rows[c] = (gm["val_score"], float(np.mean(pred["best"] == yt)))
            pick = max(SWEEP_C, key=lambda c: (rows[c][0], -abs(math.log(c / C))))
            out.append(dict(dataset=dataset, seed=seed, setting=setting, leader=ld, C_val=pick,
                            acc={str(c): r[1] for c, r in rows.items()}, acc_val=rows[pick][1]))
        print(dataset, seed, setting, {r["leader"]: r["acc"] for r in out[-3:]}, flush=True)
    return out


def robustness(dataset, seed, leaders):
    d, X, Xv, yv, Xt, yt, g, K, Kv, Kt, L = _data(dataset, seed)
    out = []
    for setting, attack, budget in SETTINGS:
        y = poisoned(X, d.y_train, attack, budget, seed, g, C, ATTACK_PARAMS)
        svc = SVC(C=C, gamma=g, tol=1e-5).fit(X, y)
        svc_val = balanced(yv, svc.predict(Xv))
        rec = dict(dataset=dataset, seed=seed, setting=setting, n=int(y.size),
                   svc=float(svc.score(Xt, yt)), leaders={})
        for ld in leaders:
            gm, pred = _game(K, y, np.full(y.size, C), ld, seed, L, Kv, yv, Kt, yt)
            acc, v = {m: float(np.mean(p == yt)) for m, p in pred.items()}, gm["val_score"]
            # the search's rule: the game must beat the plain SVM by one standard error
            won = v > svc_val and v - math.sqrt(v * (1 - v) / yv.size) > svc_val
            rec["leaders"][ld] = dict(
                acc=acc["best"], acc_noval=acc["avg"], acc_sel=acc["best"] if won else rec["svc"],
                max_alpha=float(np.abs(gm["best"][0]).max()), sec_per_round=gm["seconds"]
                / gm["rounds"], steps_per_round=gm["steps"] / gm["rounds"])
        out.append(rec)
        print(dataset, seed, setting, {k: round(v["acc"], 3) for k, v in
                                       rec["leaders"].items()}, flush=True)
    return out


def _m(xs):
    return f"{np.mean(xs):.3f}" if len(xs) else "-"


def _row(*cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def markdown(pl):
    rob, kn, sw = pl["robustness"], pl["knobs"], pl.get("sweep", [])
    ld, cs = list(rob[0]["leaders"]), (1.0, 10.0, 100.0)
    kl = list(dict.fromkeys(r["leader"] for r in kn))
    out = ["# Leader study (issue 19 item 2)", "", f"Machine: {pl['machine']}; load average "
           f"{pl['load']} at the start, shared with other jobs (timings: ratios in one run).",
           "", f"pg1 against `_core.floral_fit` (Moon n = 300, 200 rounds, randomised attacker,"
           f" same draws): {pl['parity']}", "", "## Knobs: imbalanced Moon (10 % positives, "
           f"n = 500), budget 5 %, best 5 on validation, {len({r['seed'] for r in kn})} seeds",
           "", _row("leader", "max abs(alpha), C = 1 / 10 / 100", "test acc, C = 1 / 10 / 100",
                    "minority recall None -> balanced, C = 1", "same, C = 10"), _row(*["---"] * 5)]
    for x in kl:
        def g(key, c, cw="None", x=x):
            return _m([r[key] for r in kn if (r["leader"], r["C"], r["class_weight"])
                       == (x, c, cw)])
        out.append(_row(x, " / ".join(g("max_alpha", c) for c in cs),
                        " / ".join(g("acc", c) for c in cs),
                        *(f"{g('minority_recall', c)} -> {g('minority_recall', c, 'balanced')}"
                          for c in cs[:2])))
    for key, title in (("acc", "the game at 5 %, best 5 rounds on validation"),
                       ("acc_sel", "SVC or the game, chosen on validation (1-SE rule)"),
                       ("acc_noval", "the game at 5 %, no validation set (tail average)")):
        out += ["", f"## Test accuracy: {title}", "", _row("data", "setting", "seeds", "SVC", *ld),
                _row(*["---"] * (4 + len(ld)))]
        groups = [(f"{d} (n={n})", st, [r for r in rob if (r["dataset"], r["setting"]) == (d, st)])
                  for d, n in dict((r["dataset"], r["n"]) for r in rob).items()
                  for st, *_ in SETTINGS]
        groups += [("**mean**", st, [r for r in rob if st in ("all", r["setting"])])
                   for st in [s_[0] for s_ in SETTINGS] + ["all"]]
        out += [_row(name, st, len(rs), _m([r["svc"] for r in rs]),
                     *(_m([r["leaders"][x][key] for r in rs]) for x in ld))
                for name, st, rs in groups if rs]
    out += ["", "## Cost and reach (the game at 5 %, all runs)", "",
            _row("leader", "steps per round", "time per round / pg1 (median)",
                 "max abs(alpha), C = 10"), _row(*["---"] * 4)]
    out += [_row(x, _m([r["leaders"][x]["steps_per_round"] for r in rob]), "%.1f" % np.median(
        [r["leaders"][x]["sec_per_round"] / r["leaders"]["pg1"]["sec_per_round"] for r in rob]),
        _m([r["leaders"][x]["max_alpha"] for r in rob])) for x in ld]
    out += ["", f"## C under attack ({len({r['seed'] for r in sw})} seeds): test accuracy at "
            "each C, and at the C with the best validation score", "",
            _row("data", "setting", "leader", *(f"C = {c:g}" for c in SWEEP_C), "C on val"),
            _row(*["---"] * (4 + len(SWEEP_C)))]
    keys = list(dict.fromkeys((r["dataset"], r["setting"], r["leader"]) for r in sw))
    keys += [("**mean**", st, x) for st, x in dict.fromkeys((r["setting"], r["leader"])
                                                            for r in sw)]
    for d, st, x in keys:
        rs = [r for r in sw if (r["setting"], r["leader"]) == (st, x) and d in ("**mean**",
                                                                              r["dataset"])]
        out.append(_row(d, st, x, *(_m([r["acc"][str(c)] for r in rs]) for c in SWEEP_C),
                        _m([r["acc_val"] for r in rs])))
    return "\n".join(out) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--datasets", nargs="+", default=DATA)
    p.add_argument("--resume", action="store_true", help="continue the JSON of --out")
    p.add_argument("--sweep", action="store_true", help="only the C sweep (pg1, exact)")
    p.add_argument("--add-knobs", nargs="+", default=[], help="knob study of these leaders, "
                   "added to the JSON of --out")
    p.add_argument("--from-json", action="store_true", help="only rewrite the markdown")
    p.add_argument("--out", default=os.path.join(HERE, "results", "leader.json"))
    a = p.parse_args(argv)
    c_json = a.out.replace(".json", "_c.json")
    if a.from_json:
        with open(a.out) as fh, open(a.out.replace(".json", ".md"), "w") as md:
            pl = json.load(fh)
            if os.path.exists(c_json):
                with open(c_json) as fc:
                    pl["sweep"] = json.load(fc)["sweep"]
            return md.write(markdown(pl))
    payload = dict(machine=machine_line(machine_info()), load=load_average(),
                   parity=parity_check())
    print("parity", payload["parity"], flush=True)
    if a.resume or a.add_knobs:  # keep the knobs and the (data set, seed) pairs of a run
        with open(a.out) as fh:
            payload = json.load(fh)
        if a.add_knobs:
            payload["knobs"] += knob_study(range(2), a.add_knobs)
            a.datasets = []  # only the knobs: write them below
    elif not a.sweep:
        payload.update(knobs=knob_study(range(2), list(LEADERS)), robustness=[])
    a.datasets = a.datasets or [None]
    done = {(r["dataset"], r["seed"]) for r in payload.get("robustness", [])}
    for seed in range(a.seeds):  # seed-major: a cut-short run still covers every set
        for ds in a.datasets:
            if a.sweep:
                payload["sweep"] = payload.get("sweep", []) + c_sweep(ds, seed, ["pg1", "exact"])
            elif ds is not None and (ds, seed) not in done:
                payload["robustness"] += robustness(ds, seed, list(LEADERS)[:5])
            with open(a.out + ".tmp", "w") as fh:
                json.dump(payload, fh, indent=1)
            os.replace(a.out + ".tmp", c_json if a.sweep else a.out)


if __name__ == "__main__":
    main()
