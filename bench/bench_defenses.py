"""Baseline defenses against SVC and FLORAL on Moon under 10% label poisoning.

The paper's Moon setting under alfa-tilt and top-k SV flips, through the experiment runner
(:func:`floral.experiments.run_grid`). Protocol and results: bench/README.md, "Baseline
defenses on Moon".

Usage: python bench/bench_defenses.py [--seeds 0 1 2] [--budget 0.1] [--quick]
Writes bench/results/defenses.{json,md}. Accuracies, never assertions.
"""
import time

import _common as common
from floral.experiments import FLORAL_PARAMS, Results, run_grid

ATTACKS = {"alfa_tilt": "alfa_tilt", "topk_sv": "topk_sv_flip"}
ATTACK_PARAMS = {"topk_sv": {"candidate_factor": 2.0}}
# (row, runner method, which of its scores)
ROWS = [("SVC", "svm", "model"), ("FLORAL Model", "floral", "model"),
        ("FLORAL Best", "floral", "best"), ("FLORAL Last", "floral", "last"),
        ("LNSVC", "ln-svm", "model"), ("CurieSVC", "curie", "model"),
        ("LabelSanitizedSVC", "ls-svm", "model"), ("KLIDSVC", "k-lid", "model")]
# Table 1 of the paper, alfa-tilt 10% (Best / Last)
PAPER_10PCT = {"SVC": ".910 / .886", "FLORAL Model": "—", "FLORAL Best": ".971",
               "FLORAL Last": ".928",
               "LNSVC": ".930 / .930", "CurieSVC": ".920 / .902",
               "LabelSanitizedSVC": ".898 / .896", "KLIDSVC": ".926 / .926"}


def main():
    parser = common.parser(__doc__, "defenses", "seed 0 only")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=0.1,
                        help="fraction of training labels the attacks flip (default 0.1)")
    args = common.parse(parser, seeds=[0])

    start = time.perf_counter()
    res = run_grid("moons", list(ATTACKS), [0, args.budget], sorted({m for _, m, _ in ROWS}),
                   args.seeds, n_jobs=1, C=10.0, gamma=1.0, attack_params=ATTACK_PARAMS)
    elapsed = time.perf_counter() - start
    common.results(args.out, markdown, {
        "command": common.command(), "seconds": elapsed, "machine": common.machine_info(),
        "seeds": args.seeds, "budget": args.budget, "floral": FLORAL_PARAMS,
        "attack_params": ATTACK_PARAMS, "paper_alfa_tilt_10pct": PAPER_10PCT,
        "records": list(res)})


def markdown(payload):
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
        rows.append([row, *cells, PAPER_10PCT[row]])
    lines = common.header(
        "Baseline defenses on Moon", payload["command"], payload["seconds"], payload["machine"],
        f"Attacks at {pct} of the training set; test accuracy, mean ± sample std over seeds "
        f"{', '.join(map(str, payload['seeds']))}; protocol: bench/README.md, \"Baseline defenses "
        "on Moon\". The paper's column is its Table 1 at alfa-tilt 10%.")
    lines += common.table(["method", *(s for _, s in settings),
                           "paper, alfa-tilt 10% (Best / Last)"], rows)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
