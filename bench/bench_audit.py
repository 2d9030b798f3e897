"""Which labels were flipped: floral's label audit against cleanlab and the defenses' filters.

Each detector's scores (AUROC) and flags (precision, recall, fraction flagged on clean
labels) against the known flipped indices. Data, settings and detectors: bench/README.md,
"Label audit". Needs ``pip install ".[bench]"`` (cleanlab).

Writes bench/results/audit.{json,md}.
"""
import time
import warnings
from functools import partial

import numpy as np
from sklearn import datasets as skdatasets
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils import Bunch

import _common as common
from _common import ATTACK_PARAMS, pivot, pm, poisoned_settings, select, table
from floral import FloralSVC
from floral.audit import NOVAL_BUDGET, find_flipped_labels
from floral.datasets import load_breast_cancer, load_digits_1v7, load_moons
from floral.defenses import curie_filter, klid_weights, sanitize_labels

C = 10.0


def _bundled_pair(load, a, b, name):
    """Two classes of a scikit-learn bundled set, split 50 / 20 / 30 (train / val / test)
    stratified and standardised on the training split, as floral's loaders do."""

    def loader(random_state=0):
        bunch = load()
        keep = np.isin(bunch.target, (a, b))
        X, y = bunch.data[keep], bunch.target[keep].astype(np.int64)
        n_test, n_val = round(0.3 * y.size), round(0.2 * y.size)
        X_rest, _, y_rest, _ = train_test_split(X, y, test_size=n_test, stratify=y,
                                                random_state=random_state)
        X_tr, X_val, y_tr, y_val = train_test_split(X_rest, y_rest, test_size=n_val,
                                                    stratify=y_rest,
                                                    random_state=random_state)
        scaler = StandardScaler().fit(X_tr)
        return Bunch(X_train=scaler.transform(X_tr), y_train=y_tr,
                     X_val=scaler.transform(X_val), y_val=y_val, name=name)

    return loader


# name -> (loader, gamma, display name)
DATASETS = {
    "moons": (load_moons, 1.0, "Moon"),
    "digits_1v7": (load_digits_1v7, "scale", "digits 1-vs-7"),
    "breast_cancer": (load_breast_cancer, "scale", "breast cancer"),
    "wine_0v1": (_bundled_pair(skdatasets.load_wine, 0, 1, "wine_0v1"), "scale",
                 "wine 0-vs-1"),
    "iris_1v2": (_bundled_pair(skdatasets.load_iris, 1, 2, "iris_1v2"), "scale",
                 "iris versicolor-vs-virginica"),
}
SETTINGS = [("clean", None, 0.0),
            ("alfa-tilt 10%", "alfa_tilt", 0.10), ("alfa-tilt 25%", "alfa_tilt", 0.25),
            ("top-k SV 10%", "topk_sv", 0.10), ("top-k SV 25%", "topk_sv", 0.25),
            ("random 10%", "random", 0.10), ("random 25%", "random", 0.25)]


# --- detectors: each returns (scores, flags) -------------------------------------------

def det_audit(X, y, Xv, yv, gamma, seed, use_val):
    # the audit's own default model plays NOVAL_BUDGET without a validation set
    est = FloralSVC(C=C, gamma=gamma, n_jobs=1,
                    flip_budget="auto" if use_val else NOVAL_BUDGET)
    kw = dict(X_val=Xv, y_val=yv) if use_val else {}
    audit = find_flipped_labels(X, y, estimator=est, random_state=seed, **kw)
    return np.asarray(audit.scores), audit.mask


def det_svc(X, y, Xv, yv, gamma, seed):
    audit = find_flipped_labels(X, y, estimator=SVC(C=C, gamma=gamma))
    return np.asarray(audit.scores), audit.mask


def det_cleanlab(X, y, Xv, yv, gamma, seed):
    from cleanlab.rank import get_label_quality_scores

    y_enc, proba = common.cleanlab_proba(X, y, C, gamma, seed)
    return 1.0 - get_label_quality_scores(y_enc, proba), common.cleanlab_issues(y_enc, proba)


def det_sanitize(X, y, Xv, yv, gamma, seed, k=20):
    flags = sanitize_labels(X, y, k=k) != y
    nbr = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(return_distance=False)
    return np.mean(y[nbr] != y[:, None], axis=1), flags


def det_klid(X, y, Xv, yv, gamma, seed):
    w = klid_weights(X, y, gamma=gamma)
    # the curve's midpoint, (1 + min_weight) / 2, sits at ratio = weight_center = 1
    return 1.0 - w, w < (1.0 + 0.1) / 2


def det_curie(X, y, Xv, yv, gamma, seed):
    keep, z = curie_filter(X, y, return_scores=True)
    return np.where(np.isnan(z), -np.inf, z), ~keep


# name -> (display name, detector)
DETECTORS = {"audit_val": ("**floral audit, X_val**", partial(det_audit, use_val=True)),
             "audit_noval": ("floral audit, no X_val", partial(det_audit, use_val=False)),
             "svc": ("SVC margin (same rule)", det_svc), "cleanlab": ("cleanlab", det_cleanlab),
             "sanitize": ("label sanitization", det_sanitize), "klid": ("K-LID", det_klid),
             "curie": ("Curie", det_curie)}


def metrics(scores, flags, flipped):
    n_flag = int(flags.sum())
    hit = int((flags & flipped).sum())
    out = dict(flag_rate=n_flag / flipped.size, n_flagged=n_flag, n_true_flagged=hit)
    if flipped.any():
        # Curie's unscored points (-inf) rank below every scored one
        ok = np.isfinite(scores)
        low = scores[ok].min() - 1.0 if ok.any() else 0.0
        out["auroc"] = float(roc_auc_score(flipped, np.where(ok, scores, low)))
        out["recall"] = hit / int(flipped.sum())
        out["precision"] = hit / n_flag if n_flag else float("nan")
    return out


def run_cell(dataset, seed):
    loader, gamma, _ = DATASETS[dataset]
    records = []
    for setting, d, g, y in poisoned_settings(loader, gamma, seed, SETTINGS, C, ATTACK_PARAMS):
        X, Xv, yv = d.X_train, d.X_val, d.y_val
        flipped = y != d.y_train
        for name, (_, detect) in DETECTORS.items():
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores, flags = detect(X, y, Xv, yv, g, seed)
            records.append(dict(dataset=dataset, seed=seed, setting=setting, detector=name,
                                n=int(y.size), n_flipped=int(flipped.sum()),
                                seconds=time.perf_counter() - start,
                                **metrics(np.asarray(scores, float), np.asarray(flags, bool),
                                          flipped)))
    return records


# --- tables -------------------------------------------------------------------------------

def _values(records, key):
    vals = [r[key] for r in records if key in r]
    return [v for v in vals if v == v]  # precision is NaN when nothing was flagged


def _mean(records, key):
    vals = _values(records, key)
    return float(np.mean(vals)) if vals else float("nan")


def _per_detector(records, rows, cell, corner):
    """A table: one column per detector, ``cell`` of the records of each row and detector."""
    cols = [(lbl, dict(detector=d)) for d, (lbl, _) in DETECTORS.items()]
    return pivot(records, rows, cols, cell, corner, "l" * (len(corner) + len(DETECTORS)))


def _per_setting(records, cell):
    """One row per data set and attacked setting."""
    return _per_detector(records, [([disp, setting], dict(dataset=ds, setting=setting))
                                   for ds, (_, _, disp) in DATASETS.items()
                                   for setting, attack, _ in SETTINGS if attack is not None],
                         cell, ["data", "setting"])


def _pr(records):
    p, r = (_mean(records, key) for key in ("precision", "recall"))
    return ("–" if p != p else f"{p:.2f}") + f" / {r:.2f}"


def clean_table(records):
    n = {ds: _mean(select(records, dataset=ds, setting="clean", detector="audit_val"), "n")
         for ds in DATASETS}
    return _per_detector(records, [([disp, f"{n[ds]:.0f}"], dict(dataset=ds, setting="clean"))
                                   for ds, (_, _, disp) in DATASETS.items()],
                         lambda rs: f"{100 * _mean(rs, 'flag_rate'):.1f}%", ["data", "n train"])


def markdown(payload):
    records = payload["records"]
    times = [[lbl, f"{np.mean(v):.3f}", f"{np.max(v):.3f}"] for d, (lbl, _) in DETECTORS.items()
             for v in [_values(select(records, detector=d), "seconds")]]
    return common.doc(
        "# Label audit: which labels were flipped",
        f"Generated by `{payload['command']}` ({payload['elapsed_s'] / 60:.1f} min, one "
        f"process, {payload['seeds']} seeds). {payload['host']}. The machine was shared with "
        "other jobs, so times are indicative only.",
        "C = 10; gamma 1 on Moon, \"scale\" on the training split elsewhere; the "
        "detectors are defined in bench/README.md, \"Label audit\". Mean ± sample std over "
        "seeds.",
        "## AUROC of the scores against the flipped labels",
        _per_setting(records, lambda rs: pm(_values(rs, "auroc"), "–")),
        "## Precision / recall of each detector's own flags (means over seeds)",
        "Precision is averaged over the seeds where the detector flagged anything.",
        _per_setting(records, _pr),
        "## Clean labels: fraction flagged (every flag is a false alarm)", clean_table(records),
        "## Run time", table(["detector", "mean seconds per call", "max"], times, "lll"))


def main(argv=None):
    ap = common.parser(__doc__, "", "one seed, iris only", markdown)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    args = common.parse(ap, argv, "audit", seeds=1, datasets=["iris_1v2"])
    info = common.machine_info()
    host = common.host_line(info)
    start = time.perf_counter()
    records = []
    for seed in range(args.seeds):
        for ds in args.datasets:
            records += run_cell(ds, seed)
            print(f"seed {seed} {ds}: {time.perf_counter() - start:.0f} s", flush=True)
    common.results(args.stem, markdown, dict(
        command=common.command(argv), seeds=args.seeds, host=host, machine_info=info,
        load_average_end=common.load_average(), C=C, elapsed_s=time.perf_counter() - start,
        records=records))


if __name__ == "__main__":
    main()
