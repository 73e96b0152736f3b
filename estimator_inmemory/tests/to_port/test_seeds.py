"""The same config and seed give the same metrics at every evaluation, for every model."""

import json
from pathlib import Path

import pytest
from helpers import compose_train

from {{ cookiecutter.package_name }}.train import train


def evaluations_of(run_dir, *overrides):
    cfg = compose_train(
        *overrides,
        "trainer.max_steps=100",
        "evaluator.every_n_iter=50",
        "trainer.export=none",
    )
    train(cfg, run_dir=run_dir)
    return [
        json.loads(line) for line in (Path(run_dir) / "evaluations.jsonl").read_text().splitlines()
    ]


# Dropout is on where a model has it, so its random masks must repeat too.
@pytest.mark.parametrize(
    "overrides",
    [["model=dnn", "model.dropout=0.2"], ["model=custom", "model.dropout=0.2"], ["model=linear"]],
    ids=["dnn", "custom", "linear"],
)
def test_two_runs_with_one_seed_give_identical_metrics(tmp_path, overrides):
    overrides = (*overrides, "trainer.seed=7")
    first = evaluations_of(tmp_path / "first", *overrides)
    second = evaluations_of(tmp_path / "second", *overrides)
    assert [r["step"] for r in first] == [0, 50, 100]
    assert first == second  # exactly: the same numbers, not close ones


def test_another_seed_gives_other_metrics(tmp_path):
    seven = evaluations_of(tmp_path / "seven", "model=custom", "trainer.seed=7")
    eight = evaluations_of(tmp_path / "eight", "model=custom", "trainer.seed=8")
    assert seven[0]["average_loss"] != eight[0]["average_loss"]  # other initial weights
