"""``floral run``: an experiment grid, written as results.csv and results.json."""
import os
import sys

from ._data_files import _check_not_an_input, _notes
from ._options import (
    CLIError,
    _add_csv_options,
    _attack_names,
    _checked,
    _constraint,
    _gamma,
    _grid_attack_name,
    _listing,
    _writable_dir,
)

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
    from ..experiments import DEFAULT_GAMMA, available_methods
    from ..experiments._methods import method_entry, methods_trained_by
    from ..experiments._planning import describe_datasets

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
    from ..experiments import make_method
    from ..experiments._methods import method_entry

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

    from .. import experiments

    budgets = list(args.budget)
    if not args.no_clean and not any(b == 0 for b in budgets):
        budgets = [0.0] + budgets
    methods = "all" if [m.lower() for m in args.methods] == ["all"] else args.methods
    from ..experiments._methods import method_entry, methods_trained_by

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
                from ..plotting import save_figures

                written += save_figures(results, args.out)
        except OSError as exc:
            raise CLIError(f"cannot write the results: {exc}", "--out") from None
        print("wrote " + ", ".join(written))
    elif not args.no_figures:
        plot_note = plot_note or "use --out DIR to write results.csv, results.json and figures"
    if plot_note:
        print(f"floral: {plot_note}", file=sys.stderr)
    return 0
