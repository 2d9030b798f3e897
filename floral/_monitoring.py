"""Run monitoring for FloralSVC: progress and Ctrl-C while the core runs, and the
warnings that read the finished run (divergence, the dual's equality constraint)."""
import sys
import threading
import time

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._validation import warn_caller

__all__ = ["Monitor", "check_dual_equality", "interruptible", "warn_if_diverged"]

# Divergence: within some window of this many rounds, at least ASCENT_FRACTION of the
# steps raised the objective they descend (a step below 2 / lambda_max(K) cannot, from a
# feasible point) while the objective stayed above its value at lambda = 0 in most of them.
# Both are needed: the attacker's relabelling leaves lambda off the new labels'
# hyperplane, so stable runs show isolated rises (most in one-vs-rest games, where a
# relabelling touches two problems), and init="svc" starts far below 0 where the
# attacker's moves can push the objective above it without any instability.
ASCENT_WINDOW = 50
ASCENT_FRACTION = 0.4
# check_dual_equality: the kept model's |sum(dual_coef_)| / (1 + sum|dual_coef_|) above
# this warns (every round's projection is exact to 1e-9 of that)
EQUALITY_RTOL = 1e-6


def interruptible(fn, *args, **kwargs):
    """fn(*args, **kwargs) in a worker thread, waited for in short slices, so that Ctrl-C
    raises KeyboardInterrupt here at once even while fn runs C code that releases the GIL
    and never checks for signals (libsvm). After an interrupt the worker finishes on its
    own (fn must be bounded) and its result is dropped."""
    out = {}

    def work():
        try:
            out["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the caller's thread
            out["error"] = exc

    worker = threading.Thread(target=work, name="floral-init", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.05)
    if "error" in out:
        raise out["error"]
    return out["value"]


class Monitor:
    """The callback the core calls about every 0.2 s: progress and Ctrl-C."""

    def __init__(self, est):
        self.est = est
        self.verbose = int(est.verbose)
        self.start = time.perf_counter()
        self.last_print = -np.inf

    def __call__(self, reason, rnd, objective, accuracy):
        if self.verbose:
            now = time.perf_counter()
            if now - self.last_print >= 1.0:
                self.last_print = now
                rate = rnd / max(now - self.start, 1e-9)
                msg = (f"[FloralSVC] round {rnd}/{self.est.n_rounds}  "
                       f"objective {objective:.6g}")
                if accuracy == accuracy:
                    msg += f"  val acc {accuracy:.4f}"
                msg += f"  ({rate:.0f} rounds/s)"
                print(msg, file=sys.stderr, flush=True)
        return 0

    def close(self, rounds_run):
        if self.verbose:
            elapsed = time.perf_counter() - self.start
            msg = f"[FloralSVC] done: {rounds_run} rounds in {elapsed:.2f} s"
            print(msg, file=sys.stderr, flush=True)


def warn_if_diverged(est):
    obj = est.history_["objective"]
    window = min(ASCENT_WINDOW, obj.size)
    diverged = not np.all(np.isfinite(obj))
    if not diverged and window > 0:
        kernel = np.ones(window)
        rose = np.convolve(est.history_["ascent"] > 0, kernel, mode="valid")
        above = np.convolve(obj > 0, kernel, mode="valid")
        diverged = bool(np.any((rose >= ASCENT_FRACTION * window)
                               & (above >= 0.5 * window)))
    if diverged:
        warn_caller(
            f"FloralSVC diverged: with learning_rate={est.learning_rate!r} (initial step "
            f"{est.learning_rate_:.3g}) projected gradient descent raised its objective "
            f"in most rounds of a window of {window}, above its value at the start. The "
            "step must stay below 2 / lambda_max, the kernel matrix's largest eigenvalue "
            "(scaled by the weights when they differ), which grows with the number of "
            'samples; use learning_rate="auto" or a smaller learning_rate.',
            ConvergenceWarning,
        )


def check_dual_equality(est, worst):
    """Warn when the kept model broke the dual's equality constraint
    sum_i y~_i lam_i = 0 by ``worst`` (relative, see _assembly.equality_gap). Each
    round's projection holds it to 1e-9 relative; with steps far beyond 2 / lambda_max(K)
    the projected point's breakpoints round together and it can fail by percents
    (tests/test_properties.py, test_projection_huge_v_against_narrow_box)."""
    if worst > EQUALITY_RTOL:
        warn_caller(
            f"FloralSVC's model breaks the SVM dual's equality constraint: "
            f"|sum(dual_coef_)| is {worst:.2g} of sum(|dual_coef_|) (the projection "
            f"holds it to 1e-9). The step size (learning_rate={est.learning_rate!r}, "
            f"initial step {est.learning_rate_:.3g}) is far too large for this "
            'kernel; use learning_rate="auto" or a smaller learning_rate.',
            ConvergenceWarning,
        )
