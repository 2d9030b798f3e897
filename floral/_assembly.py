"""Model assembly for FloralSVC: from the rounds the core kept to fitted attributes.

The core returns the last round, the ``n_best`` best validation rounds and the running
average of the rounds from ``average_from`` (floral_loop.hpp keeps them); this module picks
the one ``selection`` asks for, turns each into SVC's attributes (sharing one gathered
array of support vectors, or a compact basis when the expansion is large), builds the
per-round history, and makes the copies ``last_round()``/``best_round()`` return.
"""
import copy

import numpy as np

from ._kernels import KERNELS, diagonal, gram, kernel_params

__all__ = ["RowsOf", "attributes", "compact_expansion", "compact_rows", "core_labels",
           "equality_gap", "history", "is_converted_copy", "kept_model", "round_model",
           "with_model"]

# Compact models (compact_expansion): a kernel expansion over at least COMPACT_MIN_SV
# training points is replaced by one over a greedy subset whose decision function differs
# from the full one by at most COMPACT_TOL * sqrt(K(x, x)) at every x -- a hundredth of
# the margin (|h| = 1) for the RBF kernel. Smaller expansions are kept exactly (a few tens
# of kB at most); the work of the reduction (n_SV^2 kernel entries, n_SV x basis floats)
# is capped by COMPACT_MAX_WORK entries, beyond which the expansion is kept whole.
COMPACT_TOL = 1e-2
COMPACT_MIN_SV = 1000
COMPACT_MAX_WORK = 2 ** 29
# Largest basis tried: the greedy costs O(n_SV basis^2), and where the function needs
# more points than this (high-dimensional data with a wide kernel) the expansion stays.
COMPACT_MAX_BASIS = 512


def core_labels(y_idx, n_classes):
    """Labels as the core takes them: +-1 for two classes, class indices for more."""
    if n_classes == 2:
        return (2 * np.asarray(y_idx) - 1).astype(np.int8)
    return np.asarray(y_idx, dtype=np.int32)


def round_model(model, y_idx):
    """(coef, b, rounds, flipped) of one round the core returned: a RoundModel, or the
    FitResult itself for the last round."""
    return dict(coef=model.coef, b=model.b, rounds=[model.round],
                flipped=model.labels != y_idx)


def kept_model(selection, res, last, y_idx, rounds_run):
    """(coef, b, rounds, flipped) of the model to return, and how to describe it."""
    if selection == "best" and res.best:
        best = res.best
        return dict(
            coef=np.mean([r.coef for r in best], axis=0),
            b=np.mean([r.b for r in best], axis=0),
            rounds=sorted(r.round for r in best),
            flipped=np.any([r.labels != y_idx for r in best], axis=0),
        ), f"the {len(best)} best validation rounds so far"
    if selection == "average" and res.average is not None:
        avg = res.average
        first = rounds_run - avg.n + 1
        return dict(coef=avg.coef, b=avg.b,
                    rounds=list(range(first, rounds_run + 1)),
                    flipped=avg.flip_count > 0), \
            f"the average of rounds {first} to {rounds_run}"
    return last, f"round {rounds_run}"


def attributes(est, X, models, n_problems, X_private=False):
    """The fitted attributes describing each (possibly averaged) classifier of
    ``models`` (None stays None). The support vectors are gathered from X once, for the
    union of the supports, and a model whose support is that union shares the array:
    the returned model and the last round usually have the same support, and at large
    n a copy of X[support] per kept model would double the model's memory. When X is
    fit's own converted copy (float32 features, a list), the rows are gathered into it
    in place (at n = 1,000,000 Nystroem features, 2 GB not copied again)."""
    coefs = [None if m is None else
             np.asarray(m["coef"], dtype=np.float64).reshape(n_problems, -1)
             for m in models]
    if est.kernel == "linear":
        return [None if m is None else _linear_attributes(est, X, m, c)
                for m, c in zip(models, coefs)]
    est._compaction_error = 0.0  # RKHS norm of what compaction removed (0: exact)
    compact = compact_expansion(X, [c for c in coefs if c is not None], est.kernel,
                                 est._gamma, int(est.degree), float(est.coef0))
    if compact is not None:
        basis, betas, est._compaction_error = compact
        pool = X[basis]  # shared by the models (pickled once)
        betas = iter(betas)
        return [None if m is None else {
            **est._model_attributes(X, basis, next(betas), m["b"], pool),
            "flipped_": np.flatnonzero(m["flipped"]).astype(np.int32),
            "kept_rounds_": np.asarray(m["rounds"], dtype=np.int32),
        } for m in models]
    supports = [None if c is None else np.flatnonzero(np.any(c != 0.0, axis=0))
                for c in coefs]
    union = np.unique(np.concatenate([s for s in supports if s is not None]))
    pool = compact_rows(X, union) if X_private else X[union]
    # the returned model (first) holds the pool itself when its support is the union,
    # as the average of the rounds usually does; the other models then take their
    # rows of it only when last_round()/best_round() asks (most fits never do, and at
    # n = 1,000,000 each gather is up to another n x d). Otherwise everything is
    # gathered now and the pool is let go.
    lazy = supports[0].size == union.size
    out = []
    for model, coef, support in zip(models, coefs, supports):
        if model is None:
            out.append(None)
            continue
        if support.size == union.size:
            sv = pool
        elif lazy:
            sv = RowsOf(pool, np.searchsorted(union, support))
        else:
            sv = pool[np.searchsorted(union, support)]
        out.append({
            **est._model_attributes(X, support, coef[:, support], model["b"], sv),
            "flipped_": np.flatnonzero(model["flipped"]).astype(np.int32),
            "kept_rounds_": np.asarray(model["rounds"], dtype=np.int32),
        })
    return out


def _linear_attributes(est, X, model, coef):
    """A linear-kernel model: coef_ and intercept_, nothing per training point (the
    expansion collapses to w = sum_i c_i x_i, which is all prediction reads)."""
    support = np.flatnonzero(np.any(coef != 0.0, axis=0))
    attrs = est._model_attributes(X, support, coef[:, support], model["b"],
                                   RowsOf(X, support))
    attrs.update(support_=np.empty(0, dtype=np.int32),
                 support_vectors_=np.empty((0, X.shape[1]), dtype=X.dtype),
                 dual_coef_=np.empty((coef.shape[0], 0)),
                 n_support_=np.zeros(est.classes_.size, dtype=np.int32),
                 flipped_=np.flatnonzero(model["flipped"]).astype(np.int32),
                 kept_rounds_=np.asarray(model["rounds"], dtype=np.int32))
    return attrs


def history(res, has_val):
    """FloralSVC's ``history_`` from the core's per-round record."""
    h = res.history
    # counts as int32 (n_rounds and n are below 2^31 by the constraints): the history
    # is most of a compact model's pickle, and counts need no 64 bits
    rounds = np.arange(1, res.rounds_run + 1, dtype=np.int32)
    out = {"round": rounds}
    for key in ("objective", "n_sv", "n_free", "n_bound", "n_changed", "mu", "eta",
                "ascent", "seconds"):
        column = getattr(h, key)[: rounds.size]
        out[key] = column.astype(np.int32) if column.dtype.kind == "i" else column
    if has_val:
        out["val_accuracy"] = h.accuracy[: rounds.size]
        out["val_balanced_accuracy"] = h.balanced_accuracy[: rounds.size]
    return out


def with_model(est, name):
    """A copy of ``est`` predicting with its kept model ``name`` (last_round(),
    best_round())."""
    # one deepcopy, so arrays the models share stay shared in the copy
    other = copy.deepcopy(est)
    model = dict(getattr(other, name))
    if isinstance(model["support_vectors_"], RowsOf):
        model["support_vectors_"] = model["support_vectors_"].gather()
    vars(other).update(model)
    return other


class RowsOf:
    """Rows ``index`` of the 2-D array ``pool``, gathered on request (``gather()``); blocks
    of them by slicing, which is all ``_expansion_weights`` needs for coef_."""

    __slots__ = ("pool", "index")

    def __init__(self, pool, index):
        self.pool = pool
        self.index = index

    @property
    def shape(self):
        return (self.index.size, self.pool.shape[1])

    def __getitem__(self, rows):
        return self.pool[self.index[rows]]

    # persistence (skops.io, pickle's protocols 0 and 1) asks for the state as a dict
    def __getstate__(self):
        return {"pool": self.pool, "index": self.index}

    def __setstate__(self, state):
        self.pool = state["pool"]
        self.index = state["index"]

    def gather(self):
        return self.pool[self.index]


def is_converted_copy(X, given):
    """Whether validate_data's ``X`` is a copy fit may keep as the support vectors:
    converted from an array (float32 features, another order) or from nested lists.
    Anything else that exposes memory (a DataFrame's block) counts as the caller's, and
    a list is not converted a second time just to ask."""
    if isinstance(given, np.ndarray):
        return not np.may_share_memory(X, given)
    return isinstance(given, (list, tuple))


def compact_rows(X, rows, block=4096):
    """``X[rows]`` gathered into ``X``'s own first rows, in place, and returned as a view
    (for fit's private copy of X: at n = 1,000,000 another n x d copy is gigabytes).
    ``rows`` is sorted and unique, so rows[i] >= i: a block reads only rows at or after
    its own first row, none of which an earlier block has written."""
    if rows.size == X.shape[0]:
        return X
    for a in range(0, rows.size, block):
        b = min(a + block, rows.size)
        X[a:b] = X[rows[a:b]]
    return X[:rows.size]


def equality_gap(coef, n_problems):
    """max over problems of |sum_i c_i| / (1 + sum_i |c_i|) for the coefficients c of the
    rounds' kept (averaged) model."""
    coef = np.asarray(coef, dtype=np.float64).reshape(n_problems, -1)
    if not coef.size:
        return 0.0
    return float(np.max(np.abs(coef.sum(axis=1)) / (1.0 + np.abs(coef).sum(axis=1))))


def compact_expansion(X, coefs, kernel, gamma, degree, coef0, block=1024):
    """One small basis for several kernel expansions over the rows of X, or None.

    ``coefs`` is a list of (n_problems, n) coefficient arrays (the returned model, the last
    and the best round); together they are F functions h_f = sum_i c_fi phi(x_i) in the
    kernel's feature space. The basis S grows greedily (kernel matching pursuit with
    re-fitting, done as a pivoted Cholesky factorisation of K): the next point is the one
    whose direction removes the most of the remaining squared error summed over the
    functions; each h_f is then replaced by its orthogonal projection onto span phi(S),
    whose error e_f satisfies |e_f(x)| <= ||e_f|| sqrt(K(x, x)) for every x
    (Cauchy-Schwarz). It stops once every ||e_f|| <= COMPACT_TOL. Only for the kernels
    the table marks ``compact`` (positive semidefinite), supports of at least
    COMPACT_MIN_SV points, and while the work fits COMPACT_MAX_WORK; None when a basis of
    half the support or less (at most COMPACT_MAX_BASIS points) does not reach the
    tolerance, or when the error's decay, extrapolated, shows it would not. Returns (sorted
    training indices S, one (n_problems, |S|) coefficient array per entry of coefs,
    max_f ||e_f||).
    """
    from scipy.linalg import solve_triangular

    if not KERNELS[kernel].compact or COMPACT_TOL <= 0:
        return None
    C = np.concatenate(coefs, axis=0)  # (F, n)
    support = np.flatnonzero(np.any(C != 0.0, axis=0))
    m = support.size
    if m < COMPACT_MIN_SV or m * m > COMPACT_MAX_WORK:
        return None
    params = kernel_params(kernel, gamma, degree, coef0)

    def K(A, B):
        return gram(A, B, params)

    Xs = np.asarray(X[support], dtype=np.float64)
    Cs = C[:, support].T  # (m, F)
    u0 = np.empty_like(Cs)  # K c at the support
    for a in range(0, m, block):
        u0[a:a + block] = K(Xs[a:a + block], Xs) @ Cs
    norm2 = np.einsum("if,if->f", Cs, u0)  # ||h_f||^2
    diag = diagonal(Xs, params)
    limit = min(m // 2, COMPACT_MAX_BASIS, COMPACT_MAX_WORK // m)
    L = np.empty((m, limit))
    Z = np.empty((limit, Cs.shape[1]))
    u, d, err2 = u0.copy(), diag.astype(np.float64), norm2.copy()
    tol2 = COMPACT_TOL ** 2
    floor = 1e-12 * max(float(diag.max()), 1e-300)
    pivots, trace = [], []
    while not np.all(err2 <= tol2):
        j = len(pivots)
        if j == limit:
            return None
        trace.append(float(err2.max()))
        if j >= 64 and j % 32 == 0:
            # the error's decay over the last half, extrapolated geometrically to the
            # limit: give up early where even that would not reach the tolerance
            rate = (trace[j] / trace[j // 2]) ** (1.0 / (j - j // 2))
            if trace[j] * rate ** (limit - j) > 100.0 * tol2:
                return None
        gain = np.where(d > floor, np.einsum("if,if->i", u, u) / np.maximum(d, floor), -1.0)
        p = int(np.argmax(gain))
        if gain[p] <= 0.0:
            return None
        col = K(Xs[p:p + 1], Xs)[0] - L[:, :j] @ L[p, :j]
        s = np.sqrt(d[p])
        L[:, j] = col / s
        Z[j] = u[p] / s
        u -= np.outer(L[:, j], Z[j])
        d -= L[:, j] ** 2
        d[p] = 0.0
        err2 -= Z[j] ** 2
        pivots.append(p)
    k = len(pivots)
    # K_SS = L_S L_S^T with L_S lower triangular in pivot order; beta = L_S^-T z
    beta = solve_triangular(L[pivots, :k].T, Z[:k], lower=False)
    # the error norm from the coefficients themselves (not the running subtraction)
    Kss = K(Xs[pivots], Xs[pivots])
    exact2 = norm2 - 2.0 * np.einsum("kf,kf->f", beta, u0[pivots]) + np.einsum(
        "kf,kl,lf->f", beta, Kss, beta)
    error = float(np.sqrt(max(float(exact2.max()), 0.0)))
    if not error <= 1.01 * COMPACT_TOL:  # lost to rounding: keep the exact expansion
        return None
    order = np.argsort(support[pivots])
    basis = support[pivots][order]
    beta = beta[order].T  # (F, k)
    out, row = [], 0
    for c in coefs:
        out.append(beta[row:row + c.shape[0]])
        row += c.shape[0]
    return basis, out, error
