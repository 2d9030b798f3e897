"""Reproduce the FLORAL paper's Table 1: Moon under alfa-tilt, every method, Best and Last.

Bal, Cevher & Muehlebach (ICLR 2025), Table 1: test accuracy on Moon with alfa-tilt
adversarial labels (Xiao et al., 2015), C = 10, gamma = 1, budgets 0 / 5 / 10 / 25% of the
training labels, for FLORAL and the baselines, each as "Best / Last".

This script runs the same grid with :func:`floral.experiments.run_grid` (methods floral,
svm, nn, nn-pgd, ln-svm, curie, ls-svm, k-lid; seeds 0..N-1) and a supplementary FLORAL run
with the paper's step-size decay (x0.1 every 100 rounds), then prints and writes

* bench/results/table1.csv and table1.json: every record (main grid and supplement);
* bench/results/table1.md: our Best / Last (mean ± sample std over seeds) beside the
  paper's numbers, the differences, the command, the machine and the list of every way this
  run differs from the paper's protocol.

Usage: python bench/reproduce_table1.py [--seeds 10] [--n-jobs -1]
Numbers and timings are reported, never asserted.
"""
import argparse
import os
import shlex
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # run from a checkout without installing

from _common import load_average, machine_info, machine_line  # noqa: E402
from floral.defenses import PGDTrainedMLP  # noqa: E402
from floral.experiments import FLORAL_PARAMS, NN_PARAMS, Results, run_grid  # noqa: E402

BUDGETS = [0.0, 0.05, 0.10, 0.25]
METHODS = ["floral", "svm", "nn", "nn-pgd", "ln-svm", "curie", "ls-svm", "k-lid"]
COLUMNS = METHODS
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


def fmt(x):
    text = f"{x:.3f}"
    return text[1:] if text.startswith("0.") else text


def summary(results):
    """{(budget, method): (best mean, best std, last mean, last std)}"""
    out = {}
    for row in results.summary():
        out[(float(row["budget"]), row["method"])] = (row["best_mean"], row["best_std"],
                                                      row["last_mean"], row["last_std"])
    return out


def ours_cell(s):
    if s is None:
        return "not run"
    bm, bs, lm, ls = s
    return f"{fmt(bm)} ± {fmt(bs)} / {fmt(lm)} ± {fmt(ls)}"


def setting(b):
    return "clean" if b == 0 else f"{b:.0%}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    parser.add_argument("--n-jobs", type=int, default=-1, help="joblib n_jobs (default -1)")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    command = "python bench/reproduce_table1.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    seeds = list(range(args.seeds))
    host = f"{machine_line(machine_info())}; load average {load_average()} at the start"

    start = time.perf_counter()
    main_grid = run_grid("moons", "alfa_tilt", BUDGETS, METHODS, seeds, n_jobs=args.n_jobs,
                         C=10.0, gamma=1.0, verbose=1)
    t_main = time.perf_counter() - start
    start = time.perf_counter()
    decay = run_grid("moons", "alfa_tilt", BUDGETS, ["floral"], seeds, n_jobs=args.n_jobs,
                     C=10.0, gamma=1.0, method_params={"floral": DECAY}, verbose=1)
    t_decay = time.perf_counter() - start
    print(main_grid.table())
    print()
    print("FLORAL with the paper's step-size decay (x0.1 every 100 rounds):")
    print(decay.table())

    os.makedirs(args.out, exist_ok=True)
    everything = Results([dict(r, variant="default") for r in main_grid]
                         + [dict(r, variant="paper_lr_decay") for r in decay])
    everything.meta = {"main": main_grid.meta, "paper_lr_decay": decay.meta,
                       "command": command, "machine": host}
    everything.to_csv(os.path.join(args.out, "table1.csv"))
    everything.to_json(os.path.join(args.out, "table1.json"))

    ours, ours_decay = summary(main_grid), summary(decay)
    n = len(seeds)
    lines = [
        "# Table 1 reproduction: Moon under alfa-tilt",
        "",
        f"Command: `{command}` (main grid {t_main:.0f} s, FLORAL decay variant "
        f"{t_decay:.0f} s)",
        "",
        f"Machine: {host}.",
        "",
        "Test accuracy on Moon (`load_moons`: make_moons(2000, noise=0.2), 500 train / 500 "
        "validation / 1000 test, standardised on the training split) after alfa-tilt "
        "(`floral.attacks.alfa_tilt`, C = 10, gamma = 1) flips 0 / 5 / 10 / 25% of the "
        f"training labels. Each cell is Best / Last; ours are mean ± sample std over "
        f"{n} seeds ({seeds[0]}..{seeds[-1]}; the seed draws the data, the split, the "
        "attack and the methods' randomness), the paper's are its Table 1 (Bal, Cevher & "
        "Muehlebach, ICLR 2025). **Our Best is selected on the validation split; the "
        "paper's was picked on the test curve.** Single-shot methods have Best = Last.",
        "",
        "| setting | | " + " | ".join(DISPLAY[m] for m in COLUMNS) + " |",
        "| --- | --- | " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    for b in BUDGETS:
        lines.append(f"| {setting(b)} | ours | " + " | ".join(
            ours_cell(ours.get((b, m))) for m in COLUMNS) + " |")
        lines.append("| | paper | " + " | ".join(
            f"{fmt(PAPER[b][m][0])} / {fmt(PAPER[b][m][1])}" for m in COLUMNS) + " |")
    lines += [
        "",
        "## Ours minus paper (means)",
        "",
        "Best / Last, in accuracy points (x100).",
        "",
        "| setting | " + " | ".join(DISPLAY[m] for m in METHODS) + " |",
        "| --- | " + " | ".join("---" for _ in METHODS) + " |",
    ]
    for b in BUDGETS:
        cells = []
        for m in METHODS:
            bm, _, lm, _ = ours[(b, m)]
            pb, pl = PAPER[b][m]
            cells.append(f"{100 * (bm - pb):+.1f} / {100 * (lm - pl):+.1f}")
        lines.append(f"| {setting(b)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## FLORAL with the paper's step-size decay",
        "",
        "Same grid, FLORAL only, with `lr_decay=0.1, lr_decay_every=100` (the schedule the "
        "paper describes) instead of the runner's default constant step.",
        "",
        "| setting | FLORAL default (ours) | FLORAL with decay (ours) | paper |",
        "| --- | --- | --- | --- |",
    ]
    for b in BUDGETS:
        pb, pl = PAPER[b]["floral"]
        lines.append(f"| {setting(b)} | {ours_cell(ours[(b, 'floral')])} | "
                     f"{ours_cell(ours_decay[(b, 'floral')])} | {fmt(pb)} / {fmt(pl)} |")
    lines += ["", "## Observations (computed from this run)", ""]
    lines += observations(ours)
    lines += ["", "## How this run differs from the paper", ""]
    lines += differences(n)
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "table1.md"), "w") as fh:
        fh.write(text)
    print(f"\nwrote {os.path.join(args.out, 'table1.md')}, table1.csv, table1.json "
          f"({t_main + t_decay:.0f} s)")
    return 0


def observations(ours):
    out = []
    for b in BUDGETS[1:]:
        best = {m: ours[(b, m)][0] for m in METHODS}
        last = {m: ours[(b, m)][2] for m in METHODS}
        top_b = max(best, key=best.get)
        top_l = max(last, key=last.get)
        out.append(
            f"- {setting(b)}: highest Best {DISPLAY[top_b]} ({fmt(best[top_b])}), highest "
            f"Last {DISPLAY[top_l]} ({fmt(last[top_l])}); FLORAL Best {fmt(best['floral'])} vs "
            f"SVM {fmt(best['svm'])} ({100 * (best['floral'] - best['svm']):+.1f} points), "
            f"FLORAL Last {fmt(last['floral'])}.")
    gains = [f"{setting(b)} {100 * (ours[(b, 'nn-pgd')][0] - ours[(b, 'nn')][0]):+.1f} / "
             f"{100 * (ours[(b, 'nn-pgd')][2] - ours[(b, 'nn')][2]):+.1f}" for b in BUDGETS]
    paper = [f"{setting(b)} {100 * (PAPER[b]['nn-pgd'][0] - PAPER[b]['nn'][0]):+.1f} / "
             f"{100 * (PAPER[b]['nn-pgd'][1] - PAPER[b]['nn'][1]):+.1f}" for b in BUDGETS]
    out.append(f"- NN-PGD minus NN, Best / Last in points: ours {', '.join(gains)}; "
               f"paper {', '.join(paper)}.")
    worst = max(((abs(ours[(b, m)][2 * i] - PAPER[b][m][i]), b, m, i) for b in BUDGETS
                 for m in METHODS for i in (0, 1)))
    d, b, m, i = worst
    out.append(f"- Largest gap to the paper: {DISPLAY[m]} {('Best', 'Last')[i]} at "
               f"{setting(b)}: ours {fmt(ours[(b, m)][2 * i])}, paper "
               f"{fmt(PAPER[b][m][i])} ({100 * d:.1f} points).")
    return out


def pgd_line():
    """NN-PGD's attack settings as the runner uses them (PGDTrainedMLP's defaults)."""
    p = PGDTrainedMLP().get_params()
    if p["pgd_step_size"] == "auto":
        step = f"{2.5 * p['epsilon'] / p['pgd_steps']:g} (2.5 epsilon / steps)"
    else:
        step = f"{p['pgd_step_size']:g}"
    return (f"radius epsilon = {p['epsilon']:g} (features standardised), {p['pgd_steps']} "
            f"steps of size {step}")


def differences(n):
    return [
        "- **Best is chosen on the validation split**, not on the test curve as in the paper "
        "(FLORAL: the round with the highest validation accuracy, earliest on ties; NN and "
        "NN-PGD: the epoch). The paper's Best is an optimistic maximum over test accuracies; "
        "ours is an honest estimate and can be lower.",
        "- **NN-PGD** is `floral.defenses.PGDTrainedMLP`: the NN network and schedule below "
        f"with every minibatch replaced by its L-infinity PGD perturbation, {pgd_line()}, "
        "from a uniform random start, trained on the (poisoned) labels. The paper does not "
        "state its radius, steps or step size; ours were chosen on the validation split of "
        "seeds 100..104 "
        "(`bench/nn_pgd_sweep.py`, `results/nn_pgd_sweep.md`), not on this table.",
        "- **NN** is scikit-learn's `MLPClassifier` with the paper's Moon architecture (two "
        f"hidden layers of 32 ReLU units), {NN_PARAMS['solver']}, learning rate "
        f"{NN_PARAMS['learning_rate_init']}, batches of {NN_PARAMS['batch_size']}, "
        f"{NN_PARAMS['max_iter']} epochs (`partial_fit` epoch by epoch), not the authors' "
        "PyTorch network and training schedule.",
        "- **FLORAL settings**: the runner's default is floral demo's "
        f"`{', '.join(f'{k}={v!r}' for k, v in FLORAL_PARAMS.items())}` with a constant "
        "step size; the paper decays the step x0.1 every 100 rounds (run above as a "
        "supplement) with learning rates of 1e-4..1e-3 and 500..1000 rounds. FLORAL's own "
        "attacker budget k is 5% of n in every setting; the paper reports k between 5% and "
        "25% of n, and which k each Table 1 cell used is not reproduced here. FLORAL's "
        "classifier in a round uses that round's attacked labels "
        "(DESIGN.md), so its Last is the model right after an attacker move.",
        "- **Defenses** (LN-SVM, Curie, LS-SVM, K-LID) are floral's implementations "
        "(`floral.defenses`) with their default parameters, not tuned per setting; the "
        "paper's hyperparameters for them are not all stated.",
        "- **Attack**: floral's `alfa_tilt` (10 random-SVM trials, beta1 = beta2 = 1, "
        "seeded by the run's seed) on the standardised training split, C = 10, gamma = 1. "
        "The paper generated its alfa-tilt labels with the authors' code; its trials and "
        "random draws need not match ours.",
        "- **Data**: make_moons(2000, noise=0.2) drawn anew per seed and split 500 / 500 / "
        "1000 (stratified) as in the paper, but standardised on the training split only "
        "(the paper standardised all 2,000 points); the authors' fixed data file "
        "(seed 42) is not used.",
        f"- **Seeds**: {n} seeds, mean ± sample std (ddof = 1); the paper's numbers are "
        "single values without a spread.",
    ]


if __name__ == "__main__":
    sys.exit(main())
