"""A project made with cruft follows the template: `cruft update` brings a template change
and keeps the project's own edits, and `cruft check` (which the generated CI runs) tells
whether the project is behind.

cruft runs no pre_prompt hook: it finds the skeleton through the top-level symbolic link,
and the shared conf/, Dockerfile and locks/ through the skeleton's links, so the template
changes below are made in those shared files.
"""

import subprocess
import sys
from pathlib import Path

import pytest
from template_repo import (
    DEFAULT_FILES,
    DEFAULT_PACKAGE,
    DEFAULT_SLUG,
    LIBRARY,
    SUPPORTED_TF,
    TEMPLATE_DIR,
    git,
    git_copy,
    library_version,
    lock_path,
)

CRUFT = Path(sys.executable).with_name("cruft")
SKELETON = "template/{{cookiecutter.project_slug}}"


def cruft(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CRUFT), *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


@pytest.fixture
def template(tmp_path):
    if not (TEMPLATE_DIR / ".git").exists():
        pytest.skip("the template is not a git checkout")
    if not CRUFT.is_file():
        pytest.skip(f"cruft is not installed next to {sys.executable} (tox installs it)")
    return git_copy(tmp_path / "estimator-template")


def test_cruft_update_brings_the_template_change_and_keeps_the_local_edit(template, tmp_path):
    created = cruft(
        "create", "--no-input", "--output-dir", str(tmp_path), str(template), cwd=tmp_path
    )
    assert created.returncode == 0, created.stdout + created.stderr
    project = tmp_path / DEFAULT_SLUG
    tracked = {".cruft.json"} | DEFAULT_FILES
    assert {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()} == tracked
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "generated")
    assert cruft("check", cwd=project).returncode == 0

    # The user edits their model; the template changes its README, its shared Hydra
    # config and its Dockerfile.
    model = project / "src" / DEFAULT_PACKAGE / "model.py"
    append(model, "\n# local edit: kept by cruft update\n")
    git(project, "commit", "-q", "-am", "local edit")
    readme = template / SKELETON / "README.md"
    lines = readme.read_text().splitlines(keepends=True)
    readme.write_text("".join([lines[0], "\nTemplate change in the README.\n", *lines[1:]]))
    append(template / "conf" / "train.yaml", "# template change in conf\n")
    append(template / "Dockerfile", "# template change in the Dockerfile\n")
    # A library release: code changes and a new version, pinned by every lock.
    hook = template / "estimator_inmemory" / "src" / "estimator_inmemory" / "hook.py"
    hook.write_text(hook.read_text().replace("DESIGNS = (", "DESIGNS = (  # a library change\n", 1))
    library = template / "estimator_inmemory"
    old, new = library_version(library), "99.0.0"
    pyproject = library / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(f'version = "{old}"', f'version = "{new}"'))
    for version in SUPPORTED_TF:
        lock = template / lock_path(version).relative_to(TEMPLATE_DIR)
        lock.write_text(lock.read_text().replace(f"{LIBRARY}=={old}", f"{LIBRARY}=={new}"))
    git(template, "commit", "-q", "-am", "template change")

    behind = cruft("check", cwd=project)
    assert behind.returncode != 0 and "out of date" in behind.stdout + behind.stderr
    updated = cruft("update", "--skip-apply-ask", cwd=project)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    # Applied cleanly: no rejected hunks, no conflict markers anywhere.
    assert not list(project.rglob("*.rej")), updated.stdout + updated.stderr
    assert "<<<<<<<" not in "".join(p.read_text() for p in project.rglob("*.py"))
    updated_hook = project / "estimator-inmemory" / "src" / "estimator_inmemory" / "hook.py"
    assert "# a library change" in updated_hook.read_text()
    assert 'version = "99.0.0"' in (project / "estimator-inmemory" / "pyproject.toml").read_text()
    assert f"{LIBRARY}==99.0.0" in (project / "constraints.txt").read_text()

    assert "Template change in the README." in (project / "README.md").read_text()
    assert (project / "conf" / "train.yaml").read_text().endswith("# template change in conf\n")
    assert "# template change in the Dockerfile" in (project / "Dockerfile").read_text()
    assert model.read_text().endswith("# local edit: kept by cruft update\n")
    # the post_gen hook ran for both renderings: still one lock, no locks/ folder
    assert (project / "constraints.txt").is_file() and not (project / "locks").exists()
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "cruft update")
    assert cruft("check", cwd=project).returncode == 0
