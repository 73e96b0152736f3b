"""The Hydra config tree composes, and bad values are rejected before training."""

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }}.config import ConfigError, check_config, config_dir


def compose_train(*overrides):
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        return compose(config_name="train", overrides=list(overrides))


def test_defaults_compose_to_a_valid_config():
    cfg = compose_train()
    assert (cfg.data.name, cfg.model.name) == ("digits", "dnn")
    assert cfg.model_dir is None
    assert cfg.evaluator.every_n_iter > 0 and cfg.trainer.max_steps > 0
    check_config(cfg)


@pytest.mark.parametrize("group, option", [("model", "custom"), ("model", "dnn"), ("data", "csv")])
def test_each_group_option_composes(group, option):
    cfg = compose_train(f"{group}={option}")
    assert cfg[group].name == option


def test_csv_data_requires_its_paths():
    cfg = compose_train("data=csv")
    assert OmegaConf.is_missing(cfg.data, "train_path")


@pytest.mark.parametrize(
    "override, key",
    [
        ("trainer.max_steps=0", "trainer.max_steps"),
        ("trainer.batch_size=-3", "trainer.batch_size"),
        ("trainer.learning_rate=0", "trainer.learning_rate"),
        ("evaluator.every_n_iter=0", "evaluator.every_n_iter"),
        ("evaluator.steps=2.5", "evaluator.steps"),
        ("model.hidden_units=[]", "model.hidden_units"),
        ("model.dropout=1.5", "model.dropout"),
        ("data.eval_fraction=1", "data.eval_fraction"),
    ],
)
def test_check_config_names_the_bad_key(override, key):
    with pytest.raises(ConfigError, match=key):
        check_config(compose_train(override))
