"""The entry point, as a user runs it: one short training in a real process, and a bad
override refused in one line before anything is written."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("{{ cookiecutter.project_slug }}-train")


def run(*overrides, cwd):
    return subprocess.run(
        [str(SCRIPT), *overrides],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_console_script_trains_evaluates_and_exports(tmp_path):
    result = run("trainer.max_steps=100", "evaluator.every_n_iter=50", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir,) = (tmp_path / "outputs").glob("*/*")  # outputs/<date>/<time>
    steps = [json.loads(line)["step"] for line in (run_dir / "evaluations.jsonl").open()]
    assert steps == [0, 50, 100]
    for step in steps:
        assert f"eval step {step}: accuracy=" in result.stdout + result.stderr
    assert list((run_dir / "export" / "best").glob("*/saved_model.pb"))
    assert (run_dir / "best" / "best.json").is_file()
    assert (run_dir / "learning_curves.png").is_file()
    assert json.loads((run_dir / "result.json").read_text())["best"]["value"] > 0.5


def test_a_bad_override_is_one_line_and_leaves_no_run_folder(tmp_path):
    result = run("trainer.max_steps=0", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: invalid config: trainer.max_steps must be a positive integer, got 0"
    ]
    assert not list(tmp_path.glob("outputs/*/*"))
