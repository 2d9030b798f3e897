"""``floral demo``: FLORAL vs SVC on the built-in Moon data."""

from ._options import _checked, _constraint

# --- floral demo ---------------------------------------------------------------------

# The demo runs the paper's Moon kernel (C=10, gamma=1) and FloralSVC with its defaults
# (floral.experiments.FLORAL_PARAMS), given the validation split.
DEMO_KERNEL = dict(C=10, gamma=1.0)


def _add_demo(sub):
    p = sub.add_parser(
        "demo", help="FLORAL vs SVC on the built-in Moon data under label poisoning (seconds)"
    )
    p.add_argument("--seed", type=_checked("--seed", _constraint("SEED")), default=0,
                   help="data and attack seed, an int >= 0 (default 0)")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args):
    import time

    from ..experiments import run_grid

    start = time.perf_counter()
    # a fixed instance of `floral run`: two cheap attacks, SVC and FLORAL, one seed
    results = run_grid(
        "moons", ["topk_sv", "random"], [0, 0.10, 0.25], ["svm", "floral"], [args.seed],
        **DEMO_KERNEL,
        attack_params={"topk_sv": {"candidate_factor": 2.0}},
    )
    print("floral demo: Moon, make_moons(2000, noise=0.2), 500 train / 500 validation / "
          "1000 test")
    print("training labels poisoned by an attack; test accuracy of SVC and FloralSVC "
          "(C=10, gamma=1)")
    print("FLORAL = the model FloralSVC returns (its 5 best rounds on the validation split); "
          "'last round' = the paper's Last, a random draw\n")
    header = f"{'attack':<10} {'budget':>6}  {'SVC':>6}  {'FLORAL':>6}  {'last round':>10}"
    print(header)
    print("-" * len(header))
    settings = dict.fromkeys((r["attack"], r["budget"]) for r in results)
    for attack, budget in settings:
        rec = {r["method"]: r for r in results
               if (r["attack"], r["budget"]) == (attack, budget)}
        name = "clean" if attack == "none" else attack
        print(f"{name:<10} {budget:>6.0%}  {rec['svm']['model_accuracy']:>6.3f}  "
              f"{rec['floral']['model_accuracy']:>6.3f}  {rec['floral']['last_accuracy']:>10.3f}")
    print(f"\n({time.perf_counter() - start:.1f} s; `floral run --help` for full experiment grids)")
    return 0
