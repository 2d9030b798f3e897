r"""Experiment grids: datasets x attacks x budgets x methods x seeds, as in the paper's tables.

:func:`run_grid` runs every combination and returns :class:`Results`, a list of records
(one dict per dataset, attack, budget, method and seed) that prints the paper-style
table (:meth:`Results.table`), writes CSV and JSON (:meth:`Results.save`) and, with
pandas, becomes a DataFrame. ``run_grid`` is two steps, each public:
:func:`plan_grid` checks everything and lists the cells (a :class:`Plan`, nothing run)
and :func:`run_plan` runs them; :func:`read_csv` and :func:`read_json` read results back.

The code is split the same way: ``_planning`` (names, checks, cells), ``_execution``
(poisoning, fitting, scoring, joblib), ``_results`` (records, tables, files) and
``_methods`` (the method registry: each method's estimator, defaults, column heading and
how it is trained, which decides its Model, Best and Last), ``_poisoning``
(:func:`poison_labels`, the one poisoning path, which the benchmarks use too); import
everything from ``floral.experiments``.

One *cell* of the grid is a dataset, a seed, an attack and a budget. A cell loads the data
with ``random_state=seed`` (the split), poisons the training labels once with the attack
(``random_state=seed``), then fits every method on the same poisoned labels
(``random_state=seed``) and scores it on the clean test split. Budget 0 is the clean
setting: it is run once per dataset and seed, recorded with ``attack="none"``, whatever the
attacks of the grid.

Model, Best and Last
--------------------
The paper reports two numbers per method: "Best", the test accuracy of the best round,
and "Last", that of the final round. The paper picked its best round on the *test* curve,
which is optimistic. Here Best is the test accuracy of the round (FLORAL) or epoch (NN)
that scored highest on the *validation* split, the earliest on ties, so it is an honest
estimate; Last is the final round or epoch. **Model** is what the method returns when it
is given the validation split: FloralSVC's default model (the average of its 5 best
validation rounds), NN's best validation epoch (early stopping). A single-shot method
(``svm``, ``ln-svm``, ``curie``, ``ls-svm``, ``k-lid``) trains one model, so its Model,
Best and Last are the same number.

==========  =================================================================================
``floral``  :class:`~floral.FloralSVC` with its defaults (``floral demo``'s settings),
            fitted with ``X_val, y_val``; Best is :meth:`~floral.FloralSVC.best_round`,
            Last :meth:`~floral.FloralSVC.last_round`
``svm``     :class:`sklearn.svm.SVC` on the poisoned labels
``nn``      :class:`sklearn.neural_network.MLPClassifier`, two hidden layers of 32 ReLU
            units (the paper's Moon network), Adam, learning rate 1e-3, batches of 32,
            trained epoch by epoch with ``partial_fit`` for ``max_iter=200`` epochs
``nn-pgd``  :class:`floral.defenses.PGDTrainedMLP`, the same network and training with
            every minibatch replaced by its PGD perturbation (L-infinity radius
            ``epsilon``, ``pgd_steps`` steps of ``pgd_step_size``; the estimator's
            defaults), epoch by epoch like ``nn``
``ln-svm``  :class:`floral.defenses.LNSVC`, label-noise robust SVM
``curie``   :class:`floral.defenses.CurieSVC`, Curie's filter then SVC
``ls-svm``  :class:`floral.defenses.LabelSanitizedSVC`, label sanitization then SVC
``k-lid``   :class:`floral.defenses.KLIDSVC`, LID-weighted SVM
==========  =================================================================================

Datasets, classes and imbalance
-------------------------------
Built-in datasets (:func:`available_datasets`): ``moons``, ``digits_1v7``,
``breast_cancer``, ``digits10`` (all ten digit classes, :func:`floral.datasets.load_digits`)
and ``imbalanced_moons`` (Moon with 10% positives,
:func:`floral.datasets.load_imbalanced_moons`). ``digits`` is an alias of ``digits_1v7``,
as it was before ``digits10`` existed, so old commands run the same experiment; ``moon``
is one of ``moons``.

A dataset with more than two classes runs only with the attacks that take them
(:func:`floral.attacks.supports_multiclass`: ``random``, ``topk_sv``) and the methods whose
estimator says it does (scikit-learn's tag ``classifier_tags.multi_class``; ``svm`` and
``nn`` do, the binary defenses do not); any other attack or method in such a grid is an
error raised while planning, before any cell runs.

Besides accuracy every record holds the *balanced accuracy* (mean recall over the classes)
and the *recall of the minority class* (the least frequent class of the clean training
labels, the first in sorted order on ties) on the test split, for the Best and the Last
model; Best is still chosen on validation accuracy. A dataset counts as *imbalanced* when
its minority class has less than 0.8 of a balanced share of the training labels
(``minority_share * n_classes < 0.8``; with two classes, a minority share below 0.4), and
for such a dataset :meth:`Results.table` adds a balanced-accuracy and a minority-recall
block below the accuracy block.

Every method gets the grid's ``C`` and ``gamma`` and ``random_state=seed`` where it takes
them; ``method_params={"floral": {"n_rounds": 200}, "nn": {"max_iter": 50}}`` overrides
any constructor argument. ``gamma`` may be ``"scale"`` or ``"auto"``: it is resolved once
per cell from the training split (as :class:`~sklearn.svm.SVC` would) and the same float
goes to the attack and to every method.

Parallel runs
-------------
Cells run through :class:`joblib.Parallel`: ``n_jobs=-1`` uses every local core (each
FloralSVC then runs single-threaded, so the processes do not oversubscribe the cores).
Any joblib backend works, Dask included::

    from dask.distributed import Client
    import joblib
    client = Client("scheduler-address:8786")       # or Client() for a local cluster
    with joblib.parallel_config(backend="dask"):
        results = run_grid(["moons"], ["alfa_tilt"], [0.05, 0.1], "all", 10)

Workers need ``floral`` installed. With a backend that cannot stream results
(multiprocessing), the progress bar only advances at the end.
"""
from ._execution import run_grid, run_plan
from ._methods import FLORAL_PARAMS, NN_PARAMS, available_methods, make_method
from ._planning import DEFAULT_GAMMA, Plan, PlanError, available_datasets, plan_grid
from ._poisoning import poison_labels
from ._results import FIELDS, IMBALANCE_RATIO, Results, read_csv, read_json

__all__ = ["run_grid", "plan_grid", "run_plan", "Plan", "PlanError", "Results", "read_csv",
           "read_json", "available_methods", "available_datasets", "make_method", "FIELDS",
           "FLORAL_PARAMS", "NN_PARAMS", "DEFAULT_GAMMA", "IMBALANCE_RATIO", "poison_labels"]
