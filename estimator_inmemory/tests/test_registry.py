"""Registry: what `model.name` and `data.name` mean; a name nothing is registered under is a
ConfigError that lists what is."""

import pytest

from estimator_inmemory import ConfigError, EstimatorInMemoryError, Registry, training
from fixture_project.data import DATASETS
from fixture_project.model import MODELS
from helpers import compose_train


def test_register_keeps_the_function_under_its_name():
    models = Registry("model")

    @models.register("tiny")
    def tiny(model, trainer, data, config):
        return "built"

    assert tiny(None, None, None, None) == "built"  # the decorator returns the function itself
    assert models.get_for("tiny", "MODELS") is tiny
    assert dict(models) == {"tiny": tiny}


def test_an_unknown_name_lists_what_is_registered():
    with pytest.raises(ConfigError) as raised:
        MODELS.get_for("transformer", "MODELS")
    assert str(raised.value) == (
        "model.name='transformer' has nothing registered: register a function with "
        "@MODELS.register('transformer') (registered: dnn, linear, mlp)"
    )
    assert isinstance(raised.value, EstimatorInMemoryError)
    with pytest.raises(ConfigError, match=r"data.name='parquet' .*\(registered: csv, digits\)"):
        DATASETS.get_for("parquet", "DATASETS")


def test_an_empty_registry_says_so():
    with pytest.raises(ConfigError, match=r"\(nothing is registered in MODELS yet\)$"):
        Registry("model").get_for("dnn", "MODELS")


@pytest.mark.parametrize(
    "registry, default, expected",
    [
        (MODELS, "MODELS", MODELS),
        ("fixture_project.model:MODELS", "MODELS", MODELS),
        ("fixture_project.model", "MODELS", MODELS),  # the attribute defaults to the group's
        ("fixture_project.data", "DATASETS", DATASETS),
    ],
)
def test_a_registry_may_be_named_by_module_and_attribute(registry, default, expected):
    assert training.resolve(registry, default) is expected


def test_load_dataset_calls_the_loader_data_name_names():
    cfg = compose_train("data.eval_fraction=0.5")
    data = training.load_dataset(cfg.data, "fixture_project.data:DATASETS")
    assert (data.n_classes, len(data.eval_y)) == (10, 899)  # half of the 1797 digits
    with pytest.raises(ConfigError, match="data.name='nope' has nothing registered"):
        training.load_dataset(compose_train("data.name=nope").data, DATASETS)
