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
    p = sub.add_parser("demo", help="FLORAL vs SVC on the built-in Moon data (about 20 s)")
    p.add_argument("--seed", type=int, default=0, help="data and attack seed (default 0)")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args):
    raise CLIError("demo is not implemented yet")


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
