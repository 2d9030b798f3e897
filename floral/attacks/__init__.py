r"""Label-flip attacks on kernel SVMs.

Every attack takes a training set and a budget and returns poisoned labels::

    y_poisoned = attack(X, y, budget, *, ..., random_state=None)

(:func:`random_flip` alone, which never looks at the features, is
``random_flip(y, budget, *, random_state=None)``; :func:`get` gives it, like every attack,
with the ``(X, y, budget)`` signature.)

``y_poisoned`` is a new array with ``y``'s dtype and label values in which exactly
``budget`` labels are changed, each to a class other than its own; ``X`` and ``y`` are never
modified. The budget is an int (a count in ``[0, n_samples]``) or a float in ``[0, 1)`` (a
fraction of ``n_samples``, rounded half up: 0.05 of 500 is 25); a budget of 0 returns an
unchanged copy. Any class labels work (strings, 0/1, -1/+1, booleans). ``random`` and
``topk_sv`` take any number of classes >= 2; ``alfa``, ``alfa_tilt`` and ``lfa`` are defined
for two classes and raise ``ValueError`` on more (:func:`supports_multiclass` tells which is
which). Kernel parameters follow
:class:`sklearn.svm.SVC`: ``C``, ``kernel``, ``gamma`` (a float, ``"scale"`` or ``"auto"``),
``degree``, ``coef0``.

==============  ==========================================================================
``random``      :func:`random_flip`: uniform random flips (label noise, the baseline);
                K >= 2 classes
``topk_sv``     :func:`topk_sv_flip`: FLORAL's attacker as a one-shot attack, the support
                vectors with the largest dual variables; K >= 2 classes (to the runner-up)
``alfa``        :func:`alfa`: Xiao, Xiao & Eckert (2012), relaxed bilevel problem solved by
                alternating a weighted SVM and a linear program
``alfa_tilt``   :func:`alfa_tilt`: Xiao et al. (2015), the flips that tilt the SVM's
                hyperplane the most
``lfa``         :func:`lfa`: Paudice, Munoz-Gonzalez & Lupu (2018), greedy flips that most
                increase the validation error
==============  ==========================================================================

:func:`get` returns any of them by name with one calling convention and :func:`available`
lists the names; the command line (``floral attack``) and the experiment runner use both.

The SVMs inside the attacks are scikit-learn's :class:`~sklearn.svm.SVC` fitted on a
precomputed Gram matrix, so the kernel is evaluated once per attack, not once per fit.
"""
from ._alfa import alfa, alfa_tilt
from ._flips import random_flip, topk_sv_flip
from ._lfa import lfa
from ._registry import available, canonical_name, get, supports_multiclass, supports_sparse

__all__ = ["random_flip", "topk_sv_flip", "alfa", "alfa_tilt", "lfa", "get", "available",
           "supports_multiclass", "supports_sparse", "canonical_name"]
