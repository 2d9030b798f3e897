"""Reproduce the FLORAL paper's Table 1: Moon under alfa-tilt, every method, Best and Last,
and the model each method returns, through :func:`floral.experiments.run_grid` (and FLORAL
with the paper's step-size decay). ``--defenses``: the baseline defenses beside SVC and
FloralSVC on Moon, clean and under alfa-tilt and top-k SV flips of ``--budget``.
Protocols, results and how this run differs from the paper: bench/README.md, "Table 1
reproduction" and "Baseline defenses on Moon".

Writes bench/results/table1.{csv,json,md} (``--defenses``: defenses.{json,md}). Numbers,
never assertions.
"""
import os
import sys
import time

import _common as common
from _common import ATTACK_PARAMS, table
from floral import FloralSVC
from floral.defenses import PGDTrainedMLP
from floral.experiments import FLORAL_PARAMS, NN_PARAMS, Results, run_grid

BUDGETS = [0.0, 0.05, 0.10, 0.25]
METHODS = ["floral", "svm", "nn", "nn-pgd", "ln-svm", "curie", "ls-svm", "k-lid"]
DISPLAY = {"floral": "FLORAL", "svm": "SVM", "nn": "NN", "nn-pgd": "NN-PGD",
           "ln-svm": "LN-SVM", "curie": "Curie", "ls-svm": "LS-SVM", "k-lid": "K-LID"}
# DESIGN.md / the paper's Table 1: (Best, Last) per setting and method
PAPER = {
    0.0: {"floral": (.968, .966), "svm": (.968, .968), "nn": (.960, .960),
          "nn-pgd": (.966, .964), "ln-svm": (.940, .940), "curie": (.941, .941),
          "ls-svm": (.881, .881), "k-lid": (.966, .966)},
    0.05: {"floral": (.972, .957), "svm": (.944, .939), "nn": (.948, .948),
           "nn-pgd": (.962, .943), "ln-svm": (.956, .956), "curie": (.940, .939),
           "ls-svm": (.898, .896), "k-lid": (.937, .936)},
    0.10: {"floral": (.971, .928), "svm": (.910, .886), "nn": (.915, .914),
           "nn-pgd": (.940, .906), "ln-svm": (.930, .930), "curie": (.920, .902),
           "ls-svm": (.898, .896), "k-lid": (.926, .926)},
    0.25: {"floral": (.893, .824), "svm": (.787, .722), "nn": (.837, .750),
           "nn-pgd": (.837, .720), "ln-svm": (.786, .723), "curie": (.792, .759),
           "ls-svm": (.792, .791), "k-lid": (.770, .708)},
}
# The paper's FLORAL step size schedule (DESIGN.md): x0.1 every 100 rounds.
DECAY = dict(lr_decay=0.1, lr_decay_every=100)
# --defenses: the attacks (runner name: display name), and the rows (row, runner method,
# which of its scores)
ATTACKS = {"alfa_tilt": "alfa_tilt", "topk_sv": "topk_sv_flip"}
ROWS = [("SVC", "svm", "model"), ("FLORAL Model", "floral", "model"),
        ("FLORAL Best", "floral", "best"), ("FLORAL Last", "floral", "last"),
        ("LNSVC", "ln-svm", "model"), ("CurieSVC", "curie", "model"),
        ("LabelSanitizedSVC", "ls-svm", "model"), ("KLIDSVC", "k-lid", "model")]


def fmt(x):
    text = f"{x:.3f}"
    return text[1:] if text.startswith("0.") else text


def summary(records):
    """{(budget, method): (best mean, best std, last mean, last std, model mean, model std)}"""
    return {(float(r["budget"]), r["method"]): tuple(r[f"{which}_{stat}"] for which in (
        "best", "last", "model") for stat in ("mean", "std")) for r in Results(records).summary()}


def pm(mean, std):
    return f"{fmt(mean)} ± {fmt(std)}"


def ours_cell(s):
    """Best / Last."""
    return "not run" if s is None else f"{pm(*s[0:2])} / {pm(*s[2:4])}"


def model_cell(s):
    return "not run" if s is None else pm(*s[4:6])


def floral_cell(s):
    """Model / Best / Last."""
    return "not run" if s is None else f"{model_cell(s)} / {ours_cell(s)}"


def setting(b):
    return "clean" if b == 0 else f"{b:.0%}"


def paper(b, m="floral"):
    return f"{fmt(PAPER[b][m][0])} / {fmt(PAPER[b][m][1])}"


def main(argv=None):
    ap = common.parser(__doc__, "", "one seed, 50 rounds, 5 epochs", markdown)
    ap.add_argument("--seeds", type=int, help="seeds 0..N-1 (default 10, --defenses 3)")
    ap.add_argument("--n-jobs", type=int, default=-1, help="joblib n_jobs (default -1)")
    ap.add_argument("--defenses", action="store_true", help="the defenses study instead")
    ap.add_argument("--budget", type=float, default=0.1,
                    help="--defenses: fraction of training labels the attacks flip (0.1)")
    args = common.parse(ap, argv, lambda a: "defenses" if a.defenses else "table1", seeds=1)
    seeds = list(range(args.seeds or (3 if args.defenses else 10)))
    grid = dict(n_jobs=args.n_jobs, C=10.0, gamma=1.0, verbose=1)
    host = common.host_line(common.machine_info())  # the load average before the run
    start = time.perf_counter()
    if args.defenses:
        res = run_grid("moons", list(ATTACKS), [0, args.budget], sorted({m for _, m, _ in ROWS}),
                       seeds, attack_params=ATTACK_PARAMS, **grid)
        common.results(args.stem, markdown, {
            "command": common.command(argv), "seconds": time.perf_counter() - start,
            "machine": common.machine_info(), "seeds": seeds, "budget": args.budget,
            "floral": FLORAL_PARAMS, "attack_params": ATTACK_PARAMS,
            "paper_alfa_tilt_10pct": {row: paper_10pct(m, w) for row, m, w in ROWS},
            "records": list(res)})
        return 0
    quick = ({"floral": {"n_rounds": 50}, "nn": {"max_iter": 5}, "nn-pgd": {"max_iter": 5}}
             if args.quick else {})
    main_grid = run_grid("moons", "alfa_tilt", BUDGETS, METHODS, seeds, method_params=quick,
                         **grid)
    t_main = time.perf_counter() - start
    start = time.perf_counter()
    decay = run_grid("moons", "alfa_tilt", BUDGETS, ["floral"], seeds,
                     method_params={"floral": {**DECAY, **quick.get("floral", {})}}, **grid)
    t_decay = time.perf_counter() - start
    print(main_grid.table(), "\nFLORAL with the paper's step-size decay (x0.1 every 100 "
          "rounds):", decay.table(), sep="\n")

    os.makedirs(args.out, exist_ok=True)
    everything = Results([dict(r, variant="default") for r in main_grid]
                         + [dict(r, variant="paper_lr_decay") for r in decay])
    everything.meta = {"main": main_grid.meta, "paper_lr_decay": decay.meta,
                       "command": common.command(argv),
                       "machine": host,
                       "seconds": {"main": t_main, "paper_lr_decay": t_decay},
                       "auto_steps": auto_steps(seeds)}
    everything.to_csv(args.stem + ".csv")
    everything.to_json(args.stem + ".json")
    common.results(args.stem, markdown)  # the markdown from the JSON just written
    print(f"\nwrote {args.stem}.md, table1.csv, table1.json ({t_main + t_decay:.0f} s)")


def markdown(payload):
    if "budget" in payload:
        return defenses_markdown(payload)
    meta, records = payload["meta"], payload["records"]
    main_grid = [r for r in records if r["variant"] == "default"]
    ours = summary(main_grid)
    ours_decay = summary([r for r in records if r["variant"] == "paper_lr_decay"])
    seeds, seconds = meta["main"]["seeds"], meta.get("seconds")
    rows = []
    for b in BUDGETS:
        rows.append([setting(b), "ours", f"**{model_cell(ours.get((b, 'floral')))}**",
                     *(ours_cell(ours.get((b, m))) for m in METHODS)])
        rows.append(["", "paper", "—", *(paper(b, m) for m in METHODS)])
    returned = [[setting(b), f"**{model_cell(f)}**", pm(*f[0:2]), pm(*f[2:4]), paper(b),
                 *(model_cell(ours[(b, m)]) for m in ("svm", "nn", "nn-pgd"))]
                for b in BUDGETS for f in [ours[(b, "floral")]]]
    gaps = [[setting(b), *(f"{100 * (ours[(b, m)][0] - PAPER[b][m][0]):+.1f} / "
                           f"{100 * (ours[(b, m)][2] - PAPER[b][m][1]):+.1f}"
                           for m in METHODS)] for b in BUDGETS]
    decayed = [[setting(b), floral_cell(ours[(b, "floral")]),
                floral_cell(ours_decay[(b, "floral")]), paper(b)] for b in BUDGETS]
    return common.doc(
        "# Table 1 reproduction: Moon under alfa-tilt",
        f"Command: `{meta['command']}`" + (f" (main grid {seconds['main']:.0f} s, FLORAL "
                                           f"decay variant {seconds['paper_lr_decay']:.0f} s)"
                                           if seconds else ""),
        f"Machine: {meta['machine']}.",
        "Test accuracy on Moon after alfa-tilt (C = 10, gamma = 1) flips 0 / 5 / 10 / 25% of "
        "the training labels; protocol: bench/README.md, \"Table 1 reproduction\". Each cell "
        f"is Best / Last as in the paper; ours are mean ± sample std over {len(seeds)} seeds "
        f"({seeds[0]}..{seeds[-1]}), the paper's are its Table 1. **Our Best is selected on "
        "the validation split; the paper's was picked on the test curve.** **FLORAL Model** "
        "is the model `FloralSVC.fit` returns; the paper has no such column. "
        + nn_model_note(main_grid),
        table(["setting", "", "FLORAL Model", *(DISPLAY[m] for m in METHODS)], rows,
              "l" * (3 + len(METHODS))),
        "## The returned model",
        "What each method's `fit` returns, beside FLORAL's Best and Last and the paper's "
        "(mean ± sample std; NN and NN-PGD return their best validation epoch).",
        table(["setting", "FLORAL Model", "FLORAL Best", "FLORAL Last",
               "paper FLORAL Best / Last", "SVM", "NN Model", "NN-PGD Model"], returned,
              "l" * 8),
        "## Ours minus paper (means)", "Best / Last, in accuracy points (x100).",
        table(["setting", *(DISPLAY[m] for m in METHODS)], gaps, "l" * (1 + len(METHODS))),
        "## FLORAL with the paper's step-size decay",
        "Same grid, FLORAL only, with `lr_decay=0.1, lr_decay_every=100` (the schedule the "
        "paper describes, from the same initial step) instead of FloralSVC's default constant "
        "step. Cells: Model / Best / Last (paper: Best / Last).",
        table(["setting", "FLORAL default (ours)", "FLORAL with decay (ours)", "paper"],
              decayed, "llll"),
        "## How this run differs from the paper",
        # runs before the steps were recorded: recomputed (one round per seed)
        differences(len(seeds), meta.get("auto_steps") or auto_steps(seeds)))


def nn_model_note(results):
    """Whether NN's and NN-PGD's Model (their best validation epoch) is their Best."""
    same = [DISPLAY[m] for m in ("nn", "nn-pgd")
            if any(r["method"] == m for r in results) and all(
                r["model_accuracy"] == r["best_accuracy"] for r in results if r["method"] == m)]
    if len(same) == 2:
        return ("NN and NN-PGD return their best validation epoch, so their Model equals "
                "their Best in every record.")
    return ("NN and NN-PGD return their best validation epoch (Model equals Best in every "
            f"record for: {', '.join(same) or 'neither'}).")


def auto_steps(seeds):
    """(min, max) of FloralSVC's learning_rate="auto" step over the seeds' training sets."""
    from floral.datasets import load_moons

    steps = []
    for seed in seeds:
        d = load_moons(random_state=seed)
        clf = FloralSVC(C=10.0, gamma=1.0, n_rounds=1, n_jobs=1).fit(d.X_train, d.y_train)
        steps.append(clf.learning_rate_)
    return min(steps), max(steps)


def differences(n, steps):
    """The run-dependent facts; the full list of differences is in bench/README.md."""
    p = PGDTrainedMLP().get_params()
    pgd_step = (f"{2.5 * p['epsilon'] / p['pgd_steps']:g} (2.5 epsilon / steps)"
                if p["pgd_step_size"] == "auto" else f"{p['pgd_step_size']:g}")
    fl = {**FloralSVC().get_params(), **FLORAL_PARAMS}
    fl = ", ".join(f"{k}={fl[k]!r}" for k in ("flip_budget", "n_rounds", "learning_rate",
                                              "selection", "n_best"))
    low, high = (f"{x:.3g}" for x in steps)
    return [
        "See bench/README.md, \"How this run differs from the paper\": Best chosen on the "
        "validation split, floral's own NN / NN-PGD, defenses and alfa-tilt, data "
        "standardised on the training split. From this run:",
        f"- NN-PGD: `PGDTrainedMLP` defaults, radius epsilon = {p['epsilon']:g} (features "
        f"standardised), {p['pgd_steps']} steps of size {pgd_step} (chosen in "
        "bench/sweeps/nn_pgd.py).",
        f"- NN: {NN_PARAMS['solver']}, learning rate {NN_PARAMS['learning_rate_init']}, "
        f"batches of {NN_PARAMS['batch_size']}, {NN_PARAMS['max_iter']} epochs.",
        f"- FLORAL: `{fl} (selection \"best\" with the validation split)`, C = 10, gamma = 1; "
        f"step 0.5 / lambda_max(K) = {low if low == high else f'{low} to {high}'} on these "
        "training sets.",
        f"- {n} seeds, mean ± sample std (ddof = 1); the paper's numbers have no spread.",
    ]


# --- --defenses ---------------------------------------------------------------------------

def paper_10pct(method, which):
    """The paper's Table 1 at alfa-tilt 10% for a row of --defenses: Best / Last, or FLORAL's
    Best or Last alone (the paper has no Model)."""
    if method != "floral":
        return paper(0.10, method)
    return "—" if which == "model" else fmt(PAPER[0.10]["floral"][which == "last"])


def defenses_markdown(payload):
    summary = {(r["attack"], r["method"]): r for r in Results(payload["records"]).summary()}
    pct = f"{payload['budget']:.0%}"
    settings = [("none", "clean")] + [(a, f"{name} {pct}") for a, name in ATTACKS.items()]
    rows = []
    for row, method, which in ROWS:
        cells = []
        for attack, _ in settings:
            s = summary[(attack, method)]
            std = s[f"{which}_std"]
            cells.append(f"{s[f'{which}_mean']:.3f} ± {0.0 if std != std else std:.3f}")
        rows.append([row, *cells, paper_10pct(method, which)])
    return common.doc(
        *common.header("Baseline defenses on Moon", payload["command"], payload["seconds"],
                       payload["machine"]),
        f"Attacks at {pct} of the training set; test accuracy, mean ± sample std over seeds "
        f"{', '.join(map(str, payload['seeds']))}; protocol: bench/README.md, \"Baseline "
        "defenses on Moon\". The paper's column is its Table 1 at alfa-tilt 10%.",
        table(["method", *(s for _, s in settings), "paper, alfa-tilt 10% (Best / Last)"], rows))


if __name__ == "__main__":
    sys.exit(main())
