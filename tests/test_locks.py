"""Every supported TF version has a lock that is current with the generated pyproject.toml,
and a generated project receives its version's lock as constraints.txt.

The freshness check resolves again through PyPI (seconds with uv's cache): in a TF env
(TEMPLATE_TF_VERSION set) for that version only, elsewhere for all of them.
"""

import os

import pytest
from packaging.requirements import Requirement
from packaging.version import Version
from template_repo import LOCKS_DIR, SUPPORTED_TF, compile_lock, lock_path

TF_VERSION = os.environ.get("TEMPLATE_TF_VERSION")
CHECKED = [TF_VERSION] if TF_VERSION else SUPPORTED_TF


def test_locks_are_exactly_those_of_the_supported_versions():
    locked = sorted(p.stem.removeprefix("tf") for p in LOCKS_DIR.glob("*.txt"))
    assert locked == SUPPORTED_TF, "run `tox -e lock` and commit locks/"


@pytest.mark.parametrize("tf_version", SUPPORTED_TF)
def test_every_line_pins_one_released_version(tf_version):
    lines = lock_path(tf_version).read_text().splitlines()
    requirements = [Requirement(line) for line in lines if line and not line.startswith("#")]
    by_name = {r.name: r for r in requirements}
    assert len(by_name) == len(requirements)  # one pin per package (no per-Python forks)
    for requirement in requirements:
        [pin] = requirement.specifier
        assert pin.operator == "==", requirement
        assert not Version(pin.version).is_prerelease, f"{requirement}: a pre-release"
    tf_release = by_name["tensorflow-cpu"].specifier
    assert next(iter(tf_release)).version.startswith(f"{tf_version}.")


@pytest.mark.parametrize("tf_version", CHECKED)
def test_lock_is_current_with_the_generated_pyproject(tf_version, tmp_path):
    fresh = compile_lock(tf_version, tmp_path)
    assert fresh == lock_path(tf_version).read_text(), (
        f"locks/tf{tf_version}.txt is stale: run `tox -e lock` and commit locks/"
    )


@pytest.mark.parametrize("tf_version", SUPPORTED_TF)
def test_project_receives_its_versions_lock_as_constraints(cookies, tf_version):
    result = cookies.bake(extra_context={"tf_version": tf_version})
    assert result.exit_code == 0, result.exception
    project = result.project_path
    assert (project / "constraints.txt").read_bytes() == lock_path(tf_version).read_bytes()
    assert not (project / "locks").exists()
    install_line = "pip install -c constraints.txt -e '.[cpu,test]'"
    assert install_line in (project / "README.md").read_text()
    assert "pip install --constraint constraints.txt" in (project / "Dockerfile").read_text()
