"""evaluator=checkpoint in one process: what it evaluates, exports, keeps and deletes.

Real trainings of the fixture project through `train(cfg)` (tf.estimator.train_and_evaluate
without TF_CONFIG); the TF_CONFIG shapes are in test_cluster_config.py, real clusters in
test_cluster.py and test_platform_clusters.py (slow). Also the pieces a cluster ends with:
the evaluator's stop right after its final evaluation, and the markers the ps tasks read.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from estimator_inmemory import Dataset, train_input_fn
from estimator_inmemory.checkpoint import (
    StopAfterFinalEvaluation,
    is_done,
    mark_done,
    roles_to_wait_for,
)
from estimator_inmemory.cluster import ClusterTask
from estimator_inmemory.errors import ConfigError
from estimator_inmemory.tf_internals import EVALUATED
from helpers import compose_train, train

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
    results = train(cfg, tmp_path)
    metrics = results["metrics"]
    steps = [e["step"] for e in evaluations(tmp_path)]
    assert steps == [100, 200, 300]  # each new checkpoint (throttle_secs=0), the last one too
    assert metrics["global_step"] == 300 and metrics["accuracy"] > 0.5
    for step in steps:
        assert f"eval step {step}: accuracy=" in caplog.text
    assert "train_and_evaluate as one process" in caplog.text
    assert list((tmp_path / "eval").glob("events.out.tfevents.*"))
    best = best_record(tmp_path)
    assert best["monitor"] == "accuracy" and best["mode"] == "max"
    assert best["value"] == max(e["accuracy"] for e in evaluations(tmp_path)) == results["best"]
    (kept,) = best["kept"]  # evaluator.keep_best=1: older best exports were removed
    assert kept["step"] == best["step"] and kept["checkpoint"] == f"model.ckpt-{best['step']}"
    assert (tmp_path / kept["export"] / "saved_model.pb").is_file()
    exported = [p.name for p in (tmp_path / "export" / "best").iterdir()]
    assert exported == [kept["export"].split("/")[-1]]
    # The evaluator deleted what it had passed, keeping trainer.keep_checkpoint_max=1.
    assert sorted(p.name for p in tmp_path.glob("model.ckpt-*.index")) == ["model.ckpt-300.index"]
    # Readable as an in-memory run is: its picture, and result.json for the report.
    assert (tmp_path / "learning_curves.png").stat().st_size > 10_000
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["best"]["value"] == results["best"]
    assert result["metrics"]["accuracy"] == pytest.approx(metrics["accuracy"])
    assert not (tmp_path / "done").exists()  # one process: no cluster to end


def test_a_restarted_evaluator_never_exports_a_worse_model(tmp_path):
    train(
        compose_train("evaluator=checkpoint", "trainer.max_steps=300", *CHECKPOINTS_EVERY_100),
        tmp_path,
    )
    # As if an earlier evaluator had exported a model better than any this run will reach:
    # a new process's evaluator knows that best only from best.json.
    record = best_record(tmp_path)
    record["value"] = record["kept"][0]["value"] = 0.999
    (tmp_path / "best" / "best.json").write_text(json.dumps(record))
    exports = sorted(p.name for p in (tmp_path / "export" / "best").iterdir())
    resumed = train(
        compose_train(
            "evaluator=checkpoint",
            "trainer.max_steps=400",
            f"model_dir={tmp_path}",
            *CHECKPOINTS_EVERY_100,
        ),
        tmp_path / "resume",
    )
    assert resumed["metrics"]["global_step"] == 400 and resumed["best"] == 0.999
    after = best_record(tmp_path)
    assert (after["value"], after["step"], after["kept"]) == (0.999, record["step"], record["kept"])
    assert after["evaluations_without_improvement"] == 1 and after["last_step"] == 400
    assert evaluations(tmp_path)[-1]["step"] == 400
    assert not evaluations(tmp_path)[-1]["improved"]
    assert sorted(p.name for p in (tmp_path / "export" / "best").iterdir()) == exports


def test_export_last_exports_the_final_checkpoint_only(tmp_path):
    cfg = compose_train(
        "evaluator=checkpoint",
        "trainer.max_steps=200",
        "trainer.export=last",
        *CHECKPOINTS_EVERY_100,
    )
    train(cfg, tmp_path)
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
        train(compose_train("evaluator=checkpoint", override), tmp_path)
    assert not list(tmp_path.iterdir())


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


def test_the_evaluator_loop_ends_right_after_evaluating_the_final_checkpoint():
    """Without this, TensorFlow's loop sleeps throttle_secs after the final evaluation too."""
    listener = StopAfterFinalEvaluation(max_steps=1000)
    evaluated = lambda step: SimpleNamespace(status=EVALUATED, metrics={"global_step": step})
    assert listener.after_eval(evaluated(500)) is True
    assert listener.after_eval(SimpleNamespace(status="no new checkpoint", metrics=None))
    assert listener.after_eval(evaluated(1000)) is False
    assert listener.after_eval(evaluated(1003)) is False  # async workers overshoot a little


def test_a_task_marks_its_part_done_for_this_runs_max_steps(tmp_path):
    chief = ClusterTask("chief", 0, 2, evaluator=True)
    assert not is_done(str(tmp_path), "chief-0", 1000)
    mark_done(str(tmp_path), chief, 1000, step=1000)
    assert is_done(str(tmp_path), "chief-0", 1000)
    # A resumed run to more steps does not take the earlier run's marker for its own.
    assert not is_done(str(tmp_path), "chief-0", 2000)
    (tmp_path / "done" / "worker-0.json").write_text("{half a file")
    assert not is_done(str(tmp_path), "worker-0", 1000)


@pytest.mark.parametrize(
    "cluster, roles",
    [
        (  # Kubeflow lists the evaluator: the ps tasks wait for it too
            {"chief": ["a:1"], "worker": ["b:1", "c:1"], "ps": ["d:1"], "evaluator": ["e:1"]},
            ["chief-0", "worker-0", "worker-1", "evaluator-0"],
        ),
        ({"master": ["a:1"], "worker": ["b:1"], "ps": ["a:2", "b:2"]}, ["master-0", "worker-0"]),
    ],
)
def test_a_ps_task_waits_for_every_training_task_and_a_listed_evaluator(cluster, roles):
    tf_config = json.dumps({"cluster": cluster, "task": {"type": "ps", "index": 0}})
    assert roles_to_wait_for(tf_config) == roles
