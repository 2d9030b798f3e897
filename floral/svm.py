"""FloralSVC: the scikit-learn estimator for FLORAL adversarial training."""
import copy
import sys
import time
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.metrics.pairwise import pairwise_kernels
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import _core, _memory
from ._validation import KERNEL_ARGS, encode_binary_labels, resolve_budget, resolve_gamma

__all__ = ["FloralSVC"]

# Above this many float64 entries the evaluation-set kernel is not kept in memory; each
# evaluation then goes through the core's tiled decision function instead.
_EVAL_KERNEL_MAX_ENTRIES = 32 * 2**20


class FloralSVC(ClassifierMixin, BaseEstimator):
    r"""Kernel SVM trained by FLORAL against label-flipping attacks.

    FLORAL (Flipping Labels for Adversarial Learning) casts training under label poisoning
    as a Stackelberg game. The model (leader) runs projected gradient descent on the SVM
    dual under the current labels :math:`\tilde y`,

    .. math::

        \min_{\lambda}\ \tfrac12 \lambda^\top Q \lambda - \mathbf 1^\top\lambda, \quad
        Q_{ij} = \tilde y_i \tilde y_j K(x_i, x_j), \quad
        \tilde y^\top \lambda = 0,\ 0 \le \lambda_i \le C_i,

    one step per round with an exact projection onto the feasible set. After each step an
    attacker (follower) with budget :math:`k` flips the labels of :math:`k` support vectors
    drawn at random among the :math:`\lceil \text{candidate\_factor}\cdot k\rceil` with the
    largest :math:`\lambda_i` (always relative to the labels given to ``fit``); the next
    round trains on those labels. The round loop runs in floral's compiled core.

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
    n_rounds : int, default=500
        Rounds of the game (projected-gradient steps).
    learning_rate : float, default=1e-3
        Initial step size.
    lr_decay : float in (0, 1], default=1.0
        Step size at round t is ``learning_rate * lr_decay ** (t // lr_decay_every)``.
    lr_decay_every : int, default=100
        Rounds between decays.
    init : {"zeros", "svc"}, default="zeros"
        Starting dual variables: zeros (the paper's choice) or the dual of a plain SVC fit
        on the given labels.
    selection : {"last", "best"}, default="last"
        Keep the final round, or the round with the highest accuracy on ``eval_set``
        (earliest on ties); "best" requires ``eval_set``.
    eval_every : int, default=1
        Rounds between evaluations on ``eval_set`` (and between progress reports).
    refresh : int, default=50
        Rounds between exact recomputations of the decision values that the core
        otherwise updates incrementally; 0 never recomputes.
    cache_size : float or "auto", default="auto"
        Memory for the kernel matrix, in MB (as in SVC). A budget of n x n float32 or more
        keeps every row (fastest when many coefficients change each round); otherwise the
        matrix is materialised as its packed lower triangle (n(n+1)/2 float32, ~2 n^2
        bytes) when that fits, with what is left kept as whole rows for the attacker's
        updates; otherwise kernel rows go through an LRU cache of this size and are
        recomputed as needed, which costs O(n^2 d) per round. "auto" materialises when the triangle fits in half of the
        memory the OS reports as available, and otherwise uses that half as the row cache
        and warns (``UserWarning``) with the expected cost per round. Results are bitwise
        identical for any value on a given machine (with 32 or more features this relies
        on SciPy's BLAS giving a kernel entry the same value wherever it sits in a dgemm
        call of one fixed shape, as OpenBLAS does). With ``kernel="linear"`` and ``n >= 2 * n_features`` no
        kernel matrix is formed and this is unused: the core works on X and
        w = X^T (y~ * lambda), O(n d) per round (see "Large data" in the README).
    tol : float, default=1e-5
        Dual variables above ``tol`` count as support vectors (for the attacker, for
        ``support_`` and for the history).
    n_jobs : int, default=None
        OpenMP threads; None or -1 uses all cores. Results are identical for any value.
    random_state : int, RandomState instance or None, default=None
        Seeds the attacker's random choices.
    verbose : int, default=0
        1 prints progress to stderr about once a second.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two class labels; ``classes_[1]`` is the positive class.
    support_ : ndarray of shape (n_SV,)
        Indices of the support vectors of the kept round.
    support_vectors_ : ndarray of shape (n_SV, n_features)
        The support vectors.
    dual_coef_ : ndarray of shape (1, n_SV)
        :math:`\tilde y_i \lambda_i` of the support vectors, in the kept round's labels.
    intercept_ : ndarray of shape (1,)
        Intercept :math:`b` of the kept round.
    coef_ : ndarray of shape (1, n_features)
        With ``kernel="linear"`` only: :math:`w = \sum_i \tilde y_i \lambda_i x_i`, so that
        the decision function is :math:`X w + b`.
    n_support_ : ndarray of shape (2,)
        Support vectors per class (by the label the kept round trained on).
    flipped_ : ndarray of int
        Training indices whose labels were flipped in the kept round.
    history_ : dict of ndarray
        Per round: ``round``, ``objective``, ``n_sv``, ``n_free``, ``n_changed``, ``mu``,
        ``eta``, ``seconds`` (since the start of the loop) and, with an ``eval_set``,
        ``eval_accuracy`` (NaN in rounds that were not evaluated).
    best_round_ : int
        The kept round (1-based).
    n_rounds_ : int
        Rounds actually run (fewer than ``n_rounds`` after an interruption).
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    sklearn.svm.SVC : the same model trained on the labels as given.
    floral.attacks : label-flip attacks for evaluating defenses.

    References
    ----------
    M. I. Bal, V. Cevher, M. Muehlebach. "Adversarial Training for Defense Against
    Label Poisoning Attacks". ICLR 2025.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from floral import FloralSVC
    >>> X, y = make_moons(200, noise=0.2, random_state=0)
    >>> clf = FloralSVC(C=10, gamma=1.0, flip_budget=0.1, n_rounds=200,
    ...                 learning_rate=0.01, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.85
    True
    """

    _parameter_constraints = {
        "C": [Interval(Real, 0.0, None, closed="neither")],
        "kernel": [StrOptions({"rbf", "linear", "poly", "sigmoid"})],
        "gamma": [StrOptions({"scale", "auto"}), Interval(Real, 0.0, None, closed="neither")],
        "degree": [Interval(Integral, 0, None, closed="left")],
        "coef0": [Interval(Real, None, None, closed="neither")],
        "flip_budget": [
            Interval(Integral, 0, None, closed="left"),
            Interval(Real, 0.0, 1.0, closed="left"),
        ],
        "candidate_factor": [Interval(Real, 1.0, None, closed="left")],
        "n_rounds": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0.0, None, closed="neither")],
        "lr_decay": [Interval(Real, 0.0, 1.0, closed="right")],
        "lr_decay_every": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"zeros", "svc"})],
        "selection": [StrOptions({"last", "best"})],
        "eval_every": [Interval(Integral, 1, None, closed="left")],
        "refresh": [Interval(Integral, 0, None, closed="left")],
        "cache_size": [Interval(Real, 0.0, None, closed="neither"), StrOptions({"auto"})],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
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
        n_rounds=500,
        learning_rate=1e-3,
        lr_decay=1.0,
        lr_decay_every=100,
        init="zeros",
        selection="last",
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
        self.n_rounds = n_rounds
        self.learning_rate = learning_rate
        self.lr_decay = lr_decay
        self.lr_decay_every = lr_decay_every
        self.init = init
        self.selection = selection
        self.eval_every = eval_every
        self.refresh = refresh
        self.cache_size = cache_size
        self.tol = tol
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, eval_set=None):
        """Run the FLORAL game on (X, y).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training points.
        y : array-like of shape (n_samples,)
            Training labels, two classes of any type. They may already be poisoned:
            that is the setting FLORAL defends.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights; sample i gets the box constraint ``C * sample_weight[i]``.
        eval_set : tuple (X_val, y_val), default=None
            Held-out data whose accuracy is recorded every ``eval_every`` rounds in
            ``history_["eval_accuracy"]``; required by ``selection="best"``.

        Returns
        -------
        self : FloralSVC
        """
        if self.n_jobs == 0:
            raise ValueError("n_jobs=0 is not valid; use None or -1 for all cores")
        X, y = validate_data(self, X, y, dtype=np.float64, order="C")
        classes, y_signed = encode_binary_labels(y)
        n = X.shape[0]
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                             ensure_non_negative=True)
        C_vec = float(self.C) * sample_weight
        gamma = resolve_gamma(self.gamma, X)
        k = resolve_budget(self.flip_budget, n, param="flip_budget")
        eval_data = self._check_eval_set(eval_set, classes, X.shape[1])
        if self.selection == "best" and eval_data is None:
            raise ValueError('selection="best" needs an eval_set=(X_val, y_val) to select on')
        kernel_params = dict(kernel=self.kernel, gamma=gamma, degree=int(self.degree),
                             coef0=float(self.coef0))
        lam0 = self._initial_dual(X, y_signed, C_vec, sample_weight, gamma)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int64).max,
                                                                 dtype=np.int64))
        monitor = _Monitor(self, X, eval_data, kernel_params)
        res = _core.floral_fit(
            X, y_signed, C_vec, lam0, **kernel_params,
            n_rounds=int(self.n_rounds), learning_rate=float(self.learning_rate),
            lr_decay=float(self.lr_decay), lr_decay_every=int(self.lr_decay_every),
            flip_budget=k, candidate_factor=float(self.candidate_factor),
            refresh=int(self.refresh), tol=float(self.tol),
            eval_every=int(self.eval_every), seed=seed, n_jobs=self.n_jobs, callback=monitor,
            **self._kernel_storage(X, kernel_params, k),
        )
        exc = res["exception"]
        if exc is not None and not isinstance(exc, KeyboardInterrupt):
            raise exc
        monitor.close(res["rounds_run"])

        self.classes_ = classes
        self._gamma = gamma
        self.n_rounds_ = res["rounds_run"]
        self._storage = res["cache"]  # which kernel storage ran, and its cache counters
        last = {k_: res[k_] for k_ in ("lam", "yt", "b", "round")}
        kept = res["snapshot"] if self.selection == "best" and res["snapshot"] else last
        self._last_model = self._round_model(X, last, y_signed)
        vars(self).update(self._last_model if kept is last else self._round_model(X, kept, y_signed))
        self.history_ = self._history(res, monitor)
        if exc is not None:
            warnings.warn(
                f"FloralSVC.fit was interrupted after {self.n_rounds_} of {self.n_rounds} "
                f"rounds; keeping round {self.best_round_} ({self.selection} so far).",
                RuntimeWarning, stacklevel=2,
            )
        return self

    def _check_eval_set(self, eval_set, classes, n_features):
        if eval_set is None:
            return None
        if not isinstance(eval_set, (tuple, list)) or len(eval_set) != 2:
            raise TypeError("eval_set must be a tuple (X_val, y_val)")
        X_val, y_val = validate_data(self, eval_set[0], eval_set[1], dtype=np.float64,
                                     order="C", reset=False)
        unknown = np.setdiff1d(np.unique(y_val), classes)
        if unknown.size:
            raise ValueError(
                f"eval_set labels {unknown.tolist()} are not among the training classes "
                f"{classes.tolist()}"
            )
        return X_val, np.where(y_val == classes[1], 1, -1).astype(np.int8)

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
            seconds = _memory.row_cache_round_seconds(X, kernel_params, plan.cache_mb, self.n_jobs)
            warnings.warn(_memory.row_cache_warning(n, plan, seconds), UserWarning, stacklevel=4)
        return {"storage": "gram", "cache_size": plan.cache_mb}

    def _initial_dual(self, X, y_signed, C_vec, sample_weight, gamma):
        n = X.shape[0]
        if self.init == "zeros":
            return np.zeros(n)
        from sklearn.svm import SVC

        svc = SVC(C=float(self.C), kernel=self.kernel, gamma=gamma, degree=self.degree,
                  coef0=self.coef0,
                  cache_size=200 if self.cache_size == "auto" else self.cache_size)
        svc.fit(X, y_signed, sample_weight=sample_weight)
        lam = np.zeros(n)
        lam[svc.support_] = np.abs(svc.dual_coef_.ravel())
        # libsvm stops at its own tolerance; the box must hold exactly for the core
        return np.clip(lam, 0.0, C_vec)

    def _round_model(self, X, state, y_signed):
        """The fitted attributes describing one round's classifier."""
        lam, yt = state["lam"], state["yt"]
        support = np.flatnonzero(lam > self.tol).astype(np.int32)
        linear = {"coef_": ((yt * lam) @ X).reshape(1, -1)} if self.kernel == "linear" else {}
        return {
            **linear,
            "support_": support,
            "support_vectors_": X[support],
            "dual_coef_": (yt * lam)[support].reshape(1, -1),
            "intercept_": np.array([state["b"]]),
            "n_support_": np.array([np.sum(yt[support] < 0), np.sum(yt[support] > 0)],
                                   dtype=np.int32),
            "flipped_": np.flatnonzero(yt != y_signed),
            "best_round_": int(state["round"]),
        }

    def _history(self, res, monitor):
        h = dict(res["history"])
        rounds = np.arange(1, res["rounds_run"] + 1)
        history = {"round": rounds}
        for key in ("objective", "n_sv", "n_free", "n_changed", "mu", "eta", "seconds"):
            history[key] = h[key][: rounds.size]
        if monitor.has_eval:
            acc = np.full(rounds.size, np.nan)
            for rnd, value in monitor.accuracy.items():
                if rnd <= rounds.size:
                    acc[rnd - 1] = value
            history["eval_accuracy"] = acc
        return history

    def last_round(self):
        """A copy of this fitted estimator that predicts with the final round's model.

        With ``selection="best"`` the estimator keeps the round that scored best on the
        evaluation set; this gives the "Last" model of the paper's tables beside it.
        """
        check_is_fitted(self)
        other = copy.deepcopy(self)
        vars(other).update(copy.deepcopy(self._last_model))
        return other

    def decision_function(self, X):
        """Signed distance to the boundary: positive values predict ``classes_[1]``.

        Evaluated in the compiled core in tiles of test points, so memory stays
        O(tile x n_SV) whatever the size of X.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, order="C", reset=False)
        if self.kernel == "linear":  # X w + b, O(n d) whatever the number of SVs
            return X @ self.coef_[0] + self.intercept_[0]
        return _core.decision_function(
            X, self.support_vectors_, self.dual_coef_.ravel(), float(self.intercept_[0]),
            kernel=self.kernel, gamma=self._gamma, degree=int(self.degree),
            coef0=float(self.coef0), n_jobs=self.n_jobs,
        )

    def predict(self, X):
        """Class labels: ``classes_[1]`` where the decision function is positive."""
        positive = self.decision_function(X) > 0  # checks fitted before classes_ is read
        return self.classes_[positive.astype(np.intp)]


class _Monitor:
    """The callback the core calls: evaluation accuracy, best-round snapshots, progress."""

    def __init__(self, est, X, eval_data, kernel_params):
        self.est = est
        self.X = X
        self.has_eval = eval_data is not None
        self.accuracy = {}
        self.best = -np.inf
        self.best_flag = est.selection == "best"
        self.verbose = int(est.verbose)
        self.start = time.perf_counter()
        self.last_print = -np.inf
        self.kernel_params = kernel_params
        if self.has_eval:
            X_val, self.y_val = eval_data
            if X_val.shape[0] * X.shape[0] <= _EVAL_KERNEL_MAX_ENTRIES:
                # one kernel matrix up front makes every evaluation a matrix-vector product
                kernel = kernel_params["kernel"]
                params = {key: kernel_params[key] for key in KERNEL_ARGS[kernel]}
                self.K_val = pairwise_kernels(X_val, X, metric=kernel, **params)
                self.X_val = None
            else:
                self.K_val = None
                self.X_val = X_val

    def _accuracy(self, lam, yt, b):
        coef = yt * lam
        if self.K_val is not None:
            dec = self.K_val @ coef + b
        else:
            sv = np.flatnonzero(lam > 0)
            dec = _core.decision_function(self.X_val, self.X[sv], coef[sv], b,
                                          n_jobs=self.est.n_jobs, **self.kernel_params)
        return float(np.mean(np.where(dec > 0, 1, -1) == self.y_val))

    def __call__(self, reason, rnd, lam, yt, b, objective):
        flags = 0
        acc = None
        if reason == _core.EVAL and self.has_eval:
            acc = self._accuracy(lam, yt, b)
            self.accuracy[rnd] = acc
            if self.best_flag and acc > self.best:
                self.best = acc
                flags |= _core.SNAPSHOT
        if self.verbose:
            now = time.perf_counter()
            if now - self.last_print >= 1.0:
                self.last_print = now
                rate = rnd / max(now - self.start, 1e-9)
                msg = (f"[FloralSVC] round {rnd}/{self.est.n_rounds}  "
                       f"objective {objective:.6g}")
                if acc is not None:
                    msg += f"  eval acc {acc:.4f}"
                msg += f"  ({rate:.0f} rounds/s)"
                print(msg, file=sys.stderr, flush=True)
        return flags

    def close(self, rounds_run):
        if self.verbose:
            elapsed = time.perf_counter() - self.start
            msg = f"[FloralSVC] done: {rounds_run} rounds in {elapsed:.2f} s"
            if self.has_eval and self.accuracy:
                msg += f", best eval acc {max(self.accuracy.values()):.4f}"
            print(msg, file=sys.stderr, flush=True)
