"""The same config and seed give the same metrics at every evaluation, for every model."""

import pytest

from helpers import compose_train, jsonl, train


@pytest.fixture(scope="module")
def evaluations_of(tmp_path_factory):
    """The evaluations of a short in-process run: `evaluations_of(name, *overrides)`, each
    name run once per module."""
    done = {}

    def run(name, *overrides):
        if name not in done:
            cfg = compose_train(
                *overrides,
                "trainer.max_steps=40",
                "evaluator.every_n_iter=20",
                "trainer.export=none",
            )
            run_dir = tmp_path_factory.mktemp(name)
            train(cfg, run_dir)
            done[name] = jsonl(run_dir / "evaluations.jsonl")
        return done[name]

    return run


# Dropout is on where a model has it (the canned DNN), so its random masks must repeat too.
@pytest.mark.parametrize(
    "overrides",
    [["model=dnn", "model.dropout=0.2"], ["model=mlp"], ["model=linear"]],
    ids=["dnn", "mlp", "linear"],
)
def test_two_runs_with_one_seed_give_identical_metrics(evaluations_of, overrides):
    overrides = (*overrides, "trainer.seed=7")
    name = overrides[0].removeprefix("model=")
    first = evaluations_of(f"{name}-7", *overrides)
    second = evaluations_of(f"{name}-7-again", *overrides)
    assert [r["step"] for r in first] == [0, 20, 40]
    assert first == second  # exactly: the same numbers, not close ones


def test_another_seed_gives_other_metrics(evaluations_of):
    seven = evaluations_of("mlp-7", "model=mlp", "trainer.seed=7")
    eight = evaluations_of("mlp-8", "model=mlp", "trainer.seed=8")
    assert seven[0]["average_loss"] != eight[0]["average_loss"]  # other initial weights
    assert seven[-1] != eight[-1]
