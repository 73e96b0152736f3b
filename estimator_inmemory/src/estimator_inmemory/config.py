"""The configuration estimator_inmemory owns: one dataclass per config group, each field's
default, type and check in one place.

The dataclasses are Hydra structured configs, stored in Hydra's ConfigStore under the
group and option names a project's `train.yaml` chooses (`trainer: default`,
`evaluator: in_memory` or `checkpoint`, `runtime: default`), so Hydra checks each value's
type and refuses unknown keys when it composes the config, and `settings(cfg)` turns the
composed config into these objects, whose `__post_init__` checks every value: once, before
TensorFlow is imported. From there the objects go straight to the code that uses them:
`evaluator.every_n_iter` is read from `InMemoryEvaluator` by `training.train` and handed
to the hook. The `model` and `data` groups are a project's own (its model builders and
dataset loaders read them).

No TensorFlow here: a config error answers in well under a second. (No `from __future__ import
annotations` either: OmegaConf reads these annotations at run time, on Python 3.9 too, so they
are written as `Optional[...]`.)
"""

import numbers
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

from .errors import ConfigError, ScheduleError, UnknownKeyError

EXPORTS = ("best", "last", "both", "none")
# The groups a project's own YAML declares (conf/<group>/<option>.yaml): their keys are what
# its model builders and dataset loaders read.
PROJECT_GROUPS = ("model", "data")
MODES = ("auto", "max", "min")


class _Checks:
    """Collects what is wrong with a group's values, to report them all in one error."""

    def __init__(self, group: str, values):
        self.group, self.values, self.problems = group, values, []

    def need(self, ok: bool, key: str, what: str) -> None:
        if not ok:
            value = getattr(self.values, key)
            self.problems.append(f"{self.group}.{key} must be {what}, got {value!r}")

    def positive_int(self, key: str, *, optional: bool = False) -> None:
        value = getattr(self.values, key)
        if optional and value is None:
            return
        ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        self.need(ok, key, ("null or " if optional else "") + "a positive integer")

    def seconds(self, key: str) -> None:
        value = getattr(self.values, key)
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value >= 0
        self.need(ok, key, "a number of seconds >= 0")

    def raise_problems(self) -> None:
        if self.problems:
            raise _invalid(self.problems)


def _invalid(problems: list[str]) -> ConfigError:
    """One ConfigError for all `problems` (kept as `.problems`, so settings() can join groups)."""
    error = ConfigError("invalid config: " + "; ".join(problems))
    error.problems = list(problems)
    return error


@dataclass
class Trainer:
    """How long and how the model trains (conf group `trainer`, option `default`)."""

    max_steps: int = 1000
    batch_size: int = 32
    learning_rate: float = 0.05  # read by the project's model builders
    seed: int = 42
    save_checkpoints_steps: int = 500
    keep_checkpoint_max: int = 3
    log_step_count_steps: int = 100
    # The SavedModel(s) written at the end, into model_dir/export/<which>/<timestamp>/:
    # best (the best evaluated weights), last (the final weights), both, or none.
    export: str = "best"

    def __post_init__(self):
        checks = _Checks("trainer", self)
        for key in (
            "max_steps",
            "batch_size",
            "save_checkpoints_steps",
            "keep_checkpoint_max",
            "log_step_count_steps",
        ):
            checks.positive_int(key)
        checks.need(self.learning_rate > 0, "learning_rate", "a positive number")
        checks.need(self.export in EXPORTS, "export", " or ".join(EXPORTS))
        checks.raise_problems()


@dataclass
class _Monitoring:
    """What decides "better": shared by both evaluators."""

    # null: the task's own metric, accuracy (classification) or average_loss (regression).
    monitor: Optional[str] = None
    mode: str = "auto"  # max, min, or auto: max for accuracy/auc/precision/recall, else min
    min_delta: float = 0.0  # an improvement must beat the best by more than this

    def _check_monitoring(self, checks: _Checks) -> None:
        checks.need(self.mode in MODES, "mode", " or ".join(MODES))
        checks.need(self.min_delta >= 0, "min_delta", "a number >= 0")


@dataclass
class InMemoryEvaluator(_Monitoring):
    """Evaluation while training, on the live weights (conf group `evaluator`, option
    `in_memory`): the InMemoryEvaluatorHook's arguments, and what the metrics drive."""

    kind: str = "in_memory"
    every_n_iter: Optional[int] = 100  # at the first step, each multiple of N, and the end
    every_n_secs: Optional[float] = None  # also when this many seconds passed since the last
    steps: Optional[int] = None  # eval batches per evaluation; null: the whole eval set
    name: Optional[str] = None  # null: summaries in model_dir/eval; else model_dir/eval_<name>
    batch_size: int = 256
    keep_best: int = 1  # how many best checkpoints model_dir/best/ keeps
    patience: Optional[int] = None  # stop after this many evaluations without improvement

    def __post_init__(self):
        from .guards import check_schedule

        checks = _Checks("evaluator", self)
        try:  # the hook's own rule, so the config and the hook never disagree
            check_schedule(self.every_n_iter, self.every_n_secs, self.steps, prefix="evaluator.")
        except ScheduleError as error:
            checks.problems.append(str(error))
        checks.positive_int("batch_size")
        checks.positive_int("keep_best")
        checks.positive_int("patience", optional=True)
        self._check_monitoring(checks)
        checks.raise_problems()


@dataclass
class CheckpointEvaluator(_Monitoring):
    """Evaluation of saved checkpoints by tf.estimator.train_and_evaluate, in this process
    or as a cluster's evaluator task (conf group `evaluator`, option `checkpoint`)."""

    kind: str = "checkpoint"
    throttle_secs: float = 10  # evaluate the newest checkpoint at most this often
    start_delay_secs: float = 0  # the evaluator task waits this long before its first
    steps: Optional[int] = None
    name: Optional[str] = None
    batch_size: int = 256
    keep_best: int = 1  # how many best SavedModels export/best/ keeps
    # On a cluster TensorFlow starts worker i (i+1)*5 s after the chief, at most this many
    # seconds later (null: its own cap, 60 s). 0: workers start at once.
    max_worker_delay_secs: Optional[int] = 0

    def __post_init__(self):
        checks = _Checks("evaluator", self)
        checks.seconds("throttle_secs")
        checks.seconds("start_delay_secs")
        checks.positive_int("steps", optional=True)
        checks.positive_int("batch_size")
        checks.positive_int("keep_best")
        delay = self.max_worker_delay_secs
        checks.need(delay is None or delay >= 0, "max_worker_delay_secs", "null or >= 0")
        self._check_monitoring(checks)
        checks.raise_problems()


@dataclass
class Runtime:
    """What the machine must have (conf group `runtime`, option `default`)."""

    require_gpu: bool = False  # true: stop before training when TensorFlow sees no GPU


# Where each schema is stored in Hydra's ConfigStore: (group, option).
OPTIONS = {
    ("trainer", "default"): Trainer,
    ("evaluator", "in_memory"): InMemoryEvaluator,
    ("evaluator", "checkpoint"): CheckpointEvaluator,
    ("runtime", "default"): Runtime,
}


def register() -> None:
    """Store the schemas in Hydra's ConfigStore (idempotent; done on import)."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for (group, name), node in OPTIONS.items():
        store.store(group=group, name=name, node=node)


@dataclass(frozen=True)
class Settings:
    """A composed config, checked: the library's groups as objects, the project's as given."""

    trainer: Trainer
    evaluator: Any  # InMemoryEvaluator or CheckpointEvaluator
    runtime: Runtime
    model: DictConfig
    data: DictConfig
    model_dir: Optional[str]


def settings(cfg: DictConfig) -> Settings:
    """Check every value of a composed config once; raise ConfigError naming each bad key.

    Works on a config Hydra composed from the schemas (typed) and on a plain one (e.g.
    OmegaConf.create(...) or a run's stored .hydra/config.yaml): each group is merged into
    its schema first, so a key the schema does not know is refused here too.
    """
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"no value given for {', '.join(missing)} (set e.g. {missing[0]}=...)")
    kind, schemas = _library_schemas(cfg)
    if schemas["evaluator"] is None:
        raise ConfigError(
            f"evaluator.kind={kind!r}: use evaluator=in_memory or evaluator=checkpoint"
        )
    for group in PROJECT_GROUPS:
        if not isinstance(OmegaConf.select(cfg, group), DictConfig) or "name" not in cfg[group]:
            raise ConfigError(f"the config has no {group}.name: choose one, e.g. {group}=...")
    problems, groups = [], {}  # every group is checked: all their problems in one error
    for group, schema in schemas.items():
        with _collect(problems):
            groups[group] = _typed(group, schema, cfg)
    with _collect(problems):
        check_model_keys(cfg.model)
    if problems:
        raise _invalid(problems)
    return Settings(**groups, model=cfg.model, data=cfg.data, model_dir=cfg.get("model_dir"))


def _library_schemas(cfg: DictConfig) -> tuple[str, dict]:
    """(evaluator.kind, the schema of each library group: trainer, evaluator, runtime); the
    evaluator's schema is None for an unknown kind."""
    kind = OmegaConf.select(cfg, "evaluator.kind", default="in_memory")
    return kind, {
        "trainer": Trainer,
        "evaluator": OPTIONS.get(("evaluator", kind)),
        "runtime": Runtime,
    }


@contextmanager
def _collect(problems: list[str]):
    """Add a ConfigError's problems to `problems` instead of raising it."""
    try:
        yield
    except ConfigError as error:
        problems.extend(getattr(error, "problems", [str(error)]))


def _typed(group: str, schema, cfg: DictConfig):
    from omegaconf.errors import OmegaConfBaseException

    node = OmegaConf.select(cfg, group)
    if node is None:
        raise ConfigError(f"the config has no {group} group: add `- {group}: ...` to its defaults")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), node)
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as error:
        known = ", ".join(f.name for f in fields(schema))
        # Named as Hydra names it (full_key: trainer.max_steps), not by the schema's own key.
        key = f"{group}.{error.full_key}" if getattr(error, "full_key", None) else group
        what = " ".join(str(getattr(error, "msg", None) or error).split())
        raise _invalid([f"{key}: {what} (the keys of {group}: {known})"]) from None


def check_model_keys(model: DictConfig) -> None:
    """The keys the shipped models share, where a model config has them: hidden_units, dropout."""
    checks = _Checks("model", model)
    if "hidden_units" in model:
        units = model.hidden_units
        checks.need(
            OmegaConf.is_list(units)
            and len(units) > 0
            and all(isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in units),
            "hidden_units",
            "a non-empty list of positive integers",
        )
    if "dropout" in model:
        dropout = model.dropout
        checks.need(
            dropout is None or (isinstance(dropout, numbers.Real) and 0 <= dropout < 1),
            "dropout",
            "null or a number in [0, 1)",
        )
    checks.raise_problems()


def check_known_keys(
    cfg: DictConfig, config_dir: Optional[str], choices: Optional[dict] = None
) -> None:
    """Refuse a key that no part of the project reads, naming the keys that exist.

    The library's groups (trainer, evaluator, runtime) read their schema's fields; a
    project's groups (model, data) the keys their chosen YAML option declares
    (`config_dir/<group>/<option>.yaml`; the option is `choices[group]`, Hydra's record of
    the command's choices, else the group's `name`); the top level, its groups and the
    keys of `train.yaml`. Hydra refuses `data.path=x` for a key the YAML lacks, and hints
    `+data.path=x`, which it then takes: this refuses that. Raises UnknownKeyError, listing
    for each unknown key the group's keys, closest first. No TensorFlow: it runs first.
    """
    import difflib
    import os

    problems = []

    def refuse(unknown: set, known: set, where: str, prefix: str = "") -> None:
        for key in sorted(unknown):
            ranked = difflib.get_close_matches(key, known, n=len(known), cutoff=0)
            problems.append(
                f"{prefix}{key} is not read by anything: the keys of {where} are, closest "
                f"first, {', '.join(ranked)}"
            )

    kind, schemas = _library_schemas(cfg)
    for group, schema in schemas.items():
        node = OmegaConf.select(cfg, group)
        if schema is None or not isinstance(node, DictConfig):
            continue
        known = {f.name for f in fields(schema)}
        label = f"{group} ({kind})" if group == "evaluator" else group
        refuse(set(node) - known, known, label, f"{group}.")
    if config_dir is not None:
        for group in PROJECT_GROUPS:
            node = OmegaConf.select(cfg, group)
            if not isinstance(node, DictConfig):
                continue
            option = (choices or {}).get(group) or node.get("name")
            path = os.path.join(config_dir, group, f"{option}.yaml")
            if not option or not os.path.isfile(path):
                continue  # an option from elsewhere (a search path, the ConfigStore)
            declared = OmegaConf.load(path)
            known = {str(k) for k in declared if k != "defaults"}
            where = f"{group} ({os.path.relpath(path, os.path.dirname(config_dir))})"
            refuse({str(k) for k in node} - known, known, where, f"{group}.")
        entry = os.path.join(config_dir, "train.yaml")
        if os.path.isfile(entry):
            train_yaml = OmegaConf.load(entry)
            known = {str(k) for k in train_yaml if k != "defaults"}
            for item in train_yaml.get("defaults", []):
                if isinstance(item, (dict, DictConfig)):
                    known |= {str(k).split("/")[-1].split("@")[0] for k in item}
            known -= {"hydra", "hparams_search", "override"}
            refuse({str(k) for k in cfg} - known, known, "the config (train.yaml)")
    if problems:
        raise UnknownKeyError(
            "; ".join(problems) + ". Check the spelling; a new key needs a line in the "
            "group's YAML and code that reads it"
        )


def to_container(settings_: Settings) -> dict:
    """The settings as plain data (for records and hyperparameters)."""
    from dataclasses import asdict

    return {
        "trainer": asdict(settings_.trainer),
        "evaluator": asdict(settings_.evaluator),
        "runtime": asdict(settings_.runtime),
        "model": OmegaConf.to_container(settings_.model, resolve=True),
        "data": OmegaConf.to_container(settings_.data, resolve=True),
    }


register()
