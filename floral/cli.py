"""The ``floral`` command line: ``floral demo``, ``floral run``, ``floral attack``.

Every subcommand reports bad input as ``floral: error: ...`` with exit code 2 and no
traceback (argparse's convention), so it can be scripted.
"""
import argparse
import sys

from ._version import __version__


class CLIError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""


# --- floral demo ---------------------------------------------------------------------

def _add_demo(sub):
    p = sub.add_parser(
        "demo", help="FLORAL vs SVC on the built-in Moon data under label poisoning (seconds)"
    )
    p.add_argument("--seed", type=int, default=0, help="data and attack seed (default 0)")
    p.set_defaults(func=_cmd_demo)


# FLORAL's settings in the demo: the paper's C, gamma and attacker budget (5% of n), with
# learning rate and rounds at the top of the ranges the paper reports (DESIGN.md).
DEMO_FLORAL = dict(C=10, gamma=1.0, flip_budget=0.05, learning_rate=1e-3, n_rounds=1000,
                   selection="best")


def _cmd_demo(args):
    import time

    from sklearn.svm import SVC

    from . import attacks
    from .datasets import load_moons
    from .svm import FloralSVC

    start = time.perf_counter()
    data = load_moons(random_state=args.seed)
    settings = [("clean", None, 0.0)]
    settings += [("top-k SV", "topk", b) for b in (0.10, 0.25)]
    settings += [("random", "random", b) for b in (0.10, 0.25)]
    print("floral demo: Moon, make_moons(2000, noise=0.2), 500 train / 500 validation / "
          "1000 test")
    print("training labels poisoned by an attack; test accuracy of SVC and FloralSVC "
          "(C=10, gamma=1)")
    print("FLORAL 'best' = round selected on the validation split, 'last' = final round\n")
    header = f"{'attack':<10} {'budget':>6}  {'SVC':>6}  {'FLORAL best':>11}  {'FLORAL last':>11}"
    print(header)
    print("-" * len(header))
    for name, kind, budget in settings:
        X, y = data.X_train, data.y_train
        if kind == "topk":
            y = attacks.topk_sv_flip(X, y, budget, C=10, kernel="rbf", gamma=1.0,
                                     candidate_factor=2.0, random_state=args.seed)
        elif kind == "random":
            y = attacks.random_flip(y, budget, random_state=args.seed)
        svc = SVC(C=10, gamma=1.0).fit(X, y).score(data.X_test, data.y_test)
        clf = FloralSVC(**DEMO_FLORAL, random_state=args.seed)
        clf.fit(X, y, eval_set=(data.X_val, data.y_val))
        best = clf.score(data.X_test, data.y_test)
        last = clf.last_round().score(data.X_test, data.y_test)
        print(f"{name:<10} {budget:>6.0%}  {svc:>6.3f}  {best:>11.3f}  {last:>11.3f}")
    print(f"\n({time.perf_counter() - start:.1f} s; `floral run --help` for full experiment grids)")
    return 0


# --- floral attack -------------------------------------------------------------------

def _add_attack(sub):
    p = sub.add_parser(
        "attack", help="poison the labels of a dataset file",
        description="Flip training labels with one of floral's attacks. Reads X and y from "
                    ".npz (arrays X and y) or .csv (a header row; --label names the label "
                    "column, every other column is a feature).",
    )
    p.add_argument("data", help="training data, .npz or .csv")
    p.add_argument("--attack", required=True, metavar="NAME",
                   help="attack name (random, topk_sv, alfa, alfa_tilt, lfa)")
    p.add_argument("--budget", required=True,
                   help="labels to flip: a count (25) or a fraction of the rows (0.05)")
    p.add_argument("--label", default=None, help="label column of a .csv file")
    p.add_argument("--seed", type=int, default=None, help="random_state of the attack")
    p.add_argument("--C", type=float, default=1.0, dest="C", help="SVM C (default 1.0)")
    p.add_argument("--kernel", default="rbf", help="SVM kernel (default rbf)")
    p.add_argument("--gamma", default="scale",
                   help="kernel gamma: a float, 'scale' or 'auto' (default scale)")
    p.add_argument("--out", default=None,
                   help="write X and the poisoned labels here, in the input's format")
    p.add_argument("--test", default=None,
                   help="test file (same format): print clean vs poisoned SVC accuracy")
    p.set_defaults(func=_cmd_attack)


def _cmd_attack(args):
    import csv
    import inspect
    import os
    import zipfile

    import numpy as np
    from sklearn.svm import SVC

    from . import attacks

    def read_labelled(path, label):
        """(X, y, table) from .npz or .csv; table keeps a CSV's text to write it back."""
        if not os.path.isfile(path):
            raise CLIError(f"no such file: {path}")
        suffix = os.path.splitext(path)[1].lower()
        if suffix == ".npz":
            try:
                with np.load(path, allow_pickle=False) as data:
                    missing = [k for k in ("X", "y") if k not in data.files]
                    if missing:
                        raise CLIError(f"{path} has no array {missing[0]!r} "
                                       f"(it has {data.files})")
                    return data["X"], data["y"], None
            except (OSError, ValueError, zipfile.BadZipFile) as exc:
                raise CLIError(f"cannot read {path}: {exc}")
        if suffix != ".csv":
            raise CLIError(f"{path}: unsupported file type {suffix or '(none)'!r}; "
                           "use .npz or .csv")
        if label is None:
            raise CLIError(f"{path} is a CSV file: name its label column with --label")
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
        if not rows:
            raise CLIError(f"{path} is empty")
        header, body = rows[0], [r for r in rows[1:] if r]
        if label not in header:
            raise CLIError(f"{path} has no column {label!r}; "
                           f"its columns are {', '.join(header)}")
        col = header.index(label)
        for line, r in enumerate(body, start=2):
            if len(r) != len(header):
                raise CLIError(f"{path}, line {line}: {len(r)} fields, the header has "
                               f"{len(header)}")
        try:
            X = np.array([[float(v) for j, v in enumerate(r) if j != col] for r in body])
        except ValueError as exc:
            raise CLIError(f"{path}: every column but {label!r} must be numeric ({exc})")
        y = np.array([r[col] for r in body])
        return X, y, (header, body, col)

    try:
        attack = attacks.get(args.attack)
    except ValueError:
        raise CLIError(f"unknown attack {args.attack!r}; choose one of: "
                       f"{', '.join(attacks.available())}")
    try:
        budget = int(args.budget)
    except ValueError:
        try:
            budget = float(args.budget)
        except ValueError:
            raise CLIError(f"--budget must be a count or a fraction, got {args.budget!r}")
    try:
        gamma = args.gamma if args.gamma in ("scale", "auto") else float(args.gamma)
    except ValueError:
        raise CLIError(f"--gamma must be a float, 'scale' or 'auto', got {args.gamma!r}")
    suffix = os.path.splitext(args.data)[1].lower()
    if args.out is not None and os.path.splitext(args.out)[1].lower() != suffix:
        raise CLIError(f"--out must have the input's format ({suffix}), got {args.out}")

    X, y, table = read_labelled(args.data, args.label)
    # only the attacks that fit an SVM take its parameters ("random" does not)
    svm = {"C": args.C, "kernel": args.kernel, "gamma": gamma}
    accepted = inspect.signature(attack).parameters
    params = {k: v for k, v in svm.items() if k in accepted}
    try:
        y_poisoned = attack(X, y, budget, random_state=args.seed, **params)
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc))
    n_flipped = int(np.count_nonzero(y_poisoned != y))
    print(f"{args.attack}: flipped {n_flipped} of "
          f"{y.shape[0]} labels ({n_flipped / y.shape[0]:.1%})")

    if args.test is not None:
        X_test, y_test, _ = read_labelled(args.test, args.label)
        if X_test.shape[1] != X.shape[1]:
            raise CLIError(f"{args.test} has {X_test.shape[1]} features, "
                           f"{args.data} has {X.shape[1]}")
        for name, labels in (("clean", y), ("poisoned", y_poisoned)):
            clf = SVC(C=args.C, kernel=args.kernel, gamma=gamma).fit(X, labels)
            accuracy = clf.score(X_test, y_test)
            print(f"SVC test accuracy, {name + ' labels:':<16} {accuracy:.3f}")

    if args.out is not None:
        if table is None:
            np.savez(args.out, X=X, y=y_poisoned)
        else:
            header, body, col = table
            with open(args.out, "w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(header)
                for row, label in zip(body, y_poisoned):
                    writer.writerow(row[:col] + [label] + row[col + 1:])
        print(f"wrote {args.out}")
    return 0


# --- floral run ----------------------------------------------------------------------

def _add_run(sub):
    p = sub.add_parser("run", help="run an attacks x defenses grid and print the paper table")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args):
    raise CLIError("run is not implemented yet")


# --- floral show-config ---------------------------------------------------------------

def _add_show_config(sub):
    p = sub.add_parser("show-config", help="version, compiler, OpenMP and threads")
    p.set_defaults(func=_cmd_show_config)


def _cmd_show_config(args):
    from ._config import show_config

    show_config()
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="floral",
        description="FLORAL adversarial training against label poisoning, attacks and defenses.",
    )
    parser.add_argument("--version", action="version", version=f"floral {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in (_add_demo, _add_run, _add_attack, _add_show_config):
        add(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        parser.exit(2, f"floral: error: {exc}\n")
    except KeyboardInterrupt:
        parser.exit(130, "floral: interrupted\n")


if __name__ == "__main__":
    sys.exit(main())
