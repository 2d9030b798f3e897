"""Sparse text: FloralSVC(kernel="linear") on TF-IDF rows against LinearSVC and
SGDClassifier, clean and under 10% label flips: round time in passes over the nonzeros,
fit time, test accuracy, memory of a fit. Protocol and results: bench/README.md, "Sparse
text".

Writes bench/results/sparse.{json,md}.
"""
import os
import resource
import sys
import tempfile
import time

import numpy as np
import scipy.sparse as sp

import _common as common
from floral import FloralSVC
from floral.datasets import make_text_corpus
from floral.experiments import poison_labels


def corpus(n, n_val, n_test, terms, seed):
    from sklearn.feature_extraction.text import TfidfTransformer

    counts, y = make_text_corpus(n + n_val + n_test, terms, random_state=seed)
    X = TfidfTransformer().fit(counts[:n]).transform(counts).tocsr()
    return (X[:n], y[:n], X[n:n + n_val], y[n:n + n_val], X[n + n_val:], y[n + n_val:])


def floral_fit(X, y, Xv, yv, C, rounds, n_jobs=None):
    """FloralSVC(kernel="linear") with the validation split, and the seconds of its fit."""
    clf = FloralSVC(kernel="linear", C=C, n_rounds=rounds, flip_budget=0.05,
                    random_state=0, n_jobs=n_jobs)
    return clf, common.timed(clf.fit, X, y, X_val=Xv, y_val=yv)


def tuned(make, grid, X, y, Xv, yv):
    """The setting of ``grid`` with the best validation accuracy: (model, value, seconds)."""
    def fit(value):
        model = make(value)
        model.fit_seconds = common.timed(model.fit, X, y)
        return model

    model, value = common.tune(fit, grid, Xv, yv)
    return model, value, model.fit_seconds


def topk_flips(X, y, rounds, fraction=0.1):
    """FLORAL's attacker once, on floral's plain SVM (see the module docstring). A linear
    FloralSVC keeps coef_ only (dual_coef_ is empty): the last round's duals are read
    where fit assembles it."""
    from floral import _assembly

    seen, assemble = [], _assembly.round_model
    _assembly.round_model = lambda m, y_idx: seen.append(assemble(m, y_idx)) or seen[-1]
    try:
        FloralSVC(kernel="linear", flip_budget=0, n_rounds=rounds, selection="last",
                  random_state=0).fit(X, y)
    finally:
        _assembly.round_model = assemble
    lam = np.abs(seen[0]["coef"]).ravel()
    if not lam.any():
        raise RuntimeError("the plain SVM has no support vector: nothing to flip")
    out, flip = y.copy(), common.topk(lam, int(round(fraction * X.shape[0])))
    out[flip] = 1 - out[flip]
    return out


def memory_child(path, rounds):
    """Run in a fresh process: the resident set's peak growth across one fit (KiB), and
    tracemalloc's peak (NumPy's and Python's allocations; not the core's C++ ones)."""
    import tracemalloc

    X = sp.load_npz(path + ".X.npz").tocsr()
    d = np.load(path + ".y.npz")
    y, Xv, yv = d["y"], sp.load_npz(path + ".Xv.npz").tocsr(), d["yv"]
    csr_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    # loading the .npz peaks above what the fit needs: reset the peak (VmHWM) to the
    # current resident set first (Linux >= 4.0), else ru_maxrss would hide the fit
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    before = common.status_kib("VmRSS")
    tracemalloc.start()
    # floral_fit's game: the defaults' search would read the rows with libsvm for hours
    floral_fit(X, y, Xv, yv, 1.0, rounds)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"csr_bytes": csr_bytes, "rss_before_kib": before,
            "peak_rss_kib": common.status_kib("VmHWM"), "tracemalloc_peak_bytes": traced,
            "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def memory(X, y, Xv, yv, rounds):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m")
        sp.save_npz(path + ".X.npz", X, compressed=False)
        sp.save_npz(path + ".Xv.npz", Xv, compressed=False)
        np.savez(path + ".y.npz", y=y, yv=yv)
        m = common.run_child(memory_child, path, rounds)
    if m.pop("status") != "ok":
        raise RuntimeError(f"the memory child failed: {m.get('stderr')}")
    growth = (m["peak_rss_kib"] - m["rss_before_kib"]) * 1024
    return {**m, "peak_growth_bytes": growth, "ratio_to_csr": growth / m["csr_bytes"],
            "tracemalloc_ratio_to_csr": m["tracemalloc_peak_bytes"] / m["csr_bytes"]}


def main(argv=None):
    parser = common.parser(__doc__, "sparse", "n = 2,000, 5,000 terms, 10 rounds", markdown)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--n-val", type=int, default=5_000)
    parser.add_argument("--n-test", type=int, default=20_000)
    parser.add_argument("--terms", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--memory-only", action="store_true",
                        help="measure the memory of a fit only and update the results")
    args = common.parse(parser, argv, n=2000, n_val=500, n_test=1000, terms=5000, rounds=10)
    from sklearn.linear_model import SGDClassifier
    from sklearn.svm import LinearSVC

    X, y, Xv, yv, Xt, yt = corpus(args.n, args.n_val, args.n_test, args.terms, seed=0)
    nnz_per_row = X.nnz / X.shape[0]
    csr_mb = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20
    print(f"corpus: {X.shape[0]} x {X.shape[1]}, {nnz_per_row:.1f} nonzeros per row, "
          f"CSR {csr_mb:.0f} MB", flush=True)
    if args.memory_only:
        mem = memory(X, y, Xv, yv, min(args.rounds, 40))
        common.results(args.out, markdown, {**common.recorded(args.out), "memory": mem})
        return 0

    rng = np.random.default_rng(0)
    w, v = rng.normal(size=X.shape[1]), rng.normal(size=X.shape[0])
    t_xw, t_xtv = common.timed(X.dot, w, repeats=7), common.timed(X.T.dot, v, repeats=7)
    rounds = {}
    for label, jobs in (("1 thread", 1), ("all threads", None)):
        clf, _ = floral_fit(X, y, Xv, yv, 1.0, min(args.rounds, 40), n_jobs=jobs)
        per_round = float(np.median(np.diff(clf.history_["seconds"], prepend=0.0)))
        rounds[label] = {"round_seconds": per_round, "ratio_to_pass": per_round / t_xw}
        print(f"round ({label}): {per_round / t_xw:.2f} passes", flush=True)

    settings = {"clean": y, "random 10%": poison_labels(X, y, "random", 0.1, random_state=1)}
    t = time.perf_counter()
    settings["top-k 10%"] = topk_flips(X, y, args.rounds)
    topk_seconds = time.perf_counter() - t

    rows = []
    for name, y_train in settings.items():
        # FloralSVC with one C, not tuned: each fit is minutes at n = 100,000 (see the README)
        fl, fl_s = floral_fit(X, y_train, Xv, yv, 1.0, args.rounds)
        lsvc, l_C, l_s = tuned(lambda c: LinearSVC(C=c), (0.1, 1.0, 10.0), X, y_train, Xv, yv)
        sgd, s_a, s_s = tuned(lambda a: SGDClassifier(alpha=a, random_state=0),
                              (1e-6, 1e-5, 1e-4), X, y_train, Xv, yv)
        rows.append({"setting": name, **{
            key: {"test_accuracy": model.score(Xt, yt), "fit_seconds": seconds, param: value}
            for key, model, seconds, param, value in (
                ("floral", fl, fl_s, "C", 1.0), ("linearsvc", lsvc, l_s, "C", l_C),
                ("sgd", sgd, s_s, "alpha", s_a))}})
        print(rows[-1], flush=True)

    mem = memory(X, y, Xv, yv, min(args.rounds, 40))
    out = dict(machine=common.machine_info(), shared_machine=True, n=args.n, n_val=args.n_val,
               n_test=args.n_test, terms=args.terms, rounds=args.rounds, csr_mb=csr_mb,
               nnz_per_row=nnz_per_row, one_pass_seconds={"X@w": t_xw, "X.T@v": t_xtv},
               round_time=rounds, topk_attack_seconds=topk_seconds, rows=rows, memory=mem)
    common.results(args.out, markdown, out)
    return 0


def markdown(out):
    mem, rows = out["memory"], out["rows"]
    t_xw, t_xtv = out["one_pass_seconds"]["X@w"], out["one_pass_seconds"]["X.T@v"]
    methods = {"floral": "FLORAL", "linearsvc": "LinearSVC", "sgd": "SGD"}
    return common.doc(
        "# Sparse text: FloralSVC on TF-IDF rows",
        common.machine_line(out["machine"]) + " (shared with other jobs: timings are noisy)",
        f"{out['n']:,} training documents x {out['terms']:,} terms, {out['nnz_per_row']:.1f} "
        f"nonzeros per row (CSR {out['csr_mb']:.0f} MB); {out['n_val']:,} trusted validation "
        f"and {out['n_test']:,} test documents; FloralSVC {out['rounds']} rounds.",
        f"One pass over the nonzeros (scipy, 1 thread): X @ w {t_xw * 1e3:.1f} ms, "
        f"X.T @ v {t_xtv * 1e3:.1f} ms.",
        common.table(["threads", "round (ms)", "round / pass"],
              [[k, f"{v['round_seconds'] * 1e3:.1f}", f"{v['ratio_to_pass']:.2f}"]
               for k, v in out["round_time"].items()], "lll"),
        common.table(["training labels", *(f"{name} {what}" for name in methods.values()
                                    for what in ("acc", "fit (s)"))],
              [[r["setting"], *(f"{r[m]['test_accuracy']:.4f}" if i == 0
                                else f"{r[m]['fit_seconds']:.1f}"
                                for m in methods for i in (0, 1))] for r in rows], "l" * 7),
        f"Memory of one fit ({min(out['rounds'], 40)} rounds, validation set), in a process "
        "that loaded the CSR matrix: peak resident set growth (VmHWM after the fit minus "
        f"VmRSS before, the peak reset first) {mem['peak_growth_bytes'] / 2**20:.0f} MB = "
        f"{mem['ratio_to_csr']:.2f} x the CSR matrix; tracemalloc's peak (NumPy and Python "
        f"allocations) {mem['tracemalloc_peak_bytes'] / 2**20:.0f} MB = "
        f"{mem['tracemalloc_ratio_to_csr']:.2f} x.")


if __name__ == "__main__":
    sys.exit(main())
