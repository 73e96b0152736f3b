"""Where the Hydra configs live, the resolvers they use, and the checks a config must pass."""

from __future__ import annotations

import numbers
from datetime import datetime
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf

from .errors import ConfigError
from .inmemory import ScheduleError, check_schedule


def config_dir() -> Path:
    """The `conf/` folder: inside the installed package, else the project's own."""
    packaged = Path(__file__).parent / "conf"  # a wheel carries conf/ here
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "conf"


def claim_run_dir(root: str, pattern: str = "%Y-%m-%d/%H-%M-%S") -> str:
    """A folder no other run has: `root/<now as pattern>`, else with -2, -3, ..., created atomically.

    Hydra names run folders by the second, so two runs started in the same second (or in
    two containers sharing a volume) would share one folder, and so one model_dir. mkdir
    either creates the folder or fails because it exists, so exactly one run gets each.
    """
    path = Path(root) / datetime.now().strftime(pattern)
    for n in range(1, 10_000):
        candidate = path if n == 1 else path.with_name(f"{path.name}-{n}")
        try:
            candidate.mkdir(parents=True)
            return str(candidate)
        except FileExistsError:
            continue
    raise ConfigError(f"no free run folder next to {path}")


def record_subdir() -> str:
    """Where Hydra records this run's config: `.hydra`, unless the folder already has one.

    `hydra.run.dir=<an earlier run>` must not overwrite that run's record (its resume reads
    it): this attempt's record goes beside it instead.
    """
    from hydra.core.hydra_config import HydraConfig

    output_dir = Path(HydraConfig.get().runtime.output_dir)
    if (output_dir / ".hydra" / "config.yaml").exists():
        return f".hydra/attempt-{datetime.now():%Y-%m-%d_%H-%M-%S_%f}"
    return ".hydra"


# Used by conf/hydra/default.yaml. Cached: Hydra resolves the run folder more than once
# (and copies the cache into each sweep job), and each run must claim exactly one.
if not OmegaConf.has_resolver("unique_dir"):
    OmegaConf.register_new_resolver("unique_dir", claim_run_dir, use_cache=True)
if not OmegaConf.has_resolver("record_subdir"):
    OmegaConf.register_new_resolver("record_subdir", record_subdir, use_cache=True)


def check_config(cfg: DictConfig) -> None:
    """Reject unusable values before anything is read from or written to model_dir."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"no value given for {', '.join(missing)} (set e.g. {missing[0]}=...)")
    problems = []

    def need(ok: bool, key: str, what: str) -> None:
        if not ok:
            problems.append(f"{key} must be {what}, got {OmegaConf.select(cfg, key)!r}")

    def positive_int(key: str) -> None:
        value = OmegaConf.select(cfg, key)
        ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        need(ok, key, "a positive integer")

    def positive_number(key: str) -> None:
        value = OmegaConf.select(cfg, key)
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value > 0
        need(ok, key, "a positive number")

    for key in (
        "trainer.max_steps",
        "trainer.batch_size",
        "trainer.save_checkpoints_steps",
        "trainer.keep_checkpoint_max",
        "trainer.log_step_count_steps",
        "evaluator.batch_size",
    ):
        positive_int(key)
    if cfg.evaluator.kind == "checkpoint":
        for key in ("evaluator.throttle_secs", "evaluator.start_delay_secs"):
            value = OmegaConf.select(cfg, key)
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value >= 0
            need(ok, key, "a number of seconds >= 0")
        steps = cfg.evaluator.steps
        need(
            steps is None or (isinstance(steps, int) and not isinstance(steps, bool) and steps > 0),
            "evaluator.steps",
            "null or a positive integer",
        )
        positive_int("evaluator.keep_best")
        delay = cfg.evaluator.max_worker_delay_secs
        need(
            delay is None
            or (isinstance(delay, int) and not isinstance(delay, bool) and delay >= 0),
            "evaluator.max_worker_delay_secs",
            "null or a whole number of seconds >= 0",
        )
    else:
        try:  # the hook's own rule, so the config and the hook never disagree
            check_schedule(
                cfg.evaluator.every_n_iter,
                cfg.evaluator.every_n_secs,
                cfg.evaluator.steps,
                prefix="evaluator.",
            )
        except ScheduleError as error:
            problems.append(str(error))
    positive_number("trainer.learning_rate")
    need(isinstance(cfg.trainer.seed, int), "trainer.seed", "an integer")
    if "hidden_units" in cfg.model:  # the linear model has none
        units = cfg.model.hidden_units
        need(
            isinstance(units, ListConfig)
            and len(units) > 0
            and all(isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in units),
            "model.hidden_units",
            "a non-empty list of positive integers",
        )
    if "dropout" in cfg.model:
        dropout = cfg.model.dropout
        need(
            dropout is None or (isinstance(dropout, numbers.Real) and 0 <= dropout < 1),
            "model.dropout",
            "null or a number in [0, 1)",
        )
    need(isinstance(cfg.runtime.require_gpu, bool), "runtime.require_gpu", "true or false")
    if cfg.data.name == "digits":
        fraction = cfg.data.eval_fraction
        need(
            isinstance(fraction, numbers.Real) and 0 < fraction < 1,
            "data.eval_fraction",
            "a number between 0 and 1",
        )
    if "task" in cfg.data:
        need(
            cfg.data.task in ("classification", "regression"),
            "data.task",
            "classification or regression",
        )
    if problems:
        raise ConfigError("invalid config: " + "; ".join(problems))
