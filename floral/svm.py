"""FloralSVC, the scikit-learn estimator for FLORAL: its parameters and the orchestration of
fit (the pieces: _core, _memory, _selection, _assembly and _monitoring)."""
import math
from numbers import Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils import compute_class_weight
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import _assembly, _core, _memory, _monitoring, _selection
from ._assembly import RowsOf as _RowsOf  # noqa: F401  (pickles of earlier releases name it here)
from ._base import BaseKernelSVC
from ._kernels import document
from ._validation import (
    BUDGET,
    CANDIDATE_FACTOR,
    COUNT,
    COUNT_OR_ZERO,
    N_JOBS,
    NON_NEGATIVE,
    POSITIVE,
    RANDOM_STATE,
    check_class_weights,
    check_data,
    check_validation_set,
    class_caps,
    core_seed,
    densify,
    encode_labels,
    is_sparse,
    resolve_budget,
    resolve_gamma,
    warn_caller,
)

__all__ = ["FloralSVC"]

# learning_rate="auto": the step is AUTO_STEP / lambda_max(K); projected gradient descent
# on the dual is stable below 2 / lambda_max (bench/README.md, "Step size").
AUTO_STEP = 0.5
# The stored n x m validation kernel of the in-core evaluation may take this many MB;
# beyond it the rows of the changed coefficients are computed on the fly.
_EVAL_CACHE_MB = 256.0


@document
class FloralSVC(BaseKernelSVC):
    r"""Kernel SVM trained by FLORAL against label-flipping attacks.

    A Stackelberg game: each round the model takes one projected-gradient step on the SVM
    dual under the current labels, then an attacker relabels ``flip_budget`` support
    vectors drawn among those with the largest dual weight. The returned model averages
    the rounds ``selection`` keeps (each round is a kernel expansion, so the average is
    one too); more than two classes play one-vs-rest problems against one attacker. The
    README's "How FloralSVC trains" has the algorithm, the choice of the game on the
    validation set and the per-class budget in full.

    Parameters
    ----------
    C : "auto" or float, default="auto"
        Box constraint of the dual, as in SVC; "auto" is 1.0, or with a validation set the
        better of 1 and 10 for the plain SVM, then played by the games. In the game C
        acts only once a dual reaches it, which relabelling often prevents (``fit`` warns).
    kernel : {kernel_options}, default="rbf"
        Kernel, with scikit-learn's formulas.
    gamma : {"auto_scale", "scale", "auto"} or float, default="auto_scale"
        Kernel coefficient; "scale" and "auto" as in SVC. "auto_scale" is "scale" without
        a validation set and the best of "scale" times {1/3, 1, 3} on it with one.
    degree : int, default=3
        Degree of the {degree_kernels} kernel.
    coef0 : float, default=0.0
        Independent term of the {coef0_kernels} kernels.
    flip_budget : "auto", int or float, default="auto"
        Labels the attacker flips per round (a count, or a fraction of the training set),
        *not* the share you expect poisoned: useful values are about 0.01 to 0.1 (near
        the poisoning rate the model collapses). "auto" chooses among 0, 0.05 and 0.1 on
        the validation set and plays 0.02 without one; 0 disables the attacker.
    candidate_factor : float, default=2.0
        The attacker draws among the top ``ceil(candidate_factor * flip_budget)``
        support vectors; 1.0 is the deterministic top-k attacker.
    class_cap : float >= 1 or None, default=2.0
        Per round at most ``ceil(class_cap * k * n_c / n)`` of a class's ``n_c`` points
        are relabelled. None: no cap (the paper's attacker).
    class_weight : dict, "balanced" or None, default=None
        As in SVC: class ``c``'s box is ``C * class_weight[c]``; unequal weights also scale
        each point's step, ``d_i = C_i / mean(C)``, so they act in the game (README).
    n_rounds : int, default=500
        Rounds of the game (projected-gradient steps).
    learning_rate : "auto" or float, default="auto"
        Initial step. "auto" is ``0.5 / lambda_max(D^1/2 K D^1/2)``, ``D = diag(d)`` (see
        class_weight; ``K`` itself when the weights are equal). Projected gradient descent
        is stable below ``2 / lambda_max``, four times "auto"; a step far beyond it can
        diverge, and ``fit`` then warns (``ConvergenceWarning``).
    lr_decay : float in (0, 1], default=1.0
        Step at round t is ``learning_rate * lr_decay ** (t // lr_decay_every)``.
    lr_decay_every : int, default=100
        Rounds between decays.
    init : {"zeros", "svc"}, default="zeros"
        Starting duals: zeros (the paper) or a plain SVC's dual on the given labels
        (libsvm capped at max(10**6, 100 * n_samples) iterations; Ctrl-C stops it; the
        linear kernel runs it on the matrix X X^T when that fits in half the available
        memory).
    selection : {"auto", "best", "average", "last"}, default="auto"
        Rounds the model averages: the ``n_best`` best on the trusted validation set
        ("best"), those after ``average_start * n_rounds`` ("average"), or the final one
        ("last", a random draw). "auto": "best" with a validation set, else "average".
    n_best : int, default=5
        Rounds averaged by ``selection="best"``; 1 keeps the single best round.
    scoring : {"balanced_accuracy", "accuracy"}, default="balanced_accuracy"
        What ranks the rounds (and the games) on the validation set.
    average_start : float in [0, 1], default=0.5
        ``selection="average"`` keeps the rounds after this fraction of ``n_rounds``.
    eval_every : int, default=1
        Rounds between evaluations on the validation set.
    refresh : int, default=50
        Rounds between exact recomputations of the incremental decision values; 0: never.
    cache_size : float or "auto", default="auto"
        MB for the kernel matrix (packed triangle, else an LRU row cache; "auto": half the
        available memory, README "Large data"); results are bitwise identical for any.
    tol : float, default=1e-5
        Dual variables above it are support vectors for the attacker and
        ``history_["n_sv"]``; it does not prune the returned model.
    n_jobs : int, default=None
        OpenMP threads (None: chosen per product by timing); results are the same for any.
    random_state : int, RandomState instance or None, default=None
        Seeds the attacker's random choices.
    verbose : int, default=0
        1 prints progress to stderr about once a second.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels; with two, ``classes_[1]`` is the positive class.
    support_ : ndarray of shape (n_SV,)
        Training indices of the expansion's points (empty with ``kernel="linear"``).
    support_vectors_ : ndarray of shape (n_SV, n_features)
        The support vectors.
    dual_coef_ : ndarray of shape (n_problems, n_SV)
        Coefficients of the support vectors averaged over the kept rounds (one row per
        one-vs-rest problem). Expansions over 1,000 or more points (RBF, poly) are
        compacted within :math:`0.01 \sqrt{K(x, x)}` (README "Model size").
    intercept_ : ndarray of shape (n_problems,)
        Intercepts, averaged like ``dual_coef_``.
    coef_ : ndarray of shape (n_problems, n_features)
        With ``kernel="linear"`` only: :math:`w = \sum_i c_i x_i` per problem.
    n_support_ : ndarray of shape (n_classes,)
        Support vectors per class (by the coefficient's sign, or its largest problem).
    flipped_ : ndarray of int
        Training indices the attacker relabelled in at least one kept round.
    kept_rounds_ : ndarray of int
        The rounds (1-based) the returned model averages.
    best_round_ : int
        The round with the best validation score (the last round without one).
    flip_budget_ : int or float
        The flip budget the returned model was trained with.
    gamma_ : float
        The resolved kernel coefficient (1.0 for the linear kernel).
    C_ : float
        The box constraint the returned model was trained with.
    search_results_ : dict of ndarray or None
        Per candidate game of the search: ``flip_budget``, ``gamma``, ``gamma_factor``,
        ``C``, ``val_score``, ``fit_time`` and ``chosen``. None without a search.
    learning_rate_ : float
        The initial step size used.
    lambda_max_ : float
        The largest eigenvalue of the training kernel matrix, of ``D^1/2 K D^1/2`` with
        unequal weights (see learning_rate); NaN unless ``learning_rate="auto"``.
    history_ : dict of ndarray
        Per round: ``round``, ``objective``, ``n_sv``, ``n_free``, ``n_bound``,
        ``n_changed``, ``mu``, ``eta``, ``ascent``, ``seconds`` and, with a validation
        set, ``val_accuracy`` and ``val_balanced_accuracy`` (NaN where not evaluated).
    n_rounds_ : int
        Rounds actually run (fewer after a Ctrl-C).
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    sklearn.svm.SVC : the same model trained on the labels as given.
    floral.attacks : label-flip attacks for evaluating defenses.

    Notes
    -----
    Ctrl-C in ``fit`` keeps the rounds so far, warns and re-raises ``KeyboardInterrupt``.
    Tune and calibrate on the trusted set (README "Pipelines, tuning and calibration").

    References
    ----------
    M. I. Bal, V. Cevher, M. Muehlebach. "Adversarial Training for Defense Against
    Label Poisoning Attacks". ICLR 2025.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from floral import FloralSVC
    >>> X, y = make_moons(300, noise=0.2, random_state=0)
    >>> X_val, y_val = make_moons(100, noise=0.2, random_state=1)
    >>> clf = FloralSVC(random_state=0).fit(X, y, X_val=X_val, y_val=y_val)
    >>> clf.flip_budget_ in (0.0, 0.05, 0.1)   # the game chosen on the validation set
    True
    >>> clf.kept_rounds_.size        # the 5 best rounds on the validation set
    5
    >>> clf.score(X_val, y_val) > 0.9
    True
    """

    _parameter_constraints = {
        **BaseKernelSVC._parameter_constraints,
        "C": [StrOptions({"auto"}), *POSITIVE],
        "gamma": [StrOptions({"auto_scale", "scale", "auto"}),
                  Interval(Real, 0.0, None, closed="neither")],
        "flip_budget": [StrOptions({"auto"}), *BUDGET],
        "candidate_factor": CANDIDATE_FACTOR,
        "class_cap": [Interval(Real, 1.0, None, closed="left"), None],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "n_rounds": COUNT,
        "learning_rate": [StrOptions({"auto"}), *POSITIVE],
        "lr_decay": [Interval(Real, 0.0, 1.0, closed="right")],
        "lr_decay_every": COUNT,
        "init": [StrOptions({"zeros", "svc"})],
        "selection": [StrOptions({"auto", "best", "average", "last"})],
        "n_best": COUNT,
        "scoring": [StrOptions({"accuracy", "balanced_accuracy"})],
        "average_start": [Interval(Real, 0.0, 1.0, closed="both")],
        "eval_every": COUNT,
        "refresh": COUNT_OR_ZERO,
        "cache_size": [*POSITIVE, StrOptions({"auto"})],
        "tol": NON_NEGATIVE,
        "n_jobs": N_JOBS,
        "random_state": RANDOM_STATE,
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        C="auto",
        kernel="rbf",
        gamma="auto_scale",
        degree=3,
        coef0=0.0,
        flip_budget="auto",
        candidate_factor=2.0,
        class_cap=2.0,
        class_weight=None,
        n_rounds=500,
        learning_rate="auto",
        lr_decay=1.0,
        lr_decay_every=100,
        init="zeros",
        selection="auto",
        n_best=5,
        scoring="balanced_accuracy",
        average_start=0.5,
        eval_every=1,
        refresh=50,
        cache_size="auto",
        tol=1e-5,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.C = C
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.flip_budget = flip_budget
        self.candidate_factor = candidate_factor
        self.class_cap = class_cap
        self.class_weight = class_weight
        self.n_rounds = n_rounds
        self.learning_rate = learning_rate
        self.lr_decay = lr_decay
        self.lr_decay_every = lr_decay_every
        self.init = init
        self.selection = selection
        self.n_best = n_best
        self.scoring = scoring
        self.average_start = average_start
        self.eval_every = eval_every
        self.refresh = refresh
        self.cache_size = cache_size
        self.tol = tol
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # scipy.sparse X: see fit
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None, sample_weight_val=None):
        """Run the FLORAL game on (X, y) and keep the model ``selection`` asks for.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training points as float64; ``kernel="linear"`` in feature space reads float32
            as it is and a scipy.sparse ``X`` as CSR rows (O(nnz) per round); the other
            kernels densify a sparse ``X`` up to 1 GB (README "Text and sparse features").
        y : array-like of shape (n_samples,)
            Training labels, two or more classes; they may be poisoned.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample i gets the box ``C * sample_weight[i]`` and a step scaled as with class_weight.
        X_val : {array-like, sparse matrix} of shape (n_val, n_features), default=None
            A **trusted** validation set: the core scores every ``eval_every``-th round on
            it, ``selection="best"`` keeps the rounds that score highest and, with the
            "auto" defaults, it chooses the game (``search_results_``). Keyword-only, so
            that a Pipeline routes it (``transform_input=["X_val"]``).
        y_val : array-like of shape (n_val,), default=None
            Labels of ``X_val``, among the training classes.
        sample_weight_val : array-like of shape (n_val,), default=None
            Weights of the validation points in every validation score.

        Returns
        -------
        self : FloralSVC

        Warns
        -----
        DegenerateModelWarning
            The model predicts one class or scores no better than a constant classifier.
        IneffectiveParameterWarning
            ``C`` (or weights equal for every point) was set but no dual reached its bound.
        """
        if any(_selection.searched(self, X_val is not None)):
            _selection.fit_search(self, X, y, sample_weight, X_val, y_val, sample_weight_val)
        else:
            self.search_results_ = None
            self._fit_game(X, y, sample_weight, X_val, y_val, sample_weight_val)
        _selection.check_fitted_model(self, X, y, X_val, y_val, sample_weight_val,
                                      sample_weight)
        return self

    def _fit_game(self, X, y, sample_weight, X_val, y_val, sample_weight_val):
        """One game with this estimator's flip_budget and gamma ("auto" values as
        played without a search); fit without the search and its checks."""
        check_data(X, y)
        # sparse X: the linear kernel runs on its CSR rows, the others densify (size-capped)
        if is_sparse(X) and self.kernel != "linear":
            X = densify(X, kernel=self.kernel)
        X_given = X
        # the linear kernel in feature space reads float32 features as they are; every
        # other path needs float64 (converted below once the storage is known)
        dtypes = [np.float64, np.float32] if self.kernel == "linear" else np.float64
        X, y = validate_data(self, X, y, dtype=dtypes, order="C", accept_sparse="csr")
        sparse = is_sparse(X)
        X_private = not sparse and _assembly.is_converted_copy(X, X_given)
        classes, y_idx = encode_labels(y)
        y_idx = y_idx.astype(np.int32)
        n_classes = classes.size
        self.classes_ = classes
        n_problems = 1 if n_classes == 2 else n_classes
        n = X.shape[0]
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                             ensure_non_negative=True)
        class_w = compute_class_weight(self.class_weight, classes=classes, y=y)
        check_class_weights(self.class_weight, sample_weight * class_w[y_idx])
        self.C_ = C = _selection.resolved_C(self.C)
        C_vec = C * sample_weight * class_w[y_idx]
        # the linear kernel has no gamma, and "scale" would read all of X once more
        gamma = (1.0 if self.kernel == "linear"
                 else resolve_gamma(_selection.resolved_gamma(self.gamma), X))
        flip_budget = _selection.resolved_budget(self.flip_budget)
        k = resolve_budget(flip_budget, n, param="flip_budget")
        caps = class_caps(self.class_cap, k, np.bincount(y_idx, minlength=n_classes), n)
        val = check_validation_set(self, X_val, y_val, sample_weight_val,
                                   training_sparse=sparse)
        selection = self.selection
        if selection == "auto":
            selection = "best" if val is not None else "average"
        if selection == "best" and val is None:
            raise ValueError('selection="best" needs a validation set: fit(X, y, X_val=..., '
                             'y_val=...)')
        kernel_params = dict(kernel=str(self.kernel), gamma=gamma, degree=int(self.degree),
                             coef0=float(self.coef0))
        storage = _memory.kernel_storage(self, X, kernel_params, k)
        if X.dtype != np.float64 and storage["storage"] != "features":
            X = X.astype(np.float64)
            X_private = True  # fit's own copy, whatever X came from
        del X_given
        y_core = _assembly.core_labels(y_idx, n_classes)
        lam0 = _selection.initial_dual(self, X, y_idx, n_classes, C_vec, gamma)
        n_rounds = int(self.n_rounds)
        average_from = 0
        if selection == "average":
            average_from = min(n_rounds, math.floor(self.average_start * n_rounds) + 1)
        auto_step = isinstance(self.learning_rate, str)
        monitor = _monitoring.Monitor(self)
        res = _core.floral_fit(
            X, y_core, C_vec, lam0, n_classes=n_classes, **kernel_params,
            n_rounds=n_rounds, learning_rate=None if auto_step else float(self.learning_rate),
            step_scale=AUTO_STEP, lr_decay=float(self.lr_decay),
            lr_decay_every=int(self.lr_decay_every), flip_budget=k,
            candidate_factor=float(self.candidate_factor), class_cap=caps,
            refresh=int(self.refresh), tol=float(self.tol), eval_every=int(self.eval_every),
            seed=core_seed(self.random_state), n_jobs=self.n_jobs, callback=monitor,
            X_eval=None if val is None else val[0],
            y_eval=None if val is None else _assembly.core_labels(val[1], n_classes),
            w_eval=None if val is None else val[2],
            eval_cache_size=_EVAL_CACHE_MB, average_from=average_from,
            n_best=int(self.n_best) if val is not None else 0, scoring=self.scoring,
            scale=_selection.point_scale(C_vec), **storage,
        )
        exc = res.exception
        if exc is not None and not isinstance(exc, KeyboardInterrupt):
            raise exc
        monitor.close(res.rounds_run)

        self._gamma = self.gamma_ = gamma
        self.flip_budget_, self._n_flips = flip_budget, k
        self._storage = res.cache  # which kernel storage ran, and its cache counters
        self.n_rounds_ = res.rounds_run
        self.learning_rate_ = res.learning_rate
        self.lambda_max_ = res.lambda_max
        self.history_ = _assembly.history(res, val is not None)
        last = _assembly.round_model(res, y_idx)  # the final round
        kept, note = _assembly.kept_model(selection, res, last, y_idx, self.n_rounds_)
        best = _assembly.round_model(res.best[0], y_idx) if res.best else None
        self._box_reach = _selection.box_reach(C_vec, [kept, last, best], n_problems)
        # on the rounds' own coefficients: the linear model keeps none per point, and a
        # compact one is a projection of them that the constraint does not bind
        equality_gap = _assembly.equality_gap(kept["coef"], n_problems)
        kept, last, best = _assembly.attributes(self, X, [kept, last, best], n_problems,
                                                X_private)
        self._last_model, self._best_model = last, best
        vars(self).update(kept)
        self.best_round_ = int(res.best[0].round) if res.best else self.n_rounds_
        _monitoring.warn_if_diverged(self)
        _monitoring.check_dual_equality(self, equality_gap)
        if exc is not None:
            # the estimator is fitted with the rounds so far; re-raising lets a loop of
            # fits (or a grid of them) stop at the first Ctrl-C
            warn_caller(f"FloralSVC.fit was interrupted after {self.n_rounds_} of "
                        f"{self.n_rounds} rounds; keeping {note}.", RuntimeWarning)
            raise exc
        return self

    def last_round(self):
        """A copy of this fitted estimator predicting with the final round's model (the
        paper's "Last"), whatever ``selection`` kept."""
        check_is_fitted(self)
        return _assembly.with_model(self, "_last_model")

    def best_round(self):
        """A copy of this fitted estimator predicting with the single round that scored
        highest on the validation set (``best_round_``, the paper's "Best")."""
        check_is_fitted(self)
        if self._best_model is None:
            raise ValueError("best_round() needs a fit with a validation set (X_val, y_val)")
        return _assembly.with_model(self, "_best_model")
