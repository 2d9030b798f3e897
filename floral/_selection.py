"""FloralSVC's game chosen on the trusted validation set, and the checks that keep a
degenerate model from being returned silently.

**The search** (``flip_budget="auto"``, ``gamma="auto_scale"`` and ``C="auto"``, the
defaults, with a validation set). FLORAL's threat model has a small clean set; the strength
of the attacker the model trains against and the kernel width are the two choices that
decide what the game returns, and neither can be read off the (possibly poisoned) training
labels; C acts in the plain SVM, rarely inside the game. The search runs in two stages so
that it costs a few fits, not a grid of games:

1. the kernel width and C: the SVM without attacker (budget 0, solved exactly by libsvm,
   for the linear kernel on X X^T built once per search (``libsvm_input``), and refined by
   a few rounds of the core, so it is the SVM optimum on the given labels) at every pair
   of ``gamma_scale * WIDTH_FACTORS`` and ``C_GRID``; the pair with the best validation
   score wins (an explicit ``flip_budget`` plays that budget at each width instead, with
   C = 1 when C is "auto");
2. the budget: the game at each of ``BUDGETS`` at that width and C.

The candidate with the best validation score is returned (ties go to the smaller budget,
then to the width nearer "scale"), except that a game (budget > 0) must beat the best plain
SVM by more than one standard error of the score: its rounds were selected on the same
validation points (the best ``n_best`` of ``n_rounds``), so its score is optimistic, the
plain SVM's is not. On clean data that is usually the plain SVM, under
attack the game. An explicit value of either parameter is used as given and not searched.
"""
import contextlib
import contextvars
import math
import time

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from ._monitoring import interruptible
from ._validation import (
    check_validation_set,
    is_sparse,
    libsvm_max_iter,
    resolve_gamma,
    warn_caller,
)
from .exceptions import DegenerateModelWarning, IneffectiveParameterWarning

__all__ = ["BUDGETS", "DEFAULT_BUDGET", "WIDTH_FACTORS", "searched", "fit_search",
           "check_fitted_model", "box_reach", "initial_dual"]

# flip_budget="auto": the budgets tried with a validation set (0 is the SVM), and the one
# played without. Without a validation set nothing can tell clean labels from poisoned
# ones, so the budget trades clean accuracy for robustness; 0.02 keeps clean accuracy
# within 1 point of SVC and most of the paper's 5% gain under moderate attacks
# (bench/README.md, "Playing without a validation set").
BUDGETS = (0.0, 0.05, 0.1)
DEFAULT_BUDGET = 0.02
# gamma="auto_scale": the widths tried with a validation set, as factors of "scale".
WIDTH_FACTORS = (1.0 / 3.0, 1.0, 3.0)
# C="auto": the box constraints the plain SVM tries with a validation set (C acts there;
# inside the game it rarely binds), and the C played without one (SVC's default). 100 is
# left out: libsvm's cost grows with C, and the tuned SVCs of bench/README.md's robustness
# runs rarely chose it. 0.1 too: on those runs it was chosen in 35 of 300 fits, and
# without it the mean test accuracy was the same (0.955) for 19% less search time
# (bench/sweeps/c_grid.py).
C_GRID = (1.0, 10.0)
DEFAULT_C = 1.0
# The budget-0 candidate starts at libsvm's solution; these rounds of the core refine it
# (a projected-gradient step from the optimum stays there) and give it a history.
ZERO_BUDGET_ROUNDS = 10
# init="svc" (and so the budget-0 candidate, which must be the SVM optimum): libsvm's
# default stopping tolerance 1e-3 leaves decision values ~3e-3 off the optimum on Moon;
# 1e-5 brings them within ~2e-5 at a few more iterations.
SVC_INIT_TOL = 1e-5
# A validation score within this many standard errors of a constant classifier's is "at
# chance": the validation set cannot tell the model from a constant.
CHANCE_SE = 3.0
# The linear kernel's plain SVM (init="svc" and the search's ranking) runs libsvm on the
# kernel matrix X X^T built once by scipy/BLAS when it fits: libsvm's own linear kernel
# recomputes sparse dot products row by row (on 4,000 TF-IDF documents 8 s at C = 1
# against 0.15 s on the matrix, plus 3 s to build it). The build peaks near this many
# bytes per entry (scipy's sparse product before its dense copy).
GRAM_BYTES_PER_ENTRY = 20
# One search's linear kernel matrices, keyed by the training array they came from (the
# array is held, so its id cannot be reused while the entry lives).
_GRAMS = contextvars.ContextVar("floral_linear_grams", default=None)


def resolved_budget(flip_budget):
    """flip_budget without a search: "auto" plays DEFAULT_BUDGET."""
    return DEFAULT_BUDGET if flip_budget == "auto" else flip_budget


def resolved_gamma(gamma):
    """gamma without a search: "auto_scale" is "scale"."""
    return "scale" if gamma == "auto_scale" else gamma


def resolved_C(C):
    """C without a search: "auto" is DEFAULT_C."""
    return DEFAULT_C if isinstance(C, str) else float(C)


def searched(est, has_val):
    """(search the budget, search the width, search C) for ``est``'s parameters. C is
    searched by the plain-SVM candidates only, so only when they are played."""
    if not has_val:
        return False, False, False
    width = est.gamma == "auto_scale" and est.kernel != "linear"
    budget = est.flip_budget == "auto"
    plain = budget or (not isinstance(est.flip_budget, str) and est.flip_budget == 0)
    return budget, width, est.C == "auto" and plain


def initial_dual(est, X, y_idx, n_classes, C_vec, gamma):
    """The starting duals of ``est``'s game: zeros, or with ``init="svc"`` (the budget-0
    candidate's start) a plain SVC's dual per one-vs-rest problem, clipped to the box."""
    n = X.shape[0]
    n_problems = 1 if n_classes == 2 else n_classes
    if est.init == "zeros":
        return np.zeros(n) if n_problems == 1 else np.zeros((n_problems, n))
    from sklearn.svm import SVC

    lam = np.zeros((n_problems, n))
    kernel, X_fit, _ = libsvm_input(est, X)
    for p in range(n_problems):
        target = y_idx == (1 if n_problems == 1 else p)
        # libsvm has no iteration cap by default and never checks for Ctrl-C: capped
        # (the game only needs a start near the SVM optimum; scikit-learn warns when
        # the cap stops it) and run where an interrupt reaches fit at once
        C = resolved_C(est.C)
        svc = SVC(C=C, kernel=kernel, gamma=gamma, degree=est.degree,
                  coef0=est.coef0, tol=SVC_INIT_TOL, max_iter=libsvm_max_iter(n),
                  cache_size=200 if est.cache_size == "auto" else est.cache_size)
        interruptible(svc.fit, X_fit, np.where(target, 1, -1), sample_weight=C_vec / C)
        dual = svc.dual_coef_  # scipy.sparse when SVC was fitted on sparse X
        dual = dual.toarray() if is_sparse(dual) else dual
        lam[p, svc.support_] = np.abs(dual.ravel())
    # libsvm stops at its own tolerance; the box must hold exactly for the core
    lam = np.clip(lam, 0.0, C_vec)
    return lam[0] if n_problems == 1 else lam


@contextlib.contextmanager
def shared_linear_gram():
    """Within the block, the linear kernel matrix of a training array is built once and
    reused by every plain SVM fitted on that array (the search's C values, init="svc")."""
    token = _GRAMS.set({})
    try:
        yield
    finally:
        _GRAMS.reset(token)


def _float64_rows(A):
    """A as float64 rows (sparse stays sparse); the product must not round in float32."""
    if is_sparse(A):
        return A if A.dtype == np.float64 else A.astype(np.float64)
    return np.asarray(A, dtype=np.float64)


def _linear_kernel(A, B):
    """A B^T as a dense float64 array. Sparse rows (TF-IDF) split their columns: the
    frequent terms, in at least 1% of B's rows, are multiplied densely by BLAS, the rest by
    scipy's sparse product. The frequent few carry most of the products, which a sparse
    product pays one by one: on 4,000 / 8,000 documents of make_text_corpus 0.4 / 1.5 s
    against 3.5 / 8.2 s for scipy alone. With B A itself (X X^T) each piece is made once."""
    same = B is A
    A = _float64_rows(A)
    B = A if same else _float64_rows(B)
    if not (is_sparse(A) and is_sparse(B)):
        prod = A @ B.T
        return prod.toarray() if is_sparse(prod) else np.asarray(prod)
    Ac = A.tocsc()
    Bc = Ac if same else B.tocsc()
    df = np.diff(Bc.indptr)
    frequent = df >= max(1, B.shape[0] // 100)
    # at most as many dense columns as B has rows: the block stays within the matrix's size
    dense = np.sort(np.flatnonzero(frequent)[np.argsort(-df[frequent],
                                                        kind="stable")[:B.shape[0]]])
    rare = np.setdiff1d(np.arange(df.size), dense, assume_unique=True)
    Ad, Ar = Ac[:, dense].toarray(), Ac[:, rare].tocsr()
    Bd, Br = (Ad, Ar) if same else (Bc[:, dense].toarray(), Bc[:, rare].tocsr())
    K = Ad @ Bd.T
    K += (Ar @ Br.T).toarray()
    return K


def libsvm_input(est, X, X_val=None):
    """(kernel, training input, validation input) for a libsvm SVC of ``est``'s kernel on X:
    for the linear kernel the precomputed X X^T (and X_val X^T) when what must still be
    built fits in half the available memory, else ``est.kernel`` on the rows themselves."""
    from sklearn.utils.validation import _num_samples

    from . import _memory

    if est.kernel != "linear":
        return est.kernel, X, X_val
    n = _num_samples(X)
    m = 0 if X_val is None else _num_samples(X_val)
    memo = _GRAMS.get()
    hit = None if memo is None else memo.get(id(X))
    K = hit[1] if hit is not None and hit[0] is X else None
    # a matrix the search already holds is not counted again (nor re-checked against the
    # memory it now takes up)
    share, available = _memory.auto_share()
    if GRAM_BYTES_PER_ENTRY * (n * m if K is not None else n * (n + m)) > share:
        if memo is None or not memo.get("warned"):
            warn_caller(
                f"FloralSVC: X X^T for n={n} does not fit in half of the available memory "
                f"({available / 1e9:.1f} GB), so libsvm's plain linear SVM (flip_budget="
                f"'auto', C='auto' or init='svc') reads the rows: at this n that can take "
                f"hours. Give flip_budget and C (e.g. flip_budget=0.05, C=1.0) to play one "
                f"game without it.", UserWarning)
            if memo is not None:
                memo["warned"] = True
        return est.kernel, X, X_val
    if K is None:
        # scipy's product and BLAS release the GIL: built where Ctrl-C reaches fit at once
        K = interruptible(_linear_kernel, X, X)
        if memo is not None:
            memo[id(X)] = (X, K)
    return "precomputed", K, None if X_val is None else interruptible(_linear_kernel, X_val, X)


def _score(scoring, y_true, y_pred, sample_weight):
    metric = balanced_accuracy_score if scoring == "balanced_accuracy" else accuracy_score
    return float(metric(y_true, y_pred, sample_weight=sample_weight))


def fit_search(est, X, y, sample_weight, X_val, y_val, sample_weight_val):
    """Fit ``est``'s candidates (clones with explicit flip_budget, gamma and C), set the
    winner's fitted attributes on ``est`` and ``search_results_``; returns ``est``."""
    with shared_linear_gram():
        return _fit_search(est, X, y, sample_weight, X_val, y_val, sample_weight_val)


def _fit_search(est, X, y, sample_weight, X_val, y_val, sample_weight_val):
    from sklearn.utils.validation import check_array

    search_budget, search_width, search_C = searched(est, True)
    fixed_budget = None if search_budget else est.flip_budget
    if search_width:
        # "scale" on the training points as fit sees them (float64, or the features as
        # given: the variance is the same)
        gamma_scale = resolve_gamma("scale", check_array(X, dtype=np.float64,
                                                         accept_sparse=("csr", "csc")))
        widths = [f * gamma_scale for f in WIDTH_FACTORS]
        factors = list(WIDTH_FACTORS)
    else:
        widths, factors = [resolved_gamma(est.gamma)], [1.0]
    Cs = list(C_GRID) if search_C else [resolved_C(est.C)]
    rows = []  # (budget, gamma, factor, C, score, seconds, fitted clone)

    def run(budget, gamma, factor, C):
        params = dict(flip_budget=budget, gamma=gamma, C=C)
        if budget == 0:
            params.update(init="svc", n_rounds=min(int(est.n_rounds), ZERO_BUDGET_ROUNDS))
        cand = clone(est).set_params(**params)
        start = time.perf_counter()
        try:
            cand._fit_game(X, y, sample_weight, X_val, y_val, sample_weight_val)
        except KeyboardInterrupt:
            # as a fit without search: keep the interrupted candidate's rounds so far
            if hasattr(cand, "n_rounds_"):
                _adopt(est, cand)
                est.search_results_ = None
            raise
        seconds = time.perf_counter() - start
        score = _score(est.scoring, y_val, cand.predict(X_val), sample_weight_val)
        rows.append([budget, gamma, factor, C, score, seconds, cand])
        # only the best candidate and the best plain SVM can be returned: let the others'
        # models go (at large n each holds its support vectors)
        keep = {_best(rows), _best([r if r[0] == 0 else None for r in rows])}
        for i, r in enumerate(rows):
            if i not in keep:
                r[6] = None
        return score

    # stage 1, the width and C: the plain SVM (or the explicit budget) at each pair; ties
    # go to the pair nearest ("scale", C = 1)
    first_budget = 0.0 if search_budget else fixed_budget
    pairs = [(g, f, c) for g, f in zip(widths, factors) for c in Cs]
    first = {}  # pair index -> its row: a candidate's, or only libsvm's score (model None)

    def distance(i):
        return abs(math.log(pairs[i][1])) + abs(math.log10(pairs[i][2]))

    if first_budget == 0 and len(pairs) > 1:
        # libsvm alone ranks the pairs (the core's build of the kernel and its refinement
        # cost as much again at every pair); the best pair is then refined. The pair
        # nearest the defaults is refined first: that fit validates the input.
        home = min(range(len(pairs)), key=distance)
        run(0.0, *pairs[home])
        first[home] = rows[-1]
        for i, (g, f, c) in enumerate(pairs):
            if i != home:
                start = time.perf_counter()
                score = plain_score(est, X, y, sample_weight, X_val, y_val,
                                    sample_weight_val, g, c)
                first[i] = [0.0, g, f, c, score, time.perf_counter() - start, None]
        best = max(first, key=lambda i: (first[i][4], -distance(i)))
        gamma, factor, C = pairs[best]
        if best != home:
            run(0.0, gamma, factor, C)
            first[best] = rows[-1]
    elif len(pairs) > 1 or not search_budget:
        for i, (g, f, c) in enumerate(pairs):
            run(first_budget, g, f, c)
            first[i] = rows[-1]
        gamma, factor, C = pairs[max(first, key=lambda i: (first[i][4], -distance(i)))]
    else:
        (gamma, factor, C), = pairs
    # stage 2, the budget at that width and C
    if search_budget:
        for budget in BUDGETS:
            if not any(r[0] == budget and r[1] == gamma and r[3] == C for r in rows):
                run(budget, gamma, factor, C)

    win = _best(rows)
    if search_budget and rows[win][0] > 0:
        # A game's score is optimistic: its rounds were selected on these same points
        # (the best n_best of n_rounds), the plain SVM's were not. The game must beat the
        # best plain SVM by more than one standard error of a validation score.
        plain = _best([r if r[0] == 0 else None for r in rows])
        if rows[plain][4] >= rows[win][4] - _standard_error(rows[win][4], y_val,
                                                            sample_weight_val):
            win = plain
    _adopt(est, rows[win][6])
    # stage 1's pairs in their order (each once: a pair refined after libsvm ranked it as
    # the candidate), then stage 2's games
    chosen = rows[win]
    rows = [first[i] for i in sorted(first)] + [r for r in rows if not any(
        r is s for s in first.values())]
    win = next(i for i, r in enumerate(rows) if r is chosen)
    est.search_results_ = {
        "flip_budget": np.array([r[0] for r in rows], dtype=np.float64),
        "gamma": np.array([r[1] for r in rows], dtype=object),
        "gamma_factor": np.array([r[2] for r in rows], dtype=np.float64),
        "C": np.array([r[3] for r in rows], dtype=np.float64),
        "val_score": np.array([r[4] for r in rows]),
        "fit_time": np.array([r[5] for r in rows]),
        "chosen": np.arange(len(rows)) == win,
    }
    return est


def plain_score(est, X, y, sample_weight, X_val, y_val, sample_weight_val, gamma, C):
    """Validation score of the plain SVM at (gamma, C) as libsvm solves it (its default
    tolerance; one-vs-rest as the core plays more than two classes), without the core's
    refinement: what ranks the search's (width, C) pairs. The input was validated by the
    search's first fit."""
    from scipy import sparse
    from sklearn.svm import SVC
    from sklearn.utils.class_weight import compute_class_weight

    y = np.ravel(np.asarray(y))
    classes, y_idx = np.unique(y, return_inverse=True)
    w = compute_class_weight(est.class_weight, classes=classes, y=y)[y_idx]
    if sample_weight is not None:
        w = w * np.broadcast_to(np.asarray(sample_weight, dtype=np.float64), w.shape)
    if is_sparse(X) and not is_sparse(X_val):
        X_val = sparse.csr_matrix(np.asarray(X_val, dtype=np.float64))
    elif is_sparse(X_val) and not is_sparse(X):
        X_val = X_val.toarray()
    kernel, X_fit, X_val = libsvm_input(est, X, X_val)
    decision = []
    for p in [1] if classes.size == 2 else range(classes.size):
        svc = SVC(C=C, kernel=kernel, gamma=gamma, degree=est.degree, coef0=est.coef0,
                  max_iter=libsvm_max_iter(y.size),
                  cache_size=200 if est.cache_size == "auto" else est.cache_size)
        interruptible(svc.fit, X_fit, np.where(y_idx == p, 1, -1), sample_weight=w)
        decision.append(svc.decision_function(X_val))
    if classes.size == 2:
        pred = classes[(decision[0] > 0).astype(np.intp)]
    else:
        pred = classes[np.argmax(np.column_stack(decision), axis=1)]
    return _score(est.scoring, y_val, pred, sample_weight_val)


def _best(rows):
    """Index of the best row (None entries skipped; None when there is none): highest
    score, then the smaller budget, then the (width, C) pair nearer ("scale", 1)."""
    ranked = [(-r[4], float(r[0]), abs(math.log(r[2])) + abs(math.log10(r[3])), i)
              for i, r in enumerate(rows) if r is not None]
    return min(ranked)[3] if ranked else None


def _standard_error(score, y_val, sample_weight_val):
    """sqrt(s (1 - s) / m) with m the effective number of validation points."""
    if sample_weight_val is None:
        m = float(np.shape(y_val)[0])
    else:
        w = np.asarray(sample_weight_val, dtype=np.float64)
        m = float(w.sum() ** 2 / max(np.square(w).sum(), 1e-300))
    return math.sqrt(max(score * (1.0 - score), 0.0) / max(m, 1.0))


def _adopt(est, cand):
    """Give ``est`` the fitted state of ``cand`` (its parameters stay ``est``'s own)."""
    params = est.get_params(deep=False)
    vars(est).update({k: v for k, v in vars(cand).items() if k not in params})


def _predict_codes(est, X, block_bytes=1 << 17):
    """Class indices ``est`` predicts for X, about ``block_bytes`` of float64 rows at a time
    (prediction converts to float64: at n = 1,000,000 float32 features a copy of all of X
    would double fit's memory)."""
    from sklearn.utils import _safe_indexing
    from sklearn.utils.validation import _num_samples

    if is_sparse(X) and X.format not in ("csr", "csc"):
        X = X.tocsr()  # COO/DOK/... rows cannot be sliced
    n = _num_samples(X)
    chunk = max(256, block_bytes // (8 * est.n_features_in_))
    if n <= chunk:
        return np.searchsorted(est.classes_, est.predict(X))
    parts = [est.predict(_safe_indexing(X, slice(a, min(a + chunk, n))))
             for a in range(0, n, chunk)]
    return np.searchsorted(est.classes_, np.concatenate(parts))


def check_fitted_model(est, X, y, X_val, y_val, sample_weight_val, sample_weight):
    """Warn (DegenerateModelWarning) when the fitted ``est`` predicts one class on its
    training points, scores no better than a constant classifier on the validation set
    (without one: on the training labels), or when the best validation score of the whole
    fit is at chance; warn (IneffectiveParameterWarning) when C (or weights that scale
    every point alike) was set but could not have changed the model."""
    classes = est.classes_
    pred = _predict_codes(est, X)
    y_idx = np.searchsorted(classes, np.asarray(y).reshape(-1))
    if np.unique(pred).size == 1:
        warn_caller(
            f"FloralSVC predicts the single class {classes[pred[0]].tolist()!r} for every "
            "training "
            f"point ({_budget_note(est)}): the model is a constant. flip_budget is the "
            "attacker's strength per round inside the game, not the share of poisoned "
            "labels; large budgets let the attacker relabel most support vectors every "
            "round. Pass a validation set (X_val, y_val) so that flip_budget=\"auto\" "
            "chooses it, or use a smaller flip_budget.",
            DegenerateModelWarning)
    val = check_validation_set(est, X_val, y_val, sample_weight_val,
                               training_sparse=is_sparse(X))
    if val is not None:
        X_v, true, w = val
        got = _predict_codes(est, X_v)
        where = "validation set"
    else:
        where, true, w, got = "training labels", y_idx, None, pred
    score = _score(est.scoring, true, got, w)
    constant = _constant_score(est.scoring, true, w, classes.size)
    if score <= constant + 1e-12:
        hint = (" flip_budget is the attacker's strength per round, not the expected "
                "poisoning rate: try a smaller one, or pass a validation set so that "
                'flip_budget="auto" chooses it.')
        if val is not None:
            hint = f" Is the validation set in X's feature space?{_PIPELINE_HINT}"
        warn_caller(
            f"FloralSVC scores {score:.3f} ({est.scoring}) on the {where}, no better than "
            f"a constant classifier ({constant:.3f}); {_budget_note(est)}.{hint}",
            DegenerateModelWarning)
    elif val is not None:
        best = score
        if est.search_results_ is not None:
            best = max(best, float(np.max(est.search_results_["val_score"])))
        column = est.history_.get("val_" + est.scoring)
        if column is not None and np.any(np.isfinite(column)):
            best = max(best, float(np.nanmax(column)))
        if w is None:
            m_eff = float(true.size)
        else:
            m_eff = float(w.sum() ** 2 / np.square(w).sum())
        p = min(max(constant, 1e-3), 1 - 1e-3)
        margin = CHANCE_SE * math.sqrt(p * (1 - p) / max(m_eff, 1.0))
        if best <= constant + margin:
            warn_caller(
                f"The best validation score of this fit, {best:.3f} ({est.scoring}), is "
                f"within {CHANCE_SE:g} standard errors of a constant classifier's "
                f"({constant:.3f}) on {true.size} validation points: either the validation "
                "set is too small to tell a model from chance, or it is not in X's feature "
                f"space.{_PIPELINE_HINT}",
                DegenerateModelWarning)
    # unequal per-point weights scale each point's step and box inside the game
    # (point_scale), so they act whether or not a box binds; weights equal for every
    # point only rescale C
    uniform = not _weights_differ(est, y, sample_weight)
    user_set = [name for name, is_set in (
        ("C", est.C != "auto" and float(est.C) != DEFAULT_C),
        ("class_weight", est.class_weight is not None and uniform),
        ("sample_weight", sample_weight is not None and uniform)) if is_set]
    # with a search that played the plain SVM (budget 0), C and the weights acted there,
    # and the validation set weighed that candidate against the games: they did change
    # the model that was chosen
    searched_svm = (est.search_results_ is not None
                    and bool(np.any(est.search_results_["flip_budget"] == 0)))
    if user_set and not searched_svm and not np.any(est.history_["n_bound"]):
        warn_caller(
            f"{' and '.join(user_set)} changed nothing: in no round did a dual variable "
            "reach its bound C * weight (in the returned model the largest reached "
            f"{est._box_reach:.3g} of its bound), so any larger bound gives the same "
            "model. Inside the game the attacker relabels the points with the "
            "largest dual variables before they reach the box; with flip_budget=0 (or a "
            "validation set, where the search includes the plain SVM) these parameters act "
            "as in SVC, and so do smaller values of C that the duals reach. Unequal "
            "per-point weights (class_weight, sample_weight) act inside the game whatever "
            "C is.",
            IneffectiveParameterWarning)


def _weights_differ(est, y, sample_weight):
    """Whether sample_weight times the class weights differs between training points (the
    game's point_scale is then not None)."""
    from sklearn.utils.class_weight import compute_class_weight

    y = np.asarray(y).reshape(-1)
    classes = est.classes_
    y_idx = np.searchsorted(classes, y)
    w = compute_class_weight(est.class_weight, classes=classes, y=y)[y_idx]
    if sample_weight is not None:
        w = w * np.broadcast_to(np.asarray(sample_weight, dtype=np.float64), w.shape)
    return point_scale(w) is not None


# The smallest per-point scale, as a fraction of the largest: a point whose box is tiny
# against the others' still moves at this rate, so its dual reaches its (tiny) box within
# a few rounds, as under the unscaled step; weight ratios up to 1 / SCALE_FLOOR act fully.
SCALE_FLOOR = 1e-2


def point_scale(C_vec):
    """The leader's per-point scale d_i = C_i / mean(C) (floral_loop.hpp), floored at
    SCALE_FLOOR times the largest for C_i > 0, or None when every box is equal: then the
    game runs the unpreconditioned step, bit for bit."""
    C_vec = np.asarray(C_vec, dtype=np.float64)
    if C_vec.size == 0 or np.all(C_vec == C_vec[0]):
        return None
    d = C_vec / C_vec.mean()
    return np.where(d > 0, np.maximum(d, SCALE_FLOOR * d.max()), 0.0)


def box_reach(C_vec, models, n_problems):
    """The largest |c_i| / C_i over the coefficients of ``models`` (None skipped)."""
    reach = 0.0
    bound = np.maximum(C_vec, 1e-300)
    for model in models:
        if model is None:
            continue
        coef = np.asarray(model["coef"], dtype=np.float64).reshape(n_problems, -1)
        reach = max(reach, float(np.max(np.abs(coef) / bound)))
    return reach


_PIPELINE_HINT = (" In a Pipeline, route it through the transformers: "
                  'Pipeline(..., transform_input=["X_val"]) with '
                  "FloralSVC().set_fit_request(X_val=True, y_val=True) under "
                  "sklearn.set_config(enable_metadata_routing=True).")


def _budget_note(est):
    return f"flip_budget_={est.flip_budget_!r} ({est._n_flips} flips per round)"


def _constant_score(scoring, y_true, sample_weight, n_classes):
    """The best score of a classifier that always predicts one class."""
    if scoring == "balanced_accuracy":
        present = np.unique(y_true).size
        return 1.0 / present
    w = np.ones(y_true.size) if sample_weight is None else np.asarray(sample_weight, float)
    share = np.bincount(y_true, weights=w, minlength=n_classes) / max(w.sum(), 1e-300)
    return float(share.max())
