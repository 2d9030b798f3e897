"""Ctrl-C sent to this very process, for the tests of what a fit keeps when interrupted.

A test that waits for its own SIGINT to end a long fit hangs for hours if the signal never
becomes a KeyboardInterrupt (a handler another test or plugin left installed, or a signal
that arrived while one was). ``ctrl_c_after`` makes sure Python's default handler is the one
installed while it runs and sends a second SIGINT well after the first: a lost first signal
then ends the test as a failure within seconds instead of hanging the suite.
"""
import contextlib
import os
import signal
import threading
import time

SECOND_CHANCE_S = 20.0


@contextlib.contextmanager
def ctrl_c_after(seconds):
    """Send SIGINT to this process ``seconds`` after entering; yield a dict whose
    ``"elapsed"`` (seconds from entering to leaving) the test can check against the second
    signal's time (``SECOND_CHANCE_S`` later)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timers = [threading.Timer(t, os.kill, args=(os.getpid(), signal.SIGINT))
              for t in (seconds, seconds + SECOND_CHANCE_S)]
    info = {}
    start = time.monotonic()
    for timer in timers:
        timer.start()
    try:
        yield info
    finally:
        info["elapsed"] = time.monotonic() - start
        for timer in timers:
            timer.cancel()
        signal.signal(signal.SIGINT, previous)


def first_signal_ended_it(info, seconds):
    """True when what ended the block was the first SIGINT, not the second chance."""
    return info["elapsed"] < seconds + SECOND_CHANCE_S
