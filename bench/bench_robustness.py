"""FloralSVC's returned model against tuned and filtering baselines, over 10 seeds.

Two studies: robustness on five data sets against SVC, tuned SVC, LN-SVM, tuned LN-SVM and
cleanlab; the validation-set size (Moon). Protocol and results: bench/README.md,
"Robustness of FloralSVC's returned model". Needs ``pip install ".[bench]"`` (cleanlab).

Writes bench/results/robustness.{json,md}.
"""
import math
import sys
import time
import warnings
from collections import Counter

import numpy as np
from joblib import Parallel, delayed
from sklearn.datasets import load_digits, load_wine
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

import _common as common
from _common import ATTACK_PARAMS, pivot, pm, poisoned_settings, scale_gamma, select, table, tune
from floral import FloralSVC
from floral.datasets import load_breast_cancer, load_digits_1v7, load_moons
from floral.datasets._splits import _counts, _split_scale
from floral.defenses import LNSVC
from floral.exceptions import IneffectiveParameterWarning
from floral.experiments import poison_labels

C = 10.0


def _sklearn_task(load, labels, name, source):
    """A loader of one of scikit-learn's bundled sets with the labels ``labels(target)``,
    split 50 / 20 / 30 (train / val / test) and standardised as floral's loaders are."""

    def loader(random_state=0):
        d = load()
        y = labels(d.target).astype(np.int64)
        return _split_scale(d.data, y, *_counts(y.size, 0.3, 0.2), random_state=random_state,
                            name=name, source=source)

    return loader


# dataset -> (loader, gamma, display name): the paper's Moon width, SVC's "scale" elsewhere
DATASETS = {
    "moons": (load_moons, 1.0, "Moon"),
    "digits_1v7": (load_digits_1v7, "scale", "digits 1-vs-7"),
    "breast_cancer": (load_breast_cancer, "scale", "breast cancer"),
    # all 1,797 of scikit-learn's 8x8 digits, odd against even
    "digits_parity": (_sklearn_task(load_digits, lambda t: t % 2, "digits_parity",
                                    "sklearn digits, odd vs even"), "scale",
                      "digits odd vs even"),
    # wine (178 samples, 13 features), cultivar 1 against the other two
    "wine_1vr": (_sklearn_task(load_wine, lambda t: t == 1, "wine_1vr",
                               "sklearn wine, class 1 vs rest"), "scale", "wine 1 vs rest"),
}
# (name, attack, budget); "random" is floral.attacks' random flips
SETTINGS = [("clean", None, 0.0), ("alfa-tilt 5%", "alfa_tilt", 0.05),
            ("alfa-tilt 10%", "alfa_tilt", 0.10), ("alfa-tilt 25%", "alfa_tilt", 0.25),
            ("top-k SV 25%", "topk_sv", 0.25), ("random 25%", "random", 0.25)]
C_GRID = (0.1, 1.0, 10.0, 100.0)
GAMMA_FACTORS = (0.1, 0.3, 1.0, 3.0, 10.0)
MU_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45)
METHODS = [
    ("svc", "SVC"),
    ("svc_tuned", "SVC, C and gamma tuned on val"),
    ("ln_svm", "LN-SVM (mu 0.25)"),
    ("ln_svm_tuned", "LN-SVM, mu tuned on val"),
    ("cleanlab", "cleanlab filter + SVC"),
    ("floral_val", "**FloralSVC() default, X_val (game chosen on val)**"),
    ("floral_val_c10", "FloralSVC(C=10), X_val (game chosen on val)"),
    ("floral_fixed", "FloralSVC budget 5%, dataset gamma, X_val (best 5)"),
    ("floral_noval", "**FloralSVC(C=10, dataset gamma), no X_val (average)**"),
    ("floral_last", "FloralSVC selection=\"last\""),
    ("floral_best1", "FloralSVC best_round() (n_best 1)"),
]
VAL_SIZES = (25, 50, 100, 250, 500)
VAL_FLIP = 0.10
VAL_SETTINGS = [("clean", None, 0.0), ("alfa-tilt 25%", "alfa_tilt", 0.25)]


# --- the peers that select on validation ----------------------------------------------

def tuned_svc(X, y, X_val, y_val, gamma):
    """SVC with C and gamma chosen on the validation split (ties: nearest the defaults)."""
    grid = [dict(C=c, gamma_factor=f) for c in C_GRID for f in GAMMA_FACTORS]
    return tune(lambda p: SVC(C=p["C"], gamma=p["gamma_factor"] * gamma).fit(X, y), grid,
                X_val, y_val, lambda p: abs(math.log10(p["C"] / C))
                + abs(math.log10(p["gamma_factor"])))


def tuned_lnsvc(X, y, X_val, y_val, gamma):
    model, mu = tune(lambda mu: LNSVC(C=C, gamma=gamma, mu=mu).fit(X, y), MU_GRID, X_val,
                     y_val, lambda mu: abs(mu - 0.25))
    return model, dict(mu=mu)


def cleanlab_svc(X, y, gamma, seed):
    issues = common.cleanlab_issues(*common.cleanlab_proba(X, y, C, gamma, seed))
    return SVC(C=C, gamma=gamma).fit(X[~issues], y[~issues]), issues


# --- study 1: robustness ---------------------------------------------------------------

def run_robustness(dataset, seed):
    loader, gamma, _ = DATASETS[dataset]
    out = []
    for setting, d, g, y in poisoned_settings(loader, gamma, seed, SETTINGS, C, ATTACK_PARAMS):
        X, Xv, yv, Xt, yt = d.X_train, d.X_val, d.y_val, d.X_test, d.y_test
        flipped = y != d.y_train
        acc, extra = {}, {}
        acc["svc"] = SVC(C=C, gamma=g).fit(X, y).score(Xt, yt)
        model, extra["svc_tuned"] = tuned_svc(X, y, Xv, yv, g)
        acc["svc_tuned"] = model.score(Xt, yt)
        acc["ln_svm"] = LNSVC(C=C, gamma=g).fit(X, y).score(Xt, yt)
        model, extra["ln_svm_tuned"] = tuned_lnsvc(X, y, Xv, yv, g)
        acc["ln_svm_tuned"] = model.score(Xt, yt)
        model, issues = cleanlab_svc(X, y, g, seed)
        acc["cleanlab"] = model.score(Xt, yt)
        extra["cleanlab"] = dict(removed=int(issues.sum()),
                                 removed_flipped=int((issues & flipped).sum()))
        with warnings.catch_warnings():
            # C = 10 rarely binds inside the game; the bench reports accuracies only
            warnings.simplefilter("ignore", IneffectiveParameterWarning)
            # FloralSVC() as a user gets it (C = 1), and with the C every other row uses:
            # C acts only in the search's plain-SVM candidates, and the tuned SVC tunes it
            for method, kw in (("floral_val", {}), ("floral_val_c10", dict(C=C))):
                auto = FloralSVC(n_jobs=1, random_state=seed, **kw).fit(X, y, X_val=Xv,
                                                                         y_val=yv)
                acc[method] = auto.score(Xt, yt)
                extra[method] = dict(flip_budget=float(auto.flip_budget_),
                                     gamma_factor=float(auto.gamma_) / scale_gamma(X),
                                     seconds=float(auto.search_results_["fit_time"].sum()))
            fl = FloralSVC(C=C, gamma=g, flip_budget=0.05, n_jobs=1, random_state=seed).fit(
                X, y, X_val=Xv, y_val=yv)
            acc["floral_fixed"] = fl.score(Xt, yt)
            acc["floral_best1"] = fl.best_round().score(Xt, yt)
            extra["floral_fixed"] = dict(kept_rounds=fl.kept_rounds_.tolist(),
                                         learning_rate=fl.learning_rate_)
            # the game does not depend on selection: the same seed plays the same rounds,
            # so the last round of the fixed fit is the selection="last" model
            acc["floral_last"] = fl.last_round().score(Xt, yt)
            acc["floral_noval"] = FloralSVC(C=C, gamma=g, n_jobs=1, random_state=seed).fit(
                X, y).score(Xt, yt)
        for method, value in acc.items():
            out.append(dict(study="robustness", dataset=dataset, seed=seed, setting=setting,
                            method=method, accuracy=float(value),
                            n_flipped=int(flipped.sum()), n_val=int(yv.size),
                            **({"detail": extra[method]} if method in extra else {})))
    return out


# --- study 2: validation-set size ------------------------------------------------------

def run_val_size(seed):
    out = []
    for setting, d, g, y in poisoned_settings(load_moons, DATASETS["moons"][1], seed,
                                              VAL_SETTINGS, C, ATTACK_PARAMS):
        X, Xt, yt = d.X_train, d.X_test, d.y_test
        svc = SVC(C=C, gamma=g).fit(X, y).score(Xt, yt)
        for m in VAL_SIZES:
            if m < d.y_val.size:
                idx, _ = train_test_split(np.arange(d.y_val.size), train_size=m,
                                          stratify=d.y_val, random_state=seed)
            else:
                idx = np.arange(d.y_val.size)
            Xv = d.X_val[idx]
            for val_labels in ("clean", "10% flipped"):
                yv = d.y_val[idx]
                if val_labels != "clean":
                    yv = poison_labels(Xv, yv, "random", VAL_FLIP, random_state=seed)
                tuned, params = tuned_svc(X, y, Xv, yv, g)
                fl = FloralSVC(C=C, gamma=g, flip_budget=0.05, selection="best", n_jobs=1,
                               random_state=seed)
                fl.fit(X, y, X_val=Xv, y_val=yv)
                base = dict(study="val_size", dataset="moons", seed=seed, setting=setting,
                            n_val=m, val_labels=val_labels,
                            n_val_flipped=int((yv != d.y_val[idx]).sum()))
                for method, acc, extra in (
                        ("svc", svc, {}), ("svc_tuned", tuned.score(Xt, yt), dict(detail=params)),
                        ("floral_val", fl.score(Xt, yt), {}),
                        ("floral_best1", fl.best_round().score(Xt, yt), {})):
                    out.append(dict(base, method=method, accuracy=float(acc), **extra))
    return out


# --- the markdown ----------------------------------------------------------------------

def _accs(records, **match):
    return [r["accuracy"] for r in select(records, **match)]


def _top(keys, fmt="{}"):
    """The three most frequent of ``keys`` with their counts."""
    return ", ".join(f"{fmt.format(k)} ({v})" for k, v in Counter(keys).most_common(3))


def robustness_tables(records):
    lines = []
    for dataset in DATASETS:
        recs = select(records, study="robustness", dataset=dataset)
        if recs:
            lines += [f"**{DATASETS[dataset][2]}** ({len({r['seed'] for r in recs})} seeds, "
                      f"{recs[0]['n_val']} validation points)", "",
                      *pivot(recs, [([name], dict(method=m)) for m, name in METHODS],
                             [(s, dict(setting=s)) for s, _, _ in SETTINGS],
                             lambda rs: pm(_accs(rs)), ["method"]),
                      ""]
    return lines


def _diff(records, dataset, setting, a, b):
    """Mean over seeds of method a minus method b, in points (None if either is missing)."""
    x, y = ({r["seed"]: r["accuracy"] for r in select(records, dataset=dataset,
                                                        setting=setting, method=m)}
            for m in (a, b))
    common = sorted(set(x) & set(y))
    return 100 * float(np.mean([x[s] - y[s] for s in common])) if common else None


def summary_tables(records):
    """Per method and setting, the mean over data sets of the per-data-set means; then
    the default FloralSVC with X_val minus the tuned SVC in every cell (points)."""
    rob = select(records, study="robustness")
    datasets = [d for d in DATASETS if select(rob, dataset=d)]
    if not datasets:
        return []
    rows = []
    for method, name in METHODS:
        cells = []
        for setting, _, _ in SETTINGS:
            means = [np.mean(_accs(rob, dataset=d, setting=setting, method=method))
                     for d in datasets if _accs(rob, dataset=d, setting=setting, method=method)]
            cells.append(float(np.mean(means)) if len(means) == len(datasets) else None)
        known = [c for c in cells if c is not None]
        rows.append([name, *("—" if c is None else f"{c:.3f}" for c in cells),
                     f"{np.mean(known):.3f}" if known else "—"])
    lines = [f"**Summary: mean over the {len(datasets)} data sets** "
             f"({len({r['seed'] for r in rob})} seeds each)", ""]
    lines += table(["method", *(s[0] for s in SETTINGS), "mean"], rows)
    lines += ["", "**Default FloralSVC with X_val minus the tuned SVC** (points; mean over "
              "seeds; both chose on the same trusted split)", ""]
    diffs = [[DATASETS[d][2], *(("—" if v is None else f"{v:+.1f}") for v in
                                 (_diff(rob, d, s[0], "floral_val", "svc_tuned")
                                  for s in SETTINGS))] for d in datasets]
    lines += table(["data set", *(s[0] for s in SETTINGS)], diffs) + [""]
    # records of runs before the default chose its flip budget have none to count
    picks = Counter((r["setting"], r["detail"]["flip_budget"])
                    for r in select(rob, method="floral_val")
                    if "flip_budget" in r.get("detail", {}))
    parts = []
    for setting, _, _ in SETTINGS:
        ks = sorted((b, c) for (s, b), c in picks.items() if s == setting)
        if ks:
            parts.append(f"{setting}: " + ", ".join(f"{b:g} ({c})" for b, c in ks))
    if parts:
        lines += ["Flip budget the default FloralSVC chose (count of data set x seed): "
                  + "; ".join(parts) + ".", ""]
    return lines


def cleanlab_line(records):
    parts = []
    for dataset in DATASETS:
        for setting in ("clean", "alfa-tilt 25%", "random 25%"):
            recs = select(records, study="robustness", dataset=dataset, setting=setting,
                          method="cleanlab")
            if recs:
                removed, hit, flipped = (
                    np.mean([f(r) for r in recs]) for f in (
                        lambda r: r["detail"]["removed"],
                        lambda r: r["detail"]["removed_flipped"], lambda r: r["n_flipped"]))
                parts.append(f"{DATASETS[dataset][2]} {setting}: removes {removed:.0f}, of "
                             f"which {hit:.0f} flipped (of {flipped:.0f})")
    return "; ".join(parts)


def tuned_line(records):
    out = []
    for dataset in DATASETS:
        for setting in ("clean", "alfa-tilt 25%"):
            match = dict(study="robustness", dataset=dataset, setting=setting)
            recs = select(records, method="svc_tuned", **match)
            if not recs:
                continue
            picks = _top(f"C {r['detail']['C']:g}, gamma x{r['detail']['gamma_factor']:g}"
                         for r in recs)
            mus = _top((r["detail"]["mu"] for r in select(records, method="ln_svm_tuned",
                                                           **match)), "{:g}")
            out.append(f"{DATASETS[dataset][2]} {setting}: {picks}; mu {mus}")
    return out


def val_size_table(records):
    recs = select(records, study="val_size")
    if not recs:
        return []
    # SVC ignores the validation set: one number per setting, the same for every size
    svc = "; ".join(f"{s} " + pm(_accs(recs, setting=s, method="svc", n_val=VAL_SIZES[0],
                                       val_labels="clean")) for s, _, _ in VAL_SETTINGS)
    cols = [(f"{s}: {name}", dict(setting=s, method=method)) for s, _, _ in VAL_SETTINGS
            for method, name in (("svc_tuned", "SVC tuned"), ("floral_val", "FloralSVC best 5"),
                                 ("floral_best1", "best_round()"))]
    rows = [([str(m), labels], dict(n_val=m, val_labels=labels))
            for m in VAL_SIZES for labels in ("clean", "10% flipped")]
    return [f"Moon, {len({r['seed'] for r in recs})} seeds. SVC (no validation set): {svc}.",
            "", *pivot(recs, rows, cols, lambda rs: pm(_accs(rs)),
                       ["validation points", "val labels"], "ll" + "r" * len(cols))]


def markdown(payload):
    records, meta = payload["records"], payload["meta"]
    grids = [", ".join(f"{v:g}" for v in g) for g in (C_GRID, GAMMA_FACTORS, MU_GRID)]
    lines = [
        "# Robustness of FloralSVC's returned model", "",
        f"Command: `{meta['command']}` ({meta['seconds']:.0f} s with {meta['n_jobs']} "
        "worker processes)", "",
        f"Machine: {meta['machine']}.", "",
        "## Robustness against the baselines", "",
        "Test accuracy, mean ± sample std over seeds; protocol: bench/README.md, "
        "\"Robustness of FloralSVC's returned model\" (C grid {%s}, gamma factors {%s}, mu "
        "grid {%s})." % tuple(grids), "",
    ]
    lines += robustness_tables(records)
    cl = cleanlab_line(records)
    if cl:
        lines += [f"cleanlab's filter, mean over seeds: {cl}.", ""]
    lines += summary_tables(records)
    tl = tuned_line(records)
    if tl:
        lines += ["Most frequent picks of the tuned baselines (count of seeds): "
                  + "; ".join(tl) + ".", ""]
    study2 = val_size_table(records)  # empty with --no-val-size
    if study2:
        lines += ["## Validation-set size and poisoned validation labels", "",
                  "FloralSVC(selection=\"best\", n_best=5) and its `best_round()`, and the "
                  "tuned SVC, each given the same stratified subsample of Moon's validation "
                  "split (clean, or with 10% of its labels flipped at random: 3 / 5 / 10 / 25 "
                  "/ 50 labels); test accuracy, mean ± sample std.", "", *study2]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = common.parser(__doc__, "", "one seed, wine only, no validation-size study",
                       markdown)
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    ap.add_argument("--no-val-size", action="store_true", help="skip study 2")
    ap.add_argument("--n-jobs", type=int, default=2, help="worker processes (default 2)")
    args = common.parse(ap, argv, "robustness", seeds=1, datasets=["wine_1vr"],
                        no_val_size=True)
    info = common.machine_info()
    host = common.host_line(info)  # the load average before the run
    tasks = [delayed(run_robustness)(ds, s) for ds in args.datasets for s in range(args.seeds)]
    if not args.no_val_size:
        tasks += [delayed(run_val_size)(s) for s in range(args.seeds)]
    start = time.perf_counter()
    chunks = Parallel(n_jobs=args.n_jobs, verbose=5)(tasks)
    seconds = time.perf_counter() - start
    records = [r for chunk in chunks for r in chunk]
    meta = dict(command=common.command(argv), seconds=seconds, n_jobs=args.n_jobs,
                machine=host, machine_info=info,
                load_average_end=common.load_average(), C=C,
                gammas={k: v[1] for k, v in DATASETS.items()},
                settings=SETTINGS, attack_params=ATTACK_PARAMS, c_grid=C_GRID,
                gamma_factors=GAMMA_FACTORS, mu_grid=MU_GRID, val_sizes=VAL_SIZES,
                val_flip=VAL_FLIP)
    common.results(args.stem, markdown, {"meta": meta, "records": records}, one_per_line="records")


if __name__ == "__main__":
    sys.exit(main())
