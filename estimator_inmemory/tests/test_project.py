"""Project: where a project's Hydra configs are found (`config_dir`), what it names by
default, and that any project's conf/ composes with the library's structured configs."""

import sys
from pathlib import Path

import pytest
from hydra.errors import MissingConfigException

from estimator_inmemory import Project, config
from fixture_project.train import project as fixture

TRAIN_YAML = """\
defaults:
  - trainer: default
  - evaluator: in_memory
  - runtime: default
  - _self_

model:
  name: linear
data:
  name: digits
  conf: {where}  # which conf/ this is
model_dir: null
"""


@pytest.fixture
def make_package(tmp_path, monkeypatch):
    """`make_package(name, source_conf=, packaged_conf=)`: a project's package at
    src/<name>/ (an editable install's layout), importable, with conf/ where asked."""

    def make(name, *, source_conf=False, packaged_conf=False):
        package = tmp_path / name / "src" / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        folders = {"source": tmp_path / name / "conf", "packaged": package / "conf"}
        for where, wanted in (("source", source_conf), ("packaged", packaged_conf)):
            if wanted:
                folders[where].mkdir()
                (folders[where] / "train.yaml").write_text(TRAIN_YAML.format(where=where))
        monkeypatch.syspath_prepend(str(package.parent))
        monkeypatch.delitem(sys.modules, name, raising=False)
        return folders

    return make


def test_a_source_tree_uses_its_conf_beside_src(make_package):
    folders = make_package("source_layout_project", source_conf=True)
    assert Project("source_layout_project").config_dir == str(folders["source"])


def test_conf_inside_the_package_wins(make_package):
    # A wheel carries conf/ inside the package; an editable install of the same tree keeps
    # its conf/ beside src/ too: the packaged one is what was installed.
    folders = make_package("packaged_project", source_conf=True, packaged_conf=True)
    project = Project("packaged_project")
    assert project.config_dir == str(folders["packaged"])
    assert project.compose().data.conf == "packaged"


def test_a_given_config_dir_is_used_as_it_is(make_package, tmp_path):
    make_package("given_conf_project", packaged_conf=True)
    assert Project("given_conf_project", config_dir=str(tmp_path)).config_dir == str(tmp_path)


def test_the_fixture_projects_conf_is_its_packaged_one():
    assert Path(fixture.config_dir) == Path(__file__).parent / "fixture_project" / "conf"


def test_a_project_names_its_registries_and_entry_module_after_its_package():
    project = Project("my_project")
    assert project.models == "my_project.model:MODELS"
    assert project.datasets == "my_project.data:DATASETS"
    assert project.entry_module == "my_project.train"
    other = Project("my_project", models="x:M", datasets="y:D", entry_module="z")
    assert (other.models, other.datasets, other.entry_module) == ("x:M", "y:D", "z")


def test_any_projects_conf_composes_with_the_librarys_schemas(make_package):
    make_package("composing_project", source_conf=True)
    cfg = Project("composing_project").compose("trainer.max_steps=5", "evaluator.every_n_iter=2")
    checked = config.settings(cfg)
    assert checked.trainer == config.Trainer(max_steps=5)
    assert checked.evaluator == config.InMemoryEvaluator(every_n_iter=2)
    assert (checked.model.name, checked.data.conf) == ("linear", "source")


def test_a_project_without_conf_is_told_which_folder_is_missing(make_package):
    folders = make_package("conf_less_project")
    with pytest.raises(MissingConfigException, match="Primary config directory not found") as e:
        Project("conf_less_project").compose()
    assert str(folders["source"]) in str(e.value)
