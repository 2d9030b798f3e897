"""Bad input, one row per (entry point, bad input).

A library row asserts the exception type and that its message names the parameter (or
the file, for a file that cannot be read). A command-line row asserts exit status 2, a
last stderr line ``floral: error: argument OPTION: ...`` naming the option, and no
traceback.

Every row runs in a child process, so a bad value that slipped past validation into the
compiled core and crashed it fails its row instead of the test run: one child runs the
rows in turn and reports each as a JSON line; if it dies, the row it was running is
recorded as a crash and a new child takes the rest. Command-line rows call
``floral.cli.main`` in that child with stderr captured (two rows go through
``python -m floral`` to cover the real entry point).
"""
import json
import os
import re
import subprocess
import sys
import zipfile
from collections import namedtuple

import numpy as np
import pytest
from sklearn.datasets import make_blobs, make_moons

# code: a statement run in the child; exc: the exception class expected; names: a regex
# the message must match (the parameter's name, in scikit-learn's wording where it is
# scikit-learn's validation)
Row = namedtuple("Row", "entry case code exc names")
# argv: the command line after `floral`; option: what the error line must name
CliRow = namedtuple("CliRow", "entry case argv option")


def param(name, owner):
    return f"The '{name}' parameter of {owner} must be"


def param_rows(entry, owner, call, values):
    """A row per (parameter, bad value): ``call`` with ``{kw}`` standing for the keyword."""
    return [Row(entry, f"{name}={value}", call.format(kw=f"{name}={value}"), ValueError,
                param(name, owner)) for name, value in values]


# --- FloralSVC ---------------------------------------------------------------------------

FLORAL_PARAMS = [
    ("C", "0"), ("C", "-1"), ("C", "np.inf"), ("C", "'1'"), ("kernel", "'cosine'"),
    ("gamma", "'big'"), ("gamma", "-0.5"), ("gamma", "np.nan"), ("degree", "-1"),
    ("degree", "2.5"), ("coef0", "np.inf"), ("flip_budget", "1.5"), ("flip_budget", "-1"),
    ("flip_budget", "'5'"), ("candidate_factor", "0.5"), ("candidate_factor", "np.nan"),
    ("class_cap", "0.5"), ("class_weight", "'even'"), ("n_rounds", "0"),
    ("learning_rate", "0.0"), ("learning_rate", "'fast'"), ("learning_rate", "np.inf"),
    ("lr_decay", "0.0"), ("lr_decay", "1.5"), ("lr_decay_every", "0"), ("init", "'random'"),
    ("selection", "'first'"), ("n_best", "0"), ("average_start", "1.5"),
    ("eval_every", "0"), ("refresh", "-1"), ("cache_size", "0"), ("cache_size", "np.inf"),
    ("tol", "-1e-3"), ("n_jobs", "0"), ("n_jobs", "1.5"), ("random_state", "-1"),
    ("random_state", "'seed'"), ("verbose", "-1"),
]

ROWS = param_rows("FloralSVC.fit", "FloralSVC", "FloralSVC({kw}).fit(X, y)", FLORAL_PARAMS) + [
    Row("FloralSVC.fit", "flip_budget count > n", "FloralSVC(flip_budget=61).fit(X, y)",
        ValueError, r"flip_budget=61 must be in \[0, n_samples=60\]"),
    Row("FloralSVC.fit", "X with NaN", "FloralSVC(n_rounds=2).fit(NAN, y)", ValueError,
        "Input X contains NaN"),
    Row("FloralSVC.fit", "X with inf", "FloralSVC(n_rounds=2).fit(INF, y)", ValueError,
        "Input X contains infinity"),
    Row("FloralSVC.fit", "1-D X", "FloralSVC(n_rounds=2).fit(X[:, 0], y)", ValueError,
        "X must be 2-D"),
    Row("FloralSVC.fit", "empty X", "FloralSVC(n_rounds=2).fit(X[:0], y[:0])", ValueError,
        r"X must be non-empty: found 0 sample\(s\) \(shape=\(0, 2\)\)"),
    Row("FloralSVC.fit", "X without features", "FloralSVC(n_rounds=2).fit(X[:, :0], y)",
        ValueError, r"X must be non-empty: found 0 feature\(s\)"),
    Row("FloralSVC.fit", "y a scalar", "FloralSVC(n_rounds=2).fit(X, 1)", ValueError,
        "y must be a 1-D array-like of labels"),
    Row("FloralSVC.fit", "string X", "FloralSVC(n_rounds=2).fit(TEXT, y)", ValueError,
        "X must be numeric"),
    Row("FloralSVC.fit", "class_weight all zero",
        "FloralSVC(n_rounds=2, class_weight={0: 0, 1: 0}).fit(X, y)", ValueError,
        r"class_weight=\{0: 0, 1: 0\} gives every sample a weight of 0"),
    Row("FloralSVC.fit", "class_weight zero where sample_weight is not",
        "FloralSVC(n_rounds=2, class_weight={0: 0, 1: 1}).fit(X, y, sample_weight=1.0 - y)",
        ValueError, "class_weight=.* gives every sample a weight of 0"),
    Row("FloralSVC.fit", "one class", "FloralSVC(n_rounds=2).fit(X, np.zeros(60))",
        ValueError, "y has 1 class"),
    Row("FloralSVC.fit", "continuous y", "FloralSVC(n_rounds=2).fit(X, np.linspace(0, 1, 60))",
        ValueError, "y: Unknown label type"),
    Row("FloralSVC.fit", "y of another length", "FloralSVC(n_rounds=2).fit(X, y[:-1])",
        ValueError, "X and y have different numbers of samples: 60 and 59"),
    Row("FloralSVC.fit", "negative sample_weight",
        "FloralSVC(n_rounds=2).fit(X, y, sample_weight=-np.ones(60))", ValueError,
        "sample_weight"),
    Row("FloralSVC.fit", "sample_weight of another length",
        "FloralSVC(n_rounds=2).fit(X, y, sample_weight=np.ones(5))", ValueError,
        "sample_weight"),
    Row("FloralSVC.fit", "X_val without y_val", "FloralSVC(n_rounds=2).fit(X, y, X_val=X)",
        ValueError, "y_val is missing"),
    Row("FloralSVC.fit", "y_val without X_val", "FloralSVC(n_rounds=2).fit(X, y, y_val=y)",
        ValueError, "X_val is missing"),
    Row("FloralSVC.fit", "X_val of another width",
        "FloralSVC(n_rounds=2).fit(X, y, X_val=np.c_[X, X], y_val=y)", ValueError,
        "X_val has 4 features, but X has 2"),
    Row("FloralSVC.fit", "X_val and y_val of different lengths",
        "FloralSVC(n_rounds=2).fit(X, y, X_val=X, y_val=y[:-1])", ValueError,
        "X_val and y_val have different numbers of samples"),
    Row("FloralSVC.fit", "1-D X_val", "FloralSVC(n_rounds=2).fit(X, y, X_val=X[:, 0], y_val=y)",
        ValueError, "X_val must be 2-D"),
    Row("FloralSVC.fit", "y_val with a new class",
        "FloralSVC(n_rounds=2).fit(X, y, X_val=X, y_val=y + 5)", ValueError,
        r"y_val labels \[5, 6\] are not among the training classes"),
    Row("FloralSVC.fit", "selection='best' without a validation set",
        "FloralSVC(n_rounds=2, selection='best').fit(X, y)", ValueError,
        "selection=\"best\" needs a validation set"),
    Row("FloralSVC.predict", "another width", "CLF.predict(X[:, :1])", ValueError,
        "X has 1 features, but FloralSVC is expecting 2"),
    Row("FloralSVC.predict", "1-D X", "CLF.predict(X[0])", ValueError, "X must be 2-D"),
    Row("FloralSVC.predict", "X with NaN", "CLF.predict(NAN)", ValueError,
        "Input X contains NaN"),
    Row("FloralSVC.decision_function", "empty X", "CLF.decision_function(X[:0])", ValueError,
        "X must be non-empty"),
    Row("FloralSVC.predict", "not fitted", "FloralSVC().predict(X)", ValueError,
        "FloralSVC instance is not fitted yet"),
    Row("FloralSVC.best_round", "fitted without a validation set", "CLF.best_round()",
        ValueError, r"best_round\(\) needs a fit with a validation set \(X_val, y_val\)"),
]

# --- attacks -----------------------------------------------------------------------------

FUNCTION = {"random": "random_flip", "topk_sv": "topk_sv_flip", "alfa": "alfa",
            "alfa_tilt": "alfa_tilt", "lfa": "lfa"}


def attack(name, args="X, y, 5", **kwargs):
    extra = "".join(f", {k}={v}" for k, v in kwargs.items())
    return f"attacks.get({name!r})({args}{extra})"


for name, function in FUNCTION.items():
    ROWS += [
        Row(function, "budget count > n", attack(name, "X, y, 61"), ValueError,
            r"budget=61 must be in \[0, n_samples=60\]"),
        Row(function, "budget 1.0", attack(name, "X, y, 1.0"), ValueError,
            param("budget", function)),
        Row(function, "negative budget", attack(name, "X, y, -0.1"), ValueError,
            param("budget", function)),
        Row(function, "budget as text", attack(name, "X, y, '5'"), TypeError,
            param("budget", function)),
        Row(function, "negative random_state", attack(name, random_state=-1), ValueError,
            param("random_state", function)),
        Row(function, "one class", attack(name, "X, np.zeros(60, dtype=int), 5"), ValueError,
            "y has 1 class"),
        Row(function, "y of another length", attack(name, "X[:-1], y, 5"), ValueError,
            "X and y have different numbers of samples: 59 and 60"),
        Row(function, "1-D X", attack(name, "X[:, 0], y, 5"), ValueError, "X must be 2-D"),
        Row(function, "X with NaN", attack(name, "NAN, y, 5"), ValueError,
            "Input X contains NaN"),
    ]
    if name == "random":
        continue
    ROWS += [
        Row(function, "C=0", attack(name, C=0), ValueError, param("C", function)),
        Row(function, "C as text", attack(name, C="'1'"), TypeError, param("C", function)),
        Row(function, "unknown kernel", attack(name, kernel="'cubic'"), ValueError,
            param("kernel", function)),
        Row(function, "gamma 'big'", attack(name, gamma="'big'"), ValueError,
            param("gamma", function)),
        Row(function, "negative gamma", attack(name, gamma=-1.0), ValueError,
            param("gamma", function)),
        Row(function, "fractional degree", attack(name, kernel="'poly'", degree=1.5),
            TypeError, param("degree", function)),
        Row(function, "NaN coef0", attack(name, coef0="np.nan"), ValueError,
            param("coef0", function)),
    ]
    if name != "topk_sv":
        ROWS.append(Row(function, "three classes", attack(name, "X3, y3, 5"), ValueError,
                        f"y has 3 classes. The {name} attack is defined for two classes "
                        "only"))

ROWS += [
    Row("topk_sv_flip", "candidate_factor < 1", attack("topk_sv", candidate_factor=0.5),
        ValueError, param("candidate_factor", "topk_sv_flip")),
    Row("alfa", "max_iter 0", attack("alfa", max_iter=0), ValueError,
        param("max_iter", "alfa")),
    Row("alfa", "negative tol", attack("alfa", tol=-1e-3), ValueError, param("tol", "alfa")),
    Row("alfa_tilt", "n_trials 0", attack("alfa_tilt", n_trials=0), ValueError,
        param("n_trials", "alfa_tilt")),
    Row("alfa_tilt", "negative beta1", attack("alfa_tilt", beta1=-1.0), ValueError,
        param("beta1", "alfa_tilt")),
    Row("alfa_tilt", "beta2 as text", attack("alfa_tilt", beta2="'x'"), TypeError,
        param("beta2", "alfa_tilt")),
    Row("lfa", "max_candidates 0", attack("lfa", max_candidates=0), ValueError,
        param("max_candidates", "lfa")),
    Row("lfa", "X_val without y_val", attack("lfa", X_val="np.zeros((3, 2))"), ValueError,
        "X_val and y_val must be given together"),
    Row("lfa", "X_val of another width", attack("lfa", X_val="np.zeros((3, 5))",
                                                y_val="[0, 1, 0]"),
        ValueError, "X_val has 5 features but X has 2"),
    Row("lfa", "X_val and y_val of different lengths",
        attack("lfa", X_val="np.zeros((3, 2))", y_val="[0, 1]"), ValueError,
        "X_val and y_val have different numbers of samples"),
    Row("lfa", "y_val with a new class", attack("lfa", X_val="np.zeros((3, 2))",
                                                y_val="[0, 1, 7]"),
        ValueError, r"y_val has labels \[7\]"),
    Row("attacks.get", "unknown name", "attacks.get('pgd')", ValueError,
        "unknown attack 'pgd'; available attacks: random, topk_sv, alfa, alfa_tilt, lfa"),
    Row("attacks.get", "name not a str", "attacks.get(3)", TypeError, param("name", "get")),
    Row("attacks.canonical_name", "unknown name", "attacks.canonical_name('x')", ValueError,
        "unknown attack 'x'"),
    Row("attacks.supports_multiclass", "name not a str", "attacks.supports_multiclass(None)",
        TypeError, param("name", "supports_multiclass")),
    Row("attacks.supports_sparse", "name not a str", "attacks.supports_sparse(None)",
        TypeError, param("name", "supports_sparse")),
    Row("attacks.supports_sparse", "unknown name", "attacks.supports_sparse('pgd')",
        ValueError, "unknown attack 'pgd'"),
    Row("attacks.alfa", "sparse X", "import scipy.sparse as sp; attacks.alfa(sp.csr_matrix(X), "
        "y, 3)", TypeError, "The alfa attack needs a dense X"),
]

# --- defenses ----------------------------------------------------------------------------

DEFENSES = ["LNSVC", "CurieSVC", "LabelSanitizedSVC", "KLIDSVC"]
for cls in DEFENSES:
    ROWS += param_rows(f"{cls}.fit", cls, cls + "({kw}).fit(X, y)",
                       [("C", "0"), ("kernel", "'cosine'"), ("gamma", "-1.0"),
                        ("degree", "-1"), ("coef0", "np.nan")]) + [
        Row(f"{cls}.fit", "X with NaN", f"{cls}().fit(NAN, y)", ValueError,
            "Input X contains NaN"),
        Row(f"{cls}.fit", "1-D X", f"{cls}().fit(X[:, 0], y)", ValueError, "X must be 2-D"),
        Row(f"{cls}.fit", "three classes", f"{cls}().fit(X3, y3)", ValueError,
            "y has 3 classes"),
        Row(f"{cls}.fit", "y of another length", f"{cls}().fit(X, y[:-1])", ValueError,
            "X and y have different numbers of samples"),
        Row(f"{cls}.fit", "negative sample_weight",
            f"{cls}().fit(X, y, sample_weight=-np.ones(60))", ValueError, "sample_weight"),
        Row(f"{cls}.predict", "another width", f"{cls}().fit(X, y).predict(X[:, :1])",
            ValueError, f"X has 1 features, but {cls} is expecting 2"),
    ]
OWN_PARAMS = {
    "LNSVC": [("mu", "0.5"), ("mu", "-0.1")],
    "CurieSVC": [("weight", "-1.0"), ("count", "0"), ("count", "2.5"), ("eps", "0.0"),
                 ("min_samples", "0"), ("theta", "'high'")],
    "LabelSanitizedSVC": [("k", "0"), ("eta", "0.5"), ("eta", "1.1"), ("max_iter", "0")],
    "KLIDSVC": [("k", "1"), ("weight_center", "0.0"), ("weight_slope", "-1.0"),
                ("min_weight", "1.5"), ("min_weight", "-0.1")],
    "curie_filter": [("weight", "-1.0"), ("count", "0"), ("eps", "-1.0"),
                     ("min_samples", "0"), ("theta", "'high'"), ("return_scores", "'yes'")],
    "sanitize_labels": [("k", "0"), ("eta", "0.4"), ("max_iter", "0")],
    "klid_weights": [("k", "1"), ("kernel", "'cosine'"), ("gamma", "0.0"),
                     ("min_weight", "2.0"), ("weight_slope", "0.0"), ("return_ratio", "'yes'")],
}
for owner, values in OWN_PARAMS.items():
    call = owner + ("({kw}).fit(X, y)" if owner[0].isupper() else "(X, y, {kw})")
    ROWS += param_rows(f"{owner}.fit" if owner[0].isupper() else owner, owner, call, values)
PGD_PARAMS = [
    ("epsilon", "-0.1"), ("epsilon", "'wide'"), ("epsilon", "np.inf"), ("pgd_steps", "0"),
    ("pgd_steps", "2.5"), ("pgd_step_size", "0.0"), ("pgd_step_size", "-1.0"),
    ("pgd_step_size", "'big'"), ("pgd_step_size", "np.inf"), ("max_iter", "0"),
    ("batch_size", "0"), ("alpha", "-1.0"), ("learning_rate_init", "0.0"),
    ("hidden_layer_sizes", "(32, 0)"), ("hidden_layer_sizes", "(32, 'a')"),
    ("activation", "'softplus'"), ("solver", "'lbfgs'"), ("random_state", "'seed'"),
    ("random_state", "-1"),
]
for method, call in (("fit", "fit(X, y)"), ("partial_fit", "partial_fit(X, y, classes=[0, 1])")):
    ROWS += param_rows(f"PGDTrainedMLP.{method}", "PGDTrainedMLP",
                       "PGDTrainedMLP({kw})." + call, PGD_PARAMS)
ROWS += [
    Row("sanitize_labels", "k > n - 1", "sanitize_labels(X, y, k=60)", ValueError, "k=60"),
    Row("klid_weights", "k > n - 1", "klid_weights(X, y, k=100)", ValueError, "k=100"),
] + [
    Row(fn, case, f"{fn}({args})", ValueError, names)
    for fn in ("curie_filter", "sanitize_labels", "klid_weights")
    for case, args, names in [
        ("1-D X", "X[:, 0], y", "X must be 2-D"),
        ("y of another length", "X, y[:-1]", "X and y have different numbers of samples"),
        ("one class", "X, np.ones(60)", "y has 1 class"),
        ("three classes", "X3, y3", f"y has 3 classes. {fn} is defined for two classes only"),
    ]
] + [
    Row("PGDTrainedMLP.perturb", "epsilon set to inf after fit",
        "PGDTrainedMLP(max_iter=1).fit(X, y).set_params(epsilon=np.inf).perturb(X, y)",
        ValueError, param("epsilon", "PGDTrainedMLP.perturb")),
    Row("PGDTrainedMLP.perturb", "negative random_state",
        "PGDTrainedMLP(max_iter=1).fit(X, y).perturb(X, y, random_state=-1)", ValueError,
        param("random_state", "PGDTrainedMLP.perturb")),
    Row("PGDTrainedMLP.fit", "1-D X", "PGDTrainedMLP(max_iter=1).fit(X[:, 0], y)", ValueError,
        "X must be 2-D"),
    Row("PGDTrainedMLP.partial_fit", "no classes on the first call",
        "PGDTrainedMLP().partial_fit(X, y)", ValueError, "classes must be passed"),
    Row("PGDTrainedMLP.perturb", "a label not in classes_",
        "PGDTrainedMLP(max_iter=1).fit(X, y).perturb(X, y + 7)", ValueError,
        r"y has labels \[7, 8\] that are not in classes_"),
]

# --- datasets ----------------------------------------------------------------------------

for reader in ("load_embeddings", "read_labelled"):
    ROWS += [
        Row(reader, "missing file", f"{reader}('missing.npz')", FileNotFoundError,
            "no such file: missing.npz"),
        Row(reader, "unsupported suffix", f"{reader}('data.txt')", ValueError,
            "data.txt: unsupported file type '.txt'"),
        Row(reader, "path not a str", f"{reader}(3)", TypeError, param("path", reader)),
        Row(reader, "garbage .npz", f"{reader}('garbage.npz')", ValueError,
            "cannot read garbage.npz: not an .npz file"),
        Row(reader, "object-array .npz", f"{reader}('objects.npz')", ValueError,
            "cannot read objects.npz: array 'y' holds Python objects"),
        Row(reader, "no array y", f"{reader}('noy.npz')", ValueError,
            "noy.npz has no array 'y'"),
        Row(reader, "csv without label", f"{reader}('train.csv')", ValueError,
            "train.csv is a CSV file: name its label column with label="),
        Row(reader, "csv without the label column", f"{reader}('train.csv', 'y')", ValueError,
            "train.csv has no column 'y'; its columns are a, b, label"),
        Row(reader, "csv with a ragged row", f"{reader}('ragged.csv', 'label')", ValueError,
            "ragged.csv, line 3: 2 fields, the header has 3"),
        Row(reader, "csv with text features", f"{reader}('text.csv', 'label')", ValueError,
            "text.csv, line 2, column 'a': the cell is not a number: 'foo'; every column "
            "but the label 'label' must be numeric"),
        Row(reader, "csv with an empty cell", f"{reader}('hole.csv', 'label')", ValueError,
            "hole.csv, line 3, column 'b': the cell is empty"),
        Row(reader, "csv with an empty label", f"{reader}('nolabel.csv', 'label')",
            ValueError, r"nolabel.csv, line 2: the label \(column 'label'\) is empty"),
        Row(reader, "csv with ';' read with ','", f"{reader}('semi.csv', 'label')",
            ValueError, "semi.csv has no column 'label'.*pass sep=';'"),
        Row(reader, "sep of two characters", f"{reader}('semi.csv', 'label', sep=';;')",
            ValueError, "sep must be one character"),
        Row(reader, "sep not a str", f"{reader}('semi.csv', 'label', sep=0)",
            ValueError, param("sep", reader)),
        Row(reader, "drop a missing column", f"{reader}('train.csv', 'label', drop=['id'])",
            ValueError, "train.csv has no column 'id' to drop"),
        Row(reader, "drop the label", f"{reader}('train.csv', 'label', drop=['label'])",
            ValueError, "cannot drop the label column 'label'"),
        Row(reader, "drop not a list", f"{reader}('train.csv', 'label', drop='a')",
            ValueError, param("drop", reader)),
        Row(reader, ".npz declaring a huge shape", f"{reader}('huge.npz')", ValueError,
            "cannot read huge.npz: array 'X' would take .* more than the .* available now"),
    ]
ROWS += [
    Row("load_embeddings", "three classes", "load_embeddings('three.npz')", ValueError,
        "three.npz: .*y has 3 classes"),
    Row("load_embeddings", "1-D X", "load_embeddings('x1d.npz')", ValueError,
        "x1d.npz: X must be 2-D"),
    Row("load_embeddings", "test_size 1.5", "load_embeddings('train.npz', test_size=1.5)",
        ValueError, param("test_size", "load_embeddings")),
    Row("load_embeddings", "test_size + val_size >= 1",
        "load_embeddings('train.npz', test_size=0.6, val_size=0.5)", ValueError,
        "test_size \\+ val_size must be < 1"),
    Row("load_imbalanced_moons", "positive_rate 0.9", "load_imbalanced_moons(0.9)",
        ValueError, param("positive_rate", "load_imbalanced_moons")),
    Row("make_large", "n_samples 5", "make_large(5)", ValueError,
        param("n_samples", "make_large")),
    Row("make_text_corpus", "one document", "make_text_corpus(1)", ValueError,
        param("n_documents", "make_text_corpus")),
    Row("make_text_corpus", "negative class_sep", "make_text_corpus(class_sep=-1.0)",
        ValueError, param("class_sep", "make_text_corpus")),
    Row("make_text_corpus", "informative_fraction 2", "make_text_corpus(informative_fraction=2)",
        ValueError, param("informative_fraction", "make_text_corpus")),
    Row("make_text_corpus", "n_terms a float", "make_text_corpus(10, 5.0)", TypeError,
        param("n_terms", "make_text_corpus")),
    Row("make_large", "negative noise", "make_large(noise=-1.0)", ValueError,
        param("noise", "make_large")),
    Row("make_large", "one feature", "make_large(100, 1)", ValueError,
        param("n_features", "make_large")),
    Row("make_large", "n_samples a float", "make_large(100.0)", TypeError,
        param("n_samples", "make_large")),
    Row("make_large", "test_size + val_size >= 1", "make_large(100, test_size=0.6, val_size=0.5)",
        ValueError, "test_size \\+ val_size must be < 1"),
    Row("load_imbalanced_moons", "positive_rate as text", "load_imbalanced_moons('0.1')",
        TypeError, param("positive_rate", "load_imbalanced_moons")),
    Row("load_embeddings", "pre-split of different widths", "load_embeddings('widesplit.npz')",
        ValueError, "widesplit.npz: the splits have different numbers of features"),
    Row("load_embeddings", "X_val without y_val", "load_embeddings('half.npz')", ValueError,
        "half.npz has only one of X_val and y_val"),
    Row("load_embeddings", "y_test with a new class", "load_embeddings('newclass.npz')",
        ValueError, r"newclass.npz: y_test has labels \[9\]"),
] + [
    Row(loader, "val_size 0", f"{loader}(val_size=0.0)", ValueError, param("val_size", loader))
    for loader in ("load_digits_1v7", "load_digits", "load_breast_cancer")
] + [
    Row("load_moons", "negative random_state", "load_moons(-1)", ValueError,
        param("random_state", "load_moons")),
    Row("read_csv", "path not a str", "read_csv(3)", TypeError, param("path", "read_csv")),
    Row("read_json", "path not a str", "read_json(3)", TypeError, param("path", "read_json")),
    Row("Results.table", "unknown fmt", "Results([]).table(fmt='html')", ValueError,
        param("fmt", "Results.table")),
    Row("Results.table", "unknown column", "Results([]).table(columns=('first',))",
        ValueError, param("columns", "Results.table")),
    Row("Results.summary", "unknown metric", "Results([]).summary('auc')", ValueError,
        param("metric", "Results.summary")),
    Row("plot_decision_boundary", "resolution 1",
        "plot_decision_boundary(CLF, X, y, resolution=1)", ValueError,
        param("resolution", "plot_decision_boundary")),
    Row("plot_decision_boundary", "three features",
        "plot_decision_boundary(CLF, np.c_[X, X[:, 0]], y)", ValueError,
        "X must have 2 features"),
    Row("plot_accuracy_vs_budget", "results not a list", "plot_accuracy_vs_budget(5)",
        TypeError, param("results", "plot_accuracy_vs_budget")),
    Row("plot_decision_grid", "negative seed", "plot_decision_grid([], seed=-1)", ValueError,
        param("seed", "plot_decision_grid")),
    Row("save_figures", "out_dir not a path", "save_figures([], 3)", TypeError,
        param("out_dir", "save_figures")),
    Row("show_config", "file without write", "show_config(file=3)", ValueError,
        param("file", "show_config")),
]

# --- the experiment runner ---------------------------------------------------------------

GRID = "datasets='moons', attacks='alfa_tilt', budgets=[0.1], methods=['svm'], seeds=1"
for function in ("plan_grid", "run_grid"):
    ROWS += [
        Row(function, case, f"{function}(**dict(dict({GRID}), {change}))", exc, names)
        for case, change, exc, names in [
            ("unknown dataset", "datasets='mnist'", ValueError,
             "unknown dataset 'mnist'; choose from: moons, digits_1v7, breast_cancer, "
             "digits10, imbalanced_moons, or a .npz / .csv file"),
            ("missing dataset file", "datasets='nowhere.npz'", FileNotFoundError,
             "no such file: nowhere.npz"),
            ("garbage dataset file", "datasets='garbage.npz'", ValueError,
             "cannot read garbage.npz"),
            ("unknown attack", "attacks='pgd'", ValueError,
             "unknown attack 'pgd'; choose from: random, topk_sv, alfa, alfa_tilt, lfa"),
            ("unknown method", "methods=['svm', 'xgb']", ValueError,
             "unknown method 'xgb'; choose from: floral, svm, nn, nn-pgd, ln-svm, curie, "
             "ls-svm, k-lid"),
            ("budget 1.5", "budgets=[0.1, 1.5]", ValueError,
             param("budgets", function) + r".* Got 1.5"),
            ("negative budget", "budgets=[-0.1]", ValueError, param("budgets", function)),
            ("budget as text", "budgets=['0.1']", TypeError, param("budgets", function)),
            ("budget count >= n", "budgets=[500]", ValueError,
             "budget=500 must be < the 500 training points of moons"),
            ("no seeds", "seeds=0", ValueError, param("seeds", function)),
            ("fractional seed", "seeds=[0.5]", TypeError, param("seeds", function)),
            ("negative seed", "seeds=[-1]", ValueError, param("seeds", function)),
            ("C=-1", "C=-1", ValueError, param("C", function)),
            ("gamma 'wide'", "gamma='wide'", ValueError, param("gamma", function)),
            ("n_jobs 0", "n_jobs=0", ValueError, param("n_jobs", function)),
            ("unknown method parameter", "method_params={'svm': {'n_rounds': 3}}", TypeError,
             r"method 'svm' \(SVC\) has no parameter 'n_rounds'"),
            ("method_params of an unknown method", "method_params={'svn': {}}", ValueError,
             "unknown method 'svn'"),
            ("FLORAL rounds 0", "methods=['floral'], method_params={'floral': {'n_rounds': 0}}",
             ValueError, r"method_params\['floral'\]: " + param("n_rounds", "FloralSVC")),
            ("NN epochs 0", "methods=['nn'], method_params={'nn': {'max_iter': 0}}",
             ValueError, r"method_params\['nn'\]: " + param("max_iter", "MLPClassifier")),
            ("two-class attack on ten classes", "datasets='digits10'", ValueError,
             "dataset 'digits10' has 10 classes, but the attack alfa_tilt is defined for two "
             "classes only"),
        ]
    ]
ROWS += [
    Row("run_plan", "not a plan", "run_plan([])", TypeError, param("plan", "run_plan")),
    Row("make_method", "unknown name", "make_method('xgb')", ValueError,
        "unknown method 'xgb'"),
    Row("make_method", "unknown parameter", "make_method('svm', n_rounds=3)", TypeError,
        r"method 'svm' \(SVC\) has no parameter 'n_rounds'"),
] + [
    Row("poison_labels", case, f"poison_labels(X, y, {args})", exc, names)
    for case, args, exc, names in [
        ("unknown attack", "'pgd', 0.1", ValueError, "unknown attack 'pgd'"),
        ("budget 1.5", "'random', 1.5", ValueError, param("budget", "poison_labels")),
        ("C 0", "'alfa', 0.1, C=0", ValueError, param("C", "poison_labels")),
        ("attack_params not a dict", "'random', 0.1, attack_params=5", TypeError,
         param("attack_params", "poison_labels")),
        ("cache_dir not a path", "'random', 0.1, random_state=0, cache_dir=3", TypeError,
         param("cache_dir", "poison_labels")),
        ("cache without an int seed", "'random', 0.1, cache_dir='labels'", ValueError,
         "random_state must be an int when cache_dir is given"),
    ]
]

# --- the command line --------------------------------------------------------------------

BUDGET_RANGE = "must be an int in the range [0, inf) or a float in the range [0.0, 1.0)"
ATTACK = ["attack", "train.npz", "--attack", "alfa", "--budget", "5"]
CLI_ROWS = [
    CliRow("floral attack", case, [*ATTACK, *extra] if extra[:1] != ["!"] else extra[1:],
           option)
    for case, extra, option in [
        ("unknown attack", ["!", "attack", "train.npz", "--attack", "pgd", "--budget", "3"],
         "--attack: unknown attack 'pgd'; choose one of: random, topk_sv, alfa, alfa_tilt, "
         "lfa"),
        ("missing file", ["!", "attack", "missing.npz", "--attack", "alfa", "--budget", "3"],
         "data: no such file: missing.npz"),
        ("garbage .npz", ["!", "attack", "garbage.npz", "--attack", "alfa", "--budget", "3"],
         "data: cannot read garbage.npz: not an .npz file"),
        ("1-D X", ["!", "attack", "x1d.npz", "--attack", "random", "--budget", "1"],
         "data: x1d.npz: X must be 2-D"),
        ("csv without --label", ["!", "attack", "train.csv", "--attack", "alfa", "--budget",
                                 "1"],
         "--label: train.csv is a CSV file: name its label column with --label"),
        ("csv without the label column",
         ["!", "attack", "train.csv", "--label", "y", "--attack", "alfa", "--budget", "1"],
         "--label: train.csv has no column 'y'; its columns are a, b, label"),
        ("budget 1.5", ["--budget", "1.5"], f"--budget: {BUDGET_RANGE}, got '1.5'"),
        ("budget as text", ["--budget", "many"], f"--budget: {BUDGET_RANGE}, got 'many'"),
        ("budget count > n", ["--budget", "61"],
         "--budget: budget=61 must be in [0, n_samples=60] when it is a count"),
        ("negative C", ["--C", "-1"], "--C: must be a float in the range (0.0, inf), got '-1'"),
        ("negative C, random attack, no --test",
         ["!", "attack", "train.npz", "--attack", "random", "--budget", "5", "--C", "-1"],
         "--C: must be a float"),
        ("unknown kernel", ["--kernel", "foo"], "--kernel: must be a str among"),
        ("gamma 'wide'", ["--gamma", "wide"], "--gamma: must be a str among"),
        ("negative seed", ["--seed", "-1"], "--seed: must be an int in the range [0, "),
        ("three-class --test", ["--test", "three.npz"],
         "--test: three.npz has labels [2] that train.npz does not have ([0, 1])"),
        ("--test of another width", ["--test", "wide.npz"],
         "--test: wide.npz has 5 features, train.npz has 2"),
        ("--out in a missing directory", ["--out", "nowhere/p.npz"],
         "--out: "),
        ("--out of another format", ["--out", "p.csv"],
         "--out: must have the input's format (.npz), got p.csv"),
        ("--out a directory", ["--out", "adir.npz"], "--out: adir.npz is a directory"),
        ("--out the input", ["--out", "train.npz"],
         "--out: train.npz is the input file train.npz"),
        ("--out the --test file", ["--test", "test.npz", "--out", "test.npz"],
         "--out: test.npz is the input file test.npz"),
        ("--sep of two characters",
         ["!", "attack", "train.csv", "--label", "label", "--sep", ";;", "--attack", "random",
          "--budget", "1"], "--sep: must be one character"),
        ("--drop a missing column",
         ["!", "attack", "train.csv", "--label", "label", "--drop", "id", "--attack",
          "random", "--budget", "1"], "--drop: train.csv has no column 'id' to drop"),
        ("csv with an empty label",
         ["!", "attack", "nolabel.csv", "--label", "label", "--attack", "random", "--budget",
          "1"], "data: nolabel.csv, line 2: the label (column 'label') is empty"),
        ("csv with an empty cell",
         ["!", "attack", "hole.csv", "--label", "label", "--attack", "random", "--budget",
          "1"], "data: hole.csv, line 3, column 'b': the cell is empty"),
        (".npz declaring a huge shape",
         ["!", "attack", "huge.npz", "--attack", "random", "--budget", "1"],
         "data: cannot read huge.npz: array 'X' would take"),
        ("two-class attack on three classes",
         ["!", "attack", "three.npz", "--attack", "alfa", "--budget", "3"],
         "--attack: alfa is defined for two classes only and three.npz has 3"),
    ]
] + [
    CliRow("floral run", case, ["run", *extra, *[x for opt, val in (("--seeds", "1"),
                                                                    ("--methods", "svm"),
                                                                    ("--n-jobs", "1"))
                                                 if opt not in extra for x in (opt, val)]],
           option)
    for case, extra, option in [
        ("unknown dataset", ["--dataset", "mnist"], "--dataset: unknown dataset 'mnist'"),
        ("two-class attack on ten classes", ["--dataset", "digits10"],
         "--attack: dataset 'digits10' has 10 classes"),
        ("unknown attack", ["--attack", "pgd"], "--attack: unknown attack 'pgd'"),
        ("unknown method", ["--methods", "floral", "xgb"], "--methods: unknown method 'xgb'"),
        ("budget 1.5", ["--budget", "1.5"], f"--budget: {BUDGET_RANGE}, got '1.5'"),
        ("budget count >= n", ["--budget", "500"],
         "--budget: budget=500 must be < the 500 training points of moons"),
        ("budget as text", ["--budget", "lots"], f"--budget: {BUDGET_RANGE}, got 'lots'"),
        ("missing dataset file", ["--dataset", "missing.npz"],
         "--dataset: no such file: missing.npz"),
        ("garbage dataset file", ["--dataset", "garbage.npz"],
         "--dataset: cannot read garbage.npz"),
        ("csv without --label", ["--dataset", "train.csv"],
         "--label: train.csv is a CSV file: name its label column with --label"),
        ("csv without the label column", ["--dataset", "train.csv", "--label", "y"],
         "--dataset: train.csv has no column 'y'"),
        ("gamma 'wide'", ["--gamma", "wide"], "--gamma: must be a str among"),
        ("rounds 0", ["--rounds", "0"], "--rounds: must be an int in the range [1, inf), got '0'"),
        ("epochs 0", ["--methods", "nn", "--epochs", "0"], "--epochs: must be an int"),
        ("seeds 0", ["--seeds", "0"], "--seeds: must be an int in the range [1, inf), got '0'"),
        ("n-jobs 0", ["--n-jobs", "0"], "--n-jobs: must be an int in the range [-32768, -1] "
                                        "or an int in the range [1, 32768], got '0'"),
        ("negative C", ["--C", "-1"], "--C: must be a float in the range (0.0, inf)"),
        ("--out under /proc", ["--out", "/proc/nope"], "--out: "),
        ("--out in a missing directory", ["--out", "no/such/dir"], "--out: "),
        ("--out an existing file", ["--out", "train.npz"],
         "--out: train.npz exists and is not a directory"),
        ("--sep of two characters", ["--sep", "ab"], "--sep: must be one character"),
        ("--drop a missing column",
         ["--dataset", "train.csv", "--label", "label", "--drop", "id"],
         "--dataset: train.csv has no column 'id' to drop"),
    ]
] + [
    CliRow("floral demo", "negative seed", ["demo", "--seed", "-1"],
           "--seed: must be an int in the range [0, 4294967295], got '-1'"),
    CliRow("floral demo", "seed as text", ["demo", "--seed", "x"], "--seed: must be an int"),
    CliRow("floral", "unknown subcommand", ["frobnicate"], "COMMAND: invalid choice"),
    CliRow("floral", "no subcommand", [], "the following arguments are required: COMMAND"),
]


# --- running the rows in a child ---------------------------------------------------------

PRELUDE = """
import contextlib, io, json, sys, traceback
import numpy as np
from sklearn.datasets import make_blobs, make_moons
from floral import FloralSVC, attacks, show_config
from floral.datasets import (load_breast_cancer, load_digits, load_digits_1v7,
                             load_embeddings, load_imbalanced_moons, load_moons, make_large,
                             make_text_corpus, read_labelled)
from floral.experiments import Results, make_method, read_csv, read_json
from floral.plotting import (plot_accuracy_vs_budget, plot_decision_boundary,
                             plot_decision_grid, save_figures)
from floral.defenses import (KLIDSVC, LNSVC, CurieSVC, LabelSanitizedSVC, PGDTrainedMLP,
                             curie_filter, klid_weights, sanitize_labels)
from floral.experiments import plan_grid, poison_labels, run_grid, run_plan
X, y = make_moons(60, noise=0.25, random_state=1)
X3, y3 = make_blobs(60, centers=3, random_state=0)
NAN = X.copy(); NAN[0, 0] = np.nan
INF = X.copy(); INF[0, 1] = np.inf
TEXT = np.array([["a", "b"]] * 60)
CLF = FloralSVC(n_rounds=3, random_state=0).fit(X, y)


def run_cli(argv):
    from floral.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue()
"""

RUNNER = """
for rid, kind, payload in json.load(sys.stdin):
    out = {"id": rid}
    try:
        if kind == "cli":
            out["code"], out["stderr"] = run_cli(payload)
        else:
            exec(payload, dict(globals()))
            out["raised"] = None
    except BaseException as exc:
        out["raised"] = [c.__name__ for c in type(exc).__mro__]
        out["message"] = str(exc)
        out["traceback"] = traceback.format_exc()
    print("ROW " + json.dumps(out), flush=True)
"""


def _write_files(d):
    X, y = make_moons(60, noise=0.25, random_state=1)
    np.savez(d / "train.npz", X=X, y=y)
    np.savez(d / "three.npz", X=make_blobs(60, centers=3, random_state=0)[0],
             y=np.arange(60) % 3)
    np.savez(d / "wide.npz", X=np.zeros((10, 5)), y=np.arange(10) % 2)
    np.savez(d / "x1d.npz", X=np.arange(5.0), y=[0, 1, 0, 1, 0])
    np.savez(d / "noy.npz", X=np.zeros((10, 2)))
    np.savez(d / "objects.npz", X=np.zeros((3, 2)), y=np.array([1, "a", None], dtype=object))
    (d / "garbage.npz").write_bytes(b"\x80\x04 not an archive")
    (d / "data.txt").write_text("a,b\n")
    (d / "train.csv").write_text("a,b,label\n0,1,x\n1,0,y\n")
    (d / "ragged.csv").write_text("a,b,label\n0,1,x\n1,y\n")
    (d / "text.csv").write_text("a,b,label\nfoo,1,x\n1,0,y\n")
    (d / "hole.csv").write_text("a,b,label\n0,1,x\n1,,y\n")
    (d / "nolabel.csv").write_text("a,b,label\n0,1,\n1,0,y\n")
    (d / "semi.csv").write_text("a;b;label\n0;1;x\n1;0;y\n")
    np.savez(d / "test.npz", X=X, y=y)
    with zipfile.ZipFile(d / "huge.npz", "w") as zf:  # a header declaring 149 TiB, no data
        with zf.open("X.npy", "w") as fh:
            np.lib.format.write_array_header_1_0(
                fh, {"descr": "<f8", "fortran_order": False, "shape": (10**7, 2 * 10**6)})
        with zf.open("y.npy", "w") as fh:
            np.lib.format.write_array(fh, np.zeros(3))
    (d / "adir.npz").mkdir()
    split = dict(X_train=np.zeros((20, 2)), y_train=np.arange(20) % 2, y_test=np.arange(5) % 2)
    np.savez(d / "widesplit.npz", **split, X_test=np.zeros((5, 3)))
    np.savez(d / "half.npz", **split, X_test=np.zeros((5, 2)), X_val=np.zeros((4, 2)))
    np.savez(d / "newclass.npz", **{**split, "y_test": np.full(5, 9)}, X_test=np.zeros((5, 2)))


def _run_children(jobs, cwd):
    """{row id: result} for jobs [(id, kind, payload)], a new child after any crash."""
    results, pending = {}, list(jobs)
    env = dict(os.environ, MPLBACKEND="Agg")
    while pending:
        proc = subprocess.run([sys.executable, "-c", PRELUDE + RUNNER], input=json.dumps(pending),
                              capture_output=True, text=True, cwd=cwd, env=env, timeout=900)
        done = [json.loads(line[4:]) for line in proc.stdout.splitlines()
                if line.startswith("ROW ")]
        results.update((r["id"], r) for r in done)
        pending = pending[len(done):]
        if pending:  # the child died on the next row
            results[pending[0][0]] = {"id": pending[0][0], "crashed": proc.returncode,
                                      "stderr": proc.stderr[-3000:]}
            pending = pending[1:]
    return results


def _id(row):
    return f"{row.entry}: {row.case}"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad_input")
    _write_files(d)
    jobs = [(_id(r), "code", r.code) for r in ROWS] + \
        [(_id(r), "cli", list(r.argv)) for r in CLI_ROWS]
    return _run_children(jobs, d)


def _result(outcomes, row):
    result = outcomes[_id(row)]
    assert "crashed" not in result, f"the child crashed (status {result.get('crashed')}):\n" \
        f"{result.get('stderr')}"
    return result


def test_row_ids_are_unique():
    ids = [_id(r) for r in ROWS + CLI_ROWS]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("row", ROWS, ids=_id)
def test_library_row(outcomes, row):
    result = _result(outcomes, row)
    assert result["raised"] is not None, f"no error for {row.code}"
    assert row.exc.__name__ in result["raised"], result["traceback"]
    assert re.search(row.names, result["message"]), result["message"]


@pytest.mark.parametrize("row", CLI_ROWS, ids=_id)
def test_command_line_row(outcomes, row):
    result = _result(outcomes, row)
    assert "raised" not in result, f"main raised:\n{result['traceback']}"
    assert result["code"] == 2, result["stderr"]
    last = result["stderr"].strip().splitlines()[-1]
    # argparse words a missing subcommand without "argument"; every other row names one
    named = row.option if row.option.startswith("the following") else f"argument {row.option}"
    assert last.startswith(f"floral: error: {named}"), last
    assert "Traceback" not in result["stderr"]


@pytest.mark.parametrize("argv, message", [
    (["run", "--rounds", "0"], "floral: error: argument --rounds: must be an int"),
    (["attack", "missing.npz", "--attack", "random", "--budget", "1"],
     "floral: error: argument data: no such file: missing.npz"),
])
def test_the_real_command_exits_2(tmp_path, argv, message):
    proc = subprocess.run([sys.executable, "-m", "floral", *argv], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(message)
    assert "Traceback" not in proc.stderr


def test_rows_cover_every_public_entry_point():
    from floral import attacks, datasets, defenses, experiments, plotting

    covered = {r.entry.split(".")[-1] if r.entry.startswith("attacks.")
               else r.entry.split(".")[0] for r in ROWS}
    public = {"FloralSVC", "show_config", *attacks.__all__, *defenses.__all__,
              *experiments.__all__, *datasets.__all__, *plotting.__all__}
    # what takes no user input: names, constants and classes only built by floral itself
    no_input = {"available", "available_methods", "available_datasets", "FIELDS",
                "FLORAL_PARAMS", "NN_PARAMS", "DEFAULT_GAMMA", "IMBALANCE_RATIO", "Plan",
                "PlanError", "write_labelled", "UnnamedColumnWarning"}
    assert public - no_input - covered == set()

