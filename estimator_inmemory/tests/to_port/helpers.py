"""Helpers shared by the test modules (imported as `helpers`; no test imports another)."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from {{ cookiecutter.package_name }}.config import config_dir

PACKAGE = "{{ cookiecutter.package_name }}"
EVAL_LINE = re.compile(r"(eval\w*) step (\d+): .*\baccuracy=([0-9.]+)")


def compose_train(*overrides: str):
    """The training config as Hydra composes it from conf/, with overrides."""
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        return compose(config_name="train", overrides=list(overrides))


def run_entry_point(*overrides: str, check: bool = True, env=None) -> subprocess.CompletedProcess:
    """`python -m <package>.train overrides...` in a real process."""
    result = subprocess.run(
        [sys.executable, "-m", f"{PACKAGE}.train", *overrides],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def evaluations(output: str) -> list[tuple[int, float]]:
    """(step, accuracy) of every evaluation line a run logged."""
    return [(int(step), float(acc)) for _, step, acc in EVAL_LINE.findall(output)]


def jsonl(path) -> list[dict]:
    """The records of a JSON-lines file (e.g. a run's evaluations.jsonl)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def checkpoints(folder) -> list[Path]:
    return sorted(Path(folder).rglob("*.index"))


def write_iris_csv(folder: Path) -> tuple[Path, Path]:
    """scikit-learn's bundled iris (3 classes, 4 features) as train.csv and eval.csv."""
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    return tuple(
        write_csv(
            Path(folder) / f"{name}.csv",
            ["a", "b", "c", "d", "label"],
            [[*x[i], y[i]] for i in rows],
        )
        for name, rows in (("train", range(0, 150, 2)), ("eval", range(1, 150, 2)))
    )


def write_csv(path, header, rows) -> Path:
    """A comma-separated file with a header row."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return Path(path)


def diabetes_csv(folder) -> list[str]:
    """scikit-learn's bundled diabetes data (raw, unscaled) as train/eval CSV files, split
    into even and odd rows; returns the overrides that train on them as a regression."""
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    header = [*bunch.feature_names, "progression"]
    for name, start in (("train", 0), ("eval", 1)):
        rows = [[*bunch.data[i], bunch.target[i]] for i in range(start, len(bunch.target), 2)]
        write_csv(Path(folder) / f"{name}.csv", header, rows)
    return [
        "data=csv",
        f"data.train_path={Path(folder) / 'train.csv'}",
        f"data.eval_path={Path(folder) / 'eval.csv'}",
        "data.label_column=progression",
        "data.task=regression",
    ]


def custom_params(data) -> dict:
    """params for custom_model_fn on `data`, with a small hidden layer."""
    from {{ cookiecutter.package_name }}.model import feature_columns

    return {
        "hidden_units": [16],
        "dropout": None,
        "learning_rate": 0.05,
        "task": data.task,
        "n_classes": data.n_classes,
        "feature_columns": feature_columns(data),
    }


def estimator_for(model_dir, data, model="dnn", save_checkpoints_steps=1000):
    """The configured `model` on `data`, keeping every checkpoint it writes."""
    from {{ cookiecutter.package_name }}.model import build_estimator

    cfg = compose_train(
        f"model={model}",
        f"trainer.save_checkpoints_steps={save_checkpoints_steps}",
        "trainer.keep_checkpoint_max=100",
    )
    return build_estimator(cfg.model, cfg.trainer, data, str(model_dir))


def train_steps(estimator, data, max_steps, *hooks):
    """estimator.train() on `data` up to `max_steps`, with `hooks`."""
    from {{ cookiecutter.package_name }}.data import train_input_fn

    estimator.train(train_input_fn(data, 32, seed=1), max_steps=max_steps, hooks=list(hooks))
