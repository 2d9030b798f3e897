"""Warnings floral raises, so a caller can filter or escalate them by class
(``warnings.simplefilter("error", DegenerateModelWarning)``)."""

__all__ = ["FloralWarning", "DegenerateModelWarning", "IneffectiveParameterWarning"]


class FloralWarning(UserWarning):
    """Base class of floral's own warnings."""


class DegenerateModelWarning(FloralWarning):
    """The fitted model is no better than a constant: it predicts one class on the
    training points, or it scores no better than always predicting the most frequent
    class on the validation set (without one, on the training labels). Also raised when
    the best validation score of a fit is at chance, the sign of a validation set that is
    not in the training points' feature space (a pipeline that did not transform it)."""


class IneffectiveParameterWarning(FloralWarning):
    """A parameter was set to a value that cannot change the fitted model (for example
    a box constraint ``C`` above every dual variable the game reached)."""
