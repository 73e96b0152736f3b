"""Facts about this template repository, and ways to generate and install projects from it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
CONTEXT = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
# The TF table in cookiecutter.json is the one list of supported versions.
SUPPORTED_TF = sorted(CONTEXT["_tensorflow"])
DEFAULT_SLUG = "digits-estimator"
DEFAULT_PACKAGE = "digits_estimator"
# One constraints file per supported TF version (`tox -e lock` writes them); a project
# receives its version's as constraints.txt.
LOCKS_DIR = TEMPLATE_DIR / "locks"
# The library every project installs: its distribution name, and its folder in a project.
LIBRARY = "estimator-inmemory"
LIBRARY_FOLDER = "estimator-inmemory"
LIBRARY_DIR = TEMPLATE_DIR / "estimator_inmemory"
# What a project receives of the library (post_gen_project keeps these): its metadata and
# source, not its tests or benchmarks.
LIBRARY_FILES = {
    f"estimator-inmemory/{p.relative_to(LIBRARY_DIR).as_posix()}"
    for p in [
        LIBRARY_DIR / "pyproject.toml",
        LIBRARY_DIR / "README.md",
        *(LIBRARY_DIR / "src").rglob("*.py"),
    ]
}
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
    "conf/hparams_search/optuna.yaml",
    "conf/hydra/default.yaml",
    "conf/model/custom.yaml",
    "conf/model/dnn.yaml",
    "conf/model/linear.yaml",
    "conf/train.yaml",
    "constraints.txt",
    "k8s/jobset.yaml",
    "k8s/tfjob.yaml",
    "pyproject.toml",
    "src/digits_estimator/__init__.py",
    "src/digits_estimator/data.py",
    "src/digits_estimator/model.py",
    "src/digits_estimator/train.py",
    "tests/conftest.py",
    "tests/test_k8s_manifest.py",
    "tests/test_models.py",
    "tests/test_readme.py",
    "tests/test_train.py",
    "tox.ini",
} | LIBRARY_FILES


def code_lines(path: Path) -> int:
    """Lines of a Python file that hold code: not blank, not only a comment, not a docstring."""
    import ast
    import io
    import tokenize

    text = path.read_text()
    docstrings = set()
    for node in ast.walk(ast.parse(text)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
    skipped = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type not in skipped and token.type != tokenize.ENDMARKER:
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines - docstrings)


def files_of(project: Path) -> set[str]:
    return {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}


def run_cookiecutter(
    source: str | Path,
    workdir: Path,
    *answers: str,
    accept_hooks: bool = True,
    typed: list[str] | None = None,
) -> subprocess.CompletedProcess:
    """The real `cookiecutter` command, isolated in `workdir`.

    Generates into `workdir/out`; cookiecutter's clones, replays and temporary copies go
    under `workdir` too, so a test can see everything a run leaves behind. `answers`
    ("key=value") are given on the command line with --no-input; `typed` instead answers
    cookiecutter's prompts in order, one line each ("" takes the default), as a person does.
    """
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    config = workdir / "cookiecutter-config.yaml"
    config.write_text(
        f"cookiecutters_dir: {workdir / 'clones'}\nreplay_dir: {workdir / 'replay'}\n"
    )
    env = {**os.environ, "COOKIECUTTER_CONFIG": str(config), "TMPDIR": str(workdir / "tmp")}
    command = [sys.executable, "-m", "cookiecutter", "-o", str(workdir / "out")]
    if typed is None:
        command.append("--no-input")
    if not accept_hooks:
        command += ["--accept-hooks", "no"]
    return subprocess.run(
        [*command, str(source), *answers],
        input=None if typed is None else "".join(line + "\n" for line in typed),
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def temp_leftovers(workdir: Path, wait: float = 5.0) -> list[str]:
    """What a `run_cookiecutter` run left in its temp folder, once the cleanup that the
    pre_prompt hook starts has had `wait` seconds to finish after cookiecutter exited."""
    deadline = time.monotonic() + wait
    while True:
        left = sorted(p.name for p in (workdir / "tmp").iterdir())
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def install(project_dir: Path, python: str, extras: str = "cpu,test") -> None:
    """Install a generated project into `python`'s environment, with the exact versions of
    its constraints.txt (the lock of its TF version), as its README says."""
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
            "--constraint",
            str(project_dir / "constraints.txt"),
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


def git_copy(destination: Path) -> Path:
    """A git repository of the template's working tree (committed or not, minus ignored
    files, symbolic links kept as links), with one commit."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=TEMPLATE_DIR,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source, target = TEMPLATE_DIR / name, destination / name
        if not source.is_symlink() and not source.exists():
            continue  # deleted in the working tree
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    git(destination, "init", "-q")
    git(destination, "add", "-A")
    git(destination, "commit", "-q", "-m", "template")
    return destination


def git(repo: Path, *args: str) -> str:
    """`git -C repo ARGS` with a fixed identity; returns stdout."""
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo), *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


# ---- dependency locks -------------------------------------------------------------------

LOCK_HEADER = """\
# The exact versions the template's tests ran TensorFlow {tf_version} projects with.
# Written by `tox -e lock` in the template repository from pyproject.toml: its dependencies
# and every extra, resolved together (so a gpu install gets the same versions of everything
# but TensorFlow's own wheel and its CUDA libraries), on Linux for Python {lowest_python},
# the lowest the project supports, so that the same versions install on every Python it
# supports (Docker bases bring 3.10 or 3.11; the tests use 3.11). Use it as constraints:
#   pip install -c constraints.txt -e '.[cpu,test]'      # or '.[gpu,test]'
"""


def lock_path(tf_version: str) -> Path:
    return LOCKS_DIR / f"tf{tf_version}.txt"


def compile_lock(tf_version: str, workdir: Path, upgrade: bool = False) -> str:
    """The lock of `tf_version` as `tox -e lock` writes it: the default project baked for
    that version, resolved by `uv pip compile` from its pyproject.toml.

    The current lock (if any) seeds the resolution, so a lock changes only where the
    pyproject requires it (or everywhere with `upgrade`): comparing the result with the
    current lock tells whether the lock is stale.
    """
    # Without hooks: the post_gen hook needs the very lock being written.
    baked = run_cookiecutter(TEMPLATE_DIR, workdir, f"tf_version={tf_version}", accept_hooks=False)
    if baked.returncode != 0:
        raise RuntimeError(f"baking TF {tf_version} failed:\n{baked.stderr}")
    pyproject = workdir / "out" / DEFAULT_SLUG / "pyproject.toml"
    requires_python = tomllib.loads(pyproject.read_text())["project"]["requires-python"]
    lowest_python = re.search(r">=\s*(\d+\.\d+)", requires_python).group(1)
    output = workdir / "lock.txt"
    if lock_path(tf_version).is_file() and not upgrade:
        shutil.copy(lock_path(tf_version), output)  # uv prefers the versions already there
    command = [
        *(sys.executable, "-m", "uv", "pip", "compile", "--quiet", "--no-header"),
        *("--no-annotate", "--all-extras", "--python-platform", "linux"),
        # uv otherwise takes a pre-release when it is "necessary": for `tensorflow-cpu==2.13.*`
        # it chose 2.13.0rc2 (allowing NumPy 1.26) over 2.13.1 (NumPy <= 1.24.3).
        *("--prerelease", "disallow"),
        # One set of versions for all supported Pythons: the newest that the lowest allows
        # (a 3.11 lock would not install on Ubuntu 22.04's 3.10: SciPy 1.17 needs 3.11).
        # A universal lock (--universal) forks per Python and, here, picked a TF 2.13
        # release candidate for some forks and split the forks differently on each run.
        *("--python-version", lowest_python, str(pyproject), "--output-file", str(output)),
    ]
    if upgrade:
        command.append("--upgrade")
    subprocess.run(command, check=True, timeout=600)
    header = LOCK_HEADER.format(tf_version=tf_version, lowest_python=lowest_python)
    return header + pin_library(output.read_text(), pyproject.parent / LIBRARY_FOLDER)


def library_version(folder: Path = LIBRARY_DIR) -> str:
    """The version of estimator-inmemory in `folder` (its pyproject.toml)."""
    return tomllib.loads((folder / "pyproject.toml").read_text())["project"]["version"]


def pin_library(lock: str, folder: Path) -> str:
    """The lock with the library's line (uv writes its local path, which differs per bake)
    as an ordinary pin of its version: installing a project then checks the library folder
    it holds is the version its lock was made with."""
    pattern = re.compile(rf"^{LIBRARY} @ file://\S+$", re.MULTILINE)
    assert len(pattern.findall(lock)) == 1, f"no single {LIBRARY} line in the lock:\n{lock}"
    return pattern.sub(f"{LIBRARY}=={library_version(folder)}", lock)


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(lock: Path) -> dict[str, str]:
    """Distribution -> version of the lock's lines that apply to this Python and platform."""
    from packaging.requirements import Requirement  # pytest's dependency

    versions = {}
    for line in lock.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            [pin] = requirement.specifier
            versions[normalized(requirement.name)] = pin.version
    return versions


def installed_versions(python: str) -> dict[str, str]:
    """Distribution -> version of everything installed in `python`'s environment."""
    probe = (
        "import importlib.metadata as m, json;"
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    found = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    return {normalized(name): version for name, version in json.loads(found.stdout).items()}
