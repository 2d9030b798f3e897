"""The ``floral`` parser and entry point: every subcommand, Ctrl-C and the errors a user
sees."""
import signal
import sys
import threading

from .._version import __version__
from ._attack import _add_attack
from ._audit import _add_audit
from ._demo import _add_demo
from ._options import CLIError, _Parser
from ._run import _add_run
from ._show_config import _add_show_config


def build_parser():
    parser = _Parser(
        prog="floral",
        description="FLORAL adversarial training against label poisoning, attacks and defenses.",
    )
    parser.add_argument("--version", action="version", version=f"floral {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in (_add_demo, _add_run, _add_attack, _add_audit, _add_show_config):
        add(sub)
    return parser


class _SigintRecord:
    """While active, remember whether SIGINT arrived; otherwise behave as Python's default
    handler (raise KeyboardInterrupt where the interpreter next checks for signals).

    The KeyboardInterrupt does not always reach ``main``: a Ctrl-C landing while a compiled
    extension initialises (scikit-learn's KD-tree module, during the imports at the start of
    ``floral demo``) comes out as that module's ValueError. Whatever escapes after a SIGINT
    is its consequence, so ``main`` reports it as the interrupt. Installed only over the
    default handler in the main thread: a SIGINT the parent set to be ignored (``nohup``,
    ``&`` in a script) stays ignored, and an embedding application's handler is kept."""

    def __init__(self, process=False):
        self.received = False
        self.exiting = False  # main is returning 130 (set in its interrupt branch)
        self._process = process
        self._installed = False
        self._hook = None

    def _handle(self, signum, frame):
        self.received = True
        raise KeyboardInterrupt

    def _unraisable(self, unraisable):
        # Python drops an exception raised where it cannot propagate (importlib's module-lock
        # callback, during the core's first import) and prints it; our KeyboardInterrupt lost
        # that way is still the user's Ctrl-C, which main reports
        if self.received and issubclass(unraisable.exc_type, KeyboardInterrupt):
            return
        self._hook(unraisable)

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            signal.signal(signal.SIGINT, self._handle)
            self._hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
            self._installed = True
        return self

    def __exit__(self, *exc_info):
        if self._process and self.exiting:
            _forget_unhandled_interrupt()
        if self._installed:
            # the process is ending with status 130: a further (or still pending) SIGINT
            # during the interpreter's shutdown would end it by the signal instead, after
            # "floral: interrupted" was printed, so it is ignored from here on
            last = signal.SIG_IGN if self._process and self.exiting else signal.default_int_handler
            signal.signal(signal.SIGINT, last)
            sys.unraisablehook = self._hook
        return False


def run():
    """The process entry (the ``floral`` console script, ``python -m floral``): exits
    with :func:`main`'s status."""
    sys.exit(main(_process=True))


def _forget_unhandled_interrupt():
    """Keep exit status 130 after an interrupt that ``main`` handled (the process is
    ending: ``_SigintRecord`` calls it only then).

    CPython records a KeyboardInterrupt that leaves any evaluation of source text (``exec``
    or ``eval`` of a string, which ``collections.namedtuple`` and ``dataclasses`` run while
    modules import) as unhandled, even when code further out catches it, and a process so
    marked kills itself with SIGINT once it has finalised. A Ctrl-C landing in such an
    evaluation during the imports at the start of a command therefore ended it by SIGINT
    after "floral: interrupted". Every evaluation of a string clears the record as it
    starts, so evaluating one here leaves the exit to ``sys.exit``."""
    exec("None")


def main(argv=None, *, _process=False):
    argv = sys.argv[1:] if argv is None else list(argv)
    with _SigintRecord(_process) as sigint:
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            args.argv = argv  # recorded in results.json by `floral run`
            status = int(args.func(args) or 0)
            if sigint.received:  # its KeyboardInterrupt was dropped (see _SigintRecord)
                raise KeyboardInterrupt
            return status
        except CLIError as exc:
            sys.stderr.write(f"floral: error: {exc}\n")
            return 2
        except MemoryError:
            # the estimates checked before the work began (file sizes, attack kernels)
            # cannot foresee every allocation; one that fails is the input's size
            sys.stderr.write("floral: error: out of memory: the data (or a kernel matrix "
                             "of it) is too large for this machine; use a subsample\n")
            return 2
        except BaseException as exc:
            if not (isinstance(exc, KeyboardInterrupt) or sigint.received):
                raise
            sigint.exiting = True
            sys.stderr.write("floral: interrupted\n")
            return 130
