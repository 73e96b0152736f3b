"""`cookiecutter <template>` works from a local path, a git URL and a zip archive."""

import shutil
import subprocess

import pytest
from template_repo import (
    DEFAULT_FILES,
    DEFAULT_SLUG,
    LIBRARY_DIR,
    LIBRARY_FILES,
    SUPPORTED_TF,
    TEMPLATE_DIR,
    files_of,
    git_copy,
    run_cookiecutter,
)


@pytest.fixture(scope="module")
def template_git_repo(tmp_path_factory):
    """A git repository of the template's working tree (committed or not, minus ignored files)."""
    if not (TEMPLATE_DIR / ".git").exists():
        pytest.skip("the template is not a git checkout")
    repo = git_copy(tmp_path_factory.mktemp("git") / "estimator-template")
    yield repo
    shutil.rmtree(repo.parent)


def assert_default_project(result, workdir):
    assert result.returncode == 0, result.stderr
    assert files_of(workdir / "out" / DEFAULT_SLUG) == DEFAULT_FILES


def test_local_path(tmp_path):
    assert_default_project(run_cookiecutter(TEMPLATE_DIR, tmp_path), tmp_path)


def test_local_path_without_hooks(tmp_path):
    # No pre_prompt hook: the skeleton is found through the top-level symbolic link. No
    # post_gen hook either, so the project keeps every version's lock, in locks/, and the
    # whole library folder (its tests too).
    result = run_cookiecutter(TEMPLATE_DIR, tmp_path, "github_actions=yes", accept_hooks=False)
    assert result.returncode == 0, result.stderr
    locks = {f"locks/tf{version}.txt" for version in SUPPORTED_TF}
    library = {f"estimator-inmemory/{path}" for path in files_of(LIBRARY_DIR)}
    expected = DEFAULT_FILES - {"constraints.txt"} - LIBRARY_FILES | locks | library
    assert files_of(tmp_path / "out" / DEFAULT_SLUG) == expected


def test_git_url(tmp_path, template_git_repo):
    result = run_cookiecutter(f"git+file://{template_git_repo}", tmp_path)
    assert_default_project(result, tmp_path)


def test_zip_archive(tmp_path, template_git_repo):
    # git archive stores symbolic links as links, as GitHub's zip downloads do; Python's
    # zipfile unpacks them as small text files, which the pre_prompt hook repairs.
    archive = tmp_path / "estimator-template.zip"
    subprocess.run(
        [
            "git",
            "-C",
            str(template_git_repo),
            "archive",
            "--format=zip",
            "--prefix=estimator-template/",
            "-o",
            str(archive),
            "HEAD",
        ],
        check=True,
    )
    assert_default_project(run_cookiecutter(archive, tmp_path), tmp_path)
