r"""NN-PGD: a multilayer perceptron trained adversarially with projected gradient descent.

The network baseline of the FLORAL paper's Table 1 (Bal, Cevher & Muehlebach, ICLR 2025):
the Moon network (two hidden layers of 32 ReLU units) trained against worst-case input
perturbations in an L-infinity ball (Madry et al., ICLR 2018). Each minibatch (X_B, y_B)
is replaced by its PGD adversarial examples before the optimizer step,

.. math::

    \min_\theta \sum_{i \in B} \max_{\|\delta_i\|_\infty \le \epsilon}
        \ell(f_\theta(x_i + \delta_i), y_i),

with the inner maximisation approximated by ``pgd_steps`` signed-gradient steps from a
random start,

.. math::

    \delta^{(0)} \sim U[-\epsilon, \epsilon]^d, \qquad
    \delta^{(s+1)} = \mathrm{clip}_{[-\epsilon, \epsilon]}\big(\delta^{(s)}
        + \alpha \, \mathrm{sign}\, \nabla_x \ell(f_\theta(x + \delta^{(s)}), y)\big).

The labels are the ones given to ``fit`` (under label poisoning, possibly flipped): PGD
training hardens the network against input noise, not against wrong labels, which is why
the paper uses it as a baseline.

The network, its initialisation, optimizer and output layer are scikit-learn's
:class:`~sklearn.neural_network.MLPClassifier`, used through its public API only: this
module draws the minibatches of an epoch, replaces each by its perturbation (the input
gradient of the log-loss is one backward pass through the public ``coefs_`` /
``intercepts_``) and takes the optimizer step with one ``partial_fit`` call on it, which
continues the same Adam or SGD state. With ``epsilon=0`` an epoch is one ``partial_fit``
call on the whole data, so training is MLPClassifier's, bit for bit.
"""
import numbers
from numbers import Integral, Real

import numpy as np
from scipy.special import expit, softmax
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import LabelBinarizer, label_binarize
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_is_fitted, validate_data

from .._interrupt import partial_fit_or_interrupt
from .._validation import RANDOM_STATE, check_data, check_targets

__all__ = ["PGDTrainedMLP"]

# Hidden-layer activations as functions of the pre-activation, and their derivatives as
# functions of the activation's output (what a forward pass keeps), as in backpropagation.
_ACTIVATIONS = {
    "identity": lambda z: z,
    "logistic": expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
}
_DERIVATIVES = {
    "identity": lambda a: np.ones_like(a),
    "logistic": lambda a: a * (1.0 - a),
    "tanh": lambda a: 1.0 - a * a,
    "relu": lambda a: (a > 0).astype(a.dtype),
}


def _input_gradient(net, X, Y):
    """Gradient of each sample's log-loss with respect to its input row.

    ``net`` is a fitted :class:`~sklearn.neural_network.MLPClassifier` (logistic output
    for two classes, softmax for more); ``Y`` the binarized labels, shape
    ``(n_samples, n_outputs)``. Both outputs pair with the log-loss as canonical links, so
    the loss gradient at the output's pre-activation is ``p - Y``; the rest is the chain
    rule back through the hidden layers. Row i depends on sample i only (the loss is a
    sum over samples), so one call gives every sample's own gradient.
    """
    act = _ACTIVATIONS[net.activation]
    layers = [X]
    last = len(net.coefs_) - 1
    for i, (W, b) in enumerate(zip(net.coefs_, net.intercepts_)):
        z = layers[-1] @ W + b
        if i < last:
            layers.append(act(z))
        elif net.out_activation_ == "softmax":
            layers.append(softmax(z, axis=1))
        else:
            layers.append(expit(z))
    delta = layers[-1] - Y
    deriv = _DERIVATIVES[net.activation]
    for i in range(last, 0, -1):
        delta = (delta @ net.coefs_[i].T) * deriv(layers[i])
    return delta @ net.coefs_[0].T


def _pgd(net, X, Y, epsilon, steps, step_size, rng):
    """L-infinity PGD with a uniform random start: X + delta, ``|delta| <= epsilon``."""
    delta = rng.uniform(-epsilon, epsilon, size=X.shape).astype(X.dtype, copy=False)
    for _ in range(steps):
        grad = _input_gradient(net, X + delta, Y)
        delta += step_size * np.sign(grad)
        np.clip(delta, -epsilon, epsilon, out=delta)
    return X + delta


def _generator(random_state):
    """The PGD random starts' own stream, so the network's shuffling stream is untouched."""
    if random_state is None or isinstance(random_state, numbers.Integral):
        return np.random.default_rng(random_state)
    return np.random.default_rng(check_random_state(random_state).randint(2**31 - 1, size=4))


class PGDTrainedMLP(ClassifierMixin, BaseEstimator):
    r"""A multilayer perceptron trained on PGD adversarial examples (NN-PGD).

    Every minibatch is replaced by its worst-case perturbation within an L-infinity ball
    of radius ``epsilon``, found by projected gradient ascent on the network's log-loss
    (``pgd_steps`` signed steps of size ``pgd_step_size`` from a uniform random start),
    and the network takes its optimizer step on the perturbed batch with the given labels:

    .. math::

        \min_\theta \sum_i \max_{\|\delta_i\|_\infty \le \epsilon}
        \ell(f_\theta(x_i + \delta_i), y_i).

    This is the NN-PGD baseline of the FLORAL paper's Table 1. The network is
    scikit-learn's :class:`~sklearn.neural_network.MLPClassifier`, used through its public
    API (its initialisation, optimizer and output layer: logistic for two classes, softmax
    for more); the defaults are the paper's Moon network, two hidden layers of 32 ReLU units
    trained with Adam (learning rate 1e-3) on batches of 32 for 200 epochs. Settings of
    MLPClassifier not listed below keep its defaults (Adam's own ``epsilon=1e-8``
    included: here ``epsilon`` is the attack radius).

    With ``epsilon=0`` the batches are left alone and the model is exactly (bit for bit)
    MLPClassifier trained by ``max_iter`` calls of ``partial_fit`` with the same
    parameters and ``random_state``.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(32, 32)
        Units in each hidden layer.
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
        Hidden-layer activation.
    solver : {"adam", "sgd"}, default="adam"
        MLPClassifier's minibatch optimizer.
    alpha : float >= 0, default=1e-4
        L2 penalty on the weights.
    batch_size : int >= 1 or "auto", default=32
        Minibatch size ("auto": ``min(200, n_samples)``, as in MLPClassifier).
    learning_rate_init : float > 0, default=1e-3
        The optimizer's step size.
    max_iter : int >= 1, default=200
        Epochs :meth:`fit` trains (each one pass over the data in minibatches); there is no
        early stopping.
    epsilon : float >= 0, default=0.1
        Radius of the L-infinity ball around each training point, in the units of ``X``.
        The default is for standardised features (unit variance, as
        :func:`floral.datasets.load_moons` returns them), where Moon's noise has a standard
        deviation of about 0.2-0.4 per feature. Chosen on Moon's validation split under
        alfa-tilt: bench/README.md, "NN-PGD attack settings on Moon".
    pgd_steps : int >= 1, default=5
        Signed-gradient steps of the inner maximisation; 5 keeps it a multi-step attack
        at 6 passes per minibatch (the sweep in the same section).
    pgd_step_size : float > 0 or "auto", default="auto"
        Size ``alpha`` of each step. "auto" is ``2.5 * epsilon / pgd_steps``: the steps
        can travel 2.5 epsilon in all, enough to cross the ball (2 epsilon) from any random
        start (the sweep in the same section).
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation (MLPClassifier's stream), the minibatch order and,
        separately, the PGD random starts; an int makes :meth:`fit` reproducible.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coefs_ : list of ndarray
        Weight matrices, ``coefs_[i]`` mapping layer i to layer i + 1 (MLPClassifier's).
    intercepts_ : list of ndarray
        Bias vectors, ``intercepts_[i]`` of layer i + 1.
    n_iter_ : int
        Epochs trained since the network was initialised.
    loss_curve_ : list of float
        Mean training loss of each epoch, on the perturbed batches (the adversarial loss).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` has string column names.

    See Also
    --------
    sklearn.neural_network.MLPClassifier : the same network without adversarial training.
    floral.FloralSVC : adversarial training against label flips instead of input noise.

    Notes
    -----
    Ctrl-C (``KeyboardInterrupt``) during :meth:`fit` or :meth:`partial_fit` keeps the
    network trained so far as the fitted model and re-raises, where MLPClassifier alone
    would only warn and go on.

    :meth:`partial_fit` is one adversarial epoch; the experiment runner
    (:func:`floral.experiments.run_grid`, method ``"nn-pgd"``) calls it epoch by epoch to
    keep the epoch with the best validation accuracy (Best) and the final one (Last), as
    for its ``"nn"`` method. With ``epsilon > 0`` the minibatches are drawn here, in an
    order that changes every epoch, and each is one ``partial_fit`` step of the network;
    the first minibatch of a fresh network is trained on unperturbed (there is no network
    to attack yet). With ``epsilon=0`` an epoch is MLPClassifier's ``partial_fit``, which
    reseeds its stream from an int ``random_state`` at every call, so its minibatch order
    repeats from the second epoch on (for ``nn`` as here). The PGD random starts come from
    their own generator, which advances across epochs. Training costs about
    ``pgd_steps + 1`` forward and backward passes per minibatch instead of one.

    References
    ----------
    .. [1] A. Madry, A. Makelov, L. Schmidt, D. Tsipras and A. Vladu, "Towards Deep
       Learning Models Resistant to Adversarial Attacks", ICLR 2018.
    .. [2] M. B. Bal, V. Cevher and M. Muehlebach, "Adversarial Training for Defense
       Against Label Poisoning Attacks", ICLR 2025 (Table 1, NN-PGD).

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from floral.defenses import PGDTrainedMLP
    >>> X, y = make_moons(200, noise=0.2, random_state=0)
    >>> clf = PGDTrainedMLP(epsilon=0.1, max_iter=50, random_state=0).fit(X, y)
    >>> clf.n_iter_
    50
    >>> bool(clf.score(X, y) > 0.8)
    True
    >>> X_adv = clf.perturb(X, y, random_state=0)
    >>> round(float(abs(X_adv - X).max()), 6)
    0.1
    """

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "solver": [StrOptions({"adam", "sgd"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="left")],
        "pgd_steps": [Interval(Integral, 1, None, closed="left")],
        "pgd_step_size": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(self, hidden_layer_sizes=(32, 32), activation="relu", *, solver="adam",
                 alpha=1e-4, batch_size=32, learning_rate_init=1e-3, max_iter=200,
                 epsilon=0.1, pgd_steps=5, pgd_step_size="auto", random_state=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.epsilon = epsilon
        self.pgd_steps = pgd_steps
        self.pgd_step_size = pgd_step_size
        self.random_state = random_state

    # --- training ----------------------------------------------------------------------

    def _check_settings(self):
        """(epsilon, steps, step size) after the checks the constraints cannot express."""
        # "array-like" in the constraints lets (32, 0) and (32, "a") through
        sizes = np.atleast_1d(np.asarray(self.hidden_layer_sizes, dtype=object))
        if sizes.ndim != 1 or sizes.size == 0 or not all(
                isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1
                for s in sizes):
            raise ValueError(f"The 'hidden_layer_sizes' parameter of {type(self).__name__} "
                             "must be a positive int or a sequence of positive ints. Got "
                             f"{self.hidden_layer_sizes!r} instead.")
        # the constraints' open upper ends already refuse an infinite epsilon or step
        epsilon = float(self.epsilon)
        step = (2.5 * epsilon / self.pgd_steps if self.pgd_step_size == "auto"
                else float(self.pgd_step_size))
        return epsilon, int(self.pgd_steps), step

    def _new_network(self):
        self._pgd_rng = None  # the PGD starts' generator, drawn on first use
        self._order_rng = None  # the minibatch order of the adversarial epochs
        return MLPClassifier(
            hidden_layer_sizes=self.hidden_layer_sizes, activation=self.activation,
            solver=self.solver, alpha=self.alpha, batch_size=self.batch_size,
            learning_rate_init=self.learning_rate_init, max_iter=self.max_iter,
            random_state=self.random_state,
        )

    def _validate_training_data(self, X, y, reset):
        check_data(X, y)
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), reset=reset)
        check_targets(y)
        return X, y

    def _epoch(self, X, y, classes):
        net = self._network
        settings = self._check_settings()
        loss = None
        try:
            if settings[0] > 0:
                loss = self._adversarial_epoch(net, X, y, classes, settings)
            else:
                # nothing to perturb: MLPClassifier's own epoch (its minibatches and order)
                net.set_params(shuffle=True, batch_size=self.batch_size)
                partial_fit_or_interrupt(net, X, y, classes=classes)
                loss = net.loss_
        finally:
            # an interrupted epoch still leaves a usable network (its loss is not recorded)
            if hasattr(net, "coefs_"):
                self.classes_ = net.classes_
                self.coefs_ = net.coefs_
                self.intercepts_ = net.intercepts_
                if loss is not None:
                    self.loss_curve_.append(loss)
                self.n_iter_ += 1

    def _adversarial_epoch(self, net, X, y, classes, settings):
        """One pass over (X, y) in shuffled minibatches, each replaced by its PGD
        perturbation against the current network and trained on with one ``partial_fit``
        call (one optimizer step; Adam's or SGD's state carries over between calls). The
        first batch of a fresh network is trained on as it is: there is no network to
        attack yet. Returns the epoch's loss, the mean over its samples of the batches'
        losses, as MLPClassifier's loss_curve_ records it."""
        epsilon, steps, step_size = settings
        n = X.shape[0]
        size = min(200 if self.batch_size == "auto" else self.batch_size, n)
        if self._order_rng is None:
            self._order_rng = check_random_state(self.random_state)
        if self._pgd_rng is None:  # drawn on first use: epsilon=0 never touches the seed
            self._pgd_rng = _generator(self.random_state)
        order = self._order_rng.permutation(n)
        # the labels as the network's output codes them (its classes, sorted)
        known = net.classes_ if hasattr(net, "classes_") else np.unique(classes)
        Y = label_binarize(y, classes=known).astype(X.dtype)
        total = 0.0
        # X and y were validated once for the epoch: the per-batch calls skip the checks
        # (they cost more than the step on a batch of 32)
        with config_context(assume_finite=True, skip_parameter_validation=True):
            for start in range(0, n, size):
                rows = order[start:start + size]
                X_batch, y_batch = X[rows], y[rows]
                if hasattr(net, "coefs_"):
                    X_batch = _pgd(net, X_batch, Y[rows], epsilon, steps, step_size,
                                   self._pgd_rng)
                # the batch as it is, in one step: no shuffling, no splitting
                net.set_params(shuffle=False, batch_size=rows.size)
                partial_fit_or_interrupt(net, X_batch, y_batch,
                                         classes=None if hasattr(net, "classes_") else classes)
                total += net.loss_ * rows.size
        return total / n

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train a fresh network for ``max_iter`` adversarial epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training points (not modified).
        y : array-like of shape (n_samples,)
            Class labels, possibly poisoned; any two or more labels.

        Returns
        -------
        self : object
        """
        self._check_settings()
        X, y = self._validate_training_data(X, y, reset=True)
        classes = np.unique(y)
        self._network = self._new_network()
        self.n_iter_ = 0
        self.loss_curve_ = []
        for _ in range(self.max_iter):
            self._epoch(X, y, classes)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """One adversarial epoch: one pass over (X, y) in perturbed minibatches.

        The first call initialises the network and needs ``classes``; later calls continue
        training it (after :meth:`fit` too), with the parameters' current values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training points (not modified).
        y : array-like of shape (n_samples,)
            Class labels, a subset of ``classes``.
        classes : array-like of shape (n_classes,), default=None
            Every class of the problem; required on the first call, ignored after.

        Returns
        -------
        self : object
        """
        self._check_settings()
        first = not hasattr(self, "_network")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit "
                             "(every class of the problem, e.g. np.unique(y))")
        X, y = self._validate_training_data(X, y, reset=first)
        if first:
            self._network = self._new_network()
            self.n_iter_ = 0
            self.loss_curve_ = []
        self._epoch(X, y, classes if first else None)
        return self

    # --- prediction --------------------------------------------------------------------

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        check_data(X)
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        return self._network.predict_proba(X)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """Class labels (the most probable class).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        check_data(X)
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        return self._network.predict(X)

    @validate_params({"X": ["array-like"], "y": ["array-like"], "random_state": RANDOM_STATE},
                     prefer_skip_nested_validation=True)
    def perturb(self, X, y, *, random_state=None):
        """PGD adversarial examples against the current network (what training sees).

        Runs the same attack the training batches get (``epsilon``, ``pgd_steps``,
        ``pgd_step_size``) on (X, y), with its random start drawn from ``random_state``
        instead of the training stream, so calling it does not change later training.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points to perturb (not modified).
        y : array-like of shape (n_samples,)
            Their labels, from ``classes_``; the attack raises the log-loss of these.
        random_state : int, RandomState instance or None, default=None
            Seeds the random start.

        Returns
        -------
        X_adv : ndarray of shape (n_samples, n_features)
            ``X + delta`` with ``max |delta| <= epsilon``.
        """
        check_is_fitted(self)
        self._validate_params()  # fit validated them, but set_params may have changed them
        epsilon, steps, step = self._check_settings()
        check_data(X, y)
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), reset=False)
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"y has labels {unknown.tolist()!r} that are not in classes_ "
                             f"{self.classes_.tolist()!r}")
        Y = LabelBinarizer().fit(self.classes_).transform(y).astype(X.dtype)
        if epsilon == 0:
            return X.copy()
        return _pgd(self._network, X, Y, epsilon, steps, step, _generator(random_state))
