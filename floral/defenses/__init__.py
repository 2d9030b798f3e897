r"""Baseline defenses against label poisoning, as scikit-learn classifiers.

The four defenses the FLORAL paper (Bal, Cevher & Muehlebach, ICLR 2025, Table 1) compares
with. Each is a binary classifier with SVC's kernel parameters (``C``, ``kernel``,
``gamma``, ``degree``, ``coef0``) and ``fit`` / ``predict`` / ``decision_function`` /
``score``; where the defense is a data filter or relabeller, the filter is a public
function too, so it can be put in front of any model.

* :class:`LNSVC` -- LN-robust SVM (Biggio, Nelson & Laskov, ACML 2011): SVC on a kernel
  matrix corrected for an expected label-flip rate ``mu``.
* :class:`CurieSVC` -- Curie (Laishram & Phoha, 2016): remove points that lie far from
  their DBSCAN cluster mates once the label is a feature; the filter is
  :func:`curie_filter`.
* :class:`LabelSanitizedSVC` -- label sanitization, LS-SVM (Paudice, Muñoz-González &
  Lupu, 2018): relabel points to a confident k-NN majority; the relabeller is
  :func:`sanitize_labels`.
* :class:`KLIDSVC` -- K-LID SVM (Weerasinghe et al., IEEE TIFS 2021): down-weight points
  whose local intrinsic dimensionality in kernel space looks like a flipped label's; the
  weights are :func:`klid_weights`.
* :class:`PGDTrainedMLP` -- NN-PGD, the paper's network baseline: scikit-learn's
  MLPClassifier trained on PGD adversarial examples (Madry et al., ICLR 2018); it is not
  an SVM, so the kernel notes below do not apply to it.

The four SVM defenses fit scikit-learn's :class:`~sklearn.svm.SVC` underneath and predict
with the plain kernel in floral's compiled core (tiled, multi-threaded), like
:class:`~floral.FloralSVC`. ``gamma="scale"`` and ``"auto"`` are resolved once on the
whole training set, as SVC resolves them, so a filtered training set is fitted with the
kernel the unfiltered one would have had. Inputs are never modified; any two class labels
work, more than two raise ``ValueError``. Each defense lives in a module of its own
(``_ln_svm``, ``_curie``, ``_label_sanitization``, ``_klid``, ``_nn_pgd``); import them
from here.
"""
from ._curie import CurieSVC, curie_filter
from ._klid import KLIDSVC, klid_weights
from ._label_sanitization import LabelSanitizedSVC, sanitize_labels
from ._ln_svm import LNSVC
from ._nn_pgd import PGDTrainedMLP

__all__ = ["LNSVC", "CurieSVC", "curie_filter", "LabelSanitizedSVC", "sanitize_labels",
           "KLIDSVC", "klid_weights", "PGDTrainedMLP"]
