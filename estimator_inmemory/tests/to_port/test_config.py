"""The Hydra config tree composes, and bad values are rejected before training."""

import pytest
from helpers import compose_train
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }}.config import check_config
from {{ cookiecutter.package_name }}.errors import ConfigError


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
        ("evaluator.every_n_iter=null", "evaluator.every_n_secs are both None"),
        ("model.hidden_units=[]", "model.hidden_units"),
        ("model.dropout=1.5", "model.dropout"),
        ("data.eval_fraction=1", "data.eval_fraction"),
    ],
)
def test_check_config_names_the_bad_key(override, key):
    with pytest.raises(ConfigError, match=key):
        check_config(compose_train(override))


def test_time_only_schedule_is_accepted_as_the_hook_accepts_it():
    # One rule for the schedule (inmemory.check_schedule), used by the config and the hook.
    check_config(compose_train("evaluator.every_n_iter=null", "evaluator.every_n_secs=30"))
