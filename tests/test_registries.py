"""The runner's method registry decides how a method is trained, and the command line's
help and options are built from the registries (methods, attacks, datasets, kernels)."""
import inspect

import pytest

from floral import attacks, cli, experiments
from floral._kernels import KERNELS
from floral.experiments import (
    NN_PARAMS,
    _execution,
    _methods,
    available_datasets,
    available_methods,
    run_grid,
)


def test_every_method_entry_names_a_training_the_runner_has():
    for name in available_methods():
        entry = _methods.method_entry(name)
        assert entry.training in _execution._TRAINING
        assert (entry.training is None) == (entry.length is None)
        if entry.length is not None:
            cls = type(experiments.make_method(name))
            assert entry.length in inspect.signature(cls).parameters


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_registry_entry_not_the_estimators_class_says_how_it_is_trained(monkeypatch):
    # the network of "nn", registered as a single fit: Model, Best and Last are one model
    once = _methods.Method("sklearn.neural_network:MLPClassifier", "MLP once",
                           dict(NN_PARAMS, max_iter=4))
    monkeypatch.setitem(_methods._METHODS, "mlp-once", once)
    res = run_grid("moons", "random", [0], ["mlp-once", "nn"], seeds=1,
                   method_params={"nn": {"max_iter": 4}})
    rec = {r["method"]: r for r in res}
    assert rec["mlp-once"]["best_round"] is None
    assert (rec["mlp-once"]["model_accuracy"] == rec["mlp-once"]["best_accuracy"]
            == rec["mlp-once"]["last_accuracy"])
    assert 1 <= rec["nn"]["best_round"] <= 4  # the same class, trained epoch by epoch
    assert rec["nn"]["model_accuracy"] == rec["nn"]["best_accuracy"]


def _help(command, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "1000")  # one line per option: no wrapping inside names
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    return capsys.readouterr().out


def test_run_help_lists_the_registries(monkeypatch, capsys):
    text = _help("run", monkeypatch, capsys)
    assert f"methods ({', '.join(available_methods())}) or all" in text
    for name in available_datasets():
        assert name in text.split("--dataset")[2].split("--label")[0]
    attack_help = text.split("--attack NAME [NAME ...]")[2].split("--budget")[0]
    for name in attacks.available():
        assert name in attack_help
    assert "FLORAL rounds" in text and "NN and NN-PGD epochs" in text


def test_attack_and_audit_help_list_the_registries(monkeypatch, capsys):
    text = _help("attack", monkeypatch, capsys)
    multiclass = [n for n in attacks.available() if attacks.supports_multiclass(n)]
    assert ", ".join(attacks.available()[:-1]) + " or " + attacks.available()[-1] in text
    assert " and ".join(multiclass) + " take more than two classes" in text
    for command in ("attack", "audit"):
        text = _help(command, monkeypatch, capsys)
        assert "SVM kernel: " + ", ".join(list(KERNELS)[:-1]) + " or " in text


def test_rounds_and_epochs_set_the_length_of_the_methods_the_registry_trains(monkeypatch):
    seen = {}

    def plan_grid(*args, **kwargs):
        seen.update(kwargs["method_params"])
        raise experiments.PlanError("stopped here", "datasets")

    monkeypatch.setattr(experiments, "plan_grid", plan_grid)
    assert cli.main(["run", "--rounds", "7", "--epochs", "3", "--quiet"]) == 2
    expected = {name: {_methods.method_entry(name).length: 7}
                for name in _methods.methods_trained_by("rounds")}
    expected.update({name: {_methods.method_entry(name).length: 3}
                     for name in _methods.methods_trained_by("epochs")})
    assert seen == expected == {"floral": {"n_rounds": 7}, "nn": {"max_iter": 3},
                                "nn-pgd": {"max_iter": 3}}
