"""Reading the user's data files as every subcommand does, and keeping outputs off them."""
import contextlib
import os
import sys
import warnings

from ._options import CLIError


@contextlib.contextmanager
def _notes():
    """Say the data readers' warnings about the user's file as `floral: note: ...`."""
    from ..datasets import UnnamedColumnWarning

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

    from .._validation import check_data, check_targets
    from ..datasets import read_labelled

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
    from .._files import same_file

    for path in inputs:
        if path is not None and (same_file(out, path)
                                 or os.path.abspath(out) == os.path.abspath(path)):
            raise CLIError(f"{out} is the input file {path}; write the output to another "
                           "file", option)
