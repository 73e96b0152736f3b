"""A generated project installs with its own lock and passes its own tests.

Each tox env (py311-tf212 ... py311-tf215) sets TEMPLATE_TF_VERSION; the project baked
for that version is installed into a fresh virtual environment, TensorFlow included,
from nothing but the project's own pyproject.toml and constraints.txt, and its test suite
runs there: the lock holds exactly the versions these tests ran with.
"""

import os
import shutil
import subprocess
import sys

import pytest
from template_repo import (
    SUPPORTED_TF,
    create_venv,
    install,
    installed_versions,
    locked_versions,
    normalized,
)

TF_VERSION = os.environ.get("TEMPLATE_TF_VERSION")
pytestmark = pytest.mark.skipif(
    not TF_VERSION, reason="set by tox: run `tox -e py311-tf215` (or another TF env)"
)


@pytest.fixture(scope="module")
def installed_project(cookies_session, tmp_path_factory):
    assert TF_VERSION in SUPPORTED_TF, f"TEMPLATE_TF_VERSION={TF_VERSION} is not supported"
    result = cookies_session.bake(extra_context={"tf_version": TF_VERSION})
    assert result.exit_code == 0, result.exception
    venv = tmp_path_factory.mktemp("venv")
    python = create_venv(venv)
    install(result.project_path, python)
    yield result.project_path, python
    shutil.rmtree(venv)  # about 1.3 GB
    shutil.rmtree(result.project_path)  # with the runs its tests made


def test_installed_versions_are_exactly_the_locked_ones(installed_project):
    project, python = installed_project
    locked = locked_versions(project / "constraints.txt")
    installed = installed_versions(python)
    installed.pop(normalized(project.name))
    differing = {
        name: (version, locked.get(name, "not in the lock"))
        for name, version in installed.items()
        if locked.get(name) != version
    }
    assert not differing, f"installed vs locked: {differing}: run `tox -e lock`"


def test_installed_tensorflow_is_the_pinned_version(installed_project):
    _, python = installed_project
    probe = (
        "import importlib.metadata as m, tensorflow as tf;"
        "print(tf.__version__, m.version('tensorflow-estimator'))"
    )
    versions = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    tf_version, estimator_version = versions.stdout.split()
    assert tf_version.startswith(TF_VERSION + ".") and estimator_version.startswith(
        TF_VERSION + "."
    )


def test_generated_project_passes_its_own_tests(installed_project):
    project, python = installed_project
    result = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        check=False,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    sys.stdout.write(result.stdout[-3000:])
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
