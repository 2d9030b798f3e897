"""Dense float64 NumPy/SciPy versions of the compiled core's routines.

They are written for clarity, not speed, and share no code with floral/_core: the tests
check the C++ against them.
"""
import numpy as np
from scipy.optimize import brentq


def project_reference(v, a, lower, upper, scale=None):
    """Projection onto {lower <= x <= upper, a^T x = 0} by Brent's method on the
    multiplier: phi(mu) = sum a_i clip(v_i - mu a_i) is monotone, so bracket and solve.
    With ``scale`` (d >= 0) the projection is in the metric diag(1 / d):
    x_i = clip(v_i - mu d_i a_i), the same search with phi's terms scaled by d_i."""
    v = np.asarray(v, float)
    a = np.asarray(a, float)
    lower = np.broadcast_to(np.asarray(lower, float), v.shape)
    upper = np.broadcast_to(np.asarray(upper, float), v.shape)
    d = np.ones_like(v) if scale is None else np.broadcast_to(np.asarray(scale, float), v.shape)

    def phi(mu):
        return np.sum(a * np.clip(v - mu * d * a, lower, upper))

    # every breakpoint (v_i - bound) / d_i lies inside
    span = (np.max(np.abs(v)) + np.max(np.abs(np.r_[lower, upper])) + 1.0) / np.min(
        d[d > 0], initial=1.0)
    lo, hi = -span, span
    if phi(lo) == 0.0:
        mu = lo
    elif phi(hi) == 0.0:
        mu = hi
    else:
        mu = brentq(phi, lo, hi, xtol=1e-15, rtol=1e-15, maxiter=500)
    return np.clip(v - mu * d * a, lower, upper)


def kernel_reference(X, Z, kernel, gamma, degree=3, coef0=0.0):
    """scikit-learn's kernel of that name, with the parameters floral's kernel table says
    it reads."""
    from sklearn.metrics.pairwise import pairwise_kernels

    from floral._kernels import KERNELS

    values = {"gamma": gamma, "degree": degree, "coef0": coef0}
    params = {k: values[k] for k in KERNELS[kernel].params}
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
                     lr_decay_every=100, flip_budget=0, tol=1e-5, scale=None):
    """DESIGN.md's algorithm with the deterministic attacker (candidate_factor = 1);
    ``scale`` (d) preconditions the step and the projection (floral_loop.hpp)."""
    y = np.asarray(y, float)
    lam = np.array(lam0, float)
    d = 1.0 if scale is None else np.asarray(scale, float)
    yt = y.copy()
    objective = []
    for t in range(1, n_rounds + 1):
        eta = learning_rate * lr_decay ** (t // lr_decay_every)
        f = K @ (yt * lam)
        lam = project_reference(lam - eta * d * (yt * f - 1.0), yt, 0.0, C, scale)
        f = K @ (yt * lam)
        b = intercept_reference(lam, yt, f, C)
        objective.append(0.5 * (yt * lam) @ f - lam.sum())
        if t < n_rounds and flip_budget > 0:
            sv = np.flatnonzero(lam > tol)
            chosen = sv[np.lexsort((sv, -lam[sv]))][:flip_budget]
            yt = y.copy()
            yt[chosen] *= -1
    return lam, yt.astype(np.int8), b, np.array(objective)


def floral_game_reference(K, y, C, *, n_classes, n_rounds, learning_rate, flip_budget=0,
                          class_cap=None, tol=1e-5, K_eval=None, y_eval=None, lam0=None,
                          scale=None):
    """The one-vs-rest FLORAL game of DESIGN.md / FloralSVC's docstring with the
    deterministic attacker (candidate_factor = 1), written densely.

    y holds class indices. Two classes are one problem (class 1 positive), more are one
    problem per class. The attacker takes the support vectors by total dual weight
    (value desc, index asc), skips a point whose given class already lost its cap, and
    relabels to the other class (binary) or to the largest decision value among the other
    classes (lowest class on ties). Returns per round: coef (P x n), b (P), labels, and
    the accuracy on (K_eval, y_eval) when given. ``scale`` (d, n values) preconditions
    every problem's step and projection: lam - eta d (yt f - 1), projected in the metric
    diag(1 / d).
    """
    y = np.asarray(y)
    n = y.size
    P = 1 if n_classes == 2 else n_classes
    positive = (lambda lab, p: lab == 1) if P == 1 else (lambda lab, p: lab == p)
    cap = np.full(n_classes, flip_budget) if class_cap is None else np.asarray(class_cap)
    lam = np.zeros((P, n)) if lam0 is None else np.array(lam0, float).reshape(P, n)
    labels = y.copy()
    d = 1.0 if scale is None else np.asarray(scale, float)
    rounds = []
    for t in range(1, n_rounds + 1):
        coef, b = np.zeros((P, n)), np.zeros(P)
        f_all = np.zeros((P, n))
        for p in range(P):
            yt = np.where(positive(labels, p), 1.0, -1.0)
            f = K @ (yt * lam[p])
            lam[p] = project_reference(lam[p] - learning_rate * d * (yt * f - 1.0), yt, 0.0,
                                       C, scale)
            coef[p] = yt * lam[p]
            f_all[p] = K @ coef[p]
            b[p] = intercept_reference(lam[p], yt, f_all[p], C)
        acc = None
        if K_eval is not None:
            dec = K_eval @ coef.T + b
            pred = (dec[:, 0] > 0).astype(int) if P == 1 else np.argmax(dec, axis=1)
            acc = float(np.mean(pred == y_eval))
        rounds.append(dict(coef=coef.copy(), b=b.copy(), labels=labels.copy(), accuracy=acc))
        if t == n_rounds or flip_budget == 0:
            continue
        weight = lam.sum(axis=0)
        sv = np.flatnonzero(weight > tol)
        order = sv[np.lexsort((sv, -weight[sv]))][:flip_budget]
        new = y.copy()
        taken = np.zeros(n_classes, int)
        for i in order:
            if taken[y[i]] >= cap[y[i]]:
                continue
            taken[y[i]] += 1
            if P == 1:
                new[i] = 1 - y[i]
            else:
                scores = f_all[:, i] + b
                scores[y[i]] = -np.inf
                new[i] = int(np.argmax(scores))
        labels = new
    return rounds


def xoshiro256ss(seed, size):
    """xoshiro256** seeded by SplitMix64 (Blackman & Vigna), in pure Python."""
    mask = (1 << 64) - 1
    state, x = [], seed
    for _ in range(4):
        x = (x + 0x9E3779B97F4A7C15) & mask
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        state.append(z ^ (z >> 31))

    def rotl(v, k):
        return ((v << k) | (v >> (64 - k))) & mask

    out = []
    s = state
    for _ in range(size):
        out.append((rotl((s[1] * 5) & mask, 7) * 9) & mask)
        t = (s[1] << 17) & mask
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
    return out


def partial_fisher_yates(candidates, k, seed):
    """k picks by the loop's lazy Fisher-Yates, drawing below(bound) by rejection from the
    xoshiro stream exactly as rng.hpp specifies."""
    stream = iter(xoshiro256ss(seed, 10 * k + 10))
    out = list(candidates)
    if len(out) == k:
        return out
    for r in range(k):
        bound = len(out) - r
        limit = 2**64 - 1 - (2**64 - 1) % bound
        draw = next(stream)
        while draw >= limit:
            draw = next(stream)
        j = r + draw % bound
        out[r], out[j] = out[j], out[r]
    return out[:k]
