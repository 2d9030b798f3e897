"""Class weights in the game: minority recall with class_weight=None and "balanced", for
SVC and FloralSVC, on two imbalanced sets.

A before/after study of one change, the leader's step preconditioned by the boxes (chosen in
leader.py's sweep as ``pg1w``).

FloralSVC plays its game (flip_budget 0.05; the tail average is returned) on clean labels
and on training labels poisoned by random flips and by alfa-tilt, 10% each (the minority
class is what an attacker flips most cheaply, so this is where weights must still act).
Rows: SVC, FloralSVC (the leader preconditioned by d_i = C_i / mean(C)) and FloralSVC with
the unpreconditioned leader (the step before that change, obtained by making
``_selection.point_scale`` return None), on the same data and seeds. Under
class_weight=None every box is equal, so the two FloralSVC rows are the same game; the
script checks that their models are equal bit for bit.

Data: imbalanced Moon (``load_imbalanced_moons(0.1)``: 500 training points, 50 positive;
gamma 1) and "imbalanced blobs" (``make_classification``: 10 features, 5 informative,
10 % positives, class_sep 0.8; 600 training / 900 test points, standardised on the
training points; gamma "scale"). C = 1. Results: bench/README.md, "Class weights in the game".

Usage: nice -n 10 python bench/sweeps/class_weight.py [--seeds 3] [--quick] [--from-json]
Writes bench/sweeps/results/class_weight.{json,md}.
"""
import os
import sys
import time
import warnings
from unittest import mock

import numpy as np
from sklearn.datasets import make_classification
from sklearn.metrics import balanced_accuracy_score
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _common as common  # noqa: E402
from _common import pm, select  # noqa: E402
from floral import FloralSVC, _selection  # noqa: E402
from floral.datasets import load_imbalanced_moons  # noqa: E402

MODELS = ["SVC", "FloralSVC", "FloralSVC, unpreconditioned"]
DATA = ("imbalanced moons", "imbalanced blobs")
# (labels, attack, budget) through the runner's poisoning path, with C = 1 and the data's gamma
LABELS = [("clean", None, 0.0), ("random 10%", "random", 0.10),
          ("alfa-tilt 10%", "alfa_tilt", 0.10)]


def load(name, seed):
    if name == "imbalanced moons":
        d = load_imbalanced_moons(0.1, random_state=seed)
        return d.X_train, d.y_train, d.X_test, d.y_test, 1.0
    # make_classification with 10 % positives and overlapping classes
    X, y = make_classification(n_samples=1500, n_features=10, n_informative=5,
                               weights=[0.9], class_sep=0.8, flip_y=0.0, random_state=seed)
    X = StandardScaler().fit(X[:600]).transform(X)
    return X[:600], y[:600], X[600:], y[600:], "scale"


def fit(model, cw, X, y, gamma, seed, n_rounds):
    if model == "SVC":
        return SVC(C=1.0, gamma=gamma, class_weight=cw).fit(X, y)
    clf = FloralSVC(C=1.0, gamma=gamma, flip_budget=0.05, n_rounds=n_rounds,
                    class_weight=cw, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # IneffectiveParameterWarning for the old leader
        if model == "FloralSVC":
            return clf.fit(X, y)
        with mock.patch.object(_selection, "point_scale", lambda C_vec: None):
            return clf.fit(X, y)


def run(seeds, n_rounds):
    rows, bitwise = [], []
    for name in DATA:
        for seed, (labels, attack, budget) in ((s, lab) for s in seeds for lab in LABELS):
            X, y, Xt, yt, gamma = load(name, seed)
            y = common.poisoned(X, y, attack, budget, seed, common.scale_gamma(X, gamma), C=1.0)
            fitted = {}
            for cw in (None, "balanced"):
                for model in MODELS:
                    t0 = time.perf_counter()
                    m = fitted[model, cw] = fit(model, cw, X, y, gamma, seed, n_rounds)
                    pred = m.predict(Xt)
                    rows.append(dict(data=name, seed=seed, labels=labels, model=model,
                                     class_weight=str(cw),
                                     minority_recall=float(np.mean(pred[yt == 1] == 1)),
                                     balanced_accuracy=float(balanced_accuracy_score(yt, pred)),
                                     accuracy=float(np.mean(pred == yt)),
                                     positives=int(np.sum(y == 1)), n=int(y.size),
                                     seconds=time.perf_counter() - t0))
            a, b = fitted["FloralSVC", None], fitted["FloralSVC, unpreconditioned", None]
            bitwise.append(a.dual_coef_.tobytes() == b.dual_coef_.tobytes()
                           and a.intercept_.tobytes() == b.intercept_.tobytes())
    return rows, bitwise


def markdown(payload):
    info, rows = payload["machine"], payload["rows"]
    bitwise = payload["bitwise_equal_at_equal_weights"]
    body = [[name, labels, model, *(pm([r[key] for r in select(
                rows, data=name, labels=labels, model=model, class_weight=cw)])
            for key in ("minority_recall", "balanced_accuracy") for cw in ("None", "balanced"))]
            for name in DATA for labels, _, _ in LABELS for model in MODELS
            if select(rows, data=name, labels=labels)]
    return common.doc(
        f"Machine: {common.machine_line(info)}; load average {info['load']} at the start, "
        f"shared with other jobs. Seeds {payload['seeds']}, C = 1, FloralSVC flip_budget 0.05, "
        f"{payload['rounds']} rounds, no validation set (tail average); training labels "
        "clean or poisoned (test labels clean).",
        common.table(["data", "training labels", "model", "minority recall, None",
                      '"balanced"', "balanced accuracy, None", '"balanced"'], body, "l" * 7),
        f"class_weight=None: FloralSVC and the unpreconditioned leader bitwise equal in "
        f"{sum(bitwise)} of {len(bitwise)} fits.")


def main(argv=None):
    ap = common.parser(__doc__, "class_weight", "1 seed, 50 rounds", markdown,
                       common.SWEEP_RESULTS)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=500)
    args = common.parse(ap, argv, seeds=1, rounds=50)
    info = dict(common.machine_info(), load=common.load_average())
    rows, bitwise = run(range(args.seeds), args.rounds)
    common.results(args.out, markdown, dict(machine=info, seeds=list(range(args.seeds)),
                                            rounds=args.rounds, rows=rows,
                                            bitwise_equal_at_equal_weights=bitwise))
    return 0 if all(bitwise) else 1


if __name__ == "__main__":
    sys.exit(main())
