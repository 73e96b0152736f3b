"""Facts about this template repository, and ways to generate and install projects from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
CONTEXT = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
# The TF table in cookiecutter.json is the one list of supported versions.
SUPPORTED_TF = sorted(CONTEXT["_tensorflow"])
DEFAULT_SLUG = "digits-estimator"
DEFAULT_PACKAGE = "digits_estimator"
# Every file the default answers generate.
DEFAULT_FILES = {
    ".dockerignore",
    ".github/workflows/tests.yml",
    ".gitignore",
    "Dockerfile",
    "LICENSE",
    "README.md",
    "conf/data/csv.yaml",
    "conf/data/digits.yaml",
    "conf/evaluator/in_memory.yaml",
    "conf/hydra/default.yaml",
    "conf/model/custom.yaml",
    "conf/model/dnn.yaml",
    "conf/runtime/default.yaml",
    "conf/train.yaml",
    "conf/trainer/default.yaml",
    "pyproject.toml",
    "src/digits_estimator/__init__.py",
    "src/digits_estimator/config.py",
    "src/digits_estimator/data.py",
    "src/digits_estimator/errors.py",
    "src/digits_estimator/inmemory/__init__.py",
    "src/digits_estimator/inmemory/errors.py",
    "src/digits_estimator/inmemory/guards.py",
    "src/digits_estimator/inmemory/hook.py",
    "src/digits_estimator/inmemory/tf_internals.py",
    "src/digits_estimator/model.py",
    "src/digits_estimator/train.py",
    "tests/conftest.py",
    "tests/helpers.py",
    "tests/test_config.py",
    "tests/test_inmemory_guards.py",
    "tests/test_inmemory_hook.py",
    "tests/test_inmemory_inplace.py",
    "tests/test_readme.py",
    "tests/test_tf_internals.py",
    "tests/test_train.py",
    "tox.ini",
}


def files_of(project: Path) -> set[str]:
    return {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}


def run_cookiecutter(
    source: str | Path, workdir: Path, *answers: str, accept_hooks: bool = True
) -> subprocess.CompletedProcess:
    """The real `cookiecutter` command, isolated in `workdir`.

    Generates into `workdir/out`; cookiecutter's clones, replays and temporary copies go
    under `workdir` too, so a test can see everything a run leaves behind.
    """
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    config = workdir / "cookiecutter-config.yaml"
    config.write_text(
        f"cookiecutters_dir: {workdir / 'clones'}\nreplay_dir: {workdir / 'replay'}\n"
    )
    env = {**os.environ, "COOKIECUTTER_CONFIG": str(config), "TMPDIR": str(workdir / "tmp")}
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(workdir / "out")]
    if not accept_hooks:
        command += ["--accept-hooks", "no"]
    return subprocess.run(
        [*command, str(source), *answers],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def install(project_dir: Path, python: str, extras: str = "cpu,test") -> None:
    """Install a generated project, with the pins it declares, into `python`'s environment."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "uv",
            "pip",
            "install",
            "--quiet",
            "--python",
            python,
            f"{project_dir}[{extras}]",
        ],
        check=True,
    )


def create_venv(venv_dir: Path) -> str:
    """A fresh virtual environment on this Python version; returns its interpreter."""
    subprocess.run(
        [sys.executable, "-m", "uv", "venv", "--quiet", "--python", sys.executable, str(venv_dir)],
        check=True,
    )
    return str(venv_dir / "bin" / "python")
