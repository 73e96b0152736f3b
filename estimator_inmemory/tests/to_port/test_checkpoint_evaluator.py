"""evaluator=checkpoint in one process, and the TF_CONFIG clusters it accepts.

Real trainings through `train(cfg)` (tf.estimator.train_and_evaluate without TF_CONFIG);
the cluster itself runs in tests/test_cluster.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import compose_train

from {{ cookiecutter.package_name }}.cluster import ClusterTask, check_tf_config
from {{ cookiecutter.package_name }}.data import Dataset, train_input_fn
from {{ cookiecutter.package_name }}.errors import ConfigError, UnsupportedClusterError
from {{ cookiecutter.package_name }}.inmemory import MultiNodeError
from {{ cookiecutter.package_name }}.train import train

CHECKPOINTS_EVERY_100 = ["trainer.save_checkpoints_steps=100", "evaluator.throttle_secs=0"]


def evaluations(model_dir) -> list[dict]:
    return [json.loads(line) for line in (model_dir / "evaluations.jsonl").open()]


def best_record(model_dir) -> dict:
    return json.loads((model_dir / "best" / "best.json").read_text())


def test_one_process_evaluates_its_checkpoints_and_exports_the_best(tmp_path, caplog):
    caplog.set_level("INFO")
    cfg = compose_train(
        "evaluator=checkpoint",
        "trainer.max_steps=300",
        "trainer.keep_checkpoint_max=1",
        *CHECKPOINTS_EVERY_100,
    )
    results = train(cfg, run_dir=tmp_path)
    metrics = results["metrics"]
    steps = [e["step"] for e in evaluations(tmp_path)]
    assert steps == [100, 200, 300]  # each new checkpoint (throttle_secs=0), the last one too
    assert metrics["global_step"] == 300 and metrics["accuracy"] > 0.5
    for step in steps:
        assert f"eval step {step}: accuracy=" in caplog.text
    assert list((tmp_path / "eval").glob("events.out.tfevents.*"))
    best = best_record(tmp_path)
    assert best["monitor"] == "accuracy" and best["mode"] == "max"
    assert best["value"] == max(e["accuracy"] for e in evaluations(tmp_path)) == results["best"]
    (export,) = best["exports"]  # evaluator.keep_best=1: older best exports were removed
    assert (tmp_path / export / "saved_model.pb").is_file()
    assert [p.name for p in (tmp_path / "export" / "best").iterdir()] == [export.split("/")[-1]]
    # The evaluator deleted what it had passed, keeping trainer.keep_checkpoint_max=1.
    assert sorted(p.name for p in tmp_path.glob("model.ckpt-*.index")) == ["model.ckpt-300.index"]
    # Readable as an in-memory run is: its picture, and result.json for the report.
    assert (tmp_path / "learning_curves.png").stat().st_size > 10_000
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["best"]["value"] == results["best"]
    assert result["metrics"]["accuracy"] == pytest.approx(metrics["accuracy"])


def test_a_restarted_evaluator_never_exports_a_worse_model(tmp_path):
    first = train(
        compose_train("evaluator=checkpoint", "trainer.max_steps=300", *CHECKPOINTS_EVERY_100),
        run_dir=tmp_path,
    )["metrics"]
    record = best_record(tmp_path)
    exports = sorted(p.name for p in (tmp_path / "export" / "best").iterdir())
    # Resume the run with a learning rate that wrecks the weights: a new process's evaluator
    # only knows the best from best.json.
    wrecked = train(
        compose_train(
            "evaluator=checkpoint",
            "trainer.max_steps=400",
            "trainer.learning_rate=1000.0",
            f"model_dir={tmp_path}",
            *CHECKPOINTS_EVERY_100,
        ),
        run_dir=tmp_path / "resume",
    )["metrics"]
    assert wrecked["global_step"] == 400
    assert wrecked["accuracy"] < first["accuracy"]
    assert best_record(tmp_path) == record
    assert sorted(p.name for p in (tmp_path / "export" / "best").iterdir()) == exports


def test_export_last_exports_the_final_checkpoint_only(tmp_path):
    cfg = compose_train(
        "evaluator=checkpoint",
        "trainer.max_steps=200",
        "trainer.export=last",
        *CHECKPOINTS_EVERY_100,
    )
    train(cfg, run_dir=tmp_path)
    assert len(list((tmp_path / "export" / "last").glob("*/saved_model.pb"))) == 1
    assert not (tmp_path / "export" / "best").exists()


@pytest.mark.parametrize(
    "override, message",
    [
        ("evaluator.throttle_secs=-1", "evaluator.throttle_secs must be a number of seconds"),
        ("evaluator.steps=0", "evaluator.steps must be null or a positive integer"),
        ("evaluator.keep_best=0", "evaluator.keep_best must be a positive integer"),
        ("evaluator.max_worker_delay_secs=-5", "evaluator.max_worker_delay_secs must be null"),
    ],
)
def test_bad_checkpoint_evaluator_values_are_refused_before_anything_is_written(
    tmp_path, override, message
):
    with pytest.raises(ConfigError, match=message):
        train(compose_train("evaluator=checkpoint", override), run_dir=tmp_path)
    assert not list(tmp_path.iterdir())


CLUSTER = {"chief": ["h:1"], "worker": ["h:2", "h:3"], "ps": ["h:4"]}


def tf_config(cluster: dict, task_type: str | None = None, index: int = 0) -> str:
    task = {"type": task_type, "index": index}
    return json.dumps({"cluster": cluster, "task": task} if task_type else {"cluster": cluster})


@pytest.mark.parametrize(
    "task_type, index, expected",
    [
        ("chief", 0, ClusterTask("chief", 0, 3)),
        ("worker", 1, ClusterTask("worker", 1, 3)),
        ("ps", 0, ClusterTask("ps", 0, 3)),
        ("evaluator", 0, ClusterTask("evaluator", 0, 3)),
    ],
)
def test_the_cluster_layout_the_checkpoint_path_accepts(task_type, index, expected):
    assert check_tf_config(tf_config(CLUSTER, task_type, index)) == expected


def test_no_tf_config_is_one_process():
    assert check_tf_config(None) == ClusterTask()
    no_cluster = {}
    assert check_tf_config(tf_config(no_cluster, "chief")).shard == (1, 0)


def test_training_tasks_read_disjoint_parts_that_cover_the_data():
    tasks = [ClusterTask("chief", 0, 3), ClusterTask("worker", 0, 3), ClusterTask("worker", 1, 3)]
    assert [t.shard for t in tasks] == [(3, 0), (3, 1), (3, 2)]
    ids = np.arange(10, dtype=np.float32).reshape(10, 1)
    data = Dataset(ids, np.zeros(10, np.int32), ids, np.zeros(10, np.int32), n_classes=2)
    seen = []
    for task in tasks:
        shards, shard = task.shard
        size = len(range(shard, 10, shards))
        features, _ = next(iter(train_input_fn(data, size, seed=0, shards=shards, shard=shard)()))
        seen.append(sorted(features["x"].numpy().ravel().tolist()))
    assert sorted(x for part in seen for x in part) == list(range(10))  # each example once


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "TF_CONFIG is not JSON"),
        (
            tf_config({**CLUSTER, "evaluator": ["h:5"]}, "evaluator"),
            "the evaluator is not part of the training cluster",
        ),
        (tf_config({"master": ["h:1"]}, "master"), "rename 'master'"),
        (tf_config({"worker": ["h:1"], "ps": ["h:2"]}, "worker"), "exactly one"),
        (tf_config({"chief": ["h:1"], "worker": ["h:2"]}, "chief"), "no 'ps'"),
        (tf_config(CLUSTER), "needs this process's 'task'"),
        (tf_config(CLUSTER, "worker", 2), "not in its cluster"),
        (tf_config(CLUSTER, "evaluator", 1), "one evaluator"),
    ],
)
def test_a_cluster_the_checkpoint_path_cannot_run_stops_before_training(
    tmp_path, monkeypatch, text, message
):
    monkeypatch.setenv("TF_CONFIG", text)
    with pytest.raises(UnsupportedClusterError, match=message):
        train(compose_train("evaluator=checkpoint"), run_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_in_memory_evaluation_refuses_a_cluster_and_names_the_checkpoint_evaluator(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("TF_CONFIG", tf_config(CLUSTER, "chief"))
    with pytest.raises(MultiNodeError, match="evaluator=checkpoint"):
        train(compose_train(), run_dir=tmp_path)
    assert not list(tmp_path.iterdir())
