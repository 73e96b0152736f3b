"""The run report: a table of a sweep's runs (failed ones named) and a comparison picture."""

import json
import subprocess
import sys

import pytest

from estimator_inmemory.records import best_record, write_result
from helpers import PACKAGE, compose_train, run_entry_point, run_python

# A project's `<slug>-report` console script calls its Project's report(argv).
PROJECT_REPORT = f"import sys; from {PACKAGE}.train import report; sys.exit(report(sys.argv[1:]))"


def report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "estimator_inmemory.report", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def table_rows(output: str) -> dict[str, list[str]]:
    """run -> cells, from the table rich printed (headers included, under "run")."""
    rows = {}
    for line in output.splitlines():
        if line.startswith(("│", "┃")):
            cells = [
                cell.strip() for cell in line.strip("│┃").split("│" if line[0] == "│" else "┃")
            ]
            if cells[0]:
                rows[cells[0]] = cells[1:]
    return rows


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A basic --multirun of three learning rates, the middle one invalid."""
    sweep_dir = tmp_path_factory.mktemp("report") / "sweep"
    result = run_entry_point(
        "--multirun",
        "trainer.learning_rate=0.05,-1,0.1",
        "trainer.max_steps=40",
        "evaluator.every_n_iter=20",
        "trainer.export=none",
        f"hydra.sweep.dir={sweep_dir}",
        check=False,
    )
    # Hydra's basic sweeper runs every job, then reports the failed one and exits non-zero.
    assert result.returncode != 0
    assert "trainer.learning_rate must be a positive number" in result.stderr
    return sweep_dir


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_the_table_has_each_runs_overrides_best_final_metrics_and_wall_time(sweep):
    result = report(str(sweep))
    assert result.returncode == 1, result.stderr  # 1: not every run finished
    rows = table_rows(result.stdout)
    header = rows.pop("run")
    assert header[:3] == ["overrides", "best accuracy", "at step"]
    assert set(rows) == {"0", "1", "2"}
    for job, rate in (("0", "0.05"), ("2", "0.1")):
        cells = dict(zip(header, rows[job]))
        assert cells["overrides"] == f"trainer.learning_rate={rate}"
        evaluations = [
            json.loads(line)
            for line in (sweep / job / "evaluations.jsonl").read_text().splitlines()
        ]
        best = max(evaluations, key=lambda e: e["accuracy"])
        assert float(cells["best accuracy"]) == pytest.approx(best["accuracy"], abs=1e-4)
        assert int(cells["at step"]) == best["step"]
        assert float(cells["final accuracy"]) == pytest.approx(
            evaluations[-1]["accuracy"], abs=1e-4
        )
        assert cells["wall time"].endswith(" s") and float(cells["wall time"][:-2]) > 0
        assert cells["status"] == "finished"
    failed = dict(zip(header, rows["1"]))
    assert failed["status"].startswith("FAILED")
    assert f"failed job: {sweep / '1'} (" in result.stdout
    assert "trainer.learning_rate must be a positive number" in result.stdout
    assert (sweep / "comparison.png").stat().st_size > 10_000


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_the_projects_report_entry_takes_run_folders(sweep, tmp_path):
    picture = tmp_path / "two.png"
    result = run_python(PROJECT_REPORT, str(sweep / "0"), str(sweep / "2"), "--plot", str(picture))
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(table_rows(result.stdout)) == {"run", "0", "2"}
    assert picture.stat().st_size > 10_000


def test_a_path_without_runs_is_one_line_of_error(tmp_path):
    result = report(str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: no run folder")
    assert len(result.stderr.strip().splitlines()) == 1
    assert report(str(tmp_path / "missing")).returncode == 2


def test_best_json_when_present_is_the_best_the_report_shows(tmp_path):
    cfg = compose_train()
    (tmp_path / "evaluations.jsonl").write_text(
        '{"eval": "eval", "step": 0, "accuracy": 0.1}\n'
        '{"eval": "eval", "step": 100, "accuracy": 0.9}\n'
        '{"eval": "eval", "step": 200, "accuracy": 0.8}\n'
    )
    assert best_record(tmp_path, cfg) == {
        "monitor": "accuracy",
        "mode": "max",
        "step": 100,
        "value": 0.9,
    }
    (tmp_path / "best").mkdir()
    best = {
        "step": 200,
        "monitor": "accuracy",
        "mode": "max",
        "value": 0.85,
        "metrics": {"accuracy": 0.85},
    }
    (tmp_path / "best" / "best.json").write_text(json.dumps(best))
    result = write_result(tmp_path, tmp_path, cfg, {"accuracy": 0.8, "global_step": 200}, 1.5)
    assert result["best"] == {"monitor": "accuracy", "mode": "max", "step": 200, "value": 0.85}
    assert json.loads((tmp_path / "result.json").read_text()) == result


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_the_comparison_is_zoomed_to_the_values_labels_runs_whole_and_marks_the_best(sweep):
    from estimator_inmemory.plots import draw_comparison
    from estimator_inmemory.records import find_runs, read_run

    found = [read_run(path) for path in find_runs([sweep])]
    figure = draw_comparison(found)
    curves, bests = figure.axes
    values = {run.path.name: run.best["value"] for run in found if run.finished}
    assert set(values) == {"0", "2"}
    # Zoomed to the data: not from 0, so 0.958 and 0.975 look different.
    low, high = bests.get_xlim()
    assert 0 < low < min(values.values()) and max(values.values()) < high
    spread = max(values.values()) - min(values.values())
    assert high - low < 2.5 * spread
    # Each run labelled whole: its folder and every override of its own.
    labels = [tick.get_text().replace("\n", " ") for tick in bests.get_yticklabels()]
    assert labels == [
        "0: trainer.learning_rate=0.05",
        "1: trainer.learning_rate=-1",
        "2: trainer.learning_rate=0.1",
    ]
    # The best run is marked: its bar, its value's text, its curve.
    best = max(values, key=values.get)
    position = labels.index(next(label for label in labels if label.startswith(f"{best}:")))
    assert [bool(bar.get_hatch()) for bar in bests.patches] == [
        i == position for i in range(len(labels))
    ]
    texts = [text.get_text() for text in bests.texts]
    assert texts[position] == f"{values[best]:.4g}  best"
    assert texts[1] == "failed"
    assert [line.get_label() for line in curves.get_legend().get_lines()] == [
        f"{name}{' (best)' if name == best else ''}" for name in ("0", "2")
    ]


def test_a_long_run_label_is_wrapped_never_cut(tmp_path):
    from estimator_inmemory.plots import draw_comparison
    from estimator_inmemory.records import Run

    own = [
        ["model.hidden_units=[128,64,32,16]", "trainer.learning_rate=0.0123456789"],
        ["model.hidden_units=[256,128,64,32]", "trainer.learning_rate=0.0987654321"],
    ]
    runs = [
        Run(tmp_path / str(job), own[job], None, result, [])
        for job, result in enumerate(
            [{"best": {"monitor": "accuracy", "mode": "max", "value": v, "step": 10}}
             for v in (0.958, 0.975)]
        )
    ]  # fmt: skip
    _, bests = draw_comparison(runs).axes
    labels = [tick.get_text() for tick in bests.get_yticklabels()]
    assert [label.replace("\n", " ") for label in labels] == [
        f"{job}: {' '.join(overrides)}" for job, overrides in enumerate(own)
    ]
    assert all(max(len(line) for line in label.splitlines()) <= 42 for label in labels)
    low, high = bests.get_xlim()
    assert 0.9 < low < 0.958 and 0.975 < high < 1.0  # the two look different
