"""Datasets with the train / validation / test protocols used in the FLORAL paper.

Every loader returns a :class:`sklearn.utils.Bunch` with the same fields:

``X_train, y_train, X_val, y_val, X_test, y_test``
    The three splits. Splits are stratified by class and drawn with ``random_state``.
``scaler``
    The :class:`~sklearn.preprocessing.StandardScaler` fitted on the *training split only*
    and applied to all three (None when scaling is switched off), so no statistic of the
    validation or test data leaks into preprocessing.
``name``, ``description``
    A short name (used in experiment records) and a one-line description of the protocol.

=======================  ================================================================
:func:`load_moons`       the paper's Moon: 500 train / 500 validation / 1,000 test
:func:`load_imbalanced_moons`  Moon with a minority class (10% positives by default), same
                         sizes and split
:func:`load_digits_1v7`  scikit-learn's bundled 8x8 digits, 1 vs 7 (offline stand-in for
                         the paper's MNIST 1-vs-7)
:func:`load_digits`      all ten classes of the same digits
:func:`load_breast_cancer`  Wisconsin diagnostic breast cancer, malignant vs benign
:func:`load_embeddings`  your own features (e.g. RoBERTa embeddings of IMDB reviews, as in
                         the paper) from .npz or .csv
:func:`make_large`       synthetic Moon-like data of any size and dimension, for scale tests
:func:`make_text_corpus` a synthetic labelled text corpus (Zipf words, class-dependent
                         frequencies), as counts or text, for the sparse TF-IDF path
=======================  ================================================================

:func:`read_labelled` is the .npz / .csv reader behind :func:`load_embeddings` and the
``floral attack`` command, :func:`write_labelled` its inverse.
"""
import codecs
import csv
import math
import os
import sys
import zipfile
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn import datasets as _skdatasets
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Bunch, check_random_state, check_X_y
from sklearn.utils._param_validation import Interval, RealNotInt, validate_params

from ._files import atomic_output, human_bytes
from ._validation import (
    NON_NEGATIVE,
    RANDOM_STATE,
    check_data,
    encode_binary_labels,
    warn_caller,
)

__all__ = ["load_moons", "load_digits_1v7", "load_breast_cancer", "load_embeddings",
           "make_large", "read_labelled", "write_labelled", "load_digits",
           "load_imbalanced_moons", "make_text_corpus", "UnnamedColumnWarning"]

_SPLIT_KEYS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")


# --- splitting and scaling ---------------------------------------------------------------

# The held-out fractions of every loader, and its random_state.
_FRACTION = [Interval(RealNotInt, 0.0, 1.0, closed="neither")]
_SPLIT = {"random_state": RANDOM_STATE, "test_size": _FRACTION, "val_size": _FRACTION}


def _counts(n, test_size, val_size):
    """(n_test, n_val) for fractions of ``n``, leaving at least two training points."""
    if test_size + val_size >= 1.0:
        raise ValueError(
            f"test_size + val_size must be < 1 to leave a training split, got "
            f"{test_size} + {val_size}"
        )
    n_test = max(1, int(round(test_size * n)))
    n_val = max(1, int(round(val_size * n)))
    if n - n_test - n_val < 2:
        raise ValueError(
            f"{n} samples are too few for test_size={test_size} and val_size={val_size}"
        )
    return n_test, n_val


def _scaled(splits, scale):
    """Standardise the splits with training statistics; returns (splits, scaler)."""
    if not scale:
        return splits, None
    # sparse features (TF-IDF) are scaled without centring, which would densify them
    sparse = sp.issparse(splits["X_train"])
    with np.errstate(over="ignore", invalid="ignore"):
        scaler = StandardScaler(with_mean=not sparse).fit(splits["X_train"])
        out = dict(splits)
        for key in ("X_train", "X_val", "X_test"):
            out[key] = scaler.transform(splits[key])

    def values(a):
        return a.data if sp.issparse(a) else a

    # features near float64's limit (1e300) overflow the variance: refuse them here rather
    # than hand NaN to every method, whose errors would blame "Input X contains NaN"
    keys = ("X_train", "X_val", "X_test")
    if not all(np.all(np.isfinite(values(out[key]))) for key in keys):
        largest = max(float(np.max(np.abs(values(splits[k])), initial=0.0)) for k in keys)
        raise ValueError(f"standardising the features gives non-finite values: they are too "
                         f"large for float64 arithmetic (|x| up to {largest:.3g}); rescale "
                         "them, or pass scale=False")
    return out, scaler


def _split_scale(X, y, n_test, n_val, *, random_state, name, source, scale=True):
    """Stratified test / validation / train split, standardised on the training split; the
    description is ``source`` and the split sizes."""
    description = (f"{source}: {len(y) - n_test - n_val} train / {n_val} validation / "
                   f"{n_test} test")
    rng = check_random_state(random_state)
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=n_test, stratify=y, random_state=rng
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=n_val, stratify=y_rest, random_state=rng
    )
    splits, scaler = _scaled(dict(X_train=X_train, y_train=y_train, X_val=X_val,
                                  y_val=y_val, X_test=X_test, y_test=y_test), scale)
    return Bunch(**splits, scaler=scaler, name=name, description=description)


# --- built-in datasets ---------------------------------------------------------------------

@validate_params({"random_state": RANDOM_STATE}, prefer_skip_nested_validation=True)
def load_moons(random_state=0):
    """Two interleaving half-moons with the FLORAL paper's protocol.

    ``make_moons(n_samples=2000, noise=0.2)``; 1,000 points are held out for test and the
    remaining 1,000 split into 500 validation and 500 training points (stratified). Features
    are standardised with statistics of the training split only (the paper standardised all
    2,000 points first; at this size the two scalings differ negligibly, and fitting on the
    training split keeps test data out of preprocessing).

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=0
        Seeds both the data generation and the split.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``X_train, y_train, X_val, y_val, X_test, y_test`` (labels in {0, 1}), the fitted
        ``scaler``, ``name`` and ``description``.
    """
    rng = check_random_state(random_state)
    X, y = _skdatasets.make_moons(n_samples=2000, noise=0.2, random_state=rng)
    return _split_scale(X, y.astype(np.int64), 1000, 500, random_state=rng, name="moons",
                        source="make_moons(2000, noise=0.2)")


@validate_params({"positive_rate": [Interval(Real, 0.01, 0.5, closed="both")],
                  "random_state": RANDOM_STATE}, prefer_skip_nested_validation=True)
def load_imbalanced_moons(positive_rate=0.1, random_state=0):
    """The paper's Moon with a minority class: ``positive_rate`` of the points are class 1.

    The sizes, noise and split of :func:`load_moons` (2,000 points, ``noise=0.2``; 500
    train / 500 validation / 1,000 test, standardised on the training split), with
    ``n_pos = round(positive_rate * 2000)`` points of class 1 (half up) and
    ``n_neg = 2000 - n_pos`` of class 0, obtained by subsampling the positive moon:

    1. ``make_moons(n_samples=2 * n_neg, noise=0.2)``, so each moon has ``n_neg`` points;
    2. keep every point of the class-0 (outer) moon and ``n_pos`` points of the class-1
       (inner) moon drawn uniformly without replacement, so the minority class covers its
       whole moon, only more thinly;
    3. split stratified by class (test, then validation), which gives every split its
       share of the positives to within one point (``n_pos / 2000`` of its size, rounded);
       with the default 0.1 the splits hold exactly 50 / 50 / 100 positives.

    The minority class is what label-flip attacks erase first (an attacker with a budget
    of 10% of n can relabel every positive), so report balanced accuracy and the
    minority class's recall beside accuracy, which a constant class-0 predictor scores
    ``1 - positive_rate`` on. As for :func:`load_moons`, the experiment runner's default
    ``gamma`` differs: it is ``"scale"`` here.

    Parameters
    ----------
    positive_rate : float in [0.01, 0.5], default=0.1
        Share of class 1. At 0.01 the training split still has 5 positives; 0.5 is the
        balanced Moon (with a different draw than :func:`load_moons`).
    random_state : int, RandomState instance or None, default=0
        Seeds the points, the subsample and the split.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``X_train`` (500, 2), ``X_val`` (500, 2), ``X_test`` (1000, 2) and their labels in
        {0, 1} (1 the minority), the fitted ``scaler``, ``name``
        (``"imbalanced_moons"``) and ``description``.

    Examples
    --------
    >>> from floral.datasets import load_imbalanced_moons
    >>> d = load_imbalanced_moons(0.1, random_state=0)
    >>> int(d.y_train.sum()), int(d.y_val.sum()), int(d.y_test.sum())
    (50, 50, 100)
    """
    n = 2000
    n_pos = int(np.floor(float(positive_rate) * n + 0.5))
    n_neg = n - n_pos
    rng = check_random_state(random_state)
    X, y = _skdatasets.make_moons(n_samples=2 * n_neg, noise=0.2, random_state=rng)
    positives = rng.choice(np.flatnonzero(y == 1), size=n_pos, replace=False)
    keep = np.sort(np.concatenate([np.flatnonzero(y == 0), positives]))
    return _split_scale(
        X[keep], y[keep].astype(np.int64), 1000, 500, random_state=rng,
        name="imbalanced_moons",
        source=f"make_moons(noise=0.2), {n_pos} of 2000 points in class 1 ({n_pos / n:.1%})",
    )


@validate_params(_SPLIT, prefer_skip_nested_validation=True)
def load_digits_1v7(random_state=0, *, test_size=0.3, val_size=0.2):
    """Handwritten digits 1 vs 7: an offline stand-in for the paper's MNIST 1-vs-7.

    The 361 images of ones and sevens among scikit-learn's bundled 8x8 digits
    (:func:`sklearn.datasets.load_digits`, 64 features, pixel values 0..16), split
    stratified into test, validation and training sets and standardised on the training
    split. The paper used 28x28 MNIST; this set is far smaller and easier, so its numbers
    are not comparable with the paper's, but it needs no download. With 64 standardised
    features an RBF kernel wants ``gamma`` near ``1 / 64`` (``gamma="scale"``), not the
    Moon setting ``gamma=1``.

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=0
        Seeds the split.
    test_size, val_size : float in (0, 1), default=0.3, 0.2
        Fractions of the 361 images held out for test and validation (109 and 72 by
        default, leaving 180 for training).

    Returns
    -------
    data : sklearn.utils.Bunch
        The splits (labels are the digits, 1 and 7), ``scaler``, ``name``,
        ``description``.
    """
    digits = _skdatasets.load_digits()
    keep = np.isin(digits.target, (1, 7))
    X, y = digits.data[keep], digits.target[keep].astype(np.int64)
    return _split_scale(X, y, *_counts(y.size, test_size, val_size),
                        random_state=random_state, name="digits_1v7",
                        source=f"sklearn digits 1 vs 7 (8x8, {y.size} images)")


@validate_params(_SPLIT, prefer_skip_nested_validation=True)
def load_digits(random_state=0, *, test_size=0.3, val_size=0.2):
    """Handwritten digits, all ten classes: the multi-class version of the 1-vs-7 set.

    All 1,797 images of scikit-learn's bundled 8x8 digits
    (:func:`sklearn.datasets.load_digits`, 64 features, pixel values 0..16), with the
    protocol of :func:`load_digits_1v7`: split stratified by class into test, validation
    and training sets, standardised on the training split (pixels that are constant
    there keep scale 1). The classes are nearly balanced (174 to 183 images each), so
    every split holds about a tenth of each digit. Use ``gamma="scale"`` for an RBF
    kernel. The experiment runner calls this set ``"digits10"``.

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=0
        Seeds the split.
    test_size, val_size : float in (0, 1), default=0.3, 0.2
        Fractions of the 1,797 images held out for test and validation (539 and 359 by
        default, leaving 899 for training).

    Returns
    -------
    data : sklearn.utils.Bunch
        ``X_train`` (899, 64), ``X_val`` (359, 64), ``X_test`` (539, 64) with the default
        sizes, labels the digits 0..9, the fitted ``scaler``, ``name`` (``"digits10"``)
        and ``description``.

    Examples
    --------
    >>> from floral.datasets import load_digits
    >>> d = load_digits(random_state=0)
    >>> d.X_train.shape, sorted(set(d.y_train.tolist())) == list(range(10))
    ((899, 64), True)
    """
    digits = _skdatasets.load_digits()
    X, y = digits.data, digits.target.astype(np.int64)
    return _split_scale(X, y, *_counts(y.size, test_size, val_size),
                        random_state=random_state, name="digits10",
                        source=f"sklearn digits, 10 classes (8x8, {y.size} images)")


@validate_params(_SPLIT, prefer_skip_nested_validation=True)
def load_breast_cancer(random_state=0, *, test_size=0.3, val_size=0.2):
    """Wisconsin diagnostic breast cancer: malignant (0) vs benign (1), 30 features.

    scikit-learn's bundled copy (:func:`sklearn.datasets.load_breast_cancer`, 569
    samples), split stratified and standardised on the training split. As for any data
    with many standardised features, use ``gamma="scale"`` for an RBF kernel.

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=0
        Seeds the split.
    test_size, val_size : float in (0, 1), default=0.3, 0.2
        Fractions held out for test and validation (171 and 114 samples by default,
        leaving 284 for training).

    Returns
    -------
    data : sklearn.utils.Bunch
        The splits (labels 0 = malignant, 1 = benign), ``scaler``, ``name``,
        ``description``.
    """
    bunch = _skdatasets.load_breast_cancer()
    X, y = bunch.data, bunch.target.astype(np.int64)
    return _split_scale(X, y, *_counts(y.size, test_size, val_size),
                        random_state=random_state, name="breast_cancer",
                        source=f"sklearn breast cancer ({y.size} samples, 30 features)")


@validate_params({"n_samples": [Interval(Integral, 10, None, closed="left")],
                  "n_features": [Interval(Integral, 2, None, closed="left")],
                  "noise": NON_NEGATIVE, **_SPLIT}, prefer_skip_nested_validation=True)
def make_large(n_samples=10_000, n_features=2, *, noise=0.2, test_size=0.2, val_size=0.1,
               random_state=None):
    """Moon-like data of any size and dimension, for scale tests.

    Two half-moons (:func:`sklearn.datasets.make_moons` with ``noise``) in the first two
    coordinates; for ``n_features > 2`` the other coordinates get Gaussian noise of
    standard deviation ``noise`` and the whole cloud is turned by a random rotation, so
    every feature carries some of the signal and the classes stay separable by an RBF
    kernel. Split stratified and standardised on the training split.

    Parameters
    ----------
    n_samples : int, default=10000
        Total points, >= 10.
    n_features : int, default=2
        Dimension, >= 2.
    noise : float, default=0.2
        Standard deviation of the Gaussian noise.
    test_size, val_size : float in (0, 1), default=0.2, 0.1
        Fractions held out for test and validation.
    random_state : int, RandomState instance or None, default=None
        Seeds the points, the rotation and the split.

    Returns
    -------
    data : sklearn.utils.Bunch
        The splits (labels in {0, 1}), ``scaler``, ``name`` (``"large"``),
        ``description``.
    """
    n_test, n_val = _counts(int(n_samples), test_size, val_size)
    rng = check_random_state(random_state)
    X2, y = _skdatasets.make_moons(n_samples=int(n_samples), noise=noise, random_state=rng)
    X = X2
    if n_features > 2:
        extra = rng.normal(scale=noise, size=(int(n_samples), int(n_features) - 2))
        rotation, _ = np.linalg.qr(rng.normal(size=(int(n_features), int(n_features))))
        X = np.hstack([X2, extra]) @ rotation
    return _split_scale(X, y.astype(np.int64), n_test, n_val, random_state=rng, name="large",
                        source=f"moons in {n_features}-D ({n_samples} points, noise={noise})")


@validate_params({"n_documents": [Interval(Integral, 2, None, closed="left")],
                  "n_terms": [Interval(Integral, 2, None, closed="left")],
                  "n_classes": [Interval(Integral, 2, None, closed="left")],
                  "document_length": [Interval(Real, 1, None, closed="left")],
                  "zipf_exponent": [Interval(Real, 0, None, closed="left")],
                  "informative_fraction": [Interval(Real, 0, 1, closed="both")],
                  "class_sep": NON_NEGATIVE, "as_text": ["boolean"],
                  "random_state": RANDOM_STATE}, prefer_skip_nested_validation=True)
def make_text_corpus(n_documents=2000, n_terms=5000, *, n_classes=2, document_length=150,
                     zipf_exponent=1.07, informative_fraction=0.1, class_sep=1.0,
                     as_text=False, random_state=None):
    r"""A synthetic labelled text corpus: Zipf-distributed words with class-dependent
    frequencies, a stand-in for review sentiment data where no corpus can be downloaded.

    Term :math:`t` (rank :math:`t = 0, 1, \ldots`) has base frequency
    :math:`\propto (t + 1)^{-a}` (Zipf's law, ``zipf_exponent`` :math:`a`). A random
    ``informative_fraction`` of the terms carries the class: in class :math:`c` the
    frequency of informative term :math:`t` is multiplied by
    :math:`e^{s\,u_{ct}}` with :math:`u_{ct}` uniform in :math:`[-1, 1]` and
    :math:`s` = ``class_sep`` (0: the classes share one distribution). Each document draws
    its class uniformly, a length from a Poisson law of mean ``document_length`` (at least
    one word) and its words independently from its class's distribution.

    Parameters
    ----------
    n_documents : int, default=2000
        Documents, >= 2.
    n_terms : int, default=5000
        Vocabulary size, >= 2.
    n_classes : int, default=2
        Classes, >= 2.
    document_length : float, default=150
        Mean words per document (about 100 distinct terms per document with a
        50,000-term vocabulary; TF-IDF + LinearSVC then scores about 0.86 on 20,000
        documents at the other defaults).
    zipf_exponent : float, default=1.07
        Exponent of the base frequencies.
    informative_fraction : float in [0, 1], default=0.1
        Share of the vocabulary whose frequency depends on the class.
    class_sep : float, default=1.0
        Largest log-frequency shift of an informative term.
    as_text : bool, default=False
        Return documents as strings of words ``"w<rank>"`` separated by spaces (for
        ``TfidfVectorizer``) instead of a count matrix.
    random_state : int, RandomState instance or None, default=None
        Seeds the vocabulary, the classes and the words.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_documents, n_terms), or list of str
        Word counts (float64), or the documents as text with ``as_text=True``.
    y : ndarray of shape (n_documents,)
        Class of each document, 0 .. n_classes - 1.

    Examples
    --------
    >>> from floral.datasets import make_text_corpus
    >>> X, y = make_text_corpus(200, 1000, random_state=0)
    >>> X.shape, sorted(set(y.tolist()))
    ((200, 1000), [0, 1])
    >>> docs, _ = make_text_corpus(3, 50, document_length=4, as_text=True, random_state=0)
    >>> all(w.startswith("w") for d in docs for w in d.split())
    True
    """
    rng = check_random_state(random_state)
    n, d = int(n_documents), int(n_terms)
    base = -zipf_exponent * np.log(np.arange(1, d + 1, dtype=np.float64))
    informative = rng.random_sample(d) < informative_fraction
    y = rng.randint(0, int(n_classes), size=n)
    lengths = np.maximum(1, rng.poisson(document_length, size=n))
    doc = np.repeat(np.arange(n), lengths)
    words = np.empty(doc.size, dtype=np.int64)
    for c in range(int(n_classes)):
        logp = base + np.where(informative, class_sep * rng.uniform(-1, 1, size=d), 0.0)
        cdf = np.cumsum(np.exp(logp - logp.max()))
        mine = y[doc] == c
        # inverse transform sampling: one uniform per word, one sorted search each
        u = rng.random_sample(int(mine.sum())) * cdf[-1]
        words[mine] = np.minimum(np.searchsorted(cdf, u, side="right"), d - 1)
    if as_text:
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        names = np.char.add("w", np.arange(d).astype(str))
        return [" ".join(names[words[a:b]]) for a, b in zip(bounds[:-1], bounds[1:])], y
    X = sp.csr_matrix((np.ones(doc.size), (doc, words)), shape=(n, d))
    X.sum_duplicates()
    return X, y


# --- files -------------------------------------------------------------------------------------

# An .npz is refused before anything is decompressed when its arrays would take more than
# the memory available now (what the OS reports; _NPZ_FALLBACK_BYTES when it reports
# nothing): the sizes come from the zip directory (each member's declared uncompressed
# size, which bounds what zipfile will inflate) and from each .npy header (shape x itemsize,
# which bounds what numpy will allocate), so neither a zip bomb nor a header declaring a
# huge shape costs more than reading a few hundred bytes.
_NPZ_FALLBACK_BYTES = 8 * 2**30


def _npz_max_bytes():
    from ._memory import available_memory

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
