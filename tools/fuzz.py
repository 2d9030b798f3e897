#!/usr/bin/env python
"""Seeded fuzzing of floral: FloralSVC, the attacks, the defenses and the command line.

    python tools/fuzz.py --seed 0 --budget-s 120        # what .ci/run runs
    python tools/fuzz.py --seed 1 --budget-s 3600 --json fuzz.json
    python tools/fuzz.py --replay fuzz.json              # rerun the findings of a run

Every case is drawn from ``random.Random(f"{seed}:{index}")`` in this process as a small
JSON recipe (parameters, data shape and quirks, command line), and runs in a child process
that rebuilds the data from the recipe, so a finding is reproduced by its recipe alone. One
child runs cases in turn; when a case kills it (a signal: a crash in the compiled core) or
runs past ``--timeout`` (a hang; the child is killed), the case is recorded and a new child
takes the next one.

What counts as a finding (the summary line counts each kind; exit status 1 if any):

- **crash**: the child died (its signal or exit status is recorded);
- **hang**: a case ran past ``--timeout`` seconds (each is small: at most 80 points, 300
  rounds; a healthy case takes well under a second);
- **silent wrong**: no exception, but a result that breaks a promise: a non-finite model or
  decision value, a prediction outside ``classes_``, a dual whose sum breaks
  ``y~^T lam = 0``, an attack that did not flip exactly ``budget`` labels or flipped one to
  its own class, or an input the call modified in place;
- **other exception**: anything but ``ValueError`` / ``TypeError`` (warnings, such as
  ConvergenceWarning, are fine: they are how floral reports a poor fit);
- **cli**: the command line printed a traceback, exited with a status other than 0, 2 and
  130, printed an error line not starting ``floral: error:``, or modified an input file.

The generator draws the extreme inputs of issue 21 too (``EXTREME``: huge n_jobs and
candidate_factor, init="svc", kernel overflow, huge steps), which crashed, hung or gave
silent wrong results before the core's fixes; ``--tame`` leaves them out.
"""
import argparse
import hashlib
import json
import os
import queue
import random
import subprocess
import sys
import tempfile
import threading
import time
import warnings

# The extreme inputs of issue 21 (each crashed, hung or returned a silent wrong result
# before the core's fixes); drawn unless --tame, which says what it leaves out.
EXTREME = {
    "n_jobs_huge": "FloralSVC(n_jobs=10**5)",
    "init_svc": 'init="svc" (libsvm, capped and interruptible)',
    "candidate_factor_huge": "candidate_factor * k >= 2**63",
    "kernel_overflow": "kernel values beyond float32's range",
    "huge_step": "steps far above 2 / lambda_max(K)",
}

KINDS = ("svc", "attack", "defense", "cli")


# --- drawing cases (parent) ---------------------------------------------------------------

def _data_recipe(r, *, known, allow_one_class=True, kernel="rbf"):
    n = r.choice([2, 3, 5, 8, 12, 20, 40, 60, 80])
    d = r.choice([1, 2, 3, 6])
    quirks = [q for q in ("constant_column", "duplicates", "integer", "float32", "list",
                          "fortran", "strided") if r.random() < 0.15]
    scale = r.choice([1.0, 1.0, 1.0, 1e-300, 1e-8, 1e3, 1e8, 1e100, 1e150])
    if not known and kernel != "rbf":
        # kernel values must stay inside float32 (kernel_overflow) and lambda_max(K) away
        # from 0 (huge_step): the linear/poly/sigmoid kernels get moderate magnitudes
        scale = min(max(scale, 1.0), 1e3)
    if not known:
        scale = min(scale, 1e100)  # X.var() finite, for gamma="scale"
    labels = r.choice(["int01", "int01", "signed", "str", "bool", "three", "float_int"]
                      + (["one", "continuous"] if allow_one_class else []))
    weights = r.choice([None, None, "ones", "random", "some_zero", "all_zero", "negative"])
    return {"n": n, "d": d, "quirks": quirks, "scale": scale, "labels": labels,
            "weights": weights, "seed": r.randrange(2**31)}


def _kernel_params(r, *, known):
    from floral._kernels import KERNELS

    kernel = r.choice(["rbf", *KERNELS])  # the default drawn twice as often
    gamma = r.choice(["scale", "auto", 1e-3, 0.1, 1.0, 10.0] + ([1e300] if known else []))
    degree = r.choice([1, 2, 3] + ([4, 9] if known else []))
    coef0 = r.choice([0.0, 1.0, -1.0])
    return {"kernel": kernel, "gamma": gamma, "degree": degree, "coef0": coef0}


def draw_svc(r, known):
    kp = _kernel_params(r, known=known)
    p = {"C": r.choice([1e-6, 0.01, 1.0, 10.0, 1e6]), **kp,
         "flip_budget": r.choice([0, 1, 3, 0.0, 0.05, 0.3, 0.99]),
         "candidate_factor": r.choice([1.0, 2.0, 10.0] + ([1e18] if known else [])),
         "class_cap": r.choice([None, 1.0, 2.0, 100.0]),
         "class_weight": r.choice([None, "balanced", "first_zero", "all_zero"]),
         "n_rounds": r.choice([1, 2, 10, 50, 300]),
         "learning_rate": "auto", "lr_decay": r.choice([1.0, 0.5, 1e-3]),
         "lr_decay_every": r.choice([1, 10, 100]),
         "init": "svc" if known and r.random() < 0.2 else "zeros",
         "selection": r.choice(["auto", "best", "average", "last"]),
         "n_best": r.choice([1, 5, 1000]), "scoring": r.choice(["accuracy",
                                                                "balanced_accuracy"]),
         "average_start": r.choice([0.0, 0.5, 1.0]), "eval_every": r.choice([1, 3, 1000]),
         "refresh": r.choice([0, 1, 50]), "cache_size": r.choice(["auto", 1e-3, 0.5, 200]),
         "tol": r.choice([0.0, 1e-5, 1.0]),
         "n_jobs": r.choice([None, 1, 2, -1] + ([10**5] if known else [])),
         "random_state": r.randrange(1000)}
    if r.random() < 0.3:
        # a fixed step: below 2 / lambda_max(K) for these kernels unless huge_step is drawn
        p["learning_rate"] = r.choice([1e-4, 1e-3] + ([10.0, 1e6] if known else []))
    data = _data_recipe(r, known=known, kernel=kp["kernel"])
    if p["learning_rate"] != "auto" and not known:
        p["kernel"], p["gamma"] = "rbf", r.choice([0.1, 1.0])  # lambda_max(K) <= n
        p["learning_rate"] = min(p["learning_rate"], 1.0 / (data["n"] + 1))
    return {"kind": "svc", "params": p, "data": data, "val": r.random() < 0.4}


ATTACKS = ("random", "topk_sv", "alfa", "alfa_tilt", "lfa")


def draw_attack(r, known):
    kp = _kernel_params(r, known=known)
    name = r.choice(ATTACKS)
    p = {"C": r.choice([1e-3, 1.0, 10.0]), **kp} if name != "random" else {}
    if name == "topk_sv":
        p["candidate_factor"] = r.choice([1.0, 2.0, 5.0])
    if name == "alfa":
        p["max_iter"] = r.choice([1, 3, 10])
    if name == "alfa_tilt":
        p["n_trials"] = r.choice([1, 3])
    budget = r.choice([0, 1, 2, 0.1, 0.5, 0.0, 1.5, -1, 10**6])
    data = _data_recipe(r, known=known, kernel=kp["kernel"])
    data["n"] = min(data["n"], 40 if name in ("alfa", "lfa") else 80)
    if name == "lfa" and not known:
        # LFA fits budget x #SV SVCs; on a badly scaled kernel each runs to the iteration
        # cap (about 0.5 s): minutes in all, slow by design rather than a hang
        data["scale"] = min(data["scale"], 1.0)
    return {"kind": "attack", "name": name, "params": p, "budget": budget, "data": data,
            "seed": r.randrange(1000), "via_get": r.random() < 0.5}


DEFENSES = ("LNSVC", "CurieSVC", "LabelSanitizedSVC", "KLIDSVC", "PGDTrainedMLP")


def draw_defense(r, known):
    name = r.choice(DEFENSES)
    kp = _kernel_params(r, known=known)
    p = {} if name == "PGDTrainedMLP" else {"C": r.choice([1e-3, 1.0, 100.0]), **kp}
    if name == "LNSVC":
        p["mu"] = r.choice([0.0, 0.1, 0.45])
    if name == "CurieSVC":
        p.update(count=r.choice([1, 3]), eps=r.choice([0.1, 1.0, 100.0]),
                 min_samples=r.choice([1, 3]))
    if name in ("LabelSanitizedSVC", "KLIDSVC"):
        p["k"] = r.choice([2, 3, 10, 1000])
    if name == "PGDTrainedMLP":
        p.update(hidden_layer_sizes=r.choice([[4], [8, 4]]), max_iter=r.choice([1, 5]),
                 epsilon=r.choice([0.0, 0.1, 10.0]), pgd_steps=r.choice([1, 3]),
                 random_state=r.randrange(100))
    data = _data_recipe(r, known=known, kernel=kp["kernel"] if p else "rbf")
    return {"kind": "defense", "name": name, "params": p, "data": data}


_VALUES = ["0", "1", "-1", "2", "0.5", "1.5", "1e300", "nan", "inf", "-inf", "abc", "",
           "2147483648", "9223372036854775808", "0x10", "1_000", "scale", "auto"]


def draw_cli(r, known):
    files = []
    for i in range(r.choice([1, 1, 2])):
        fmt = r.choice(["csv", "npz"])
        quirk = r.choice(["plain"] * 4 + ["index", "bom", "semicolon", "missing_cell",
                                          "empty_label", "text_column", "long_field",
                                          "huge_values", "ragged", "empty", "one_class",
                                          "three_classes"]
                         if fmt == "csv" else
                         ["plain"] * 4 + ["one_d", "object", "huge_header", "garbage",
                                          "no_y", "nan", "three_classes", "strings"])
        files.append({"name": f"f{i}.{fmt}", "fmt": fmt, "quirk": quirk,
                      "n": r.choice([4, 12, 40]), "seed": r.randrange(2**31)})
    data = files[0]["name"]
    sub = r.choice(["attack", "attack", "attack", "run", "run", "show-config", "bogus"])
    argv = [sub]
    if sub == "attack":
        argv += [data, "--attack", r.choice(list(ATTACKS) + ["alfa-tilt", "pgd"]),
                 "--budget", r.choice(["1", "0.1", "0", "0.99", "50", "-1", "x"])]
        opts = ["--seed", "--C", "--kernel", "--gamma", "--out", "--test", "--label",
                "--sep", "--drop"]
    elif sub == "run":
        argv += ["--dataset", r.choice([data, "moons", "nope.npz"]), "--seeds", "1",
                 "--n-jobs", r.choice(["1", "1", "2"]), "--quiet", "--no-figures",
                 "--methods", *r.sample(["svm", "floral", "ln-svm", "curie", "ls-svm",
                                          "k-lid", "nn"], r.choice([1, 2])),
                 "--attack", r.choice(["none", "random", "topk_sv", "alfa-tilt"]),
                 "--budget", r.choice(["0.1", "2", "0.5"]), "--rounds", "20",
                 "--epochs", "3"]
        opts = ["--C", "--gamma", "--out", "--label", "--sep", "--drop", "--rounds",
                "--no-clean", "--paper"]
    else:
        opts = []
    for opt in r.sample(opts, r.randrange(len(opts) + 1) if opts else 0):
        if opt in ("--no-clean", "--paper"):
            argv.append(opt)
        elif opt == "--out":
            argv += [opt, r.choice([data, "out." + files[0]["fmt"], "outdir", "f1.csv",
                                    "missing/dir/o.npz", "."])]
        elif opt == "--test":
            argv += [opt, r.choice([f["name"] for f in files] + ["nope.npz"])]
        elif opt == "--label":
            argv += [opt, r.choice(["label", "label", "a", "nope", ""])]
        elif opt == "--sep":
            argv += [opt, r.choice([",", ";", "tab", ";;", "\""])]
        elif opt == "--drop":
            argv += [opt, r.choice(["id", "text", "label", "a"])]
        elif opt == "--rounds":
            # a count of rounds is a length of work, not a size: 2**31 rounds is a valid
            # request that runs for days, so only bad values and small counts are drawn
            argv += [opt, r.choice(["0", "-1", "1", "3", "1.5", "abc", ""])]
        elif opt == "--kernel":
            from floral._kernels import KERNELS

            argv += [opt, r.choice([*KERNELS, "cosine"])]  # cosine: not floral's
        else:
            value = r.choice(_VALUES)
            if not known and opt == "--gamma" and value == "1e300":
                value = "10"
            argv += [opt, value]
    if files[0]["fmt"] == "csv" and "--label" not in argv and r.random() < 0.8:
        argv += ["--label", "label"]
    return {"kind": "cli", "files": files, "argv": argv}


DRAW = {"svc": draw_svc, "attack": draw_attack, "defense": draw_defense, "cli": draw_cli}


def draw(seed, index, kinds, known):
    r = random.Random(f"{seed}:{index}")
    case = DRAW[r.choice(kinds)](r, known)
    case["id"] = f"{seed}:{index}"
    return case


# --- running cases (child) ---------------------------------------------------------------

def build_data(recipe):
    import numpy as np

    rng = np.random.RandomState(recipe["seed"])
    n, d = recipe["n"], recipe["d"]
    X = rng.normal(size=(n, d)) * recipe["scale"]
    quirks = recipe["quirks"]
    if "constant_column" in quirks:
        X[:, 0] = 3.0
    if "duplicates" in quirks and n > 1:
        X[n // 2:] = X[: n - n // 2]
    codes = rng.randint(0, 2, n)
    if n >= 2:
        codes[:2] = [0, 1]
    kind = recipe["labels"]
    if kind == "three":
        codes = rng.randint(0, 3, n)
        codes[: min(n, 3)] = [0, 1, 2][: min(n, 3)]
    y = {"int01": codes, "signed": 2 * codes - 1, "str": np.array(["neg", "pos",
                                                                    "mid"])[codes],
         "bool": codes.astype(bool), "three": codes, "float_int": codes.astype(float),
         "one": np.zeros(n, dtype=int), "continuous": rng.normal(size=n)}[kind]
    if "integer" in quirks:
        X = np.round(X).astype(np.int64) if recipe["scale"] < 1e15 else X
    if "float32" in quirks:
        X = X.astype(np.float32)
    if "fortran" in quirks:
        X = np.asfortranarray(X)
    if "strided" in quirks:
        X = np.repeat(X, 2, axis=0)[::2]
    w = {None: None, "ones": np.ones(n), "random": rng.uniform(0.1, 3, n),
         "some_zero": np.where(np.arange(n) % 3 == 0, 0.0, 1.0), "all_zero": np.zeros(n),
         "negative": -np.ones(n)}[recipe["weights"]]
    if "list" in quirks:
        X = X.tolist()
    return X, y, w


def _fingerprint(*arrays):
    import numpy as np

    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
        elif isinstance(a, list):
            h.update(repr(a).encode())
        else:
            a = np.asarray(a)
            h.update(repr((a.dtype.str, a.shape, a.strides)).encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _check_classifier(est, X, problems, warned=False):
    import numpy as np

    Xa = np.asarray(X, dtype=np.float64)
    pred = est.predict(Xa)
    if not np.isin(pred, est.classes_).all():
        problems.append("predict returned a label outside classes_")
    if hasattr(est, "decision_function"):
        dec = np.asarray(est.decision_function(Xa), dtype=np.float64)
        if not np.all(np.isfinite(dec)):
            problems.append("non-finite decision_function")
    for attr in ("dual_coef_", "intercept_", "support_vectors_", "coefs_"):
        value = getattr(est, attr, None)
        if value is None:
            continue
        arrays = value if isinstance(value, list) else [value]
        if not all(np.all(np.isfinite(np.asarray(a, dtype=np.float64))) for a in arrays):
            problems.append(f"non-finite {attr}")
    dual = getattr(est, "dual_coef_", None)
    if dual is not None and len(getattr(est, "classes_", ())) == 2 and dual.size \
            and not warned:
        # (a fit that warned has said its model may be off: not a silent wrong)
        # the dual's equality constraint: sum_i y~_i lam_i = 0 up to the projection's 1e-9
        # and the averaging of rounds (each round's dual satisfies it)
        total, scale = float(np.sum(dual)), float(np.sum(np.abs(dual)))
        if abs(total) > 1e-6 * (1.0 + scale):
            problems.append(f"sum(dual_coef_) = {total:.3g} breaks y~^T lam = 0 "
                            f"(sum |dual| = {scale:.3g})")


def run_svc(case):
    import numpy as np

    from floral import FloralSVC

    X, y, w = build_data(case["data"])
    p = dict(case["params"])
    classes = list(dict.fromkeys(np.asarray(y).tolist()))
    if p["class_weight"] == "first_zero":
        p["class_weight"] = {classes[0]: 0.0}
    elif p["class_weight"] == "all_zero":
        p["class_weight"] = {c: 0.0 for c in classes}
    kwargs = {"sample_weight": w}
    if case["val"]:
        X_val, y_val, _ = build_data({**case["data"], "seed": case["data"]["seed"] + 1,
                                      "weights": None})
        kwargs.update(X_val=X_val, y_val=y_val)
    before = _fingerprint(X, y, w, kwargs.get("X_val"), kwargs.get("y_val"))
    problems = []
    est = FloralSVC(**p)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est.fit(X, y, **kwargs)
    finally:
        if _fingerprint(X, y, w, kwargs.get("X_val"), kwargs.get("y_val")) != before:
            problems.append("fit modified its input in place")
    warned = any(issubclass(c.category, (UserWarning, RuntimeWarning)) for c in caught)
    _check_classifier(est, X, problems, warned)
    for method in ("last_round", "best_round"):
        try:
            other = getattr(est, method)()
        except ValueError:  # best_round without a validation set
            continue
        _check_classifier(other, X, problems, warned)
    return problems


def run_attack(case):
    import numpy as np

    from floral import attacks
    from floral._validation import resolve_budget

    X, y, _ = build_data(case["data"])
    before = _fingerprint(X, y)
    problems = []
    fn = attacks.get(case["name"])
    kwargs = dict(case["params"], random_state=case["seed"])
    try:
        if case["via_get"] or case["name"] != "random":
            y_bad = fn(X, y, case["budget"], **kwargs)
        else:
            y_bad = attacks.random_flip(y, case["budget"], **kwargs)
    finally:
        if _fingerprint(X, y) != before:
            problems.append("the attack modified its input in place")
    y_arr = np.asarray(y)
    y_bad = np.asarray(y_bad)
    if y_bad.shape != y_arr.shape or y_bad.dtype != y_arr.dtype:
        problems.append(f"y_poisoned has shape {y_bad.shape} / dtype {y_bad.dtype}, y has "
                        f"{y_arr.shape} / {y_arr.dtype}")
        return problems
    k = resolve_budget(case["budget"], y_arr.shape[0])
    flipped = int(np.count_nonzero(y_bad != y_arr))
    if flipped != k:
        problems.append(f"flipped {flipped} labels for a budget of {k}")
    if not np.isin(y_bad, y_arr).all():
        problems.append("a poisoned label that is not one of y's classes")
    return problems


def run_defense(case):
    from floral import defenses

    X, y, w = build_data(case["data"])
    before = _fingerprint(X, y, w)
    problems = []
    params = dict(case["params"])
    if "hidden_layer_sizes" in params:
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    est = getattr(defenses, case["name"])(**params)
    fit_kw = {} if case["name"] == "PGDTrainedMLP" else {"sample_weight": w}
    try:
        est.fit(X, y, **fit_kw)
    finally:
        if _fingerprint(X, y, w) != before:
            problems.append("fit modified its input in place")
    _check_classifier(est, X, problems)
    return problems


def write_file(spec, directory):
    """A small data file with the quirk the recipe names."""
    import zipfile

    import numpy as np

    path = os.path.join(directory, spec["name"])
    rng = np.random.RandomState(spec["seed"])
    n = spec["n"]
    X = rng.normal(size=(n, 2))
    y = np.arange(n) % 2
    quirk = spec["quirk"]
    if quirk == "one_class":
        y = np.zeros(n, dtype=int)
    if quirk == "three_classes":
        y = np.arange(n) % 3
    if quirk == "huge_values":
        X = X * 1e300
    if spec["fmt"] == "npz":
        if quirk == "garbage":
            with open(path, "wb") as fh:
                fh.write(b"PK\x03\x04 not really")
            return path
        if quirk == "huge_header":
            with zipfile.ZipFile(path, "w") as zf:
                with zf.open("X.npy", "w") as fh:
                    np.lib.format.write_array_header_1_0(
                        fh, {"descr": "<f8", "fortran_order": False, "shape": (10**8, 10**5)})
                with zf.open("y.npy", "w") as fh:
                    np.lib.format.write_array(fh, y)
            return path
        arrays = {"X": X, "y": y}
        if quirk == "one_d":
            arrays["X"] = X[:, 0]
        if quirk == "object":
            arrays["y"] = np.array([1, "a"] * (n // 2), dtype=object)
        if quirk == "no_y":
            del arrays["y"]
        if quirk == "nan":
            arrays["X"][0, 0] = np.nan
        if quirk == "strings":
            arrays["y"] = np.array(["neg", "pos"])[y]
        np.savez(path, **arrays)
        return path
    sep = ";" if quirk == "semicolon" else ","
    header = ["a", "b", "label"]
    rows = [[repr(float(a)), repr(float(b)), str(c)] for (a, b), c in zip(X, y)]
    if quirk == "index":
        header = [""] + header
        rows = [[str(i)] + r for i, r in enumerate(rows)]
    if quirk == "text_column":
        header = ["id"] + header
        rows = [[f"row-{i}"] + r for i, r in enumerate(rows)]
    if quirk == "missing_cell" and rows:
        rows[-1][1] = ""
    if quirk == "empty_label" and rows:
        rows[0][-1] = ""
    if quirk == "long_field" and rows:
        rows[0][0] = "1" * 200_000
    if quirk == "ragged" and rows:
        rows[1] = rows[1][:2]
    text = "" if quirk == "empty" else "\n".join(sep.join(r) for r in [header] + rows) + "\n"
    with open(path, "w", encoding="utf-8-sig" if quirk == "bom" else "utf-8") as fh:
        fh.write(text)
    return path


def run_cli(case):
    import contextlib
    import io

    from floral.cli import main

    problems = []
    with tempfile.TemporaryDirectory() as directory:
        for spec in case["files"]:
            write_file(spec, directory)
        inputs = {name: _file_digest(os.path.join(directory, name))
                  for name in os.listdir(directory)}
        out, err = io.StringIO(), io.StringIO()
        cwd = os.getcwd()
        os.chdir(directory)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(list(case["argv"]))
                except SystemExit as exc:
                    code = exc.code
                except BaseException as exc:  # main let it through: a traceback
                    problems.append(f"cli: main raised {type(exc).__name__}: {exc}")
                    code = None
        finally:
            os.chdir(cwd)
            # a command runs in a fresh process: no loky worker outlives it (a reused one
            # would sit in a deleted working directory)
            try:
                from joblib.externals.loky import reusable_executor

                if reusable_executor._executor is not None:
                    reusable_executor._executor.shutdown(wait=True, kill_workers=True)
            except Exception:  # cleanup of the harness, not a finding
                pass
        text = err.getvalue()
        if code is not None:
            if "Traceback" in text:
                problems.append("cli: a traceback on stderr")
            if code not in (0, 2, 130):
                problems.append(f"cli: exit status {code}")
            if code == 2 and not text.strip().splitlines()[-1].startswith("floral: error:"):
                problems.append(f"cli: exit 2 without 'floral: error:' ({text[-200:]!r})")
        for name, digest in inputs.items():
            if _file_digest(os.path.join(directory, name)) != digest:
                problems.append(f"cli: the input file {name} was modified")
        leftovers = [f for f in os.listdir(directory) if f.endswith(".tmp")]
        if leftovers:
            problems.append(f"cli: temporary files left: {leftovers}")
    return problems


def _file_digest(path):
    if os.path.isdir(path):
        return "dir"
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def run_probe(case):
    """Misbehaviour on purpose, for the harness's own tests (never drawn)."""
    import numpy as np

    action = case["action"]
    if action == "abort":
        os.abort()
    if action == "sleep":
        time.sleep(3600)
    if action == "raise":
        raise RuntimeError("probe")
    if action == "refuse":
        raise ValueError("probe")
    if action == "nan":
        return [] if np.isfinite(np.nan) else ["non-finite decision_function"]
    return []


RUN = {"svc": run_svc, "attack": run_attack, "defense": run_defense, "cli": run_cli,
       "probe": run_probe}


def child_main():
    """Read one JSON case per line on stdin, answer one JSON line per case on the
    protocol stream (the original stdout; fd 1 itself goes to /dev/null, so whatever the
    code under test prints cannot garble the protocol)."""
    proto = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    warnings.simplefilter("ignore")  # ConvergenceWarning and friends are fine
    import floral  # noqa: F401  (imported before the first case is timed)

    proto.write(json.dumps({"ready": True}) + "\n")
    proto.flush()
    for line in sys.stdin:
        case = json.loads(line)
        result = {"id": case["id"]}
        start = time.perf_counter()
        try:
            result["problems"] = RUN[case["kind"]](case)
            result["outcome"] = "ok"
        except (ValueError, TypeError) as exc:
            result["outcome"] = "refused"
            result["exception"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            result["problems"] = []
        except BaseException as exc:  # any other exception is a finding
            import traceback

            result["outcome"] = "other"
            result["exception"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            result["traceback"] = traceback.format_exc()[-3000:]
            result["problems"] = []
        result["seconds"] = round(time.perf_counter() - start, 3)
        proto.write(json.dumps(result) + "\n")
        proto.flush()


# --- the parent ----------------------------------------------------------------------------

class Child:
    """One child process running cases, answering on its stdout (read by a thread)."""

    def __init__(self):
        env = dict(os.environ, PYTHONWARNINGS="ignore", MPLBACKEND="Agg")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--child"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            start_new_session=True)
        self.lines = queue.Queue()
        self.stderr = []
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines),
                         daemon=True).start()
        threading.Thread(target=self._drain, daemon=True).start()
        self.ready = self.lines.get(timeout=120)

    @staticmethod
    def _read(stream, lines):
        for line in stream:
            lines.put(line)
        lines.put(None)

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr.append(line)
            del self.stderr[:-40]

    def run(self, case, timeout):
        self.proc.stdin.write(json.dumps(case) + "\n")
        self.proc.stdin.flush()
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            return {"id": case["id"], "outcome": "hang", "problems": [],
                    "exception": f"no answer within {timeout} s"}
        if line is None:
            self.proc.wait(timeout=30)
            code = self.proc.returncode
            return {"id": case["id"], "outcome": "crash", "problems": [],
                    "exception": f"the child died with status {code}"
                                 + (f" (signal {-code})" if code < 0 else ""),
                    "stderr": "".join(self.stderr)[-3000:]}
        return json.loads(line)

    def kill(self):
        import signal

        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait(timeout=30)

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()


def classify(result):
    """The finding kinds of one result (empty: a pass)."""
    outcome = result["outcome"]
    if outcome in ("crash", "hang"):
        return [outcome]
    if outcome == "other":
        return ["other exception"]
    kinds = []
    for problem in result.get("problems", []):
        kinds.append("cli" if problem.startswith("cli:") else "silent wrong")
    return kinds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget-s", type=float, default=120.0,
                        help="stop drawing new cases after this many seconds (default 120)")
    parser.add_argument("--cases", type=int, default=None, help="at most this many cases")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds a case may run before it counts as a hang")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--tame", action="store_true",
                        help="leave out the extreme inputs listed in EXTREME")
    parser.add_argument("--json", default=None, help="write every finding (with its case) "
                                                     "and the summary here")
    parser.add_argument("--replay", default=None, help="rerun the findings of a --json file")
    parser.add_argument("--verbose", action="store_true", help="one line per case")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main()

    if args.replay:
        with open(args.replay) as fh:
            loaded = json.load(fh)
        # a --json report's findings, or a list of cases
        cases = [f["case"] for f in loaded["findings"]] if isinstance(loaded, dict) \
            else loaded
        source = iter(cases)
    else:
        source = (draw(args.seed, i, args.kinds, not args.tame)
                  for i in range(args.cases if args.cases is not None else 10**9))
    start = time.monotonic()
    counts = {k: 0 for k in KINDS + ("probe",)}
    outcomes = {"ok": 0, "refused": 0}
    findings = []
    child = Child()
    try:
        for case in source:
            if time.monotonic() - start > args.budget_s and not args.replay:
                break
            result = child.run(case, args.timeout)
            counts[case["kind"]] += 1
            kinds = classify(result)
            if result["outcome"] in outcomes:
                outcomes[result["outcome"]] += 1
            if args.verbose or kinds:
                status = ", ".join(kinds) or result["outcome"]
                print(f"[{case['id']}] {case['kind']:<7} {status:<16} "
                      f"{result.get('seconds', '-')} s  "
                      f"{result.get('exception', '')[:100]}", flush=True)
            if kinds:
                findings.append({"kinds": kinds, "case": case, "result": result})
                for problem in result.get("problems", []):
                    print(f"    {problem}", flush=True)
                if result.get("traceback"):
                    print("    " + result["traceback"].strip().splitlines()[-1], flush=True)
            if result["outcome"] in ("crash", "hang"):
                child = Child()
    finally:
        child.close()
    elapsed = time.monotonic() - start
    tally = {k: sum(k in f["kinds"] for f in findings)
             for k in ("crash", "hang", "silent wrong", "other exception", "cli")}
    total = sum(counts.values())
    origin = f"replay of {args.replay}" if args.replay else f"seed {args.seed}"
    print(f"\nfuzz: {origin}, {total} cases in {elapsed:.0f} s ("
          + ", ".join(f"{k} {v}" for k, v in counts.items() if v or k != "probe")
          + f"); {outcomes['ok']} ran, {outcomes['refused']} refused with "
            "ValueError/TypeError")
    print(f"fuzz: crashes {tally['crash']}, hangs {tally['hang']}, silent wrongs "
          f"{tally['silent wrong']}, other exceptions {tally['other exception']}, "
          f"cli failures {tally['cli']}")
    if args.tame:
        print("fuzz: not drawn (--tame): " + "; ".join(EXTREME.values()))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"seed": args.seed, "cases": total, "seconds": round(elapsed, 1),
                       "counts": counts, "outcomes": outcomes, "findings_by_kind": tally,
                       "tame": args.tame, "findings": findings}, fh,
                      indent=1)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
