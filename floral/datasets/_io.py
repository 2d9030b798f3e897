"""Reading and writing labelled data files: .npz (dense or scipy.sparse X) and .csv."""
import codecs
import csv
import math
import os
import sys
import zipfile

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import validate_params

from .._files import atomic_output, human_bytes
from .._validation import (
    warn_caller,
)

# --- files -------------------------------------------------------------------------------------

# An .npz is refused before anything is decompressed when its arrays would take more than
# the memory available now (what the OS reports; _NPZ_FALLBACK_BYTES when it reports
# nothing): the sizes come from the zip directory (each member's declared uncompressed
# size, which bounds what zipfile will inflate) and from each .npy header (shape x itemsize,
# which bounds what numpy will allocate), so neither a zip bomb nor a header declaring a
# huge shape costs more than reading a few hundred bytes.
_NPZ_FALLBACK_BYTES = 8 * 2**30


def _npz_max_bytes():
    from .._memory import available_memory

    return available_memory() or _NPZ_FALLBACK_BYTES


def _npy_header(fh):
    """(shape, dtype) from the header of an open .npy stream; None if it is not one."""
    from numpy.lib import format as npy

    try:
        version = npy.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = npy.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = npy.read_array_header_2_0(fh)
        else:  # (3, 0), utf-8 field names: only the private reader takes it
            shape, _, dtype = npy._read_array_header(fh, version)
    except (ValueError, OSError, EOFError):
        return None
    return shape, dtype


def _check_npz_sizes(path):
    """Refuse an .npz whose arrays would not fit in memory, from its headers alone."""
    limit = _npz_max_bytes()
    total = 0
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            key = info.filename.removesuffix(".npy")
            declared = info.file_size
            if declared <= limit:
                with archive.open(info) as fh:
                    header = _npy_header(fh)
                if header is not None:
                    shape, dtype = header
                    declared = max(declared, math.prod(shape) * dtype.itemsize)
            total += declared
            if declared > limit or total > limit:
                what = f"array {key!r}" if declared > limit else "its arrays"
                raise ValueError(
                    f"cannot read {path}: {what} would take {human_bytes(max(declared, total))} "
                    f"in memory ({human_bytes(info.compress_size)} compressed in the file), more "
                    f"than the {human_bytes(limit)} available now; floral refuses an .npz larger "
                    "than the available memory before decompressing it")


def _load_npz(path):
    """All arrays of an .npz file as a dict.

    Object arrays are refused: loading one unpickles it, which can run code from the file.
    So are files whose arrays would not fit in the available memory (checked from the zip
    directory and the .npy headers before anything is decompressed).
    """
    # np.load takes a file that is not a zip archive for a pickle and says so, which
    # misleads (and suggests allow_pickle); an .npz is always a zip archive
    if not zipfile.is_zipfile(path):
        raise ValueError(f"cannot read {path}: not an .npz file (numpy.savez writes a zip "
                         "archive of .npy arrays, and this file is not a zip archive)")
    arrays, problem = {}, None
    try:
        _check_npz_sizes(path)
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                try:
                    arrays[key] = data[key]
                except ValueError as exc:
                    if "allow_pickle" not in str(exc):
                        raise
                    problem = (f"array {key!r} holds Python objects (dtype=object), which "
                               "floral does not load; save it with a numeric or string "
                               "dtype, e.g. np.asarray(y, dtype=str)")
                    break
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, NotImplementedError) as exc:
        problem = str(exc)
        if problem.startswith(f"cannot read {path}: "):
            raise ValueError(problem) from None
    if problem is not None:
        raise ValueError(f"cannot read {path}: {problem}")
    return arrays


def _sparse_npz(path, arrays):
    """The sparse X of an .npz in scipy.sparse.save_npz's layout (arrays data, format,
    shape, ...) with labels in an extra array y; None for any other .npz."""
    if not all(k in arrays for k in ("data", "format", "shape")):
        return None
    try:
        X = sp.load_npz(path)
    except (KeyError, ValueError, OSError) as exc:
        raise ValueError(f"cannot read {path} as a scipy.sparse matrix: {exc}") from None
    if "y" not in arrays:
        raise ValueError(
            f"{path} holds a sparse matrix (scipy.sparse.save_npz) but no labels: save "
            "them in the same file as an array 'y', e.g. "
            "floral.datasets.write_labelled(path, X, y) with a sparse X")
    return X


def _check_file(path):
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".npz", ".csv"):
        raise ValueError(f"{path}: unsupported file type {suffix or '(none)'!r}; "
                         "use .npz or .csv")
    return path, suffix


# csv's default field limit (128 KiB) is a guard against runaway quoting, not a property
# of the format; a long text column (which drop= removes) is legitimate. The limit is a C
# long, 32 bits on Windows.
_CSV_FIELD_LIMIT = min(sys.maxsize, 2**31 - 1)
_OTHER_SEPARATORS = (";", "\t", "|", ",")


class UnnamedColumnWarning(UserWarning):
    """A CSV file's first column has no name (a pandas index) and was not read as a
    feature."""


def _csv_rows(path, sep):
    """[(line number, fields)] of the non-blank rows, and the file's style (separator,
    byte-order mark, line ending) for writing it back."""
    with open(path, "rb") as fb:
        head = fb.read(2**16)
    bom = head.startswith(codecs.BOM_UTF8)
    newline = "\n" if b"\n" in head and b"\r\n" not in head else "\r\n"
    old_limit = csv.field_size_limit(_CSV_FIELD_LIMIT)
    rows = []
    try:
        # utf-8-sig drops the byte-order mark Excel's "CSV UTF-8" puts before the header
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter=sep)
            try:
                for fields in reader:
                    if fields:
                        rows.append((reader.line_num, fields))
            except csv.Error as exc:
                raise ValueError(f"{path}, line {reader.line_num}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                         "save it as UTF-8") from None
    finally:
        csv.field_size_limit(old_limit)
    return rows, {"sep": sep, "bom": bom, "newline": newline}


def _read_csv(path, label, sep, drop, label_option):
    if label is None:
        raise ValueError(f"{path} is a CSV file: name its label column with {label_option}")
    if len(sep) != 1 or sep in "\"\r\n":
        raise ValueError(f"sep must be one character other than a quote or a line break, "
                         f"got {sep!r}")
    rows, style = _csv_rows(path, sep)
    if not rows:
        raise ValueError(f"{path} is empty")
    (_, header), body = rows[0], rows[1:]
    if label not in header:
        hint = ""
        if len(header) == 1:
            other = next((c for c in _OTHER_SEPARATORS if c != sep and c in header[0]), None)
            if other is not None:
                hint = (f" (the header has one column: are its fields separated by "
                        f"{other!r}? pass sep={other!r}, --sep on the command line)")
        raise ValueError(f"{path} has no column {label!r}; "
                         f"its columns are {', '.join(header)}{hint}")
    if header.count(label) > 1:
        raise ValueError(f"{path} has {header.count(label)} columns named {label!r}")
    col = header.index(label)
    skip = {col}
    for name in drop or ():
        if name not in header:
            raise ValueError(f"{path} has no column {name!r} to drop; its columns are "
                             f"{', '.join(header)}")
        if name == label:
            raise ValueError(f"cannot drop the label column {label!r}")
        skip.update(j for j, h in enumerate(header) if h == name)
    if header[0].strip() == "" and 0 not in skip and len(header) > 1:
        # pandas' DataFrame.to_csv(path) writes the index as a first column with an empty
        # name; read as a feature it is the row number, which leaks the label on sorted data
        skip.add(0)
        warn_caller(f"{path}: the first column has no name (the index that pandas' "
                    "DataFrame.to_csv writes without index=False); it is not used as a "
                    "feature", UnnamedColumnWarning)
    for line, r in body:
        if len(r) != len(header):
            raise ValueError(f"{path}, line {line}: {len(r)} fields, the header has "
                             f"{len(header)}")
        if not r[col].strip():
            raise ValueError(f"{path}, line {line}: the label (column {label!r}) is empty; "
                             "every row needs one")
    features = [j for j in range(len(header)) if j not in skip]
    if not features:
        raise ValueError(f"{path} has no feature column besides {label!r}")
    cells = [[r[j] for j in features] for _, r in body]
    try:
        X = np.array(cells, dtype=np.float64).reshape(len(body), len(features))
    except ValueError:
        # name the first cell that is not a number; numpy's parser is stricter than
        # float() in places (digit separators), so what float() takes is taken
        for line, r in body:
            for j in features:
                try:
                    float(r[j])
                except ValueError:
                    what = ("is empty" if not r[j].strip()
                            else f"is not a number: {r[j][:40]!r}")
                    raise ValueError(
                        f"{path}, line {line}, column {header[j]!r}: the cell {what}; every "
                        f"column but the label {label!r} must be numeric (drop= removes "
                        "others, --drop on the command line)") from None
        X = np.array([[float(v) for v in row] for row in cells],
                     dtype=np.float64).reshape(len(body), len(features))
    y = np.array([r[col] for _, r in body])
    return X, y, \
        (header, [r for _, r in body], col, style)


@validate_params({"path": [str, os.PathLike], "label": [str, None], "sep": [str],
                  "drop": [list, tuple, None], "label_option": [str]},
                 prefer_skip_nested_validation=True)
def read_labelled(path, label=None, *, sep=",", drop=None, label_option="label=..."):
    """Features and labels from an .npz or a .csv file.

    An .npz file must hold arrays ``X`` (n_samples, n_features) and ``y`` (n_samples,);
    a file whose arrays would not fit in the memory available now is refused from its
    headers, before anything is decompressed. A .csv file (UTF-8, with or without a
    byte-order mark) has a header row; the column named ``label`` holds the labels (kept
    as text, none empty) and every other column, except those named in ``drop``, must be
    numeric. A first column without a name, which pandas' ``DataFrame.to_csv`` writes for
    the index, is not read as a feature (an :class:`UnnamedColumnWarning` says so).

    Parameters
    ----------
    path : str or os.PathLike
        The file; its suffix (.npz or .csv) decides the format.
    label : str or None, default=None
        The label column of a .csv file (required for .csv, ignored for .npz).
    sep : str, default=","
        The field separator of a .csv file, one character (``";"``, ``"\\t"``).
    drop : list of str or None, default=None
        Columns of a .csv file that are neither features nor the label (IDs, text).
    label_option : str, default="label=..."
        How the caller calls ``label``, for the error message of a .csv without one
        (the command line passes ``"--label"``).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    table : tuple or None
        A .csv file's text (header, rows, label index, style), so it can be written back
        with new labels by :func:`write_labelled`; None for .npz.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        An unsupported suffix, missing arrays or label column, ragged rows, an empty
        label, a cell that is not a number (named by line and column), or an .npz too
        large for memory; the message names the file and what is wrong.
    """
    path, suffix = _check_file(path)
    if suffix == ".npz":
        arrays = _load_npz(path)
        X_sparse = _sparse_npz(path, arrays)
        if X_sparse is not None:
            return X_sparse, arrays["y"], None
        missing = [k for k in ("X", "y") if k not in arrays]
        if missing:
            raise ValueError(f"{path} has no array {missing[0]!r} (it has {sorted(arrays)})")
        return arrays["X"], arrays["y"], None
    return _read_csv(path, label, sep, drop, label_option)


def write_labelled(path, X, y, table=None):
    """Write features and labels in the formats :func:`read_labelled` reads.

    Without ``table``: an .npz with arrays ``X`` and ``y``. With the ``table`` that
    :func:`read_labelled` returned for a .csv file: that file's text with the label column
    replaced by ``y``, every other field written as it was read.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (replaced if it exists; its directory must exist). The content
        goes to a temporary file beside it that replaces it once complete, so an
        interrupted write leaves the old file, never a truncated one.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Written to an .npz only; a .csv keeps its own feature text. A sparse X is written
        in scipy.sparse.save_npz's layout (CSR) with ``y`` as an extra array.
    y : array-like of shape (n_samples,)
    table : tuple or None, default=None
    """
    if table is None and sp.issparse(X):
        # scipy.sparse.save_npz's arrays (scipy.sparse.load_npz reads X back) and y
        X = sp.csr_matrix(X)
        with atomic_output(path, "wb") as fh:
            np.savez(fh, data=X.data, indices=X.indices, indptr=X.indptr,
                     format=np.array(b"csr"), shape=np.array(X.shape), y=np.asarray(y))
        return
    if table is None:
        with atomic_output(path, "wb") as fh:
            np.savez(fh, X=np.asarray(X), y=np.asarray(y))
        return
    header, body, col = table[:3]
    style = table[3] if len(table) > 3 else {}
    if len(body) != len(y):
        raise ValueError(f"y has {len(y)} labels, the table {len(body)} rows")
    encoding = "utf-8-sig" if style.get("bom") else "utf-8"
    with atomic_output(path, "w", newline="", encoding=encoding) as fh:
        writer = csv.writer(fh, delimiter=style.get("sep", ","),
                            lineterminator=style.get("newline", "\r\n"))
        writer.writerow(header)
        for row, label in zip(body, y):
            writer.writerow(row[:col] + [label] + row[col + 1:])
