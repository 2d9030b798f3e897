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


# The demo runs the paper's Moon kernel (C=10, gamma=1) and FloralSVC with its defaults
# (floral.experiments.FLORAL_PARAMS), given the validation split.
DEMO_KERNEL = dict(C=10, gamma=1.0)


def _cmd_demo(args):
    import time

    from .experiments import run_grid

    start = time.perf_counter()
    # a fixed instance of `floral run`: two cheap attacks, SVC and FLORAL, one seed
    results = run_grid(
        "moons", ["topk_sv", "random"], [0, 0.10, 0.25], ["svm", "floral"], [args.seed],
        **DEMO_KERNEL,
        attack_params={"topk_sv": {"candidate_factor": 2.0}},
    )
    print("floral demo: Moon, make_moons(2000, noise=0.2), 500 train / 500 validation / "
          "1000 test")
    print("training labels poisoned by an attack; test accuracy of SVC and FloralSVC "
          "(C=10, gamma=1)")
    print("FLORAL = the model FloralSVC returns (its 5 best rounds on the validation split); "
          "'last round' = the paper's Last, a random draw\n")
    header = f"{'attack':<10} {'budget':>6}  {'SVC':>6}  {'FLORAL':>6}  {'last round':>10}"
    print(header)
    print("-" * len(header))
    names = {"none": "clean", "topk_sv": "top-k SV", "random": "random"}
    settings = dict.fromkeys((r["attack"], r["budget"]) for r in results)
    for attack, budget in settings:
        rec = {r["method"]: r for r in results
               if (r["attack"], r["budget"]) == (attack, budget)}
        print(f"{names[attack]:<10} {budget:>6.0%}  {rec['svm']['model_accuracy']:>6.3f}  "
              f"{rec['floral']['model_accuracy']:>6.3f}  {rec['floral']['last_accuracy']:>10.3f}")
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


def _read_labelled(path, label):
    """datasets.read_labelled with its errors as CLIError."""
    from .datasets import read_labelled

    try:
        return read_labelled(path, label, label_option="--label")
    except (OSError, ValueError) as exc:
        raise CLIError(str(exc)) from None


def _parse_budget(text, option="--budget"):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise CLIError(f"{option} must be a count or a fraction, got {text!r}") from None


def _parse_gamma(text):
    """--gamma: 'scale', 'auto', a float, or None (the command's default) as given."""
    if text in (None, "scale", "auto"):
        return text
    try:
        return float(text)
    except ValueError:
        raise CLIError(f"--gamma must be a float, 'scale' or 'auto', got {text!r}") from None


def _cmd_attack(args):
    import csv
    import inspect
    import os

    import numpy as np
    from sklearn.svm import SVC

    from . import attacks

    try:
        attack = attacks.get(args.attack)
    except ValueError:
        raise CLIError(f"unknown attack {args.attack!r}; choose one of: "
                       f"{', '.join(attacks.available())}")
    budget = _parse_budget(args.budget)
    gamma = _parse_gamma(args.gamma)
    suffix = os.path.splitext(args.data)[1].lower()
    if args.out is not None and os.path.splitext(args.out)[1].lower() != suffix:
        raise CLIError(f"--out must have the input's format ({suffix}), got {args.out}")

    X, y, table = _read_labelled(args.data, args.label)
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
        X_test, y_test, _ = _read_labelled(args.test, args.label)
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
    p = sub.add_parser(
        "run", help="run a datasets x attacks x budgets x methods grid and print the paper table",
        description="Poison the training labels of each dataset with each attack and budget, "
                    "fit each method on them, and print test accuracy (Best / Last, mean "
                    "± std over seeds) as in the paper's tables. Best is the round (FLORAL) "
                    "or epoch (NN) selected on the validation split; single-shot methods "
                    "have Best = Last; imbalanced datasets also get balanced accuracy and "
                    "minority-class recall. With --out, writes results.csv, results.json "
                    "and PNG figures (figures need matplotlib: "
                    "pip install \"floral-svm[plot]\"). The defaults reproduce the paper's "
                    "Table 1 setting.",
    )
    p.add_argument("--dataset", nargs="+", default=["moons"], metavar="NAME",
                   help="built-in datasets (moons, digits_1v7, breast_cancer, digits10 with "
                        "ten classes, imbalanced_moons with 10%% positives; digits is "
                        "digits_1v7) or .npz/.csv files (default moons)")
    p.add_argument("--label", default=None, help="label column of .csv datasets")
    p.add_argument("--attack", nargs="+", default=["alfa_tilt"], metavar="NAME",
                   help="attacks (random, topk_sv, alfa, alfa_tilt, lfa; default alfa_tilt; "
                        "more than two classes: random, topk_sv)")
    p.add_argument("--budget", nargs="+", default=["0.05", "0.10", "0.25"], metavar="B",
                   help="fractions of the training labels in [0, 1) or counts (default "
                        "0.05 0.10 0.25); the clean setting is added unless --no-clean")
    p.add_argument("--no-clean", action="store_true", help="do not add the clean setting")
    p.add_argument("--methods", nargs="+", default=["all"], metavar="NAME",
                   help="methods (floral, svm, nn, nn-pgd, ln-svm, curie, ls-svm, k-lid) "
                        "or all (default all)")
    p.add_argument("--seeds", type=int, default=3,
                   help="number of seeds, 0..N-1 (default 3); each seeds the split, the "
                        "attack and the methods")
    p.add_argument("--C", type=float, default=10.0, dest="C", help="SVM C (default 10)")
    p.add_argument("--gamma", default=None,
                   help="RBF gamma: a float, 'scale' or 'auto' (default: 1.0 on moons, the "
                        "paper's, 'scale' on other data)")
    p.add_argument("--rounds", type=int, default=None,
                   help="FLORAL rounds (default 500)")
    p.add_argument("--epochs", type=int, default=None,
                   help="NN and NN-PGD epochs (default 200)")
    p.add_argument("--paper", action="store_true",
                   help="show the paper's Best / Last in each cell instead of the returned "
                        "model's accuracy")
    p.add_argument("--n-jobs", type=int, default=-1, dest="n_jobs",
                   help="cells run in parallel (default -1: all cores)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write results.csv, results.json and figures here")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args):
    import os
    import time

    from . import experiments

    budgets = [_parse_budget(b) for b in args.budget]
    if not args.no_clean and not any(b == 0 for b in budgets):
        budgets = [0.0] + budgets
    gamma = _parse_gamma(args.gamma)
    methods = "all" if [m.lower() for m in args.methods] == ["all"] else args.methods
    method_params = {}
    if args.rounds is not None:
        method_params["floral"] = {"n_rounds": args.rounds}
    if args.epochs is not None:
        method_params["nn"] = {"max_iter": args.epochs}
        method_params["nn-pgd"] = {"max_iter": args.epochs}
    for path in args.dataset:
        if path.lower().endswith(".csv") and os.path.isfile(path) and args.label is None:
            raise CLIError(f"{path} is a CSV file: name its label column with --label")
    if args.n_jobs == 0:
        raise CLIError("--n-jobs must be a positive count or -1 (all cores), got 0")
    if args.out is not None and os.path.exists(args.out) and not os.path.isdir(args.out):
        raise CLIError(f"--out {args.out} exists and is not a directory")

    figures = args.out is not None and not args.no_figures
    plot_note = None
    if figures:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            figures = False
            plot_note = ('figures skipped: matplotlib is not installed '
                         '(pip install "floral-svm[plot]")')

    def keep(name, seed, data):
        # decision boundaries are drawn for one seed of the 2-D datasets only
        return figures and seed == 0 and data.X_train.shape[1] == 2

    try:
        plan = experiments.plan_grid(
            args.dataset, args.attack, budgets, methods, args.seeds, args.n_jobs, C=args.C,
            gamma=gamma, method_params=method_params, label=args.label, keep_models=keep,
        )
    except (OSError, TypeError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    start = time.perf_counter()
    results = experiments.run_plan(plan, verbose=not args.quiet)
    elapsed = time.perf_counter() - start
    print(results.table(columns=("best", "last") if args.paper else ("model",)))
    print(f"\n({len(plan.cells)} cells, {len(results)} fits, {elapsed:.1f} s)")
    if args.out is not None:
        os.makedirs(args.out, exist_ok=True)
        results.meta["command"] = "floral " + " ".join(args.argv)
        written = results.save(args.out)
        if figures:
            from .plotting import save_figures

            written += save_figures(results, args.out)
        print("wrote " + ", ".join(written))
    elif not args.no_figures:
        plot_note = plot_note or "use --out DIR to write results.csv, results.json and figures"
    if plot_note:
        print(f"floral: {plot_note}", file=sys.stderr)
    return 0


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
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv  # recorded in results.json by `floral run`
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        parser.exit(2, f"floral: error: {exc}\n")
    except KeyboardInterrupt:
        parser.exit(130, "floral: interrupted\n")


if __name__ == "__main__":
    sys.exit(main())
