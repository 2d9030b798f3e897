"""Dense float64 NumPy/SciPy versions of the compiled core's routines.

They are written for clarity, not speed, and share no code with floral/_core: the tests
check the C++ against them.
"""
import numpy as np
from scipy.optimize import brentq


def project_reference(v, a, lower, upper):
    """Projection onto {lower <= x <= upper, a^T x = 0} by Brent's method on the
    multiplier: phi(mu) = sum a_i clip(v_i - mu a_i) is monotone, so bracket and solve."""
    v = np.asarray(v, float)
    a = np.asarray(a, float)
    lower = np.broadcast_to(np.asarray(lower, float), v.shape)
    upper = np.broadcast_to(np.asarray(upper, float), v.shape)

    def phi(mu):
        return np.sum(a * np.clip(v - mu * a, lower, upper))

    span = np.max(np.abs(v)) + np.max(np.abs(np.r_[lower, upper])) + 1.0
    lo, hi = -span, span
    if phi(lo) == 0.0:
        mu = lo
    elif phi(hi) == 0.0:
        mu = hi
    else:
        mu = brentq(phi, lo, hi, xtol=1e-15, rtol=1e-15, maxiter=500)
    return np.clip(v - mu * a, lower, upper)


def kernel_reference(X, Z, kernel, gamma, degree=3, coef0=0.0):
    from sklearn.metrics.pairwise import pairwise_kernels

    params = {"linear": {}, "rbf": {"gamma": gamma},
              "poly": {"gamma": gamma, "degree": degree, "coef0": coef0},
              "sigmoid": {"gamma": gamma, "coef0": coef0}}[kernel]
    return pairwise_kernels(X, Z, metric=kernel, **params)


def intercept_reference(lam, yt, f, C):
    """b from the free support vectors, else LIBSVM's midpoint of the feasible interval."""
    free = (lam > 0) & (lam < C)
    if free.any():
        return float(np.mean(yt[free] - f[free]))
    yg = f - yt
    upper = np.r_[yg[(lam >= C) & (yt < 0)], yg[(lam <= 0) & (yt > 0)]]
    lower = np.r_[yg[(lam >= C) & (yt > 0)], yg[(lam <= 0) & (yt < 0)]]
    ub = upper.min() if upper.size else np.inf
    lb = lower.max() if lower.size else -np.inf
    if np.isfinite(ub) and np.isfinite(lb):
        return -0.5 * (ub + lb)
    return -(ub if np.isfinite(ub) else (lb if np.isfinite(lb) else 0.0))


def floral_reference(K, y, C, lam0, *, n_rounds, learning_rate, lr_decay=1.0,
                     lr_decay_every=100, flip_budget=0, tol=1e-5):
    """DESIGN.md's algorithm with the deterministic attacker (candidate_factor = 1)."""
    y = np.asarray(y, float)
    lam = np.array(lam0, float)
    yt = y.copy()
    objective = []
    for t in range(1, n_rounds + 1):
        eta = learning_rate * lr_decay ** (t // lr_decay_every)
        f = K @ (yt * lam)
        lam = project_reference(lam - eta * (yt * f - 1.0), yt, 0.0, C)
        f = K @ (yt * lam)
        b = intercept_reference(lam, yt, f, C)
        objective.append(0.5 * (yt * lam) @ f - lam.sum())
        if t < n_rounds and flip_budget > 0:
            sv = np.flatnonzero(lam > tol)
            chosen = sv[np.lexsort((sv, -lam[sv]))][:flip_budget]
            yt = y.copy()
            yt[chosen] *= -1
    return lam, yt.astype(np.int8), b, np.array(objective)
