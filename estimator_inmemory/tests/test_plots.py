"""Every run draws learning_curves.png: training loss and eval metrics by step, best marked."""

import json
import os
import stat

import matplotlib.image
import pytest
import tensorflow as tf

from estimator_inmemory.errors import PaintingFailedError
from estimator_inmemory.plots import Painter, draw_learning_curves, write_learning_curves
from helpers import compose_train, train

SHORT = ["evaluator.every_n_iter=50", "trainer.export=none"]


@pytest.fixture(scope="module")
def two_evaluations(tmp_path_factory):
    """A run to step 100 evaluated as `eval`, resumed to 200 as `eval_holdout`."""
    root = tmp_path_factory.mktemp("curves")
    first, second = root / "first", root / "second"
    train(compose_train("trainer.max_steps=100", *SHORT), run_dir=first)
    train(
        compose_train(
            "trainer.max_steps=200", "evaluator.name=holdout", f"model_dir={first}", *SHORT
        ),
        run_dir=second,
    )
    return first, second


def logged_training_losses(model_dir) -> list[tuple[int, float]]:
    """(step, loss) of the `loss` summaries in the training event files, read by TensorFlow."""
    points = []
    for events in sorted(model_dir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            points += [(event.step, v.simple_value) for v in event.summary.value if v.tag == "loss"]
    return sorted(points)


def curves(figure) -> dict:
    """panel title -> line label -> (x data, y data), as drawn."""
    return {
        ax.get_title(): {
            line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in ax.lines
        }
        for ax in figure.axes
        if ax.get_visible()
    }


def test_the_run_folder_gets_a_png_when_training_ends(two_evaluations):
    # The resume (second) redrew the picture in the run it continued (first).
    first, _ = two_evaluations
    image = matplotlib.image.imread(first / "learning_curves.png")
    height, width, _ = image.shape
    assert height >= 300 and width >= 900
    assert image.std() > 0.05  # something is drawn
    redrawn = (first / "learning_curves.png").stat().st_mtime
    assert redrawn > (first / "result.json").stat().st_mtime  # after the first run ended


def test_the_curves_are_the_logged_loss_and_every_named_evaluation(two_evaluations):
    model_dir = two_evaluations[0]
    drawn = curves(draw_learning_curves(model_dir, "accuracy"))
    assert next(iter(drawn)) == "accuracy"  # the monitored metric comes first
    assert {"accuracy", "loss", "average_loss"} <= set(drawn)

    train_steps, train_losses = drawn["loss"]["train"]
    logged = logged_training_losses(model_dir)
    assert len(logged) >= 2
    assert train_steps == [step for step, _ in logged]
    assert train_losses == pytest.approx([loss for _, loss in logged])

    lines = [
        json.loads(line) for line in (model_dir / "evaluations.jsonl").read_text().splitlines()
    ]
    for label in ("eval", "eval_holdout"):
        expected = [(e["step"], e["accuracy"]) for e in lines if e["eval"] == label]
        steps, values = drawn["accuracy"][label]
        assert steps == [step for step, _ in expected]
        assert values == pytest.approx([value for _, value in expected])
    assert drawn["accuracy"]["eval"][0] == [0, 50, 100]
    assert drawn["accuracy"]["eval_holdout"][0][-1] == 200


def test_the_best_step_is_marked_when_best_json_exists(two_evaluations, tmp_path):
    model_dir = two_evaluations[0]
    assert not any(
        line.get_label().startswith("best")
        for line in draw_learning_curves(model_dir, "accuracy").axes[0].lines
    )
    best = {
        "step": 150,
        "monitor": "accuracy",
        "mode": "max",
        "value": 0.93,
        "metrics": {"accuracy": 0.93},
    }
    figure = draw_learning_curves(model_dir, "accuracy", best)
    for ax in figure.axes:
        if ax.get_visible():
            assert any(list(line.get_xdata()) == [150, 150] for line in ax.lines), ax.get_title()
    star = [line for line in figure.axes[0].lines if line.get_label().startswith("best")]
    assert len(star) == 1
    assert (list(star[0].get_xdata()), list(star[0].get_ydata())) == ([150], [0.93])


def test_the_painting_process_draws_what_the_training_process_would(two_evaluations, tmp_path):
    model_dir = two_evaluations[0]
    best = {"step": 150, "monitor": "accuracy", "value": 0.93}
    with Painter(in_process=False) as painter:
        assert not painter.in_process
        painter.paint(model_dir, tmp_path / "child.png", "accuracy", best)
        assert painter.wait() == str(tmp_path / "child.png")
    write_learning_curves(model_dir, tmp_path / "here.png", "accuracy", best)
    assert (tmp_path / "child.png").read_bytes() == (tmp_path / "here.png").read_bytes()
    umask = os.umask(0o022)
    os.umask(umask)
    mode = stat.S_IMODE((tmp_path / "child.png").stat().st_mode)
    assert mode == 0o666 & ~umask  # as open() would create it, not mkstemp's 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["child.png", "here.png"]


def test_a_picture_the_painting_process_cannot_write_fails_with_its_reason(
    two_evaluations, tmp_path
):
    with Painter(in_process=False) as painter:
        painter.paint(two_evaluations[0], tmp_path / "missing" / "curves.png", "accuracy")
        with pytest.raises(PaintingFailedError, match="curves.png failed .*No such file"):
            painter.wait()
    assert not (tmp_path / "missing").exists()


def test_a_run_that_ends_without_a_picture_stops_its_painting_process(tmp_path):
    painter = Painter(in_process=False)
    child = painter._child
    painter.close()
    assert child.returncode is not None  # ended (killed while warming up), not left behind
    assert list(tmp_path.iterdir()) == []
