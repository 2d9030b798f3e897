"""The bundled and synthetic datasets: Moon (balanced and imbalanced), digits, breast
cancer and Moon-like data of any size."""
from numbers import Integral, Real

import numpy as np
from sklearn import datasets as _skdatasets
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from .._validation import (
    NON_NEGATIVE,
    RANDOM_STATE,
)
from ._splits import _SPLIT, _counts, _split_scale

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
