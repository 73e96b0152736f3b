"""Bake the default project into a scratch folder and train it, evaluating in memory.

    python tests/demo.py SCRATCH_DIR [hydra overrides...]   # what `tox -e demo` runs
    python tests/demo.py --stop-after bake SCRATCH_DIR      # tox -e lint
    python tests/demo.py --stop-after install SCRATCH_DIR   # tox -e bench

Installs the project (TensorFlow for CPU included) into the running Python environment,
so run it in a virtual environment: tox gives it one.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from cookiecutter.main import cookiecutter
from template_repo import TEMPLATE_DIR, install

DEMO_OVERRIDES = ["trainer.max_steps=500", "evaluator.every_n_iter=100"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scratch_dir", type=Path)
    parser.add_argument("--stop-after", choices=["bake", "install"])
    parser.add_argument("overrides", nargs="*", help="hydra overrides for the training run")
    args = parser.parse_args()

    project = Path(
        cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            output_dir=str(args.scratch_dir),
            overwrite_if_exists=True,
        )
    )
    print(f"generated {project}", flush=True)
    if args.stop_after == "bake":
        return 0
    install(project, sys.executable, extras="cpu")
    if args.stop_after == "install":
        return 0
    script = Path(sys.executable).with_name(f"{project.name}-train")
    run_dir = args.scratch_dir / "run"
    command = [str(script), f"hydra.run.dir={run_dir}", *DEMO_OVERRIDES, *args.overrides]
    print("+", " ".join(command), flush=True)
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
