"""A model_dir in a bucket: every file a run writes under it goes through TensorFlow's
filesystem layer (tf.io.gfile), as Estimator's checkpoints do.

TensorFlow's in-memory `ram://` filesystem stands in for gs:// and s3:// (the same layer,
no network). It lives in this process only, so these runs are in-process `train()` calls,
and every check reads through tf.io.gfile: a file written with `open()` would not be there.
The run's own record folder (Hydra's `.hydra/`, result.json) stays local, as it must.
"""

from __future__ import annotations

import json
import uuid

import pytest
import tensorflow as tf
from omegaconf import OmegaConf

from estimator_inmemory import checkpoints
from estimator_inmemory.plots import Painter, training_losses
from estimator_inmemory.report import main as report
from helpers import compose_train, train

gfile = tf.io.gfile


@pytest.fixture
def bucket():
    """A fresh `ram://` folder, removed afterwards."""
    root = f"ram://bucket-{uuid.uuid4().hex[:8]}"
    yield f"{root}/run"
    if gfile.exists(root):
        gfile.rmtree(root)


def saved_model_at(bucket: str, export: str) -> bool:
    """Whether a SavedModel was exported to `bucket/export` (relative, as best.json keeps it).

    TensorFlow writes a SavedModel to `temp-<timestamp>/` and renames the folder: GCS's and
    S3's filesystems rename a folder with its files, but ram:// renames only the folder's
    own entry, so here the files stay under the temp- name beside it.
    """
    folder, name = export.rsplit("/", 1)
    return gfile.exists(f"{bucket}/{export}") and any(
        gfile.exists(f"{bucket}/{folder}/{prefix}{name}/saved_model.pb") for prefix in ("", "temp-")
    )


def read_json(path: str) -> dict:
    with gfile.GFile(path) as f:
        return json.load(f)


def lines(path: str) -> list[dict]:
    with gfile.GFile(path) as f:
        return [json.loads(line) for line in f.read().splitlines()]


def test_a_run_in_a_bucket_keeps_its_best_stops_early_resumes_and_reports(
    bucket, tmp_path, caplog, capsys
):
    caplog.set_level("INFO")
    first = ["trainer.max_steps=300", "evaluator.every_n_iter=100", "evaluator.keep_best=2"]
    results = train(
        compose_train(f"model_dir={bucket}", "model=linear", *first),
        tmp_path / "first",
        overrides=[f"model_dir={bucket}", "model=linear", *first],
    )
    assert results["metrics"]["global_step"] == 300
    # Everything under model_dir, through tf.io.gfile.
    assert [e["step"] for e in lines(f"{bucket}/evaluations.jsonl")] == [0, 100, 200, 300]
    best = read_json(f"{bucket}/best/best.json")
    assert best["value"] == results["best"] and len(best["kept"]) == 2
    for kept in best["kept"]:
        assert gfile.exists(f"{bucket}/best/{kept['checkpoint']}.index")
    assert tf.train.latest_checkpoint(f"{bucket}/best").endswith(f"model.ckpt-{best['step']}")
    assert checkpoints.steps(bucket)[-1] == 300
    (exported,) = gfile.listdir(f"{bucket}/export/best")  # trainer.export=best
    assert saved_model_at(bucket, f"export/best/{exported}")
    assert gfile.stat(f"{bucket}/learning_curves.png").length > 10_000
    assert training_losses(bucket)  # TensorBoard's reader, through the same layer
    assert "name: linear" in gfile.GFile(f"{bucket}/config.yaml").read()  # for resumes
    assert "eval step 300: accuracy=" in gfile.GFile(f"{bucket}/train.log").read()
    assert any("hparams" in name or "events" in name for name in gfile.listdir(bucket))
    # The run's record stays local: result.json, naming its model_dir in the bucket.
    result = json.loads((tmp_path / "first" / "result.json").read_text())
    assert result["model_dir"] == bucket and result["best"]["value"] == results["best"]

    # Resume: more steps, a patience that runs out at once. The command names no model:
    # the model comes from the config stored in the bucket (a dnn would not restore).
    resume = ["trainer.max_steps=1000", "evaluator.every_n_iter=100", "evaluator.patience=1"]
    resumed = train(
        compose_train(f"model_dir={bucket}", *resume, "evaluator.min_delta=0.5"),
        tmp_path / "resume",
        overrides=[f"model_dir={bucket}", *resume, "evaluator.min_delta=0.5"],
    )
    assert "resuming" in caplog.text and f"{bucket}/config.yaml" in caplog.text
    assert resumed["stopped_early"] and resumed["metrics"]["global_step"] == 400
    record = read_json(f"{bucket}/best/best.json")
    assert record["early_stopped"]["step"] == 400 and record["step"] == best["step"]
    steps = [e["step"] for e in lines(f"{bucket}/evaluations.jsonl")]
    assert steps == [0, 100, 200, 300, 400]  # 300 was not evaluated twice
    log = gfile.GFile(f"{bucket}/train.log").read()
    assert "eval step 300" in log and "early stopping at step 400" in log  # appended

    for name, overrides in (("first", first), ("resume", resume)):  # as Hydra records them
        (tmp_path / name / ".hydra").mkdir()
        OmegaConf.save(OmegaConf.create(overrides), tmp_path / name / ".hydra" / "overrides.yaml")
    capsys.readouterr()
    assert report([str(tmp_path / "first"), str(tmp_path / "resume")]) == 0
    table = capsys.readouterr().out
    assert "first" in table and "resume" in table and "finished" in table


def test_checkpoint_evaluation_in_a_bucket_exports_the_best_beside_its_checkpoints(
    bucket, tmp_path
):
    cfg = compose_train(
        "evaluator=checkpoint",
        f"model_dir={bucket}",
        "trainer.max_steps=200",
        "trainer.save_checkpoints_steps=100",
        "trainer.keep_checkpoint_max=1",
        "evaluator.throttle_secs=0",
    )
    results = train(cfg, tmp_path)
    best = read_json(f"{bucket}/best/best.json")
    (kept,) = best["kept"]
    assert kept["export"].startswith("export/best/")  # relative to model_dir, wherever it is
    assert saved_model_at(bucket, kept["export"])
    assert [e["step"] for e in lines(f"{bucket}/evaluations.jsonl")] == [100, 200]
    assert checkpoints.steps(bucket) == [200]  # the evaluator pruned what it had passed
    assert best["value"] == results["best"]
    assert gfile.stat(f"{bucket}/learning_curves.png").length > 10_000


def test_the_painting_child_draws_a_buckets_picture_it_cannot_reach(bucket):
    # ram:// is this process's own, and the child has no TensorFlow: it draws locally,
    # from the evaluations this process read, and wait() copies the picture into place.
    gfile.makedirs(bucket)
    with gfile.GFile(f"{bucket}/evaluations.jsonl", "w") as f:
        for step, accuracy in ((0, 0.1), (100, 0.8), (200, 0.9)):
            f.write(json.dumps({"eval": "eval", "step": step, "accuracy": accuracy}) + "\n")
    with Painter(in_process=False) as painter:
        painter.paint(bucket, f"{bucket}/learning_curves.png", "accuracy", {"step": 200})
        assert painter.wait() == f"{bucket}/learning_curves.png"
    assert gfile.stat(f"{bucket}/learning_curves.png").length > 10_000
