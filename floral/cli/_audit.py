"""``floral audit``: the training labels that look flipped."""
import os
import sys

from ._data_files import _check_not_an_input, _read, _read_companion
from ._options import (
    CLIError,
    _add_csv_options,
    _add_kernel_option,
    _checked,
    _constraint,
    _gamma,
    _writable_dir,
)

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
    from ..audit import AUDIT_PARAMS

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

    from ..audit import DEFAULT_THRESHOLD, find_flipped_labels
    from ..svm import FloralSVC

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
        from .._files import atomic_output

        with atomic_output(args.out, "w", newline="") as fh:
            csv.writer(fh).writerows(rows)
    except OSError as exc:
        raise CLIError(f"cannot write {args.out}: {exc.strerror or exc}", "--out") from None
    print(summary)
    print(f"wrote {args.out}")
    return 0
