"""Your own features from a file, with the experiments' protocol."""
import os

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch, check_random_state, check_X_y
from sklearn.utils._param_validation import validate_params

from .._validation import (
    check_data,
    encode_binary_labels,
)
from ._io import _check_file, _load_npz, read_labelled
from ._splits import _SPLIT, _SPLIT_KEYS, _counts, _scaled, _split_scale


def _checked_pair(X, y, path, part=""):
    """Validated (X, y) of one file or split; the training labels must be two classes."""
    where = f"{path} ({part})" if part else f"{path}"
    try:
        check_data(X, y)
        X, y = check_X_y(X, y, dtype=np.float64, y_numeric=False, accept_sparse="csr")
        if part in ("", "train"):
            encode_binary_labels(y, param=f"y_{part}" if part else "y",
                                 hint="load_embeddings reads two-class data only.")
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return X, y


@validate_params({"path": [str, os.PathLike], "label": [str, None], "sep": [str],
                  "drop": [list, tuple, None], "scale": ["boolean"], **_SPLIT},
                 prefer_skip_nested_validation=True)
def load_embeddings(path, label=None, *, sep=",", drop=None, test_size=0.3, val_size=0.2,
                    scale=True, random_state=0):
    """Your own features, e.g. sentence embeddings, with the experiments' protocol.

    The paper's IMDB experiment embeds reviews with RoBERTa and trains the kernel
    classifiers on the embeddings; save such features and load them here.

    * **.npz** with arrays ``X`` and ``y``: split stratified into test, validation and
      training sets (``test_size``, ``val_size``, ``random_state``). Or an .npz that is
      already split, with ``X_train, y_train, X_test, y_test`` and optionally
      ``X_val, y_val`` (when these are missing, ``val_size`` of the training arrays is
      held out for validation); a pre-split file is used as is, so ``random_state`` only
      affects the carved-out validation set.
    * **.csv** with a header row: ``label`` names the label column, every other column is
      a numeric feature; split as an .npz with ``X`` and ``y``.
    * **sparse .npz**: a scipy.sparse matrix in ``scipy.sparse.save_npz``'s layout with
      the labels as an extra array ``y`` in the same file (:func:`write_labelled` with a
      sparse ``X`` writes one; ``scipy.sparse.load_npz`` reads its matrix back). The
      splits stay sparse (CSR) and ``scale`` divides by the standard deviation without
      centring, which would make them dense.

    Labels may be any two values (text from a .csv stays text).

    Parameters
    ----------
    path : str or os.PathLike
        The .npz or .csv file.
    label : str or None, default=None
        Label column of a .csv file (required there).
    sep, drop : str and list of str or None, default="," and None
        The field separator of a .csv file and columns of it that are neither features
        nor the label (as :func:`read_labelled`).
    test_size, val_size : float in (0, 1), default=0.3, 0.2
        Fractions of all rows held out for test and validation.
    scale : bool, default=True
        Standardise features with the training split's mean and standard deviation.
    random_state : int, RandomState instance or None, default=0
        Seeds the split.

    Returns
    -------
    data : sklearn.utils.Bunch
        The splits, ``scaler`` (None when ``scale=False``), ``name`` (the file name
        without its suffix) and ``description``.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        Unreadable file, missing arrays or label column, non-numeric features, labels
        that are not of exactly two classes, or features that disagree between splits.
    """
    path, suffix = _check_file(path)
    name = os.path.splitext(os.path.basename(path))[0]
    arrays = _load_npz(path) if suffix == ".npz" else None
    if arrays is not None and all(k in arrays for k in ("X_train", "y_train", "X_test",
                                                          "y_test")):
        splits = {}
        for part in ("_train", "_val", "_test"):
            if "X" + part in arrays or "y" + part in arrays:
                if ("X" + part in arrays) != ("y" + part in arrays):
                    raise ValueError(f"{path} has only one of X{part} and y{part}")
                splits["X" + part], splits["y" + part] = _checked_pair(
                    arrays["X" + part], arrays["y" + part], path, part[1:])
        widths = {splits[k].shape[1] for k in splits if k.startswith("X")}
        if len(widths) > 1:
            raise ValueError(f"{path}: the splits have different numbers of features "
                             f"{sorted(widths)}")
        classes = np.unique(splits["y_train"])
        for part in ("_val", "_test"):
            if "y" + part in splits:
                unknown = np.setdiff1d(np.unique(splits["y" + part]), classes)
                if unknown.size:
                    raise ValueError(f"{path}: y{part} has labels {unknown.tolist()} that "
                                     f"y_train does not have {classes.tolist()}")
        if "X_val" not in splits:
            n_val = max(1, int(round(val_size * splits["y_train"].size)))
            (splits["X_train"], splits["X_val"], splits["y_train"],
             splits["y_val"]) = train_test_split(
                splits["X_train"], splits["y_train"], test_size=n_val,
                stratify=splits["y_train"], random_state=check_random_state(random_state))
        splits, scaler = _scaled(splits, scale)
        sizes = [splits["y" + part].size for part in ("_train", "_val", "_test")]
        return Bunch(**{k: splits[k] for k in _SPLIT_KEYS}, scaler=scaler, name=name,
                     description=(f"{os.path.basename(path)} (pre-split): {sizes[0]} train "
                                  f"/ {sizes[1]} validation / {sizes[2]} test"))
    X, y, _ = read_labelled(path, label, sep=sep, drop=drop)
    X, y = _checked_pair(X, y, path)
    return _split_scale(
        X, y, *_counts(y.size, test_size, val_size), random_state=random_state, name=name,
        scale=scale, source=f"{os.path.basename(path)} ({y.size} rows, {X.shape[1]} features)",
    )
