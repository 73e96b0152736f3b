"""A generated project installs with its own pins and passes its own tests.

Each tox env (py311-tf212 ... py311-tf215) sets TEMPLATE_TF_VERSION; the project baked
for that version is installed into a fresh virtual environment, TensorFlow included,
from nothing but the project's own pyproject.toml, and its test suite runs there.
"""

import os
import subprocess
import sys

import pytest
from template_repo import SUPPORTED_TF, create_venv, install

TF_VERSION = os.environ.get("TEMPLATE_TF_VERSION")
pytestmark = pytest.mark.skipif(
    not TF_VERSION, reason="set by tox: run `tox -e py311-tf215` (or another TF env)"
)


@pytest.fixture(scope="module")
def installed_project(cookies_session, tmp_path_factory):
    assert TF_VERSION in SUPPORTED_TF, f"TEMPLATE_TF_VERSION={TF_VERSION} is not supported"
    result = cookies_session.bake(extra_context={"tf_version": TF_VERSION})
    assert result.exit_code == 0, result.exception
    python = create_venv(tmp_path_factory.mktemp("venv"))
    install(result.project_path, python)
    return result.project_path, python


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
