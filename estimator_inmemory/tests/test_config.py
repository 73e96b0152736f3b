"""The config: Hydra composes it from the structured configs (types, unknown keys), and
`config.settings` checks every value once (ranges), before TensorFlow is imported."""

import json
import re
import textwrap

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from estimator_inmemory import ConfigError, EstimatorInMemoryError, config
from helpers import compose_train, run_python


def plain(cfg):
    """`cfg` as plain data, without its schemas: as OmegaConf.create or a YAML file gives it."""
    return OmegaConf.create(OmegaConf.to_yaml(cfg))


def test_defaults_compose_to_the_schemas_defaults():
    cfg = compose_train()
    assert (cfg.data.name, cfg.model.name) == ("digits", "dnn")
    assert cfg.model_dir is None
    checked = config.settings(cfg)
    # conf/ sets none of the library's keys: each default lives in its dataclass alone.
    assert checked.trainer == config.Trainer()
    assert checked.evaluator == config.InMemoryEvaluator()
    assert checked.runtime == config.Runtime()
    assert (checked.model.name, checked.data.name, checked.model_dir) == ("dnn", "digits", None)


@pytest.mark.parametrize(
    "group, option",
    [("model", "mlp"), ("model", "dnn"), ("model", "linear"), ("data", "csv"), ("data", "digits")],
)
def test_each_group_option_composes(group, option):
    cfg = compose_train(f"{group}={option}")
    assert cfg[group].name == option


@pytest.mark.parametrize(
    "option, schema",
    [("in_memory", config.InMemoryEvaluator), ("checkpoint", config.CheckpointEvaluator)],
)
def test_each_evaluator_option_is_its_schema(option, schema):
    cfg = compose_train(f"evaluator={option}")
    assert cfg.evaluator.kind == option
    assert config.settings(cfg).evaluator == schema()


def test_csv_data_requires_its_paths():
    cfg = compose_train("data=csv")
    assert OmegaConf.is_missing(cfg.data, "train_path")
    with pytest.raises(ConfigError, match=r"no value given for data\.eval_path, data\.train_path"):
        config.settings(cfg)


# (overrides, the key the error must name): the ranges config.settings checks.
BAD_VALUES = [
    (["trainer.max_steps=0"], "trainer.max_steps"),
    (["trainer.batch_size=-3"], "trainer.batch_size"),
    (["trainer.learning_rate=0"], "trainer.learning_rate"),
    (["trainer.save_checkpoints_steps=0"], "trainer.save_checkpoints_steps"),
    (["trainer.keep_checkpoint_max=0"], "trainer.keep_checkpoint_max"),
    (["trainer.log_step_count_steps=0"], "trainer.log_step_count_steps"),
    (["trainer.export=all"], "trainer.export"),
    (["evaluator.every_n_iter=0"], "evaluator.every_n_iter"),
    (["evaluator.every_n_secs=-1"], "evaluator.every_n_secs"),
    (["evaluator.steps=0"], "evaluator.steps"),
    (["evaluator.every_n_iter=null"], "evaluator.every_n_secs are both None"),
    (["evaluator.batch_size=0"], "evaluator.batch_size"),
    (["evaluator.keep_best=0"], "evaluator.keep_best"),
    (["evaluator.patience=0"], "evaluator.patience"),
    (["evaluator.mode=up"], "evaluator.mode"),
    (["evaluator.min_delta=-0.1"], "evaluator.min_delta"),
    (["evaluator=checkpoint", "evaluator.throttle_secs=-1"], "evaluator.throttle_secs"),
    (["evaluator=checkpoint", "evaluator.start_delay_secs=-1"], "evaluator.start_delay_secs"),
    (["evaluator=checkpoint", "evaluator.steps=0"], "evaluator.steps"),
    (["evaluator=checkpoint", "evaluator.keep_best=0"], "evaluator.keep_best"),
    (["evaluator=checkpoint", "evaluator.batch_size=0"], "evaluator.batch_size"),
    (["evaluator=checkpoint", "evaluator.max_worker_delay_secs=-1"], "evaluator.max_worker_delay"),
    (["evaluator=checkpoint", "evaluator.mode=up"], "evaluator.mode"),
    (["model.hidden_units=[]"], "model.hidden_units"),
    (["model.hidden_units=[16,0]"], "model.hidden_units"),
    (["model.hidden_units=16"], "model.hidden_units"),
    (["model.dropout=1.5"], "model.dropout"),
]


@pytest.mark.parametrize("overrides, key", BAD_VALUES, ids=[" ".join(o) for o, _ in BAD_VALUES])
def test_settings_names_the_bad_key(overrides, key):
    cfg = compose_train(*overrides)
    with pytest.raises(ConfigError, match=re.escape(key)) as raised:
        config.settings(cfg)
    assert str(raised.value).startswith("invalid config: ")
    assert isinstance(raised.value, EstimatorInMemoryError)
    # A plain config (a notebook's OmegaConf.create, a run's stored .hydra/config.yaml) is
    # checked the same way, word for word.
    with pytest.raises(ConfigError) as from_plain:
        config.settings(plain(cfg))
    assert str(from_plain.value) == str(raised.value)


def test_time_only_schedule_is_accepted_as_the_hook_accepts_it():
    # One rule for the schedule (guards.check_schedule), used by the config and the hook.
    checked = config.settings(
        compose_train("evaluator.every_n_iter=null", "evaluator.every_n_secs=30")
    )
    assert (checked.evaluator.every_n_iter, checked.evaluator.every_n_secs) == (None, 30.0)


def test_every_problem_is_reported_at_once():
    cfg = compose_train(
        "trainer.max_steps=0",
        "trainer.batch_size=-3",
        "evaluator.batch_size=0",
        "evaluator.mode=up",
        "model.dropout=1.5",
    )
    for checked in (cfg, plain(cfg)):
        with pytest.raises(ConfigError) as raised:
            config.settings(checked)
        message = str(raised.value)
        assert message.startswith("invalid config: ")
        for key in (
            "trainer.max_steps",
            "trainer.batch_size",
            "evaluator.batch_size",
            "evaluator.mode",
            "model.dropout",
        ):
            assert key in message, message


# (overrides, key, schema): what Hydra refuses while it composes, naming key and schema.
REFUSED_AT_COMPOSITION = [
    (["trainer.max_steps=abc"], "trainer.max_steps", "Trainer"),
    (["trainer.seed=1.5"], "trainer.seed", "Trainer"),
    (["trainer.max_stepz=5"], "trainer.max_stepz", "Trainer"),
    (["evaluator.every_n_itr=3"], "evaluator.every_n_itr", "InMemoryEvaluator"),
    (["evaluator.steps=2.5"], "evaluator.steps", "InMemoryEvaluator"),
    (["evaluator=checkpoint", "evaluator.every_n_iter=5"], "evaluator.every_n_iter",
     "CheckpointEvaluator"),
    (["runtime.require_gpu=maybe"], "runtime.require_gpu", "Runtime"),
]  # fmt: skip


@pytest.mark.parametrize(
    "overrides, key, schema", REFUSED_AT_COMPOSITION, ids=[k for _, k, _ in REFUSED_AT_COMPOSITION]
)
def test_a_bad_type_or_an_unknown_key_is_refused_when_hydra_composes(overrides, key, schema):
    with pytest.raises(ConfigCompositionException) as raised:
        compose_train(*overrides)
    assert key in str(raised.value)
    assert f"full_key: {key}" in str(raised.value.__cause__)
    assert f"object_type={schema}" in str(raised.value.__cause__)


# (key, value): what a plain config can hold that a composed one cannot.
BAD_PLAIN_VALUES = [
    ("trainer.max_steps", "abc"),
    ("trainer.seed", 1.5),
    ("trainer.max_stepz", 5),
    ("evaluator.every_n_itr", 3),
    ("evaluator.steps", 2.5),
    ("runtime.require_gpu", "maybe"),
]


@pytest.mark.parametrize("key, value", BAD_PLAIN_VALUES, ids=[k for k, _ in BAD_PLAIN_VALUES])
def test_a_plain_config_is_refused_as_hydra_refuses_it(key, value):
    cfg = plain(compose_train())
    OmegaConf.update(cfg, key, value)
    group = key.split(".")[0]
    with pytest.raises(ConfigError) as raised:
        config.settings(cfg)
    message = str(raised.value)
    assert key in message, message
    assert f"(the keys of {group}: " in message  # and says which keys there are


def test_a_stored_run_config_gives_the_settings_of_the_composed_one(tmp_path):
    overrides = ("evaluator=checkpoint", "evaluator.throttle_secs=0", "model=mlp")
    cfg = compose_train(*overrides)
    # As Hydra records a run's config (hydra.core.utils._save_config), and runs.prepare reads it.
    stored = tmp_path / ".hydra" / "config.yaml"
    stored.parent.mkdir()
    stored.write_text(OmegaConf.to_yaml(cfg))
    assert config.settings(OmegaConf.create(stored.read_text())) == config.settings(cfg)
    stored.write_text(stored.read_text().replace("throttle_secs: 0", "throttle_secs: -1"))
    with pytest.raises(ConfigError, match=r"evaluator\.throttle_secs must be a number of sec"):
        config.settings(OmegaConf.create(stored.read_text()))


def test_a_partial_plain_config_gets_the_schemas_defaults():
    cfg = OmegaConf.create(
        {
            "trainer": {"max_steps": 10, "learning_rate": 1},
            "evaluator": {"every_n_iter": 5},
            "runtime": {},
            "model": {"name": "linear"},
            "data": {"name": "digits"},
        }
    )
    checked = config.settings(cfg)
    assert checked.trainer == config.Trainer(max_steps=10, learning_rate=1.0)
    assert checked.evaluator == config.InMemoryEvaluator(every_n_iter=5)
    assert checked.model_dir is None


def test_an_integer_learning_rate_becomes_a_float():
    cfg = compose_train("trainer.learning_rate=1")
    assert cfg.trainer.learning_rate == 1.0 and isinstance(cfg.trainer.learning_rate, float)
    checked = config.settings(cfg).trainer.learning_rate
    assert checked == 1.0 and isinstance(checked, float)


@pytest.mark.parametrize("kind", ["foo", "checkpoint"])
def test_an_evaluator_kind_that_is_not_its_options_is_refused(kind):
    # foo: no such schema; checkpoint: the in_memory option's keys are not the checkpoint's.
    cfg = compose_train(f"evaluator.kind={kind}")
    for checked in (cfg, plain(cfg)):
        with pytest.raises(ConfigError, match="evaluator") as raised:
            config.settings(checked)
        if kind == "foo":
            assert "evaluator.kind='foo': use evaluator=in_memory or evaluator=checkpoint" in str(
                raised.value
            )
        else:
            assert "every_n_iter" in str(raised.value)


@pytest.mark.parametrize(
    "remove, message",
    [
        ("runtime", "the config has no runtime group"),
        ("trainer", "the config has no trainer group"),
        ("model.name", "the config has no model.name"),
        ("data", "the config has no data.name"),
    ],
)
def test_a_missing_group_or_name_is_named(remove, message):
    cfg = plain(compose_train())
    parent, _, key = remove.rpartition(".")
    (OmegaConf.select(cfg, parent) if parent else cfg).pop(key)
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.settings(cfg)


@pytest.mark.parametrize(
    "model",
    [{"name": "linear"}, {"name": "dnn", "hidden_units": [8], "dropout": None}, {"dropout": 0}],
)
def test_model_keys_are_checked_only_where_a_model_has_them(model):
    config.check_model_keys(OmegaConf.create(model))


def test_a_config_error_answers_without_tensorflow_in_a_fresh_process():
    """Importing the library, composing and checking a bad config import no TensorFlow, and
    take well under a second of this process's CPU (TensorFlow's import alone takes several)."""
    script = textwrap.dedent(
        """
        import json, sys, time

        start = time.process_time()
        import estimator_inmemory
        from estimator_inmemory import ConfigError, config
        from omegaconf import OmegaConf
        from fixture_project.train import project

        said = []
        for cfg in (
            OmegaConf.create({"trainer": {"max_steps": 0}, "evaluator": {}, "runtime": {},
                              "model": {"name": "linear"}, "data": {"name": "digits"}}),
            project.compose("evaluator.every_n_iter=0"),
        ):
            try:
                config.settings(cfg)
            except ConfigError as error:
                said.append(str(error))
        heavy = ("tensorflow", "tensorflow_estimator", "keras", "matplotlib", "sklearn")
        print(json.dumps({
            "said": said,
            "cpu_seconds": time.process_time() - start,
            "imported": sorted({m.split(".")[0] for m in sys.modules} & set(heavy)),
        }))
        """
    )
    result = run_python(script)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["imported"] == []
    assert len(report["said"]) == 2
    assert "trainer.max_steps must be a positive integer" in report["said"][0]
    assert "evaluator.every_n_iter must be a positive integer" in report["said"][1]
    assert report["cpu_seconds"] < 1.0, report
