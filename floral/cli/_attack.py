"""``floral attack``: poison the labels of a data file."""
import os

from ._data_files import _check_not_an_input, _read, _read_companion
from ._options import (
    CLIError,
    _add_csv_options,
    _add_kernel_option,
    _attack_name,
    _attack_names,
    _checked,
    _constraint,
    _gamma,
    _listing,
    _writable_dir,
)

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
    from .._files import human_bytes
    from .._memory import available_memory

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

    from .. import attacks
    from .._validation import libsvm_max_iter, resolve_budget
    from ..datasets import write_labelled

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
