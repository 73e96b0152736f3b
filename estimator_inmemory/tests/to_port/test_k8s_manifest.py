"""k8s/tfjob.yaml runs the tasks the local launcher runs, with the same image arguments.

Kubernetes is not available here: the manifest is loaded and checked against
`cluster.task_arguments`, the one function that says what each task type runs with.
"""

from pathlib import Path

import yaml

from {{ cookiecutter.package_name }}.cluster import TRAINING_JOBS, task_arguments

MANIFEST = Path(__file__).resolve().parents[1] / "k8s" / "tfjob.yaml"
# TFJob replica types, and the TF_CONFIG task type the operator gives each one.
REPLICA_TASK_TYPES = {"Chief": "chief", "Worker": "worker", "PS": "ps", "Evaluator": "evaluator"}


def documents() -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(MANIFEST.read_text())}


def test_every_task_type_runs_the_launchers_arguments_on_one_image_and_volume():
    manifest = documents()
    job, claim = manifest["TFJob"], manifest["PersistentVolumeClaim"]
    assert job["apiVersion"] == "kubeflow.org/v1"
    replicas = job["spec"]["tfReplicaSpecs"]
    assert set(replicas) == set(REPLICA_TASK_TYPES)
    assert {REPLICA_TASK_TYPES[r] for r in replicas} == {*TRAINING_JOBS, "evaluator"}
    chief_args = replicas["Chief"]["template"]["spec"]["containers"][0]["args"]
    model_dir = next(a for a in chief_args if a.startswith("model_dir=")).split("=", 1)[1]
    images, mounts = set(), set()
    for replica_type, replica in replicas.items():
        spec = replica["template"]["spec"]
        (container,) = spec["containers"]
        assert container["name"] == "tensorflow"  # the container the operator gives TF_CONFIG
        assert container["args"] == task_arguments(REPLICA_TASK_TYPES[replica_type], model_dir)
        assert "command" not in container  # the image's entry point: the training script
        images.add(container["image"])
        (mount,) = container["volumeMounts"]
        (volume,) = spec["volumes"]
        assert volume["name"] == mount["name"]
        assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        mounts.add(mount["mountPath"])
        assert replica["restartPolicy"] in ("OnFailure", "ExitCode")
    assert len(images) == 1
    (mount_path,) = mounts
    assert model_dir.startswith(mount_path.rstrip("/") + "/")  # on the shared volume
    assert "ReadWriteMany" in claim["spec"]["accessModes"]  # pods on several nodes


def test_one_chief_one_evaluator_and_the_evaluator_outlives_the_chief():
    job = documents()["TFJob"]
    replicas = job["spec"]["tfReplicaSpecs"]
    assert replicas["Chief"]["replicas"] == 1
    assert replicas["Evaluator"]["replicas"] == 1
    assert replicas["PS"]["replicas"] >= 1
    # The job "succeeds" when the chief ends; a policy that deletes running pods then would
    # kill the evaluator before its final evaluation.
    assert job["spec"]["runPolicy"]["cleanPodPolicy"] == "None"
