"""Answers that would give a broken project are rejected with one clear line, and nothing is
written; no run, refused or not, leaves anything in the temp folder."""

import pytest
from template_repo import DEFAULT_SLUG, TEMPLATE_DIR, run_cookiecutter, temp_leftovers

REJECTED = [
    (["project_name=!!!"], "project_name '!!!' has no letter or digit to make the project_slug"),
    (["project_name=  "], "project_name '  ' has no letter or digit"),
    (["package_name=class"], "package_name 'class' is a Python keyword"),
    (["package_name=match"], "package_name 'match' is a Python keyword"),
    (["package_name=my-model"], "package_name 'my-model' is not a valid Python identifier"),
    (["package_name=2fast"], "package_name '2fast' is not a valid Python identifier"),
    (["package_name=json"], "would shadow the standard library module 'json'"),
    (["package_name=tensorflow"], "would shadow the 'tensorflow' package"),
    (["package_name=hydra"], "would shadow the 'hydra' package"),
    (["project_slug=../escape"], "project_slug '../escape' is not usable as a folder"),
    (["project_slug=my model"], "project_slug 'my model' is not usable as a folder"),
    (["project_slug=-rf"], "project_slug '-rf' is not usable as a folder"),
    (
        ["tf_version=2.16"],
        "tf_version '2.16' is not supported: choose one of 2.12, 2.13, 2.14, 2.15",
    ),
    (["tf_version=2.11"], "tf_version '2.11' is not supported"),
]


@pytest.mark.parametrize("answers, reason", REJECTED, ids=[" ".join(a) for a, _ in REJECTED])
def test_rejected_answer_says_why_and_generates_nothing(tmp_path, answers, reason):
    result = run_cookiecutter(TEMPLATE_DIR, tmp_path, *answers)
    assert result.returncode != 0
    [line] = [line for line in result.stderr.splitlines() if reason in line]
    assert line.startswith("ERROR: ")
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir())
    assert not (tmp_path / "escape").exists()
    # cookiecutter's private copy of the template is gone too
    assert temp_leftovers(tmp_path) == []


def test_a_generated_project_leaves_nothing_in_the_temp_folder(tmp_path):
    result = run_cookiecutter(TEMPLATE_DIR, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / DEFAULT_SLUG / "pyproject.toml").is_file()
    assert temp_leftovers(tmp_path) == []


def test_an_answer_cookiecutter_itself_refuses_leaves_nothing_in_the_temp_folder(tmp_path):
    # cookiecutter checks choices before any hook of ours sees the answers.
    result = run_cookiecutter(TEMPLATE_DIR, tmp_path, "license=GPL")
    assert result.returncode != 0
    assert "GPL provided for choice variable license" in result.stderr
    assert not (tmp_path / "out").exists()
    assert temp_leftovers(tmp_path) == []


def test_every_problem_is_reported_at_once(tmp_path):
    result = run_cookiecutter(TEMPLATE_DIR, tmp_path, "package_name=def", "tf_version=1.15")
    assert result.returncode != 0
    assert "package_name 'def'" in result.stderr and "tf_version '1.15'" in result.stderr
