"""What the default search costs on sparse text with the linear kernel, before and after its
plain SVMs run libsvm on the precomputed kernel matrix X X^T.

A before/after study of one change, behind ``floral._selection.GRAM_BYTES_PER_ENTRY``:
"rows" is libsvm's own linear kernel on the CSR rows (what every plain SVM ran before; the
change falls back to it when the matrix does not fit), "matrix" the kernel matrix built
once per search. Each repeat fits, on the same data and in one process: one game
(``FloralSVC(kernel="linear", C=1, flip_budget=0.05)``, the unit), the defaults on the rows,
the defaults on the matrix. Data: ``make_text_corpus`` (the README's corpus: 5,000 terms),
TF-IDF fitted on the training rows, 10% of the training labels flipped at random, 1,000
trusted validation documents. The models are compared too (they must be the same).
tests/test_selection.py checks the plain SVM against SVC on the rows and the single build.

Usage: python bench/sweeps/sparse_search.py [--quick] [--from-json]
Writes bench/sweeps/results/sparse_search.{json,md}.
"""
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _common as common  # noqa: E402


def corpus(n, n_val=1000, seed=0):
    """bench_sparse's TF-IDF corpus at 5,000 terms, 10% of the training labels flipped."""
    from bench_sparse import corpus as tfidf_corpus

    from floral.attacks import random_flip

    X, y, Xv, yv, _, _ = tfidf_corpus(n, n_val, 0, 5000, seed)
    return X, random_flip(y, 0.1, random_state=seed), Xv, yv


def repeat(n, seed):
    from floral import FloralSVC, _selection

    X, y, Xv, yv = corpus(n, seed=seed)
    row = {"n": n, "seed": seed}
    fits = {"game": dict(C=1.0, flip_budget=0.05), "rows": {}, "matrix": {}}
    models = {}
    saved = _selection.GRAM_BYTES_PER_ENTRY
    for name, kw in fits.items():
        _selection.GRAM_BYTES_PER_ENTRY = 1e30 if name == "rows" else saved
        try:
            start = time.perf_counter()
            models[name] = FloralSVC(kernel="linear", random_state=0, **kw).fit(
                X, y, X_val=Xv, y_val=yv)
            row[f"{name}_s"] = time.perf_counter() - start
        finally:
            _selection.GRAM_BYTES_PER_ENTRY = saved
    rows, matrix = models["rows"], models["matrix"]
    row.update(same_choice=bool(np.array_equal(rows.search_results_["chosen"],
                                               matrix.search_results_["chosen"])),
               max_score_diff=float(np.abs(rows.search_results_["val_score"]
                                           - matrix.search_results_["val_score"]).max()),
               max_decision_diff=float(np.abs(rows.decision_function(Xv)
                                              - matrix.decision_function(Xv)).max()))
    print(row, flush=True)
    return row


def markdown(payload):
    meta, recs = payload["meta"], payload["rows"]
    body = []
    for n in sorted({r["n"] for r in recs}):
        rs = [r for r in recs if r["n"] == n]

        def med(key, rs=rs):
            return statistics.median(r[key] for r in rs)

        body.append([f"{n:,}", str(len(rs)), f"{med('game_s'):.2f}", f"{med('rows_s'):.2f}",
                     f"{med('matrix_s'):.2f}",
                     f"{statistics.median(r['rows_s'] / r['game_s'] for r in rs):.1f}",
                     f"{statistics.median(r['matrix_s'] / r['game_s'] for r in rs):.1f}",
                     "yes" if all(r["same_choice"] for r in rs) else "no",
                     f"{max(r['max_decision_diff'] for r in rs):.1e}"])
    return common.doc(
        "# The default search on sparse text: libsvm on the rows or on X X^T",
        f"Command: `{meta['command']}`",
        common.machine_line(meta["machine"]) + f"; load average {meta['loadavg_start']} at "
        f"the start, {meta['loadavg_end']} at the end.",
        "Seconds, medians over repeats; the ratios are taken inside each repeat (same data, "
        "same process), then the median.",
        common.table(["n", "repeats", "one game (s)", "defaults, rows (s)",
                      "defaults, matrix (s)", "rows / game", "matrix / game",
                      "same candidate chosen", "max decision diff"], body, "rrrrrrrlr"))


def main(argv=None):
    ap = common.parser(__doc__, "sparse_search", "n = 1,000, one repeat", markdown,
                       common.SWEEP_RESULTS)
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 4000, 8000])
    ap.add_argument("--repeats", type=int, default=3)
    args = common.parse(ap, argv, sizes=[1000], repeats=1)
    load_start = common.load_average()
    repeat(300, 99)  # warm-up: the first fit in a process pays for imports and page faults
    rows = [repeat(n, seed) for n in args.sizes for seed in range(args.repeats)]
    meta = {"machine": common.machine_info(), "loadavg_start": load_start,
            "loadavg_end": common.load_average(), "command": common.command(argv)}
    common.results(args.out, markdown, {"meta": meta, "rows": rows})


if __name__ == "__main__":
    sys.exit(main())
