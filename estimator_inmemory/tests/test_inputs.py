"""What a person gives a run is checked before TensorFlow starts: a key nothing reads is
refused with the keys that exist, closest first; a data path names what is wrong with it."""

import pytest

from estimator_inmemory.errors import DataError, UnknownKeyError
from helpers import PACKAGE, compose_train, run_entry_point, run_python, train, write_iris_csv

UNKNOWN = [
    # Hydra refuses data.path=x and hints +data.path=x, which it then takes.
    (
        ["+data.path=x"],
        (
            "data.path is not read by anything: the keys of data (conf/data/digits.yaml) are, "
            "closest first, name, eval_fraction"
        ),
    ),
    (
        ["data=csv", "data.train_path=a", "data.eval_path=b", "+data.train_file=a"],
        (
            "data.train_file is not read by anything: the keys of data (conf/data/csv.yaml) are, "
            "closest first, train_path, "
        ),
    ),
    (
        ["+evaluator.every_n_itr=5"],
        (
            "evaluator.every_n_itr is not read by anything: the keys of evaluator (in_memory) are, "
            "closest first, every_n_iter, "
        ),
    ),
    (
        ["+model.hidden_unit=[8]"],
        (
            "model.hidden_unit is not read by anything: the keys of model (conf/model/dnn.yaml) "
            "are, closest first, hidden_units, "
        ),
    ),
    (
        ["+learning_rate=0.1"],
        (
            "learning_rate is not read by anything: the keys of the config (train.yaml) are, "
            "closest first, "
        ),
    ),
]


@pytest.mark.parametrize("overrides, message", UNKNOWN, ids=[o[-1] for o, _ in UNKNOWN])
def test_a_key_nothing_reads_is_refused_with_the_keys_that_exist(tmp_path, overrides, message):
    result = run_entry_point(*overrides, f"hydra.run.dir={tmp_path / 'run'}", check=False)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stderr.startswith(f"error: {message}")
    assert len(result.stderr.strip().splitlines()) == 1  # one line, no traceback
    assert "eval step" not in result.stdout + result.stderr  # nothing trained
    assert not (tmp_path / "run").exists()


def test_train_cfg_refuses_it_before_tensorflow_is_imported(tmp_path):
    code = (
        "import sys\n"
        f"from {PACKAGE}.train import project\n"
        "from estimator_inmemory.errors import UnknownKeyError\n"
        "cfg = project.compose('+data.path=x')\n"
        "try:\n"
        f"    project.train(cfg, {str(tmp_path)!r})\n"
        "except UnknownKeyError as error:\n"
        "    print(type(error).__name__, 'tensorflow' in sys.modules)\n"
    )
    result = run_python(code)
    assert result.stdout.split() == ["UnknownKeyError", "False"], result.stderr[-2000:]


def test_every_key_the_configs_declare_is_taken(tmp_path):
    # The refusal must not catch what the YAML and the schemas declare: every key given.
    cfg = compose_train(
        "trainer.max_steps=2",
        "trainer.export=none",
        "evaluator.every_n_iter=1",
        "evaluator.patience=5",
        "runtime.require_gpu=false",
        "model.hidden_units=[8]",
        "model.dropout=0.1",
        "data.eval_fraction=0.25",
        "data.name=digits",
    )
    assert train(cfg, tmp_path)["metrics"]["global_step"] == 2
    with pytest.raises(UnknownKeyError, match="data.split is not read by anything"):
        train(compose_train("+data.split=3"), tmp_path / "other")


def test_a_directory_given_as_a_data_file_is_named_as_a_directory(tmp_path):
    train_csv, _ = write_iris_csv(tmp_path)
    folder = tmp_path / "eval_data"
    folder.mkdir()
    overrides = ["data=csv", f"data.train_path={train_csv}", f"data.eval_path={folder}"]
    result = run_entry_point(*overrides, f"hydra.run.dir={tmp_path / 'run'}", check=False)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: data file {folder} is a directory, not a CSV file")
    assert "does not exist" not in result.stderr
    with pytest.raises(DataError, match="is a directory, not a CSV file"):
        train(compose_train(*overrides), tmp_path / "in_process")
