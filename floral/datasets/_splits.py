"""The train / validation / test protocol shared by every loader: stratified splits and
standardisation on the training split."""

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, RealNotInt

from .._validation import (
    RANDOM_STATE,
)

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
