"""FloralSVC: the scikit-learn estimator for FLORAL adversarial training."""
import copy
import math
import sys
import threading
import time
from numbers import Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import compute_class_weight
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import _core, _memory
from ._base import BaseKernelSVC
from ._validation import (
    BUDGET,
    CANDIDATE_FACTOR,
    COUNT,
    COUNT_OR_ZERO,
    N_JOBS,
    NON_NEGATIVE,
    POSITIVE,
    RANDOM_STATE,
    check_data,
    core_seed,
    encode_labels,
    resolve_budget,
    resolve_gamma,
    warn_caller,
)

__all__ = ["FloralSVC"]

# learning_rate="auto": the step is AUTO_STEP / lambda_max(K). Projected gradient descent
# on the dual is stable below 2 / lambda_max (the bound on the hyperplane of the equality
# constraint is looser still); bench/README.md ("Step size") has the measurements behind
# this constant.
AUTO_STEP = 0.5
# The stored n x m validation kernel of the in-core evaluation may take this many MB;
# beyond it the rows of the changed coefficients are computed on the fly.
_EVAL_CACHE_MB = 256.0
# Divergence: within some window of this many rounds, at least ASCENT_FRACTION of the
# steps raised the objective they descend (a step below 2 / lambda_max(K) cannot, from a
# feasible point) while the objective stayed above its value at lambda = 0 in most of them.
# Both are needed: the attacker's relabelling leaves lambda off the new labels'
# hyperplane, so stable runs show isolated rises (most in one-vs-rest games, where a
# relabelling touches two problems), and init="svc" starts far below 0 where the
# attacker's moves can push the objective above it without any instability.
_ASCENT_WINDOW = 50
_ASCENT_FRACTION = 0.4


# _check_dual_equality: the kept model's |sum(dual_coef_)| / (1 + sum|dual_coef_|) above
# this warns (every round's projection is exact to 1e-9 of that)
_EQUALITY_RTOL = 1e-6

# init="svc": libsvm's iteration cap, _SVC_INIT_ITER per training point, at least
# _SVC_INIT_MIN_ITER
_SVC_INIT_ITER = 10
_SVC_INIT_MIN_ITER = 10_000


def _interruptible(fn, *args, **kwargs):
    """fn(*args, **kwargs) in a worker thread, waited for in short slices, so that Ctrl-C
    raises KeyboardInterrupt here at once even while fn runs C code that releases the GIL
    and never checks for signals (libsvm). After an interrupt the worker finishes on its
    own (fn must be bounded) and its result is dropped."""
    out = {}

    def work():
        try:
            out["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the caller's thread
            out["error"] = exc

    worker = threading.Thread(target=work, name="floral-init", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.05)
    if "error" in out:
        raise out["error"]
    return out["value"]


class FloralSVC(BaseKernelSVC):
    r"""Kernel SVM trained by FLORAL against label-flipping attacks.

    FLORAL (Flipping Labels for Adversarial Learning) casts training under label poisoning
    as a Stackelberg game. The model (leader) runs projected gradient descent on the SVM
    dual under the current labels :math:`\tilde y`,

    .. math::

        \min_{\lambda}\ \tfrac12 \lambda^\top Q \lambda - \mathbf 1^\top\lambda, \quad
        Q_{ij} = \tilde y_i \tilde y_j K(x_i, x_j), \quad
        \tilde y^\top \lambda = 0,\ 0 \le \lambda_i \le C_i,

    one step per round with an exact projection onto the feasible set. After each step an
    attacker (follower) with budget :math:`k` relabels :math:`k` support vectors drawn at
    random among the :math:`\lceil \text{candidate\_factor}\cdot k\rceil` with the largest
    dual weight (always relative to the labels given to ``fit``); the next round trains on
    those labels. The round loop runs in floral's compiled core.

    **The returned model.** Round :math:`t`'s classifier is the kernel expansion
    :math:`h_t(x) = \sum_i c_{t,i} K(x_i, x) + b_t` with :math:`c_t = \tilde y_t \odot
    \lambda_t`, so an average of rounds is again one kernel expansion (the average of the
    :math:`c_t` and :math:`b_t`). ``selection`` decides which rounds the fitted model
    averages:

    - ``"best"``: the ``n_best`` rounds with the highest (balanced, see ``scoring``)
      accuracy on a **trusted** validation set passed as ``fit(X, y, X_val=...,
      y_val=...)`` (earliest on ties).
      FLORAL's threat model assumes a small clean set exists; poisoned validation labels
      make the selection follow the poison (bench/README.md measures how much);
    - ``"average"``: every round from ``average_start * n_rounds`` to the end;
    - ``"last"``: the final round, as the paper's "Last" column. It is a random draw: the
      attacker's final choice among its candidates decides it;
    - ``"auto"`` (default): ``"best"`` when a validation set is given, else ``"average"``.

    **More than two classes.** With :math:`K > 2` classes FLORAL plays :math:`K`
    one-vs-rest dual problems (problem :math:`p`: class :math:`p` against the rest) against
    one shared attacker. A point's dual weight is :math:`\sum_p \lambda_{p,i}`; the
    attacker relabels each chosen point to its **runner-up class**, the class other than
    its given one with the largest decision value :math:`f_p(x_i) + b_p` — the relabelling
    the current model finds most plausible, so it moves the boundary most. Relabelling
    point :math:`i` from class :math:`a` to :math:`c` changes its label in problems
    :math:`a` and :math:`c` only. ``decision_function`` returns the :math:`K` one-vs-rest
    values (SVC's ``decision_function_shape="ovr"``); ``predict`` takes their argmax. Two
    classes are one problem, exactly the binary algorithm.

    **Budget per class.** ``class_cap`` bounds how many points of each class the attacker
    may relabel per round: at most ``ceil(class_cap * k * n_c / n)`` of class :math:`c`'s
    :math:`n_c` points, ``class_cap`` times its share of the budget. Without it the
    attacker, drawn to the large dual weights that a minority class's points carry, can
    relabel most of a small class every round and the model learns to predict it nowhere.
    The default 2.0 never binds when two classes have exactly equal counts (the cap is then
    the whole budget); it does bind on labels an attack has made unequal (alfa-tilt at 10%
    of Moon: from the first round, since every point of the smaller class then carries the
    same, larger dual weight), without measurable change in accuracy (bench/README.md).

    Parameters
    ----------
    C : float, default=1.0
        Box constraint of the dual (regularisation strength is 1/C), as in SVC.
    kernel : {"rbf", "linear", "poly", "sigmoid"}, default="rbf"
        Kernel, with scikit-learn's formulas.
    gamma : {"scale", "auto"} or float, default="scale"
        Kernel coefficient, resolved exactly as SVC does: "scale" is
        ``1 / (n_features * X.var())``, "auto" is ``1 / n_features``.
    degree : int, default=3
        Degree of the "poly" kernel.
    coef0 : float, default=0.0
        Independent term of the "poly" and "sigmoid" kernels.
    flip_budget : int or float, default=0.05
        Labels the attacker flips per round: an int is a count, a float in (0, 1) a
        fraction of the training set (rounded half up). 0 disables the attacker, leaving
        a plain projected-gradient SVM.
    candidate_factor : float, default=2.0
        The attacker picks ``flip_budget`` points uniformly among the top
        ``ceil(candidate_factor * flip_budget)`` support vectors; 1.0 is the deterministic
        top-k attacker.
    class_cap : float >= 1 or None, default=2.0
        The attacker relabels at most ``ceil(class_cap * k * n_c / n)`` points of a class
        with ``n_c`` of the ``n`` training points per round (see above). None: no cap,
        the paper's attacker.
    class_weight : dict, "balanced" or None, default=None
        As in SVC: class ``c``'s samples get the box constraint ``C * class_weight[c]``;
        "balanced" uses ``n / (n_classes * n_c)``.
    n_rounds : int, default=500
        Rounds of the game (projected-gradient steps).
    learning_rate : "auto" or float, default="auto"
        Initial step size. "auto" is ``0.5 / lambda_max(K)`` with the largest eigenvalue
        of the training kernel matrix found by power iteration in the core
        (:math:`\lambda_{max}(Q) = \lambda_{max}(K)` for any labels); projected gradient
        descent is stable for steps below ``2 / lambda_max(K)``, which grows with n, so a
        fixed step that works on 500 points diverges on 20,000. A step that makes the
        objective rise raises a ``ConvergenceWarning``.
    lr_decay : float in (0, 1], default=1.0
        Step size at round t is ``learning_rate * lr_decay ** (t // lr_decay_every)``.
    lr_decay_every : int, default=100
        Rounds between decays.
    init : {"zeros", "svc"}, default="zeros"
        Starting dual variables: zeros (the paper's choice) or the dual of a plain SVC fit
        on the given labels (one binary SVC per one-vs-rest problem). libsvm is capped at
        max(10,000, 10 * n_samples) iterations (scikit-learn warns when the cap stops it;
        the game starts from that point) and Ctrl-C interrupts it at once.
    selection : {"auto", "best", "average", "last"}, default="auto"
        Which rounds the fitted model averages (see above).
    n_best : int, default=5
        Rounds averaged by ``selection="best"``; 1 keeps the single best round.
    scoring : {"balanced_accuracy", "accuracy"}, default="balanced_accuracy"
        What ranks the rounds for ``selection="best"``: the mean recall over the classes,
        or plain accuracy. On a validation set with equally many points per class both
        rank rounds identically; on imbalanced data accuracy rewards rounds that neglect a
        small class (moons with 10% positives, 5 seeds: minority recall 0.79 with
        "accuracy", 0.91 with "balanced_accuracy", SVC 0.86; bench/README.md).
    average_start : float in [0, 1], default=0.5
        ``selection="average"`` averages the rounds after the first
        ``floor(average_start * n_rounds)``; 1.0 keeps the last round only.
    eval_every : int, default=1
        Rounds between evaluations on the validation set.
    refresh : int, default=50
        Rounds between exact recomputations of the decision values that the core
        otherwise updates incrementally; 0 never recomputes.
    cache_size : float or "auto", default="auto"
        Memory for the kernel matrix, in MB (as in SVC). A budget of n x n float32 or more
        keeps every row (fastest when many coefficients change each round); otherwise the
        matrix is materialised as its packed lower triangle (n(n+1)/2 float32, ~2 n^2
        bytes) when that fits, with what is left kept as whole rows for the attacker's
        updates; otherwise kernel rows go through an LRU cache of this size and are
        recomputed as needed, which costs O(n^2 d) per round. "auto" materialises when the
        triangle fits in half of the memory the OS reports as available, and otherwise uses
        that half as the row cache and warns (``UserWarning``) with the expected cost per
        round. Results are bitwise identical for any value on a given machine (with 32 or
        more features this relies on SciPy's BLAS giving a kernel entry the same value
        wherever it sits in a dgemm call of one fixed shape, as OpenBLAS does). With
        ``kernel="linear"`` and ``n >= 2 * n_features`` no kernel matrix is formed and this
        is unused: the core works on X and w = X^T c, O(n d) per round (see "Large data"
        in the README).
    tol : float, default=1e-5
        Dual variables above ``tol`` count as support vectors for the attacker (only they
        are candidates) and for ``history_["n_sv"]``. The returned model keeps every
        nonzero coefficient: it is exactly the model the rounds computed and the
        validation set scored (with the automatic step at large n, dual variables of the
        first rounds are ~1e-6, so dropping those below ``tol`` would change the model).
    n_jobs : int, default=None
        OpenMP threads; None or -1 uses all cores. Results are identical for any value.
        Values above the CPUs this process may use are clamped to them, values beyond
        +-32768 are refused, and in a process forked from one that had imported floral
        (multiprocessing's "fork" start method) the core runs on one thread: OpenMP's
        thread pool does not survive fork().
    random_state : int, RandomState instance or None, default=None
        Seeds the attacker's random choices.
    verbose : int, default=0
        1 prints progress to stderr about once a second.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels; with two, ``classes_[1]`` is the positive class.
    support_ : ndarray of shape (n_SV,)
        Training indices with a nonzero coefficient in the returned model.
    support_vectors_ : ndarray of shape (n_SV, n_features)
        The support vectors (float32 when float32 ``X`` was used as it is, see ``fit``).
    dual_coef_ : ndarray of shape (n_problems, n_SV)
        Coefficients :math:`c_i` of the support vectors (averaged over the kept rounds);
        one row for two classes, one row per class (its one-vs-rest problem) otherwise.
    intercept_ : ndarray of shape (n_problems,)
        Intercepts :math:`b`, averaged like ``dual_coef_``.
    coef_ : ndarray of shape (n_problems, n_features)
        With ``kernel="linear"`` only: :math:`w = \sum_i c_i x_i` per problem, so that
        the decision function is :math:`X w + b`.
    n_support_ : ndarray of shape (n_classes,)
        Support vectors per class: by the sign of the coefficient with two classes, by
        the problem with the largest coefficient with more.
    flipped_ : ndarray of int
        Training indices the attacker relabelled in at least one of the kept rounds.
    kept_rounds_ : ndarray of int
        The rounds (1-based) the returned model averages.
    best_round_ : int
        The round with the highest validation accuracy (earliest on ties); the last round
        when ``fit`` had no validation set.
    learning_rate_ : float
        The initial step size used.
    lambda_max_ : float
        The largest eigenvalue of the training kernel matrix (``learning_rate="auto"``
        only; NaN otherwise).
    history_ : dict of ndarray
        Per round: ``round``, ``objective`` (summed over problems), ``n_sv``, ``n_free``,
        ``n_changed``, ``mu`` (the first problem's projection multiplier), ``eta``,
        ``ascent`` (problems whose step raised their objective), ``seconds`` (since the
        start of the loop) and, with a validation set, ``val_accuracy`` and
        ``val_balanced_accuracy`` (NaN in rounds that were not evaluated).
    n_rounds_ : int
        Rounds actually run (fewer than ``n_rounds`` after an interruption).
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    sklearn.svm.SVC : the same model trained on the labels as given.
    floral.attacks : label-flip attacks for evaluating defenses.

    Notes
    -----
    Interrupting: Ctrl-C (``KeyboardInterrupt``) stops the round loop within about 0.2 s.
    ``fit`` then sets every fitted attribute from the rounds run so far (``n_rounds_``
    says how many; ``selection`` picks among them as usual), warns with a
    ``RuntimeWarning`` and re-raises the ``KeyboardInterrupt``, so a loop of fits stops
    at the first Ctrl-C and a caller that catches it keeps a usable estimator.

    Probabilities: like scikit-learn 1.9's SVC, FloralSVC has no ``probability=True``;
    calibrate a fitted model on held-out data with
    ``CalibratedClassifierCV(FrozenEstimator(clf))`` (or ``CalibratedClassifierCV(
    FloralSVC(...), cv=5)`` to fit and calibrate in folds).

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
    >>> clf = FloralSVC(C=10, gamma=1.0, random_state=0).fit(X, y, X_val=X_val, y_val=y_val)
    >>> clf.kept_rounds_.size        # the 5 best rounds on the validation set
    5
    >>> clf.score(X_val, y_val) > 0.9
    True
    """

    _parameter_constraints = {
        **BaseKernelSVC._parameter_constraints,
        "flip_budget": BUDGET,
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
        C=1.0,
        kernel="rbf",
        gamma="scale",
        degree=3,
        coef0=0.0,
        flip_budget=0.05,
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

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, X_val=None, y_val=None):
        """Run the FLORAL game on (X, y) and keep the model ``selection`` asks for.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training points. With ``kernel="linear"`` in feature space (n_samples at
            least twice n_features, e.g. behind ``Nystroem``), a float32 array is used as
            it is: no float64 copy, about half the time per round, and the same model as
            for ``X.astype(np.float64)`` (products and sums are float64; ``X_val`` is then
            read in float32 too). Anything else is converted to float64.
        y : array-like of shape (n_samples,)
            Training labels, two or more classes of any type. They may already be
            poisoned: that is the setting FLORAL defends.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights; sample i gets the box constraint ``C * sample_weight[i]``.
        X_val : array-like of shape (n_val, n_features), default=None
            A **trusted** validation set (its labels are assumed clean). The core records
            its accuracy and balanced accuracy every ``eval_every`` rounds
            (``history_["val_accuracy"]``, ``history_["val_balanced_accuracy"]``) and
            ``selection="best"`` (the default when it is given) keeps the ``n_best``
            rounds that score highest on it by ``scoring``.
        y_val : array-like of shape (n_val,), default=None
            Labels of ``X_val``, among the training classes.

        Returns
        -------
        self : FloralSVC
        """
        check_data(X, y)
        X_given = X
        # the linear kernel in feature space reads float32 features as they are; every
        # other path needs float64 (converted below once the storage is known)
        dtypes = [np.float64, np.float32] if self.kernel == "linear" else np.float64
        X, y = validate_data(self, X, y, dtype=dtypes, order="C")
        X_private = _is_converted_copy(X, X_given)
        classes, y_idx = encode_labels(y)
        y_idx = y_idx.astype(np.int32)
        n_classes = classes.size
        self.classes_ = classes
        n_problems = 1 if n_classes == 2 else n_classes
        n = X.shape[0]
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                             ensure_non_negative=True)
        class_w = compute_class_weight(self.class_weight, classes=classes, y=y)
        C_vec = float(self.C) * sample_weight * class_w[y_idx]
        # the linear kernel has no gamma, and "scale" would read all of X once more
        gamma = 1.0 if self.kernel == "linear" else resolve_gamma(self.gamma, X)
        k = resolve_budget(self.flip_budget, n, param="flip_budget")
        caps = self._class_caps(k, np.bincount(y_idx, minlength=n_classes), n)
        val = self._check_val(X_val, y_val)
        selection = self.selection
        if selection == "auto":
            selection = "best" if val is not None else "average"
        if selection == "best" and val is None:
            raise ValueError('selection="best" needs a validation set: fit(X, y, X_val=..., '
                             'y_val=...)')
        kernel_params = dict(kernel=str(self.kernel), gamma=gamma, degree=int(self.degree),
                             coef0=float(self.coef0))
        storage = self._kernel_storage(X, kernel_params, k)
        if X.dtype != np.float64 and storage["storage"] != "features":
            X = X.astype(np.float64)
            X_private = True  # fit's own copy, whatever X came from
        del X_given
        y_core = _core_labels(y_idx, n_classes)
        lam0 = self._initial_dual(X, y_idx, n_classes, C_vec, sample_weight, gamma)
        seed = core_seed(self.random_state)
        n_rounds = int(self.n_rounds)
        average_from = 0
        if selection == "average":
            average_from = min(n_rounds, math.floor(self.average_start * n_rounds) + 1)
        auto_step = isinstance(self.learning_rate, str)
        monitor = _Monitor(self, val is not None)
        res = _core.floral_fit(
            X, y_core, C_vec, lam0, n_classes=n_classes, **kernel_params,
            n_rounds=n_rounds, learning_rate=None if auto_step else float(self.learning_rate),
            step_scale=AUTO_STEP, lr_decay=float(self.lr_decay),
            lr_decay_every=int(self.lr_decay_every), flip_budget=k,
            candidate_factor=float(self.candidate_factor), class_cap=caps,
            refresh=int(self.refresh), tol=float(self.tol), eval_every=int(self.eval_every),
            seed=seed, n_jobs=self.n_jobs, callback=monitor, X_eval=None if val is None else val[0],
            y_eval=None if val is None else _core_labels(val[1], n_classes),
            eval_cache_size=_EVAL_CACHE_MB, average_from=average_from,
            n_best=int(self.n_best) if val is not None else 0, scoring=self.scoring,
            **storage,
        )
        exc = res["exception"]
        if exc is not None and not isinstance(exc, KeyboardInterrupt):
            raise exc
        monitor.close(res["rounds_run"])

        self._gamma = gamma
        self._storage = res["cache"]  # which kernel storage ran, and its cache counters
        self.n_rounds_ = res["rounds_run"]
        self.learning_rate_ = res["learning_rate"]
        self.lambda_max_ = res["lambda_max"]
        self.history_ = self._history(res, val is not None)
        last = dict(coef=res["coef"], b=res["b"], rounds=[res["round"]],
                    flipped=res["labels"] != y_idx)
        kept, note = self._kept_model(selection, res, last, y_idx)
        best = None
        if res["best"]:
            top = res["best"][0]
            best = dict(coef=top["coef"], b=top["b"], rounds=[top["round"]],
                        flipped=top["labels"] != y_idx)
        kept, last, best = self._attributes(X, [kept, last, best], n_problems, X_private)
        self._last_model, self._best_model = last, best
        vars(self).update(kept)
        self.best_round_ = int(res["best"][0]["round"]) if res["best"] else self.n_rounds_
        self._warn_if_diverged()
        self._check_dual_equality()
        if exc is not None:
            # the estimator is fitted with the rounds so far; re-raising lets a loop of
            # fits (or a grid of them) stop at the first Ctrl-C
            warn_caller(f"FloralSVC.fit was interrupted after {self.n_rounds_} of "
                        f"{self.n_rounds} rounds; keeping {note}.", RuntimeWarning)
            raise exc
        return self

    def _class_caps(self, k, counts, n):
        if self.class_cap is None:
            return np.full(counts.size, k, dtype=np.int64)
        share = float(self.class_cap) * k * counts / n
        # 1e-9 absorbs rounding in the product so an exact share is not rounded up
        return np.minimum(np.ceil(share - 1e-9), k).astype(np.int64)

    def _check_val(self, X_val, y_val):
        if X_val is None and y_val is None:
            return None
        if X_val is None or y_val is None:
            missing = "X_val" if X_val is None else "y_val"
            raise ValueError(f"X_val and y_val go together: {missing} is missing")
        check_data(X_val, y_val, X_name="X_val", y_name="y_val")
        width = np.shape(X_val)[1]
        if width != self.n_features_in_:
            raise ValueError(f"X_val has {width} features, but X has {self.n_features_in_}")
        X_val, y_val = validate_data(self, X_val, y_val, dtype=np.float64, order="C",
                                     reset=False)
        unknown = np.setdiff1d(np.unique(y_val), self.classes_)
        if unknown.size:
            raise ValueError(
                f"y_val labels {unknown.tolist()} are not among the training classes "
                f"{self.classes_.tolist()}"
            )
        return X_val, np.searchsorted(self.classes_, y_val).astype(np.int32)

    def _initial_dual(self, X, y_idx, n_classes, C_vec, sample_weight, gamma):
        n = X.shape[0]
        n_problems = 1 if n_classes == 2 else n_classes
        if self.init == "zeros":
            return np.zeros(n) if n_problems == 1 else np.zeros((n_problems, n))
        from sklearn.svm import SVC

        lam = np.zeros((n_problems, n))
        for p in range(n_problems):
            target = y_idx == (1 if n_problems == 1 else p)
            # libsvm has no iteration cap by default and never checks for Ctrl-C: capped
            # (the game only needs a start near the SVM optimum; scikit-learn warns when
            # the cap stops it) and run where an interrupt reaches fit at once
            svc = SVC(C=float(self.C), kernel=self.kernel, gamma=gamma, degree=self.degree,
                      coef0=self.coef0, max_iter=max(_SVC_INIT_MIN_ITER, _SVC_INIT_ITER * n),
                      cache_size=200 if self.cache_size == "auto" else self.cache_size)
            _interruptible(svc.fit, X, np.where(target, 1, -1),
                           sample_weight=C_vec / float(self.C))
            lam[p, svc.support_] = np.abs(svc.dual_coef_.ravel())
        # libsvm stops at its own tolerance; the box must hold exactly for the core
        lam = np.clip(lam, 0.0, C_vec)
        return lam[0] if n_problems == 1 else lam

    def _kernel_storage(self, X, kernel_params, flip_budget):
        """floral_fit's storage and cache_size: feature space for the linear kernel when d
        is small against n, else the Gram matrix with cache_size resolved ("auto": see
        floral._memory); warns once when "auto" cannot materialise."""
        n, d = X.shape
        if self.kernel == "linear" and _memory.use_features(n, d):
            return {"storage": "features", "cache_size": 1.0}
        if self.cache_size != "auto":
            return {"storage": "gram", "cache_size": float(self.cache_size)}
        plan = _memory.plan_gram(n, flip_budget, float(self.candidate_factor))
        if not plan.materialised:
            seconds = _memory.row_cache_round_seconds(X, kernel_params, plan.cache_mb,
                                                      self.n_jobs)
            warn_caller(_memory.row_cache_warning(n, plan, seconds), UserWarning)
        return {"storage": "gram", "cache_size": plan.cache_mb}

    def _kept_model(self, selection, res, last, y_idx):
        """(coef, b, rounds, flipped) of the model to return, and how to describe it."""
        if selection == "best" and res["best"]:
            best = res["best"]
            return dict(
                coef=np.mean([r["coef"] for r in best], axis=0),
                b=np.mean([r["b"] for r in best], axis=0),
                rounds=sorted(r["round"] for r in best),
                flipped=np.any([r["labels"] != y_idx for r in best], axis=0),
            ), f"the {len(best)} best validation rounds so far"
        if selection == "average" and res["average"] is not None:
            avg = res["average"]
            first = self.n_rounds_ - avg["n"] + 1
            return dict(coef=avg["coef"], b=avg["b"],
                        rounds=list(range(first, self.n_rounds_ + 1)),
                        flipped=avg["flip_count"] > 0), \
                f"the average of rounds {first} to {self.n_rounds_}"
        return last, f"round {self.n_rounds_}"

    def _attributes(self, X, models, n_problems, X_private=False):
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
        supports = [None if c is None else np.flatnonzero(np.any(c != 0.0, axis=0))
                    for c in coefs]
        union = np.unique(np.concatenate([s for s in supports if s is not None]))
        pool = _compact_rows(X, union) if X_private else X[union]
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
                sv = _RowsOf(pool, np.searchsorted(union, support))
            else:
                sv = pool[np.searchsorted(union, support)]
            out.append({
                **self._model_attributes(X, support, coef[:, support], model["b"], sv),
                "flipped_": np.flatnonzero(model["flipped"]),
                "kept_rounds_": np.asarray(model["rounds"], dtype=np.int64),
            })
        return out

    def _history(self, res, has_val):
        h = res["history"]
        rounds = np.arange(1, res["rounds_run"] + 1)
        history = {"round": rounds}
        for key in ("objective", "n_sv", "n_free", "n_changed", "mu", "eta", "ascent",
                    "seconds"):
            history[key] = h[key][: rounds.size]
        if has_val:
            history["val_accuracy"] = h["accuracy"][: rounds.size]
            history["val_balanced_accuracy"] = h["balanced_accuracy"][: rounds.size]
        return history

    def _check_dual_equality(self):
        """Warn when the kept model breaks the dual's equality constraint
        sum_i y~_i lam_i = 0 (sum of dual_coef_ per problem). Each round's projection holds
        it to 1e-9 relative; with steps far beyond 2 / lambda_max(K) the projected point's
        breakpoints round together and it can fail by percents (tests/test_properties.py,
        test_projection_huge_v_against_narrow_box)."""
        coef = self.dual_coef_
        gap = np.abs(coef.sum(axis=1))
        scale = 1.0 + np.abs(coef).sum(axis=1)
        worst = float(np.max(gap / scale)) if coef.size else 0.0
        if worst > _EQUALITY_RTOL:
            warn_caller(
                f"FloralSVC's model breaks the SVM dual's equality constraint: "
                f"|sum(dual_coef_)| is {worst:.2g} of sum(|dual_coef_|) (the projection "
                f"holds it to 1e-9). The step size (learning_rate={self.learning_rate!r}, "
                f"initial step {self.learning_rate_:.3g}) is far too large for this "
                'kernel; use learning_rate="auto" or a smaller learning_rate.',
                ConvergenceWarning,
            )

    def _warn_if_diverged(self):
        obj = self.history_["objective"]
        window = min(_ASCENT_WINDOW, obj.size)
        diverged = not np.all(np.isfinite(obj))
        if not diverged and window > 0:
            kernel = np.ones(window)
            rose = np.convolve(self.history_["ascent"] > 0, kernel, mode="valid")
            above = np.convolve(obj > 0, kernel, mode="valid")
            diverged = bool(np.any((rose >= _ASCENT_FRACTION * window)
                                   & (above >= 0.5 * window)))
        if diverged:
            warn_caller(
                f"FloralSVC diverged: with learning_rate={self.learning_rate!r} (initial step "
                f"{self.learning_rate_:.3g}) projected gradient descent raised its objective "
                f"in most rounds of a window of {window}, above its value at the start. The "
                "step must stay below 2 / lambda_max(K), which grows with the number of "
                'samples; use learning_rate="auto" or a smaller learning_rate.',
                ConvergenceWarning,
            )

    def last_round(self):
        """A copy of this fitted estimator that predicts with the final round's model.

        Whatever ``selection`` kept, this gives the paper's "Last" model beside it.
        """
        check_is_fitted(self)
        return self._with_model("_last_model")

    def best_round(self):
        """A copy of this fitted estimator that predicts with the single round that scored
        highest on the validation set (``best_round_``): the paper's "Best", selected on
        validation data. Needs a fit with ``X_val``/``y_val``.
        """
        check_is_fitted(self)
        if self._best_model is None:
            raise ValueError("best_round() needs a fit with a validation set (X_val, y_val)")
        return self._with_model("_best_model")

    def _with_model(self, name):
        # one deepcopy, so arrays the models share stay shared in the copy
        other = copy.deepcopy(self)
        model = dict(getattr(other, name))
        if isinstance(model["support_vectors_"], _RowsOf):
            model["support_vectors_"] = model["support_vectors_"].gather()
        vars(other).update(model)
        return other


class _RowsOf:
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

    def gather(self):
        return self.pool[self.index]


def _is_converted_copy(X, given):
    """Whether validate_data's ``X`` is a copy fit may keep as the support vectors:
    converted from an array (float32 features, another order) or from nested lists.
    Anything else that exposes memory (a DataFrame's block) counts as the caller's, and
    a list is not converted a second time just to ask."""
    if isinstance(given, np.ndarray):
        return not np.may_share_memory(X, given)
    return isinstance(given, (list, tuple))


def _compact_rows(X, rows, block=4096):
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


def _core_labels(y_idx, n_classes):
    """Labels as the core takes them: +-1 for two classes, class indices for more."""
    if n_classes == 2:
        return (2 * np.asarray(y_idx) - 1).astype(np.int8)
    return np.asarray(y_idx, dtype=np.int32)


class _Monitor:
    """The callback the core calls about every 0.2 s: progress and Ctrl-C."""

    def __init__(self, est, has_val):
        self.est = est
        self.has_val = has_val
        self.best = -np.inf
        self.verbose = int(est.verbose)
        self.start = time.perf_counter()
        self.last_print = -np.inf

    def __call__(self, reason, rnd, objective, accuracy):
        if accuracy == accuracy:
            self.best = max(self.best, accuracy)
        if self.verbose:
            now = time.perf_counter()
            if now - self.last_print >= 1.0:
                self.last_print = now
                rate = rnd / max(now - self.start, 1e-9)
                msg = (f"[FloralSVC] round {rnd}/{self.est.n_rounds}  "
                       f"objective {objective:.6g}")
                if accuracy == accuracy:
                    msg += f"  val acc {accuracy:.4f}"
                msg += f"  ({rate:.0f} rounds/s)"
                print(msg, file=sys.stderr, flush=True)
        return 0

    def close(self, rounds_run):
        if self.verbose:
            elapsed = time.perf_counter() - self.start
            msg = f"[FloralSVC] done: {rounds_run} rounds in {elapsed:.2f} s"
            print(msg, file=sys.stderr, flush=True)
