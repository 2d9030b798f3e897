"""The ``floral`` command line: ``floral demo``, ``floral run``, ``floral attack``.

Every subcommand reports bad input as ``floral: error: ...`` with exit code 2 and no
traceback (argparse's convention), so it can be scripted.
"""
import argparse
import sys

from ._version import __version__


class CLIError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""


# --- floral demo ---------------------------------------------------------------------

def _add_demo(sub):
    p = sub.add_parser(
        "demo", help="FLORAL vs SVC on the built-in Moon data under label poisoning (seconds)"
    )
    p.add_argument("--seed", type=int, default=0, help="data and attack seed (default 0)")
    p.set_defaults(func=_cmd_demo)


# FLORAL's settings in the demo: the paper's C, gamma and attacker budget (5% of n), with
# learning rate and rounds at the top of the ranges the paper reports (DESIGN.md).
DEMO_FLORAL = dict(C=10, gamma=1.0, flip_budget=0.05, learning_rate=1e-3, n_rounds=1000,
                   selection="best")


def _cmd_demo(args):
    import time

    from sklearn.svm import SVC

    from . import attacks
    from .datasets import load_moons
    from .svm import FloralSVC

    start = time.perf_counter()
    data = load_moons(random_state=args.seed)
    settings = [("clean", None, 0.0)]
    settings += [("top-k SV", "topk", b) for b in (0.10, 0.25)]
    settings += [("random", "random", b) for b in (0.10, 0.25)]
    print("floral demo: Moon, make_moons(2000, noise=0.2), 500 train / 500 validation / "
          "1000 test")
    print("training labels poisoned by an attack; test accuracy of SVC and FloralSVC "
          "(C=10, gamma=1)")
    print("FLORAL 'best' = round selected on the validation split, 'last' = final round\n")
    header = f"{'attack':<10} {'budget':>6}  {'SVC':>6}  {'FLORAL best':>11}  {'FLORAL last':>11}"
    print(header)
    print("-" * len(header))
    for name, kind, budget in settings:
        X, y = data.X_train, data.y_train
        if kind == "topk":
            y = attacks.topk_sv_flip(X, y, budget, C=10, kernel="rbf", gamma=1.0,
                                     candidate_factor=2.0, random_state=args.seed)
        elif kind == "random":
            y = attacks.random_flip(y, budget, random_state=args.seed)
        svc = SVC(C=10, gamma=1.0).fit(X, y).score(data.X_test, data.y_test)
        clf = FloralSVC(**DEMO_FLORAL, random_state=args.seed)
        clf.fit(X, y, eval_set=(data.X_val, data.y_val))
        best = clf.score(data.X_test, data.y_test)
        last = clf.last_round().score(data.X_test, data.y_test)
        print(f"{name:<10} {budget:>6.0%}  {svc:>6.3f}  {best:>11.3f}  {last:>11.3f}")
    print(f"\n({time.perf_counter() - start:.1f} s; `floral run --help` for full experiment grids)")
    return 0


# --- floral attack -------------------------------------------------------------------

def _add_attack(sub):
    p = sub.add_parser("attack", help="poison the labels of a dataset file")
    p.set_defaults(func=_cmd_attack)


def _cmd_attack(args):
    raise CLIError("attack is not implemented yet")


# --- floral run ----------------------------------------------------------------------

def _add_run(sub):
    p = sub.add_parser("run", help="run an attacks x defenses grid and print the paper table")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args):
    raise CLIError("run is not implemented yet")


# --- floral show-config ---------------------------------------------------------------

def _add_show_config(sub):
    p = sub.add_parser("show-config", help="version, compiler, OpenMP and threads")
    p.set_defaults(func=_cmd_show_config)


def _cmd_show_config(args):
    from ._config import show_config

    show_config()
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="floral",
        description="FLORAL adversarial training against label poisoning, attacks and defenses.",
    )
    parser.add_argument("--version", action="version", version=f"floral {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in (_add_demo, _add_run, _add_attack, _add_show_config):
        add(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        parser.exit(2, f"floral: error: {exc}\n")
    except KeyboardInterrupt:
        parser.exit(130, "floral: interrupted\n")


if __name__ == "__main__":
    sys.exit(main())
