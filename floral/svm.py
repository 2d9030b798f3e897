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

from . import _core, _memory, _selection
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
    check_class_weights,
    check_data,
    core_seed,
    densify,
    encode_labels,
    is_sparse,
    libsvm_max_iter,
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
# init="svc" (and the search's budget-0 candidate, which must be the SVM optimum): libsvm's
# default stopping tolerance 1e-3 leaves decision values ~3e-3 off the optimum on Moon;
# 1e-5 brings them within ~2e-5 at a few more iterations.
_SVC_INIT_TOL = 1e-5
# Compact models (_compact_expansion): a kernel expansion over at least _COMPACT_MIN_SV
# training points is replaced by one over a greedy subset whose decision function differs
# from the full one by at most _COMPACT_TOL * sqrt(K(x, x)) at every x -- a hundredth of
# the margin (|h| = 1) for the RBF kernel. Smaller expansions are kept exactly (a few tens
# of kB at most); the work of the reduction (n_SV^2 kernel entries, n_SV x basis floats)
# is capped by _COMPACT_MAX_WORK entries, beyond which the expansion is kept whole.
_COMPACT_TOL = 1e-2
_COMPACT_MIN_SV = 1000
_COMPACT_MAX_WORK = 2 ** 29
# Largest basis tried: the greedy costs O(n_SV basis^2), and where the function needs
# more points than this (high-dimensional data with a wide kernel) the expansion stays.
_COMPACT_MAX_BASIS = 512


# _check_dual_equality: the kept model's |sum(dual_coef_)| / (1 + sum|dual_coef_|) above
# this warns (every round's projection is exact to 1e-9 of that)
_EQUALITY_RTOL = 1e-6

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

    **Choosing the game** (``flip_budget="auto"``, ``gamma="auto_scale"``, the defaults).
    How strong an attacker to train against, and the kernel width, decide what the game
    returns, and the training labels cannot tell either (they may be poisoned). Given the
    trusted set, ``fit`` chooses both on it: first the width among ``gamma_scale *
    {1/3, 1, 3}`` ("scale" as SVC resolves it) with the plain SVM, then the flip budget
    among {0, 0.05, 0.1} of the training set at that width, keeping the candidate with the
    best validation score (by ``scoring``; ties go to the smaller budget, then to the width
    nearer "scale"). A game's score is optimistic (its rounds were selected on the same
    points), so it must beat the plain SVM by more than one standard error of the score,
    :math:`\sqrt{s(1-s)/m}`, to be chosen. Budget 0 is the SVM optimum on the given
    labels (libsvm's solution, refined by a few rounds of the core), so on clean data the
    choice falls back to SVC.
    The candidates and their scores are ``search_results_``, the chosen values
    ``flip_budget_`` and ``gamma_``. Without a validation set nothing is searched (there
    is nothing trustworthy to score on): "auto" plays a budget of 0.05 and "auto_scale"
    is "scale". An explicit value of either parameter is used as given and not searched.
    The search costs about two to three fits of one game with the validation set
    (bench/README.md): the plain SVMs are cheap, the two games cost one fit each.

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
        Box constraint of the dual (regularisation strength is 1/C), as in SVC. Inside
        the game (``flip_budget > 0``) it often cannot matter: the attacker relabels the
        points with the largest dual variables, and within ``n_rounds`` projected-gradient
        steps the duals may never reach the box, so every larger C gives the same model
        (``fit`` then warns with ``IneffectiveParameterWarning``). It acts as in SVC for
        the budget-0 candidate of the search and with ``flip_budget=0, init="svc"``.
    kernel : {"rbf", "linear", "poly", "sigmoid"}, default="rbf"
        Kernel, with scikit-learn's formulas.
    gamma : {"auto_scale", "scale", "auto"} or float, default="auto_scale"
        Kernel coefficient. "scale" is ``1 / (n_features * X.var())`` and "auto" is
        ``1 / n_features``, exactly as in SVC; "auto_scale" is "scale" without a validation
        set and, with one, the best of "scale" times {1/3, 1, 3} on it (see "Choosing the
        game"). Unused by the linear kernel.
    degree : int, default=3
        Degree of the "poly" kernel.
    coef0 : float, default=0.0
        Independent term of the "poly" and "sigmoid" kernels.
    flip_budget : "auto", int or float, default="auto"
        The attacker's strength **per round inside the game**: labels it flips each round
        (an int is a count, a float in (0, 1) a fraction of the training set, rounded half
        up), always relative to the labels given to ``fit``. It is *not* the share of your
        labels you expect to be poisoned: the attacker re-chooses among the support vectors
        with the largest dual weights every round, so a budget near the poisoning rate
        (0.25 against 25% flips) lets it relabel most support vectors each round and the
        model collapses to one class (``fit`` warns). Useful values are small, about 0.01
        to 0.1. "auto" chooses among 0, 0.05 and 0.1 on the validation set when one is
        given and plays 0.05 without (see "Choosing the game"). 0 disables the attacker,
        leaving a plain projected-gradient SVM.
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
        "balanced" uses ``n / (n_classes * n_c)``. Like ``C`` and ``sample_weight``
        it only scales the box, so it changes nothing when no dual variable reaches it
        (``fit`` warns).
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
        are candidates) and for ``history_["n_sv"]``. It does not prune the returned
        model (with the automatic step at large n, dual variables of the first rounds
        are ~1e-6, so dropping those below ``tol`` would change the model); large
        expansions are compacted with a bound on the change instead (``dual_coef_``).
    n_jobs : int, default=None
        OpenMP threads. None: up to all cores, each product with the kernel matrix on one
        thread or on all by its own timing (one thread below 2^24 kernel entries), which
        avoids waiting on a descheduled thread when the machine is busy; -1: all cores
        always. Results are identical for any value. Values above the CPUs this process
        may use are clamped to them, values beyond +-32768 are refused, and in a process
        forked from one that had imported floral (multiprocessing's "fork" start method)
        the core runs on one thread: OpenMP's thread pool does not survive fork().
    random_state : int, RandomState instance or None, default=None
        Seeds the attacker's random choices.
    verbose : int, default=0
        1 prints progress to stderr about once a second.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels; with two, ``classes_[1]`` is the positive class.
    support_ : ndarray of shape (n_SV,)
        Training indices of the points the returned model's expansion uses. Empty with
        ``kernel="linear"``: that model is ``coef_`` and ``intercept_``.
    support_vectors_ : ndarray of shape (n_SV, n_features)
        The support vectors (float32 when float32 ``X`` was used as it is, see ``fit``).
    dual_coef_ : ndarray of shape (n_problems, n_SV)
        Coefficients :math:`c_i` of the support vectors (averaged over the kept rounds);
        one row for two classes, one row per class (its one-vs-rest problem) otherwise.
        **Compact models**: the game gives almost every training point a small nonzero
        coefficient. With the RBF or polynomial kernel and 1,000 or more such points, the
        expansion (and the last and best rounds' beside it) is replaced by its orthogonal
        projection onto the span of a few points picked greedily (kernel matching pursuit:
        each pick removes the most of the remaining error), stopped once the error's
        RKHS norm is at most 0.01: every decision value then moves by at most
        :math:`0.01 \sqrt{K(x, x)}` (0.01 for RBF, a hundredth of the margin), and the
        intercepts are unchanged. Smaller expansions are kept exactly.
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
    flip_budget_ : int or float
        The flip budget the returned model was trained with (the search's choice, or the
        value played: 0.05 for "auto" without a validation set).
    gamma_ : float
        The kernel coefficient of the returned model, resolved (1.0 for the linear
        kernel, which has none).
    search_results_ : dict of ndarray or None
        With a search (see "Choosing the game"), one entry per candidate fitted, in the
        order fitted: ``flip_budget``, ``gamma``, ``gamma_factor`` (of "scale"),
        ``val_score`` (by ``scoring``, weighted by ``sample_weight_val``), ``fit_time``
        (seconds) and ``chosen`` (True for the returned model). None without a search.
    learning_rate_ : float
        The initial step size used.
    lambda_max_ : float
        The largest eigenvalue of the training kernel matrix (``learning_rate="auto"``
        only; NaN otherwise).
    history_ : dict of ndarray
        Per round: ``round``, ``objective`` (summed over problems), ``n_sv``, ``n_free``,
        ``n_bound`` (dual variables at their bound ``C_i``), ``n_changed``, ``mu`` (the
        first problem's projection multiplier), ``eta``, ``ascent`` (problems whose step
        raised their objective), ``seconds`` (since the start of the loop) and, with a
        validation set, ``val_accuracy`` and ``val_balanced_accuracy`` (NaN in rounds that
        were not evaluated; weighted by ``sample_weight_val``).
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

    Probabilities: like scikit-learn 1.9's SVC, FloralSVC has no ``probability=True``.
    Calibrate a fitted model on the **trusted** labels only,
    ``CalibratedClassifierCV(FrozenEstimator(clf)).fit(X_val, y_val)``: calibrating in
    folds of the training set (``CalibratedClassifierCV(FloralSVC(), cv=5)``) fits the
    probabilities to poisoned labels.

    Tuning other parameters: scikit-learn's cross-validation scores on folds of the
    (possibly poisoned) training labels. Score on the trusted set instead with
    :func:`floral.model_selection.trusted_split`, which builds a ``PredefinedSplit``.

    Pipelines: ``X_val`` must go through the same transformers as ``X``. With metadata
    routing on (``sklearn.set_config(enable_metadata_routing=True)``),
    ``Pipeline(steps, transform_input=["X_val"])`` and
    ``FloralSVC().set_fit_request(X_val=True, y_val=True)`` transform it (scikit-learn
    1.6 or later); README "Pipelines" has the recipe.

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
        C=1.0,
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
            Training points. With ``kernel="linear"`` in feature space (n_samples at
            least twice n_features, e.g. behind ``Nystroem``), a float32 array is used as
            it is: no float64 copy, about half the time per round, and the same model as
            for ``X.astype(np.float64)`` (products and sums are float64; ``X_val`` is then
            read in float32 too). Anything else is converted to float64.

            A scipy.sparse ``X`` (CSR, CSC, COO, ... matrix or array; TF-IDF features)
            with ``kernel="linear"`` is used as CSR rows (other formats are converted
            once), whatever n_features is: a round costs O(nnz), no dense n_samples x
            n_features array is formed, and the model is bitwise the one the same values
            give as a dense array (``support_vectors_`` is then sparse, ``coef_`` dense).
            The other kernels read dense rows: a sparse ``X`` is converted to a dense
            float64 array when that takes at most 1 GB, and refused with a
            ``ValueError`` beyond (use the linear kernel, or ``Nystroem`` features).
        y : array-like of shape (n_samples,)
            Training labels, two or more classes of any type. They may already be
            poisoned: that is the setting FLORAL defends.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights; sample i gets the box constraint ``C * sample_weight[i]``.
            Like ``C`` it changes nothing when no dual variable reaches its bound in the
            game (``fit`` then warns); it acts as in SVC for the plain-SVM candidate.
        X_val : {array-like, sparse matrix} of shape (n_val, n_features), default=None
            A **trusted** validation set (its labels are assumed clean). The core records
            its accuracy and balanced accuracy every ``eval_every`` rounds
            (``history_["val_accuracy"]``, ``history_["val_balanced_accuracy"]``) and
            ``selection="best"`` (the default when it is given) keeps the ``n_best``
            rounds that score highest on it by ``scoring``.
            With the defaults ``flip_budget="auto"`` and ``gamma="auto_scale"`` it also
            chooses the game (see "Choosing the game" above; ``search_results_``).
            Keyword-only, so that a Pipeline routes it (``transform_input=["X_val"]``).
        y_val : array-like of shape (n_val,), default=None
            Labels of ``X_val``, among the training classes.
        sample_weight_val : array-like of shape (n_val,), default=None
            Weights of the validation points in every validation score (the rounds'
            ranking, the game's choice and the warnings), as in
            ``HistGradientBoostingClassifier.fit``.

        Returns
        -------
        self : FloralSVC

        Warns
        -----
        DegenerateModelWarning
            The returned model predicts one class on the training points, or scores no
            better than a constant classifier on the validation set (without one: on the
            training labels), or the best validation score of the fit is within a few
            standard errors of chance (a validation set outside X's feature space, or too
            small).
        IneffectiveParameterWarning
            ``C`` (other than the default), ``class_weight`` or ``sample_weight`` was set
            but no dual variable of the returned model reached its bound, so they changed
            nothing.
        """
        search_budget, search_width = _selection.searched(self, X_val is not None)
        if search_budget or search_width:
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
        # sparse X: the linear kernel runs on its CSR rows (never densified); the other
        # kernels read dense rows, so a sparse X is converted up to a size limit
        sparse = is_sparse(X)
        if sparse and self.kernel != "linear":
            X = densify(X, kernel=self.kernel)
        X_given = X
        # the linear kernel in feature space reads float32 features as they are; every
        # other path needs float64 (converted below once the storage is known)
        dtypes = [np.float64, np.float32] if self.kernel == "linear" else np.float64
        X, y = validate_data(self, X, y, dtype=dtypes, order="C", accept_sparse="csr")
        sparse = is_sparse(X)
        X_private = not sparse and _is_converted_copy(X, X_given)
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
        C_vec = float(self.C) * sample_weight * class_w[y_idx]
        # the linear kernel has no gamma, and "scale" would read all of X once more
        gamma = (1.0 if self.kernel == "linear"
                 else resolve_gamma(_selection.resolved_gamma(self.gamma), X))
        flip_budget = _selection.resolved_budget(self.flip_budget)
        k = resolve_budget(flip_budget, n, param="flip_budget")
        caps = self._class_caps(k, np.bincount(y_idx, minlength=n_classes), n)
        val = self._check_val(X_val, y_val, sample_weight_val, training_sparse=sparse)
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
            w_eval=None if val is None else val[2],
            eval_cache_size=_EVAL_CACHE_MB, average_from=average_from,
            n_best=int(self.n_best) if val is not None else 0, scoring=self.scoring,
            **storage,
        )
        exc = res["exception"]
        if exc is not None and not isinstance(exc, KeyboardInterrupt):
            raise exc
        monitor.close(res["rounds_run"])

        self._gamma = gamma
        self.gamma_ = gamma
        self.flip_budget_ = flip_budget
        self._n_flips = k
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
        self._box_reach = _selection.box_reach(C_vec, [kept, last, best], n_problems)
        # on the rounds' own coefficients: the linear model keeps none per point, and a
        # compact one is a projection of them that the constraint does not bind
        equality_gap = _equality_gap(kept["coef"], n_problems)
        kept, last, best = self._attributes(X, [kept, last, best], n_problems, X_private)
        self._last_model, self._best_model = last, best
        vars(self).update(kept)
        self.best_round_ = int(res["best"][0]["round"]) if res["best"] else self.n_rounds_
        self._warn_if_diverged()
        self._check_dual_equality(equality_gap)
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

    def _check_val(self, X_val, y_val, sample_weight_val=None, training_sparse=False):
        """(X_val as float64, y_val as class indices, sample_weight_val or None), or None
        without a validation set."""
        if X_val is None and y_val is None:
            if sample_weight_val is not None:
                raise ValueError("sample_weight_val needs a validation set: fit(X, y, "
                                 "X_val=..., y_val=..., sample_weight_val=...)")
            return None
        if X_val is None or y_val is None:
            missing = "X_val" if X_val is None else "y_val"
            raise ValueError(f"X_val and y_val go together: {missing} is missing")
        check_data(X_val, y_val, X_name="X_val", y_name="y_val")
        width = np.shape(X_val)[1]
        if width != self.n_features_in_:
            raise ValueError(f"X_val has {width} features, but X has {self.n_features_in_}")
        if is_sparse(X_val) and not training_sparse:
            # the validation rows go where the training rows went: dense storage
            X_val = densify(X_val, X_name="X_val", kernel=self.kernel)
        X_val, y_val = validate_data(self, X_val, y_val, dtype=np.float64, order="C",
                                     reset=False, accept_sparse="csr")
        unknown = np.setdiff1d(np.unique(y_val), self.classes_)
        if unknown.size:
            raise ValueError(
                f"y_val labels {unknown.tolist()} are not among the training classes "
                f"{self.classes_.tolist()}"
            )
        if sample_weight_val is not None:
            sample_weight_val = _check_sample_weight(sample_weight_val, X_val,
                                                     dtype=np.float64, ensure_non_negative=True)
            if not sample_weight_val.sum() > 0:
                raise ValueError("sample_weight_val must have a positive sum")
        return (X_val, np.searchsorted(self.classes_, y_val).astype(np.int32),
                sample_weight_val)

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
                      coef0=self.coef0, tol=_SVC_INIT_TOL, max_iter=libsvm_max_iter(n),
                      cache_size=200 if self.cache_size == "auto" else self.cache_size)
            _interruptible(svc.fit, X, np.where(target, 1, -1),
                           sample_weight=C_vec / float(self.C))
            dual = svc.dual_coef_  # scipy.sparse when SVC was fitted on sparse X
            dual = dual.toarray() if is_sparse(dual) else dual
            lam[p, svc.support_] = np.abs(dual.ravel())
        # libsvm stops at its own tolerance; the box must hold exactly for the core
        lam = np.clip(lam, 0.0, C_vec)
        return lam[0] if n_problems == 1 else lam

    def _kernel_storage(self, X, kernel_params, flip_budget):
        """floral_fit's storage and cache_size: feature space for the linear kernel when d
        is small against n, else the Gram matrix with cache_size resolved ("auto": see
        floral._memory); warns once when "auto" cannot materialise."""
        n, d = X.shape
        if self.kernel == "linear" and (is_sparse(X) or _memory.use_features(n, d)):
            # sparse X: O(nnz) per round on its CSR rows, whatever d is against n
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
        if self.kernel == "linear":
            return [None if m is None else self._linear_attributes(X, m, c)
                    for m, c in zip(models, coefs)]
        self._compaction_error = 0.0  # RKHS norm of what compaction removed (0: exact)
        compact = _compact_expansion(X, [c for c in coefs if c is not None], self.kernel,
                                     self._gamma, int(self.degree), float(self.coef0))
        if compact is not None:
            basis, betas, self._compaction_error = compact
            pool = X[basis]  # shared by the models (pickled once)
            betas = iter(betas)
            return [None if m is None else {
                **self._model_attributes(X, basis, next(betas), m["b"], pool),
                "flipped_": np.flatnonzero(m["flipped"]).astype(np.int32),
                "kept_rounds_": np.asarray(m["rounds"], dtype=np.int32),
            } for m in models]
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
                "flipped_": np.flatnonzero(model["flipped"]).astype(np.int32),
                "kept_rounds_": np.asarray(model["rounds"], dtype=np.int32),
            })
        return out

    def _linear_attributes(self, X, model, coef):
        """A linear-kernel model: coef_ and intercept_, nothing per training point (the
        expansion collapses to w = sum_i c_i x_i, which is all prediction reads)."""
        support = np.flatnonzero(np.any(coef != 0.0, axis=0))
        attrs = self._model_attributes(X, support, coef[:, support], model["b"],
                                       _RowsOf(X, support))
        attrs.update(support_=np.empty(0, dtype=np.int32),
                     support_vectors_=np.empty((0, X.shape[1]), dtype=X.dtype),
                     dual_coef_=np.empty((coef.shape[0], 0)),
                     n_support_=np.zeros(self.classes_.size, dtype=np.int32),
                     flipped_=np.flatnonzero(model["flipped"]).astype(np.int32),
                     kept_rounds_=np.asarray(model["rounds"], dtype=np.int32))
        return attrs

    def _history(self, res, has_val):
        h = res["history"]
        # counts as int32 (n_rounds and n are below 2^31 by the constraints): the history
        # is most of a compact model's pickle, and counts need no 64 bits
        rounds = np.arange(1, res["rounds_run"] + 1, dtype=np.int32)
        history = {"round": rounds}
        for key in ("objective", "n_sv", "n_free", "n_bound", "n_changed", "mu", "eta",
                    "ascent", "seconds"):
            column = h[key][: rounds.size]
            history[key] = column.astype(np.int32) if column.dtype.kind == "i" else column
        if has_val:
            history["val_accuracy"] = h["accuracy"][: rounds.size]
            history["val_balanced_accuracy"] = h["balanced_accuracy"][: rounds.size]
        return history

    def _check_dual_equality(self, worst):
        """Warn when the kept model broke the dual's equality constraint
        sum_i y~_i lam_i = 0 by ``worst`` (relative, see _equality_gap). Each round's
        projection holds it to 1e-9 relative; with steps far beyond 2 / lambda_max(K) the
        projected point's breakpoints round together and it can fail by percents
        (tests/test_properties.py, test_projection_huge_v_against_narrow_box)."""
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

    # persistence (skops.io, pickle's protocols 0 and 1) asks for the state as a dict
    def __getstate__(self):
        return {"pool": self.pool, "index": self.index}

    def __setstate__(self, state):
        self.pool = state["pool"]
        self.index = state["index"]

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


def _equality_gap(coef, n_problems):
    """max over problems of |sum_i c_i| / (1 + sum_i |c_i|) for the coefficients c of the
    rounds' kept (averaged) model."""
    coef = np.asarray(coef, dtype=np.float64).reshape(n_problems, -1)
    if not coef.size:
        return 0.0
    return float(np.max(np.abs(coef.sum(axis=1)) / (1.0 + np.abs(coef).sum(axis=1))))


def _compact_expansion(X, coefs, kernel, gamma, degree, coef0, block=1024):
    """One small basis for several kernel expansions over the rows of X, or None.

    ``coefs`` is a list of (n_problems, n) coefficient arrays (the returned model, the last
    and the best round); together they are F functions h_f = sum_i c_fi phi(x_i) in the
    kernel's feature space. The basis S grows greedily (kernel matching pursuit with
    re-fitting, done as a pivoted Cholesky factorisation of K): the next point is the one
    whose direction removes the most of the remaining squared error summed over the
    functions; each h_f is then replaced by its orthogonal projection onto span phi(S),
    whose error e_f satisfies |e_f(x)| <= ||e_f|| sqrt(K(x, x)) for every x
    (Cauchy-Schwarz). It stops once every ||e_f|| <= _COMPACT_TOL. Only for kernels that
    are positive semidefinite (rbf, poly), supports of at least _COMPACT_MIN_SV points,
    and while the work fits _COMPACT_MAX_WORK; None when a basis of half the support or
    less (at most _COMPACT_MAX_BASIS points) does not reach the tolerance, or when the
    error's decay, extrapolated, shows it would not. Returns (sorted training indices S, one
    (n_problems, |S|) coefficient array per entry of coefs, max_f ||e_f||).
    """
    from scipy.linalg import solve_triangular
    from sklearn.metrics.pairwise import pairwise_kernels

    if kernel not in ("rbf", "poly") or _COMPACT_TOL <= 0:
        return None
    C = np.concatenate(coefs, axis=0)  # (F, n)
    support = np.flatnonzero(np.any(C != 0.0, axis=0))
    m = support.size
    if m < _COMPACT_MIN_SV or m * m > _COMPACT_MAX_WORK:
        return None
    params = {"gamma": gamma} if kernel == "rbf" else {"gamma": gamma, "degree": degree,
                                                       "coef0": coef0}

    def K(A, B):
        return pairwise_kernels(A, B, metric=kernel, **params)

    Xs = np.asarray(X[support], dtype=np.float64)
    Cs = C[:, support].T  # (m, F)
    u0 = np.empty_like(Cs)  # K c at the support
    for a in range(0, m, block):
        u0[a:a + block] = K(Xs[a:a + block], Xs) @ Cs
    norm2 = np.einsum("if,if->f", Cs, u0)  # ||h_f||^2
    diag = np.ones(m) if kernel == "rbf" else (gamma * np.einsum("ij,ij->i", Xs, Xs)
                                                + coef0) ** degree
    limit = min(m // 2, _COMPACT_MAX_BASIS, _COMPACT_MAX_WORK // m)
    L = np.empty((m, limit))
    Z = np.empty((limit, Cs.shape[1]))
    u, d, err2 = u0.copy(), diag.astype(np.float64), norm2.copy()
    tol2 = _COMPACT_TOL ** 2
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
    if not error <= 1.01 * _COMPACT_TOL:  # lost to rounding: keep the exact expansion
        return None
    order = np.argsort(support[pivots])
    basis = support[pivots][order]
    beta = beta[order].T  # (F, k)
    out, row = [], 0
    for c in coefs:
        out.append(beta[row:row + c.shape[0]])
        row += c.shape[0]
    return basis, out, error


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
