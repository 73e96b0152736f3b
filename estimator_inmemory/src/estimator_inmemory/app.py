"""A project's entry points: `Project(package)` gives `main` (Hydra), `train`, `cluster`, `report`.

A project generated from the template holds its models (`<package>/model.py`, a `MODELS`
registry), its datasets (`<package>/data.py`, `DATASETS`) and its Hydra configs (`conf/`),
and a thin `<package>/train.py`:

    project = Project(__package__)
    train, main, cluster, report = project.train, project.main, project.cluster, project.report

Its console scripts point at those: `<slug>-train` (`main`), `<slug>-cluster`,
`<slug>-report`; `python -m <package>.train` is `main` too, and is what each task of a
local cluster runs.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

log = logging.getLogger(__name__)


class Project:
    """What estimator_inmemory needs to know of a project, and the entry points it gets.

    Args:
      package: the project's import name.
      models, datasets: the registries of its model builders and dataset loaders, or
        "module:ATTRIBUTE" strings naming them (imported when first needed: a models module
        imports TensorFlow, which a config error should not wait for). Default:
        `<package>.model:MODELS` and `<package>.data:DATASETS`.
      config_dir: the folder of its Hydra configs (`train.yaml` and the groups). Default:
        `conf/` inside the installed package (a wheel carries it there), else the source
        tree's `conf/` next to `src/` (an editable install).
      entry_module: what each task of a local cluster runs (`python -m <entry_module>`).
    """

    def __init__(
        self,
        package: str,
        *,
        models=None,
        datasets=None,
        config_dir: str | None = None,
        entry_module: str | None = None,
    ):
        self.package = package
        self.models = models or f"{package}.model:MODELS"
        self.datasets = datasets or f"{package}.data:DATASETS"
        self._config_dir = config_dir
        self.entry_module = entry_module or f"{package}.train"

    @property
    def config_dir(self) -> str:
        if self._config_dir is None:
            folder = os.path.dirname(importlib.import_module(self.package).__file__)
            packaged = os.path.join(folder, "conf")  # a wheel carries conf/ here
            source = os.path.join(folder, os.pardir, os.pardir, "conf")
            self._config_dir = os.path.abspath(packaged if os.path.isdir(packaged) else source)
        return self._config_dir

    def train(
        self, cfg, run_dir, *, overrides: list[str] | None = None, choices: dict | None = None
    ) -> dict:
        """`training.train` with this project's models and datasets (see there), once every
        key of `cfg` is known to be read (`config.check_known_keys`; `choices` are Hydra's
        record of the options the command chose, when Hydra composed it)."""
        from .config import check_known_keys
        from .training import train

        check_known_keys(cfg, self.config_dir, choices)
        return train(
            cfg, str(run_dir), models=self.models, datasets=self.datasets, overrides=overrides
        )

    def compose(self, *overrides: str):
        """The training config as Hydra composes it from the project's conf/ (for tests,
        notebooks and `train(cfg)`)."""
        from hydra import compose, initialize_config_dir

        from . import config, runs  # noqa: F401 - the schemas and resolvers the configs use

        with initialize_config_dir(version_base="1.3", config_dir=self.config_dir):
            return compose(config_name="train", overrides=list(overrides))

    def main(self) -> None:
        """The Hydra entry point (`<slug>-train`): train, and return the best monitored value
        to Hydra (what a sweep optimises). An expected error prints one line and exits 2."""
        import hydra

        from . import config, runs  # noqa: F401 - the schemas and resolvers the configs use
        from .console import no_colour_off_a_terminal
        from .scratch import use_private_tempdir

        # TensorFlow's temporary files go to a folder of this run's own, removed when the
        # process ends, also when killed (a cluster task the launcher stops, kill -9).
        use_private_tempdir()
        no_colour_off_a_terminal()  # before Optuna (a sweep) sets its log handler up
        hydra.main(version_base="1.3", config_path=self.config_dir, config_name="train")(
            self._run
        )()

    def _run(self, cfg) -> float:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        from .console import print_config, quiet_tensorflow
        from .errors import EstimatorInMemoryError
        from .runs import discard_failed_attempt

        quiet_tensorflow()
        print_config(cfg)
        hydra_config = HydraConfig.get()
        in_sweep = hydra_config.mode == RunMode.MULTIRUN
        try:
            results = self.train(
                cfg,
                hydra_config.runtime.output_dir,
                overrides=list(hydra_config.overrides.task),
                choices=dict(hydra_config.runtime.choices),
            )
        except EstimatorInMemoryError as error:  # expected: one line, no traceback
            print(f"error: {error}", file=sys.stderr)
            if in_sweep:
                log.error("%s", error)  # in the job's log, where the report finds it
                raise  # Hydra records the job as failed and the sweep goes on; exit would end it
            discard_failed_attempt(hydra_config.runtime.output_dir, hydra_config.output_subdir)
            sys.exit(2)
        except Exception as error:
            if in_sweep:
                log.error("%s: %s", type(error).__name__, error)
            raise
        return float("nan") if results["best"] is None else float(results["best"])

    def cluster(self, argv: list[str] | None = None) -> int:
        """The local cluster launcher (`<slug>-cluster --workers N --ps M [overrides...]`)."""
        from .cluster import main

        return main(
            argv,
            entry_module=self.entry_module,
            config_dir=self.config_dir,
            prog=f"{self.package.replace('_', '-')}-cluster",
        )

    def report(self, argv: list[str] | None = None) -> int:
        """The run report (`<slug>-report RUN_OR_SWEEP_FOLDER...`)."""
        from .report import main

        return main(argv, prog=f"{self.package.replace('_', '-')}-report")
