"""The ``floral`` command line: ``floral demo``, ``floral run``, ``floral attack``,
``floral audit``.

Every user error is reported as ``floral: error: argument OPTION: ...`` with exit status 2
and no traceback (argparse's convention), before any work is done: options are checked
against the same constraints the library validates with (floral._validation), input files
are read and checked, output paths are checked for writability. Ctrl-C stops any
subcommand with exit status 130.
"""
from ._demo import DEMO_KERNEL
from ._main import build_parser, main, run
from ._options import CLIError

__all__ = ["main", "run", "build_parser", "CLIError", "DEMO_KERNEL"]
