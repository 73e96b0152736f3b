"""`cookiecutter <template>` works from a local path, a git URL and a zip archive."""

import shutil
import subprocess

import pytest
from template_repo import DEFAULT_FILES, DEFAULT_SLUG, TEMPLATE_DIR, files_of, run_cookiecutter


@pytest.fixture(scope="module")
def template_git_repo(tmp_path_factory):
    """A git repository of the template's working tree (committed or not, minus ignored files)."""
    if not (TEMPLATE_DIR / ".git").exists():
        pytest.skip("the template is not a git checkout")
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
    repo = tmp_path_factory.mktemp("git") / "estimator-template"
    for name in filter(None, listed):
        source, target = TEMPLATE_DIR / name, repo / name
        if not source.is_symlink() and not source.exists():
            continue  # deleted in the working tree
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "template"], check=True)
    return repo


def assert_default_project(result, workdir):
    assert result.returncode == 0, result.stderr
    assert files_of(workdir / "out" / DEFAULT_SLUG) == DEFAULT_FILES


def test_local_path(tmp_path):
    assert_default_project(run_cookiecutter(TEMPLATE_DIR, tmp_path), tmp_path)


def test_local_path_without_hooks(tmp_path):
    # No pre_prompt hook: the skeleton is found through the top-level symbolic link.
    result = run_cookiecutter(TEMPLATE_DIR, tmp_path, "github_actions=yes", accept_hooks=False)
    assert_default_project(result, tmp_path)


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
