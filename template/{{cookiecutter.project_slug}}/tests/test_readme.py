"""The README stays true: every path its "Where things are" table names exists, and its
serving example runs as written."""

import re
import subprocess
import sys
from pathlib import Path

from {{ cookiecutter.package_name }}.train import project, train

PROJECT = Path(__file__).resolve().parents[1]


def where_things_are() -> list[str]:
    readme = (PROJECT / "README.md").read_text()
    section = readme.split("## Where things are", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [re.match(r"\| `([^`]+)`", row).group(1) for row in rows]


def test_every_path_in_the_table_exists():
    paths = where_things_are()
    assert len(paths) >= 8
    missing = [path for path in paths if not (PROJECT / path).exists()]
    assert not missing, missing


def readme_serving_example() -> str:
    readme = (PROJECT / "README.md").read_text()
    section = readme.split("## Serve", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_serving_example_runs_in_a_fresh_process(tmp_path):
    # A run where the README's example looks for it: ./outputs/<date>/<time>/.
    train(
        project.compose("trainer.max_steps=100", "evaluator.every_n_iter=100"),
        tmp_path / "outputs" / "2024-01-01" / "12-00-00",
    )
    result = subprocess.run(
        [sys.executable, "-c", readme_serving_example()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    accuracy = float(re.search(r"accuracy: ([0-9.]+)", result.stdout).group(1))
    assert accuracy > 0.5, result.stdout  # raw pixels in, scaled inside: a trained model
