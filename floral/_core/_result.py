"""What ``floral_fit`` returns: the core's contract with the estimator, as typed values.

Frozen dataclasses rather than the dict of ~22 keys they replace: a field is read by name
(``res.rounds_run``), mypy checks every reader against these annotations, and _lib.pyx
builds each one by keyword, so a field the core stops filling (or one it adds) fails at
the first call instead of drifting away from a hand-written description. Not NamedTuples:
a result is not a sequence, and position (``res[3]``, unpacking) must not become part of
the contract. ``slots`` keeps them small; ``eq=False`` because fields hold arrays.

Only what production reads is in ``FitResult``; what only tests and benchmarks look at
(the final duals, the kept decision values, counters of the loop) is in
``FitDiagnostics``, filled when ``floral_fit(..., diagnostics=True)`` asks for it.
"""
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
from numpy.typing import NDArray

__all__ = ["Average", "CacheStats", "FitDiagnostics", "FitResult", "History", "RoundModel"]


@dataclass(frozen=True, slots=True, eq=False)
class RoundModel:
    """One round's classifier: coefficients c = y~ * lam ((n,) for one problem,
    (n_classes, n) one-vs-rest), intercepts (one per problem), the labels it trained on
    (class indices), its 1-based round and its validation score (NaN if not scored)."""

    coef: NDArray[np.float64]
    b: NDArray[np.float64]
    labels: NDArray[np.int32]
    round: int
    score: float


@dataclass(frozen=True, slots=True, eq=False)
class Average:
    """The mean of the rounds from ``average_from`` on: coefficients and intercepts, the
    number of rounds averaged, and per point the rounds in which it was relabelled."""

    coef: NDArray[np.float64]
    b: NDArray[np.float64]
    n: int
    flip_count: NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class History:
    """Per round (arrays at least ``rounds_run`` long; FloralSVC keeps that prefix): the
    objective summed over problems, the first problem's projection multiplier,
    the step, seconds since the loop started, validation accuracy and balanced accuracy
    (NaN when not evaluated), and the counts of support vectors, free and bound duals,
    changed coefficients and problems whose step raised their objective."""

    objective: NDArray[np.float64]
    mu: NDArray[np.float64]
    eta: NDArray[np.float64]
    seconds: NDArray[np.float64]
    accuracy: NDArray[np.float64]
    balanced_accuracy: NDArray[np.float64]
    n_sv: NDArray[np.int64]
    n_free: NDArray[np.int64]
    n_changed: NDArray[np.int64]
    ascent: NDArray[np.int64]
    n_bound: NDArray[np.int64]


class CacheStats(TypedDict):
    """Which storage ran and its counters. A dict, not a dataclass: FloralSVC keeps it as
    ``_storage`` in fitted (pickled) models."""

    storage: str  # "gram", "features" or "csr"
    hits: int
    misses: int
    rows_computed: int
    materialised: bool
    layout: str | None  # "packed", "square" or "rows"; None without a Gram matrix
    capacity: int
    row_slots: int
    eval_stored: bool | None  # the validation kernel stored (None: not a Gram run)


@dataclass(frozen=True, slots=True, eq=False)
class FitDiagnostics:
    """The loop's end state, for tests and benchmarks only: the final duals ((n,) or
    (n_classes, n)), the final labels as +-1 (one problem only, else None), the kept
    decision values on the training and validation points, whether the callback stopped
    the loop, the dense passes made, the power iterations of ``learning_rate=None``, and
    w = X^T c (feature storage with one problem, else None)."""

    lam: NDArray[np.float64]
    yt: NDArray[np.int8] | None
    f: NDArray[np.float64]
    f_eval: NDArray[np.float64]
    stopped: bool
    dense_passes: int
    power_iterations: int
    w: NDArray[np.float64] | None


@dataclass(frozen=True, slots=True, eq=False)
class FitResult:
    """What FloralSVC reads from a run of the core. The last round's model is flat
    (``coef``, ``b``, ``labels``, ``round``; ``b`` a float for one problem); ``best`` holds
    the ``n_best`` best validation rounds, best first, and ``average`` the running average
    (None when no round was averaged). ``exception`` is what the callback raised (the
    loop stopped there), else None."""

    coef: NDArray[np.float64]
    b: float | NDArray[np.float64]
    labels: NDArray[np.int32]
    round: int
    rounds_run: int
    exception: BaseException | None
    cache: CacheStats
    learning_rate: float
    lambda_max: float
    history: History
    average: Average | None
    best: list[RoundModel]
    diagnostics: FitDiagnostics | None
