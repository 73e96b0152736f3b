"""Two logical CPU devices, the fixture project, its digits as a fixture, and a temp folder
of the session's own.

The devices let distribution tests mirror across devices on any machine; this must happen
before TensorFlow first runs an op, hence here, at collection time.

A passing run leaves nothing in the temp folder: pytest removes its own folders when every
test passed (`tmp_path_retention_policy = "failed"` in pyproject.toml); everything else this
process and the processes it starts write there (TensorFlow's autograph files, TensorBoard's
info files, the training runs' own temp folders) goes into a folder of the session's own,
removed when the session ends, also when it is killed (`estimator_inmemory.scratch`).
"""

import pytest
import tensorflow as tf

from estimator_inmemory.scratch import use_private_tempdir

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


@pytest.fixture(autouse=True)
def fresh_summary_writers():
    """Each test's TensorFlow summary writers end with it: pytest may give a later test the
    folder name of an earlier one it removed, and TensorFlow's per-folder writer cache would
    hand that test a writer of a deleted file."""
    yield
    tf.compat.v1.summary.FileWriterCache.clear()


@pytest.fixture(scope="session")
def data():
    """The fixture project's default dataset (scikit-learn's bundled digits)."""
    from fixture_project.data import DATASETS
    from helpers import compose_train

    return DATASETS["digits"](compose_train().data)


@pytest.fixture(scope="session", autouse=True)
def private_temp_folder(tmp_path_factory):
    """The session's own temp folder (pytest's base temp folder stays where pytest keeps it,
    so a failed test's files are still there to look at)."""
    tmp_path_factory.getbasetemp()
    return use_private_tempdir("estimator-inmemory-tests-")


# Every model of the fixture project on both tasks: (model, task).
MODEL_TASKS = [(m, t) for t in ("classification", "regression") for m in ("dnn", "linear", "mlp")]


@pytest.fixture(scope="session", params=MODEL_TASKS, ids=[f"{m}-{t}" for m, t in MODEL_TASKS])
def trained(request, tmp_path_factory):
    """One short in-process run per model and task, shared by test_models (it learns) and
    test_serving (its SavedModel): 200 steps evaluated every 100, the last weights exported
    (those estimator.predict() reads). Digits for classification, diabetes CSV for regression.

    Returns (model, task, cfg, run_dir, results).
    """
    from helpers import compose_train, diabetes_csv, train

    model, task = request.param
    folder = tmp_path_factory.mktemp(f"{model}-{task}")
    cfg = compose_train(
        f"model={model}",
        *(diabetes_csv(folder) if task == "regression" else []),
        "trainer.max_steps=200",
        "evaluator.every_n_iter=100",
        "trainer.export=last",
    )
    return model, task, cfg, folder / "run", train(cfg, folder / "run")
