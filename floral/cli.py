"""The ``floral`` command line: ``floral demo``, ``floral run``, ``floral attack``,
``floral audit``.

Every user error is reported as ``floral: error: argument OPTION: ...`` with exit status 2
and no traceback (argparse's convention), before any work is done: options are checked
against the same constraints the library validates with (floral._validation), input files
are read and checked, output paths are checked for writability. Ctrl-C stops any
subcommand with exit status 130.
"""
import argparse
import contextlib
import os
import signal
import sys
import tempfile
import threading
import warnings

from ._version import __version__


class CLIError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""

    def __init__(self, message, option=None):
        super().__init__(f"argument {option}: {message}" if option else message)


class _Parser(argparse.ArgumentParser):
    """argparse with one prefix for every error, subcommands included."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"floral: error: {message}\n")


# --- option values, checked as the library checks them -----------------------------------

def _number(text):
    """An int if the text is one, else a float, else the text (for the error message)."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _gamma(text):
    return text if text in ("scale", "auto") else _number(text)


def _checked(option, constraints, convert=_number):
    """An argparse type: convert the text, then hold it to the shared constraints."""
    from ._validation import check_option, describe

    def parse(text):
        try:
            value = convert(text)
            check_option(value, option, constraints, "floral")
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(
                f"must be {describe(constraints)}, got {text!r}") from None
        return value

    return parse


def _constraint(name):
    from . import _validation

    return getattr(_validation, name)


def _attack_name(text):
    from .attacks import available, canonical_name

    try:
        return canonical_name(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown attack {text!r}; choose one of: {', '.join(available())}") from None


def _grid_attack_name(text):
    """An attack of `floral run`, where "none" (or "clean") is the clean setting."""
    return "none" if text.strip().lower() in ("none", "clean") else _attack_name(text)


def _writable_dir(path, option):
    """Refuse a directory that does not exist or cannot take a new file."""
    if not os.path.isdir(path):
        raise CLIError(f"{path or '.'} is not an existing directory", option)
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise CLIError(f"cannot write in {path or '.'}: {exc.strerror or exc}", option) \
            from None


def _separator(text):
    """--sep: one character; "\\t" and "tab" spell a tab."""
    sep = {"\\t": "\t", "tab": "\t"}.get(text.lower(), text)
    if len(sep) != 1 or sep in "\"\r\n":
        raise argparse.ArgumentTypeError(
            f"must be one character other than a quote or a line break (\\t or tab for "
            f"a tab), got {text!r}")
    return sep


# --- help texts, read from the registries -------------------------------------------------

def _listing(names, last="or"):
    """``"a, b or c"``."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}"


def _attack_names():
    """(every attack, those that take more than two classes), from floral.attacks."""
    from .attacks import available, supports_multiclass

    names = available()
    return names, [n for n in names if supports_multiclass(n)]


def _add_kernel_option(p):
    """--kernel: one of the kernel table's names (floral._kernels)."""
    from ._kernels import KERNELS

    p.add_argument("--kernel", type=_checked("--kernel", _constraint("KERNEL"), str),
                   default="rbf", help=f"SVM kernel: {_listing(KERNELS)} (default rbf)")


def _add_csv_options(p):
    """--label, --sep and --drop: how a .csv file is read."""
    p.add_argument("--label", default=None, help="label column of .csv files")
    p.add_argument("--sep", type=_separator, default=",",
                   help="field separator of .csv files, one character (default ','; "
                        "\\t or tab for a tab)")
    p.add_argument("--drop", nargs="+", default=None, metavar="COLUMN",
                   help="columns of .csv files that are neither features nor the label "
                        "(IDs, text). A first column without a name, which pandas' "
                        "DataFrame.to_csv writes for the index, is never a feature")


@contextlib.contextmanager
def _notes():
    """Say the data readers' warnings about the user's file as `floral: note: ...`."""
    from .datasets import UnnamedColumnWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnnamedColumnWarning)
        try:
            yield
        finally:
            for message in dict.fromkeys(str(w.message) for w in caught
                                         if issubclass(w.category, UnnamedColumnWarning)):
                sys.stderr.write(f"floral: note: {message}\n")
            for w in caught:
                if not issubclass(w.category, UnnamedColumnWarning):
                    warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _read(path, label, option, sep=",", drop=None):
    """(X, y, table) of a data file, checked as an attack checks its input."""
    import numpy as np
    from sklearn.utils.validation import check_X_y

    from ._validation import check_data, check_targets
    from .datasets import read_labelled

    try:
        with _notes():
            X, y, table = read_labelled(path, label, sep=sep, drop=drop,
                                        label_option="--label")
        check_data(X, y)
        # a sparse .npz stays sparse (CSR): random, topk_sv and FloralSVC take it
        X, y = check_X_y(X, y, dtype=np.float64, y_numeric=False, accept_sparse="csr")
        check_targets(y)
    except (OSError, ValueError, TypeError) as exc:
        text = str(exc)
        if "name its label column" in text or (label is not None
                                               and f"no column {label!r}" in text):
            option = "--label"
        elif "to drop" in text or "cannot drop" in text:
            option = "--drop"
        raise CLIError(text if path in text else f"{path}: {text}", option) from None
    return X, y, table


# --- floral demo ---------------------------------------------------------------------

# The demo runs the paper's Moon kernel (C=10, gamma=1) and FloralSVC with its defaults
# (floral.experiments.FLORAL_PARAMS), given the validation split.
DEMO_KERNEL = dict(C=10, gamma=1.0)


def _add_demo(sub):
    p = sub.add_parser(
        "demo", help="FLORAL vs SVC on the built-in Moon data under label poisoning (seconds)"
    )
    p.add_argument("--seed", type=_checked("--seed", _constraint("SEED")), default=0,
                   help="data and attack seed, an int >= 0 (default 0)")
    p.set_defaults(func=_cmd_demo)


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
    settings = dict.fromkeys((r["attack"], r["budget"]) for r in results)
    for attack, budget in settings:
        rec = {r["method"]: r for r in results
               if (r["attack"], r["budget"]) == (attack, budget)}
        name = "clean" if attack == "none" else attack
        print(f"{name:<10} {budget:>6.0%}  {rec['svm']['model_accuracy']:>6.3f}  "
              f"{rec['floral']['model_accuracy']:>6.3f}  {rec['floral']['last_accuracy']:>10.3f}")
    print(f"\n({time.perf_counter() - start:.1f} s; `floral run --help` for full experiment grids)")
    return 0


# --- floral attack -------------------------------------------------------------------

def _add_attack(sub):
    p = sub.add_parser(
        "attack", help="poison the labels of a dataset file",
        description="Flip training labels with one of floral's attacks. Reads X and y from "
                    ".npz (arrays X and y) or .csv (a header row; --label names the label "
                    "column, every other column but those of --drop is a feature). The "
                    "output is written to a temporary file that replaces --out once "
                    "complete, and never over an input. The attack's SVM defaults "
                    "to scikit-learn SVC's C=1 and gamma='scale', which suit any data; "
                    "`floral run` defaults to the paper's C=10 and gamma=1 on Moon, which "
                    "suit only Moon's two standardised features.",
    )
    p.add_argument("data", help="training data, .npz or .csv")
    attacks, multiclass = _attack_names()
    p.add_argument("--attack", required=True, metavar="NAME", type=_attack_name,
                   help=f"{_listing(attacks)} (- is accepted for _; "
                        f"{_listing(multiclass, 'and')} take more than two classes)")
    p.add_argument("--budget", required=True, type=_checked("--budget", _constraint("BUDGET")),
                   help="labels to flip: a count (25) or a fraction of the rows in [0, 1) "
                        "(0.05)")
    _add_csv_options(p)
    p.add_argument("--seed", type=_checked("--seed", _constraint("SEED")), default=None,
                   help="random_state of the attack, an int >= 0 (default: unseeded)")
    p.add_argument("--C", type=_checked("--C", _constraint("C")), default=1.0, dest="C",
                   help="SVM C of the attack and of --test's SVC (default 1.0, SVC's)")
    _add_kernel_option(p)
    p.add_argument("--gamma", type=_checked("--gamma", _constraint("GAMMA"), _gamma),
                   default="scale",
                   help="kernel gamma: a float > 0, 'scale' or 'auto' (default 'scale', "
                        "SVC's)")
    p.add_argument("--out", default=None,
                   help="write X and the poisoned labels here, in the input's format (the "
                        "directory must exist; not one of the inputs)")
    p.add_argument("--test", default=None,
                   help="test file (same format, labels among the training labels): print "
                        "clean vs poisoned SVC accuracy")
    p.set_defaults(func=_cmd_attack)


def _read_companion(args, path, option, X, classes):
    """(X, y) of a second file (--test, --val) read like args.data: the same number of
    features, labels among ``classes`` (the data file's)."""
    import numpy as np

    X_2, y_2, _ = _read(path, args.label, option, args.sep, args.drop)
    if X_2.shape[1] != X.shape[1]:
        raise CLIError(f"{path} has {X_2.shape[1]} features, {args.data} has "
                       f"{X.shape[1]}", option)
    unknown = np.setdiff1d(np.unique(y_2), classes)
    if unknown.size:
        raise CLIError(f"{path} has labels {unknown.tolist()} that {args.data} "
                       f"does not have ({classes.tolist()})", option)
    return X_2, y_2


def _check_not_an_input(out, inputs, option):
    """Refuse an output that is (a link to, another spelling of) an input file."""
    from ._files import same_file

    for path in inputs:
        if path is not None and (same_file(out, path)
                                 or os.path.abspath(out) == os.path.abspath(path)):
            raise CLIError(f"{out} is the input file {path}; write the output to another "
                           "file", option)


def _check_attack_output(path, data, test=None):
    suffix = os.path.splitext(data)[1].lower()
    if os.path.splitext(path)[1].lower() != suffix:
        raise CLIError(f"must have the input's format ({suffix}), got {path}", "--out")
    if os.path.isdir(path):
        raise CLIError(f"{path} is a directory", "--out")
    _check_not_an_input(path, (data, test), "--out")
    _writable_dir(os.path.dirname(os.path.abspath(path)), "--out")


# The SVM attacks hold the n x n Gram matrix as float64 (and alfa its 2n x 2n duplicate);
# refuse before any work when that alone exceeds the memory available now.
_GRAM_COPIES = {"alfa": 4.0}


def _check_attack_memory(attack, n, path):
    from ._files import human_bytes
    from ._memory import available_memory

    if attack == "random":
        return
    need = 8.0 * n * n * _GRAM_COPIES.get(attack, 1.0)
    available = available_memory()
    if available is not None and need > available:
        raise CLIError(f"{attack} on the {n:,} rows of {path} needs a kernel matrix of "
                       f"{human_bytes(need)}, more than the {human_bytes(available)} "
                       "available now; attack a subsample, or use the random attack",
                       "--attack")


def _attack_failed(exc, args):
    """The CLIError for a ValueError an attack or the --test SVC raised on this data."""
    text = str(exc).split("\n")[0]
    if any(w in text for w in ("NaN", "infinity", "too large", "not finite")):
        text = (f"the kernel matrix of {args.data} is not finite with kernel={args.kernel} "
                f"and gamma={args.gamma}: the features or gamma are too large for float64 "
                "(standardise the features, or choose a smaller --gamma)")
    return CLIError(text, "--attack")


def _cmd_attack(args):
    import inspect

    import numpy as np
    from sklearn.svm import SVC

    from . import attacks
    from ._validation import libsvm_max_iter, resolve_budget
    from .datasets import write_labelled

    if args.out is not None:
        _check_attack_output(args.out, args.data, args.test)
    X, y, table = _read(args.data, args.label, "data", args.sep, args.drop)
    classes = np.unique(y)
    if classes.size > 2 and not attacks.supports_multiclass(args.attack):
        multi = [a for a in attacks.available() if attacks.supports_multiclass(a)]
        raise CLIError(f"{args.attack} is defined for two classes only and {args.data} has "
                       f"{classes.size}; the attacks {', '.join(multi)} take more",
                       "--attack")
    if classes.size < 2:
        raise CLIError(f"{args.data} has 1 class ({classes[0]!r}); flipping labels needs "
                       "two", "data")
    if hasattr(X, "tocsr") and not attacks.supports_sparse(args.attack):
        sparse_ok = [a for a in attacks.available() if attacks.supports_sparse(a)]
        raise CLIError(f"{args.attack} needs dense features and {args.data} holds a sparse "
                       f"matrix; the attacks {', '.join(sparse_ok)} take sparse data",
                       "--attack")
    try:
        resolve_budget(args.budget, y.shape[0])
    except ValueError as exc:
        raise CLIError(str(exc), "--budget") from None
    if args.test is not None:
        X_test, y_test = _read_companion(args, args.test, "--test", X, classes)

    # only the attacks that fit an SVM take its parameters ("random" does not)
    attack = attacks.get(args.attack)
    svm = {"C": args.C, "kernel": args.kernel, "gamma": args.gamma}
    accepted = inspect.signature(attack).parameters
    params = {k: v for k, v in svm.items() if k in accepted}
    _check_attack_memory(args.attack, X.shape[0], args.data)
    try:
        with np.errstate(all="ignore"):
            y_poisoned = attack(X, y, args.budget, random_state=args.seed, **params)
    except ValueError as exc:
        raise _attack_failed(exc, args) from None
    n_flipped = int(np.count_nonzero(y_poisoned != y))
    print(f"{args.attack}: flipped {n_flipped} of "
          f"{y.shape[0]} labels ({n_flipped / y.shape[0]:.1%})")

    if args.test is not None:
        for name, labels in (("clean", y), ("poisoned", y_poisoned)):
            try:
                with np.errstate(all="ignore"):
                    clf = SVC(C=args.C, kernel=args.kernel, gamma=args.gamma,
                              max_iter=libsvm_max_iter(X.shape[0])).fit(X, labels)
                    accuracy = clf.score(X_test, y_test)
            except ValueError as exc:
                raise _attack_failed(exc, args) from None
            print(f"SVC test accuracy, {name + ' labels:':<16} {accuracy:.3f}")

    if args.out is not None:
        try:
            write_labelled(args.out, X, y_poisoned, table)
        except OSError as exc:
            raise CLIError(f"cannot write {args.out}: {exc.strerror or exc}", "--out") \
                from None
        print(f"wrote {args.out}")
    return 0


# --- floral run ----------------------------------------------------------------------

def _add_run(sub):
    p = sub.add_parser(
        "run", help="run a datasets x attacks x budgets x methods grid and print the paper table",
        description="Poison the training labels of each dataset with each attack and budget, "
                    "fit each method on them, and print test accuracy (the returned model's, "
                    "or Best / Last with --paper; mean ± std over seeds) as in the paper's "
                    "tables. Best is the round (FLORAL) or epoch (NN) selected on the "
                    "validation split; single-shot methods have Best = Last; imbalanced "
                    "datasets also get balanced accuracy and minority-class recall. With "
                    "--out, writes results.csv, results.json and PNG figures (figures need "
                    "matplotlib: pip install \"floral-svm[plot]\"). The defaults reproduce the "
                    "paper's Table 1 setting (C=10, gamma=1 on Moon), unlike `floral "
                    "attack`, whose SVM defaults are SVC's.",
    )
    from .experiments import DEFAULT_GAMMA, available_methods
    from .experiments._methods import method_entry, methods_trained_by
    from .experiments._planning import describe_datasets

    datasets = describe_datasets().replace("%", "%%")  # argparse formats help with %
    p.add_argument("--dataset", nargs="+", default=["moons"], metavar="NAME",
                   help=f"built-in datasets ({datasets}) or .npz/.csv files (default moons)")
    _add_csv_options(p)
    attacks, multiclass = _attack_names()
    p.add_argument("--attack", nargs="+", default=["alfa_tilt"], metavar="NAME",
                   type=_grid_attack_name,
                   help=f"attacks: {', '.join(attacks)}, or none for the clean setting (- is "
                        f"accepted for _; default alfa_tilt; more than two classes: "
                        f"{', '.join(multiclass)})")
    p.add_argument("--budget", nargs="+", default=[0.05, 0.10, 0.25], metavar="B",
                   type=_checked("--budget", _constraint("BUDGET")),
                   help="fractions of the training labels in [0, 1) or counts (default "
                        "0.05 0.10 0.25); the clean setting is added unless --no-clean")
    p.add_argument("--no-clean", action="store_true", help="do not add the clean setting")
    p.add_argument("--methods", nargs="+", default=["all"], metavar="NAME",
                   help=f"methods ({', '.join(available_methods())}) or all (default all)")
    p.add_argument("--seeds", type=_checked("--seeds", _constraint("POSITIVE_INT")), default=3,
                   help="number of seeds, 0..N-1 (default 3); each seeds the split, the "
                        "attack and the methods")
    p.add_argument("--C", type=_checked("--C", _constraint("C")), default=10.0, dest="C",
                   help="SVM C of the attacks and the kernel methods (default 10, the "
                        "paper's)")
    paper_gamma = ", ".join(f"{g} on {name}" for name, g in DEFAULT_GAMMA.items())
    p.add_argument("--gamma", type=_checked("--gamma", _constraint("GAMMA"), _gamma),
                   default=None,
                   help=f"RBF gamma: a float > 0, 'scale' or 'auto' (default: {paper_gamma}, "
                        "the paper's, 'scale' on other data)")
    # --rounds and --epochs set the length of the methods the registry trains so
    for option, training in _LENGTH_OPTIONS.items():
        names = methods_trained_by(training)
        p.add_argument(option, type=_checked(option, _constraint("POSITIVE_INT")),
                       default=None, dest=training,
                       help=f"{_listing([method_entry(n).display for n in names], 'and')} "
                            f"{training}, >= 1 (default {_length_default(names[0])})")
    p.add_argument("--paper", action="store_true",
                   help="show the paper's Best / Last in each cell instead of the returned "
                        "model's accuracy")
    # None (all cores) cannot be typed; -1 says it
    p.add_argument("--n-jobs", type=_checked("--n-jobs", _constraint("N_JOBS")[1:]),
                   default=-1, dest="n_jobs",
                   help="cells run in parallel: a count, or -1 for all cores (default -1)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write results.csv, results.json and figures here (created if its "
                        "parent directory exists)")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_run)


# the options that set the number of rounds or epochs -> the Method.training they set
_LENGTH_OPTIONS = {"--rounds": "rounds", "--epochs": "epochs"}


def _length_default(name):
    """The default length of a method's estimator (its constructor's default)."""
    from .experiments import make_method
    from .experiments._methods import method_entry

    return getattr(make_method(name), method_entry(name).length)


# plan_grid's arguments -> the options that set them
_RUN_OPTIONS = {"datasets": "--dataset", "attacks": "--attack", "budgets": "--budget",
                "methods": "--methods", "seeds": "--seeds", "label": "--label",
                "method_params": "--rounds/--epochs"}


# what `floral run --out DIR` may write into DIR (figures: any PNG)
_RUN_OUTPUTS = ("results.csv", "results.json")


def _check_run_output(path, datasets=()):
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise CLIError(f"{path} exists and is not a directory", "--out")
        _writable_dir(path, "--out")
    else:
        _writable_dir(os.path.dirname(os.path.abspath(path)), "--out")
    files = [d for d in datasets if os.path.isfile(d)]
    for data in files:
        inside = os.path.join(path, os.path.basename(data))
        if os.path.basename(data) in _RUN_OUTPUTS or data.lower().endswith(".png"):
            _check_not_an_input(inside, [data], "--out")


def _cmd_run(args):
    import time

    from . import experiments

    budgets = list(args.budget)
    if not args.no_clean and not any(b == 0 for b in budgets):
        budgets = [0.0] + budgets
    methods = "all" if [m.lower() for m in args.methods] == ["all"] else args.methods
    from .experiments._methods import method_entry, methods_trained_by

    method_params = {}
    for training in _LENGTH_OPTIONS.values():
        if getattr(args, training) is not None:
            for name in methods_trained_by(training):
                method_params[name] = {method_entry(name).length: getattr(args, training)}
    for path in args.dataset:
        if path.lower().endswith(".csv") and os.path.isfile(path) and args.label is None:
            raise CLIError(f"{path} is a CSV file: name its label column with --label",
                           "--label")
    if args.out is not None:
        _check_run_output(args.out, args.dataset)

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
        with _notes():
            plan = experiments.plan_grid(
                args.dataset, args.attack, budgets, methods, args.seeds, args.n_jobs,
                C=args.C, gamma=args.gamma, method_params=method_params, label=args.label,
                sep=args.sep, drop=args.drop, keep_models=keep,
            )
    except experiments.PlanError as exc:
        raise CLIError(str(exc), _RUN_OPTIONS.get(exc.param)) from None
    except OSError as exc:
        raise CLIError(str(exc), "--dataset") from None
    start = time.perf_counter()
    try:
        results = experiments.run_plan(plan, verbose=not args.quiet)
    except ValueError as exc:
        # what planning could not foresee (one cell's poisoned labels, a method on this
        # data); the library's ValueErrors are about the input, so the user's to fix
        raise CLIError(f"a cell of the grid failed: {str(exc).splitlines()[0]}",
                       "--dataset") from None
    elapsed = time.perf_counter() - start
    print(results.table(columns=("best", "last") if args.paper else ("model",)))
    print(f"\n({len(plan)} cells, {len(results)} fits, {elapsed:.1f} s)")
    if args.out is not None:
        results.meta["command"] = "floral " + " ".join(args.argv)
        try:
            os.makedirs(args.out, exist_ok=True)
            written = results.save(args.out)
            if figures:
                from .plotting import save_figures

                written += save_figures(results, args.out)
        except OSError as exc:
            raise CLIError(f"cannot write the results: {exc}", "--out") from None
        print("wrote " + ", ".join(written))
    elif not args.no_figures:
        plot_note = plot_note or "use --out DIR to write results.csv, results.json and figures"
    if plot_note:
        print(f"floral: {plot_note}", file=sys.stderr)
    return 0


# --- floral audit --------------------------------------------------------------------

def _add_audit(sub):
    p = sub.add_parser(
        "audit", help="find the training labels that look flipped",
        description="Fit FloralSVC on a labelled file and list the rows whose given label "
                    "the robust model contradicts by more than --threshold margin units "
                    "(floral.audit.find_flipped_labels), most suspicious first: row index "
                    "(0-based, in the file's order), given label, suggested label, score. "
                    "Reads .npz (arrays X and y) or .csv (a header row; --label names the "
                    "label column). A trusted file (--val, same format and columns) makes "
                    "the audit much sharper under heavy poisoning. The SVM defaults are "
                    "SVC's C=1 and gamma='scale', as for `floral attack`.",
    )
    p.add_argument("data", help="training data, .npz or .csv")
    _add_csv_options(p)
    p.add_argument("--val", default=None,
                   help="trusted validation file (same format, labels among the training "
                        "labels)")
    p.add_argument("--out", default=None,
                   help="write the flagged rows to this .csv (the directory must exist); "
                        "without it they are printed")
    p.add_argument("--threshold", type=_checked("--threshold", _audit_constraint("threshold")),
                   default=None, help="flag scores above this (default 0.5, half a margin)")
    p.add_argument("--C", type=_checked("--C", _constraint("C")), default=1.0, dest="C",
                   help="SVM C (default 1.0, SVC's)")
    _add_kernel_option(p)
    p.add_argument("--gamma", type=_checked("--gamma", _constraint("GAMMA"), _gamma),
                   default=None,
                   help="kernel gamma: a float > 0, 'scale' or 'auto' (default: FloralSVC's, "
                        "'scale', chosen around it on the --val set when one is given)")
    p.add_argument("--seed", type=_checked("--seed", _constraint("SEED")), default=None,
                   help="random_state of FloralSVC's attacker, an int >= 0 (default: "
                        "unseeded)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_cmd_audit)


def _audit_constraint(name):
    from .audit import AUDIT_PARAMS

    return AUDIT_PARAMS[name]


def _check_audit_output(path, inputs):
    if os.path.splitext(path)[1].lower() != ".csv":
        raise CLIError(f"must be a .csv file, got {path}", "--out")
    if os.path.isdir(path):
        raise CLIError(f"{path} is a directory", "--out")
    _check_not_an_input(path, inputs, "--out")
    _writable_dir(os.path.dirname(os.path.abspath(path)), "--out")


def _audit_rows(audit, y):
    yield ["index", "given_label", "suggested_label", "score"]
    for i in audit.indices:
        yield [int(i), y[i], audit.suggested_labels[i], f"{audit.scores[i]:.6g}"]


def _cmd_audit(args):
    import csv
    import time

    import numpy as np

    from .audit import DEFAULT_THRESHOLD, find_flipped_labels
    from .svm import FloralSVC

    if args.out is not None:
        _check_audit_output(args.out, [args.data, args.val])
    X, y, _ = _read(args.data, args.label, "data", args.sep, args.drop)
    classes = np.unique(y)
    if classes.size < 2:
        raise CLIError(f"{args.data} has 1 class ({classes[0]!r}); an audit needs two or "
                       "more", "data")
    val = {}
    if args.val is not None:
        X_val, y_val = _read_companion(args, args.val, "--val", X, classes)
        val = dict(X_val=X_val, y_val=y_val)

    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    gamma = {} if args.gamma is None else {"gamma": args.gamma}
    model = FloralSVC(C=args.C, kernel=args.kernel, verbose=0 if args.quiet else 1, **gamma)
    start = time.perf_counter()
    audit = find_flipped_labels(X, y, estimator=model, threshold=threshold,
                                random_state=args.seed, **val)
    n, k = y.shape[0], audit.indices.shape[0]
    summary = (f"audit: flagged {k} of {n} labels ({k / n:.1%}) at score > {threshold:g}"
               f"{' with the trusted --val set' if val else ''} "
               f"({time.perf_counter() - start:.1f} s)")
    rows = _audit_rows(audit, y)
    if args.out is None:
        csv.writer(sys.stdout, lineterminator="\n").writerows(rows)
        print(summary, file=sys.stderr)
        return 0
    try:
        from ._files import atomic_output

        with atomic_output(args.out, "w", newline="") as fh:
            csv.writer(fh).writerows(rows)
    except OSError as exc:
        raise CLIError(f"cannot write {args.out}: {exc.strerror or exc}", "--out") from None
    print(summary)
    print(f"wrote {args.out}")
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
    parser = _Parser(
        prog="floral",
        description="FLORAL adversarial training against label poisoning, attacks and defenses.",
    )
    parser.add_argument("--version", action="version", version=f"floral {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in (_add_demo, _add_run, _add_attack, _add_audit, _add_show_config):
        add(sub)
    return parser


class _SigintRecord:
    """While active, remember whether SIGINT arrived; otherwise behave as Python's default
    handler (raise KeyboardInterrupt where the interpreter next checks for signals).

    The KeyboardInterrupt does not always reach ``main``: a Ctrl-C landing while a compiled
    extension initialises (scikit-learn's KD-tree module, during the imports at the start of
    ``floral demo``) comes out as that module's ValueError. Whatever escapes after a SIGINT
    is its consequence, so ``main`` reports it as the interrupt. Installed only over the
    default handler in the main thread: a SIGINT the parent set to be ignored (``nohup``,
    ``&`` in a script) stays ignored, and an embedding application's handler is kept."""

    def __init__(self):
        self.received = False
        self._installed = False
        self._hook = None

    def _handle(self, signum, frame):
        self.received = True
        raise KeyboardInterrupt

    def _unraisable(self, unraisable):
        # Python drops an exception raised where it cannot propagate (importlib's module-lock
        # callback, during the core's first import) and prints it; our KeyboardInterrupt lost
        # that way is still the user's Ctrl-C, which main reports
        if self.received and issubclass(unraisable.exc_type, KeyboardInterrupt):
            return
        self._hook(unraisable)

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            signal.signal(signal.SIGINT, self._handle)
            self._hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
            self._installed = True
        return self

    def __exit__(self, *exc_info):
        if self._installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            sys.unraisablehook = self._hook
        return False


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    with _SigintRecord() as sigint:
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            args.argv = argv  # recorded in results.json by `floral run`
            status = int(args.func(args) or 0)
            if sigint.received:  # its KeyboardInterrupt was dropped (see _SigintRecord)
                raise KeyboardInterrupt
            return status
        except CLIError as exc:
            sys.stderr.write(f"floral: error: {exc}\n")
            return 2
        except MemoryError:
            # the estimates checked before the work began (file sizes, attack kernels)
            # cannot foresee every allocation; one that fails is the input's size
            sys.stderr.write("floral: error: out of memory: the data (or a kernel matrix "
                             "of it) is too large for this machine; use a subsample\n")
            return 2
        except BaseException as exc:
            if not (isinstance(exc, KeyboardInterrupt) or sigint.received):
                raise
            sys.stderr.write("floral: interrupted\n")
            return 130


if __name__ == "__main__":
    sys.exit(main())
