"""floral: FLORAL adversarial training for kernel SVMs under label poisoning.

FLORAL (Flipping Labels for Adversarial Learning; Bal, Cevher & Muehlebach, ICLR 2025)
trains a kernel SVM as the leader of a Stackelberg game against an attacker that flips the
labels of the most influential support vectors. The package also ships the label-flip
attacks used to evaluate defenses (``floral.attacks``), the baseline defenses the paper
compares with (``floral.defenses``), datasets (``floral.datasets``), an experiment runner
(``floral.experiments``) and a label audit that flags the training labels the robust model
contradicts (``floral.audit``).

The estimator and the compiled core are imported on first use, so ``import floral`` stays
cheap and the pure-Python modules import even where the extension is being rebuilt.
"""
import importlib

from ._version import __version__

_LAZY = {
    "FloralSVC": "floral.svm",
    "show_config": "floral._config",
}
_SUBMODULES = {"attacks", "audit", "defenses", "datasets", "exceptions", "experiments",
               "model_selection", "plotting", "svm", "cli"}

__all__ = ["FloralSVC", "show_config", "__version__", *sorted(_SUBMODULES)]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"floral.{name}")
    raise AttributeError(f"module 'floral' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
