"""Option values checked as the library checks them, and help texts read from the
registries."""
import argparse
import os
import sys
import tempfile


class CLIError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""

    def __init__(self, message, option=None):
        super().__init__(f"argument {option}: {message}" if option else message)


class _Parser(argparse.ArgumentParser):
    """argparse with one prefix for every error, subcommands included."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"floral: error: {message}\n")


# --- option values, checked as the library checks them -----------------------------------

def _number(text):
    """An int if the text is one, else a float, else the text (for the error message)."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _gamma(text):
    return text if text in ("scale", "auto") else _number(text)


def _checked(option, constraints, convert=_number):
    """An argparse type: convert the text, then hold it to the shared constraints."""
    from .._validation import check_option, describe

    def parse(text):
        try:
            value = convert(text)
            check_option(value, option, constraints, "floral")
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(
                f"must be {describe(constraints)}, got {text!r}") from None
        return value

    return parse


def _constraint(name):
    from .. import _validation

    return getattr(_validation, name)


def _attack_name(text):
    from ..attacks import available, canonical_name

    try:
        return canonical_name(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown attack {text!r}; choose one of: {', '.join(available())}") from None


def _grid_attack_name(text):
    """An attack of `floral run`, where "none" (or "clean") is the clean setting."""
    return "none" if text.strip().lower() in ("none", "clean") else _attack_name(text)


def _writable_dir(path, option):
    """Refuse a directory that does not exist or cannot take a new file."""
    if not os.path.isdir(path):
        raise CLIError(f"{path or '.'} is not an existing directory", option)
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise CLIError(f"cannot write in {path or '.'}: {exc.strerror or exc}", option) \
            from None


def _separator(text):
    """--sep: one character; "\\t" and "tab" spell a tab."""
    sep = {"\\t": "\t", "tab": "\t"}.get(text.lower(), text)
    if len(sep) != 1 or sep in "\"\r\n":
        raise argparse.ArgumentTypeError(
            f"must be one character other than a quote or a line break (\\t or tab for "
            f"a tab), got {text!r}")
    return sep


# --- help texts, read from the registries -------------------------------------------------

def _listing(names, last="or"):
    """``"a, b or c"``."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}"


def _attack_names():
    """(every attack, those that take more than two classes), from floral.attacks."""
    from ..attacks import available, supports_multiclass

    names = available()
    return names, [n for n in names if supports_multiclass(n)]


def _add_kernel_option(p):
    """--kernel: one of the kernel table's names (floral._kernels)."""
    from .._kernels import KERNELS

    p.add_argument("--kernel", type=_checked("--kernel", _constraint("KERNEL"), str),
                   default="rbf", help=f"SVM kernel: {_listing(KERNELS)} (default rbf)")


def _add_csv_options(p):
    """--label, --sep and --drop: how a .csv file is read."""
    p.add_argument("--label", default=None, help="label column of .csv files")
    p.add_argument("--sep", type=_separator, default=",",
                   help="field separator of .csv files, one character (default ','; "
                        "\\t or tab for a tab)")
    p.add_argument("--drop", nargs="+", default=None, metavar="COLUMN",
                   help="columns of .csv files that are neither features nor the label "
                        "(IDs, text). A first column without a name, which pandas' "
                        "DataFrame.to_csv writes for the index, is never a feature")
