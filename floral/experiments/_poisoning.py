"""Poisoning a training split: the one path the experiment runner and the benchmarks share."""
import hashlib
import inspect
import json
import os
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import validate_params

from .. import attacks as _attacks
from .._validation import BUDGET, GAMMA, POSITIVE, RANDOM_STATE


@validate_params(
    {"X": ["array-like", "sparse matrix"], "y": ["array-like"], "attack": [str],
     "budget": BUDGET, "random_state": RANDOM_STATE, "C": [*POSITIVE, None],
     "gamma": [*GAMMA, None], "X_val": ["array-like", "sparse matrix", None],
     "y_val": ["array-like", None], "attack_params": [dict, None],
     "cache_dir": [str, os.PathLike, None]},
    prefer_skip_nested_validation=True,
)
def poison_labels(X, y, attack, budget, *, random_state=None, C=None, gamma=None,
                  X_val=None, y_val=None, attack_params=None, cache_dir=None):
    """``attack``'s labels for the training split ``(X, y)``, as the experiment runner makes them.

    The attack gets ``C``, ``gamma``, ``X_val`` and ``y_val`` where its signature takes them
    and they are given (the SVM's parameters only for the attacks that fit one), then
    ``attack_params``; ``attack="none"`` or ``budget=0`` is a clean copy.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training features.
    y : array-like of shape (n_samples,)
        Clean training labels (not modified).
    attack : str
        A name from :func:`floral.attacks.available`, or ``"none"``.
    budget : float or int
        The attack's budget (fraction or count of labels).
    random_state : int, RandomState instance or None, default=None
        The attack's seed; an int with ``cache_dir`` (other seeds draw new labels each
        call, which a cache would hide).
    C, gamma : float, default=None
        The SVM the attack fits, for the attacks that take them.
    X_val, y_val : array-like, default=None
        Validation split, for the attacks that take one.
    attack_params : dict, default=None
        Further keyword arguments of the attack.
    cache_dir : str or path, default=None
        Keep the labels in ``cache_dir``, in a file named by a digest of the data and every
        argument above, so a rerun reads them and a changed split, attack or parameter
        recomputes them instead of reading stale labels.

    Returns
    -------
    y_poisoned : ndarray of shape (n_samples,)
    """
    if attack == "none" or budget == 0:
        return np.array(y, copy=True)
    fn = _attacks.get(attack)
    accepted = inspect.signature(fn).parameters
    options = {"C": C, "gamma": gamma, "X_val": X_val, "y_val": y_val}
    kwargs = {k: v for k, v in options.items() if v is not None and k in accepted}
    kwargs.update(attack_params or {})
    path = None
    if cache_dir is not None:
        if not isinstance(random_state, Integral):
            raise ValueError("poison_labels: random_state must be an int when cache_dir is "
                             f"given, got {random_state!r}")
        digest = _digest(X, y, budget, random_state, kwargs)
        path = os.path.join(os.fspath(cache_dir), f"{attack}-{digest}.npy")
        if os.path.exists(path):
            return np.load(path)
    y_poisoned = fn(X, y, budget, random_state=random_state, **kwargs)
    if path is not None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # written under another name first: a worker killed mid-write leaves no torn file
        tmp = f"{path}.{os.getpid()}.tmp.npy"
        np.save(tmp, y_poisoned)
        os.replace(tmp, path)
    return y_poisoned


def _digest(X, y, budget, random_state, kwargs):
    h = hashlib.sha256(json.dumps([float(budget), random_state], default=str).encode())
    for key in sorted(kwargs):
        value = kwargs[key]
        h.update(key.encode())
        if isinstance(value, np.ndarray) or hasattr(value, "shape"):
            h.update(_array_bytes(value))
        else:
            h.update(json.dumps(value, default=str, sort_keys=True).encode())
    h.update(_array_bytes(X))
    h.update(_array_bytes(y))
    return h.hexdigest()[:24]


def _array_bytes(a):
    if hasattr(a, "toarray") and not isinstance(a, np.ndarray):  # scipy.sparse
        a = a.tocsr()
        return str(a.shape).encode() + b"".join(
            np.ascontiguousarray(p).tobytes() for p in (a.data, a.indices, a.indptr))
    a = np.ascontiguousarray(a)
    return str((a.dtype, a.shape)).encode() + a.tobytes()
