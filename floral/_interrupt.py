"""Ctrl-C in training loops that call MLPClassifier.partial_fit (NN-PGD and the runner's
``nn`` and ``nn-pgd`` methods)."""
import warnings

__all__ = ["partial_fit_or_interrupt"]

# MLPClassifier catches a KeyboardInterrupt in its epoch loop and only warns with this
# message, so a Ctrl-C would end one epoch and training (or a grid) would go on.
_INTERRUPTED = "Training interrupted by user."


def partial_fit_or_interrupt(net, *args, **kwargs):
    """``net.partial_fit(*args, **kwargs)``, re-raising the KeyboardInterrupt that
    MLPClassifier turns into a warning; other warnings are passed on."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.partial_fit(*args, **kwargs)
    interrupted = False
    for w in caught:
        if str(w.message) == _INTERRUPTED:
            interrupted = True
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    if interrupted:
        raise KeyboardInterrupt
