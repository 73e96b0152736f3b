"""Helpers shared by the test modules (imported as `helpers`; no test imports another)."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from fixture_project.train import project

TESTS = Path(__file__).resolve().parent
PACKAGE = "fixture_project"
EVAL_LINE = re.compile(r"(eval\w*) step (\d+): .*\baccuracy=([0-9.]+)")


def compose_train(*overrides: str):
    """The fixture project's training config as Hydra composes it, with overrides."""
    return project.compose(*overrides)


def train(cfg, run_dir, **kwargs) -> dict:
    """The fixture project's `train(cfg, run_dir)`, in this process."""
    return project.train(cfg, run_dir, **kwargs)


def subprocess_env(env: dict | None = None) -> dict:
    """The environment a child process needs to import the fixture project."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    return env


def run_entry_point(*overrides: str, check: bool = True, env=None, timeout=600):
    """`python -m fixture_project.train overrides...` in a real process."""
    result = subprocess.run(
        [sys.executable, "-m", f"{PACKAGE}.train", *overrides],
        env=subprocess_env(env),
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def run_python(code: str, *args: str, env: dict | None = None, timeout=120):
    """`python -c code args...` in a real process that can import the fixture project."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=subprocess_env(env),
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def evaluations(output: str) -> list[tuple[int, float]]:
    """(step, accuracy) of every evaluation line a run logged."""
    return [(int(step), float(acc)) for _, step, acc in EVAL_LINE.findall(output)]


def jsonl(path) -> list[dict]:
    """The records of a JSON-lines file (e.g. a run's evaluations.jsonl)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def checkpoints(folder) -> list[Path]:
    return sorted(Path(folder).rglob("*.index"))


def write_csv(path, header, rows) -> Path:
    """A comma-separated file with a header row."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return Path(path)


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


def mlp_params(data, hidden_units=(16,)) -> dict:
    """params for the fixture's mlp_model_fn on `data`."""
    from estimator_inmemory import feature_columns

    return {
        "hidden_units": list(hidden_units),
        "learning_rate": 0.05,
        "task": data.task,
        "n_classes": data.n_classes,
        "feature_columns": feature_columns(data),
    }


def estimator_for(model_dir, data, model="dnn", save_checkpoints_steps=1000):
    """The fixture project's `model` on `data`, keeping every checkpoint it writes."""
    from estimator_inmemory.config import settings
    from estimator_inmemory.training import build_estimator

    cfg = compose_train(
        f"model={model}",
        f"trainer.save_checkpoints_steps={save_checkpoints_steps}",
        "trainer.keep_checkpoint_max=100",
    )
    s = settings(cfg)
    return build_estimator(s.model, s.trainer, data, str(model_dir), project.models)


def train_steps(estimator, data, max_steps, *hooks):
    """estimator.train() on `data` up to `max_steps`, with `hooks`."""
    from estimator_inmemory import train_input_fn

    estimator.train(train_input_fn(data, 32, seed=1), max_steps=max_steps, hooks=list(hooks))


def without_tensorflow(folder) -> dict:
    """os.environ where `import tensorflow` fails loudly (a stand-in package in `folder`): a
    child process that answers in it answered before TensorFlow was imported."""
    package = Path(folder) / "tensorflow"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text('raise RuntimeError("TensorFlow was imported")\n')
    path = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def summaries(event_dir) -> dict:
    """The scalar summaries in a folder's event files, as step -> {tag: value}."""
    import tensorflow as tf

    found = {}
    for path in sorted(tf.io.gfile.glob(f"{event_dir}/events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                found.setdefault(event.step, {})[value.tag] = value.simple_value
    return found
