"""Datasets with the train / validation / test protocols used in the FLORAL paper."""
import numpy as np
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Bunch, check_random_state

__all__ = ["load_moons"]


def _split_scale(X, y, *, n_test, n_val, random_state, name, description):
    """Stratified test / validation / train split, standardised on the training split."""
    rng = check_random_state(random_state)
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=n_test, stratify=y, random_state=rng
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=n_val, stratify=y_rest, random_state=rng
    )
    scaler = StandardScaler().fit(X_train)
    return Bunch(
        X_train=scaler.transform(X_train),
        y_train=y_train,
        X_val=scaler.transform(X_val),
        y_val=y_val,
        X_test=scaler.transform(X_test),
        y_test=y_test,
        scaler=scaler,
        name=name,
        description=description,
    )


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
    X, y = make_moons(n_samples=2000, noise=0.2, random_state=rng)
    return _split_scale(
        X, y.astype(np.int64), n_test=1000, n_val=500, random_state=rng, name="moons",
        description="make_moons(2000, noise=0.2): 500 train / 500 validation / 1000 test",
    )
