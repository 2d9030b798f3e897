"""Datasets with the train / validation / test protocols used in the FLORAL paper.

Every loader returns a :class:`sklearn.utils.Bunch` with the same fields:

``X_train, y_train, X_val, y_val, X_test, y_test``
    The three splits. Splits are stratified by class and drawn with ``random_state``.
``scaler``
    The :class:`~sklearn.preprocessing.StandardScaler` fitted on the *training split only*
    and applied to all three (None when scaling is switched off), so no statistic of the
    validation or test data leaks into preprocessing.
``name``, ``description``
    A short name (used in experiment records) and a one-line description of the protocol.

=======================  ================================================================
:func:`load_moons`       the paper's Moon: 500 train / 500 validation / 1,000 test
:func:`load_imbalanced_moons`  Moon with a minority class (10% positives by default), same
                         sizes and split
:func:`load_digits_1v7`  scikit-learn's bundled 8x8 digits, 1 vs 7 (offline stand-in for
                         the paper's MNIST 1-vs-7)
:func:`load_digits`      all ten classes of the same digits
:func:`load_breast_cancer`  Wisconsin diagnostic breast cancer, malignant vs benign
:func:`load_embeddings`  your own features (e.g. RoBERTa embeddings of IMDB reviews, as in
                         the paper) from .npz or .csv
:func:`make_large`       synthetic Moon-like data of any size and dimension, for scale tests
:func:`make_text_corpus` a synthetic labelled text corpus (Zipf words, class-dependent
                         frequencies), as counts or text, for the sparse TF-IDF path
=======================  ================================================================

:func:`read_labelled` is the .npz / .csv reader behind :func:`load_embeddings` and the
``floral attack`` command, :func:`write_labelled` its inverse.
"""
from ._builtin import (
    load_breast_cancer,
    load_digits,
    load_digits_1v7,
    load_imbalanced_moons,
    load_moons,
    make_large,
)
from ._embeddings import load_embeddings
from ._io import UnnamedColumnWarning, read_labelled, write_labelled
from ._text import make_text_corpus

__all__ = ["load_moons", "load_digits_1v7", "load_breast_cancer", "load_embeddings",
           "make_large", "read_labelled", "write_labelled", "load_digits",
           "load_imbalanced_moons", "make_text_corpus", "UnnamedColumnWarning"]
