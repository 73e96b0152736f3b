"""k8s/tfjob.yaml and k8s/jobset.yaml run the tasks the local launcher runs, with its arguments.

Kubernetes is not available here: each manifest is loaded and checked against
`estimator_inmemory.cluster.task_arguments`, the one function that says what each task type
runs with, and the JobSet's environment is played through `tf_config_from_jobset`, the
function its containers build TF_CONFIG with.
"""

import json
from pathlib import Path

import yaml
from estimator_inmemory.cluster import (
    check_cluster_config,
    task_arguments,
    tf_config_from_jobset,
)

K8S = Path(__file__).resolve().parents[1] / "k8s"
TASK_TYPES = ("chief", "worker", "ps", "evaluator")
# TFJob replica types, and the TF_CONFIG task type the operator gives each one.
REPLICA_TASK_TYPES = {"Chief": "chief", "Worker": "worker", "PS": "ps", "Evaluator": "evaluator"}


def documents(name: str) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all((K8S / name).read_text())}


def model_dir_of(container: dict) -> str:
    return next(a for a in container["args"] if a.startswith("model_dir=")).split("=", 1)[1]


def check_pod(spec: dict, task_type: str, model_dir: str, claim: dict) -> tuple[str, str]:
    """One task's pod: the launcher's arguments on the image, model_dir on the shared claim.
    Returns (image, mount path)."""
    (container,) = spec["containers"]
    assert container["name"] == "tensorflow"  # the container Kubeflow gives TF_CONFIG
    assert container["args"] == task_arguments(task_type, model_dir)
    assert "command" not in container  # the image's entry point: the training script
    (mount,) = container["volumeMounts"]
    (volume,) = spec["volumes"]
    assert volume["name"] == mount["name"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    return container["image"], mount["mountPath"]


def check_shared(images: set, mounts: set, model_dir: str, claim: dict) -> None:
    assert len(images) == 1
    (mount_path,) = mounts
    assert model_dir.startswith(mount_path.rstrip("/") + "/")  # on the shared volume
    assert "ReadWriteMany" in claim["spec"]["accessModes"]  # pods on several nodes


def test_the_tfjob_runs_every_task_type_with_the_launchers_arguments_on_one_image_and_volume():
    manifest = documents("tfjob.yaml")
    job, claim = manifest["TFJob"], manifest["PersistentVolumeClaim"]
    assert job["apiVersion"] == "kubeflow.org/v1"
    assert "Kubeflow Training Operator v1" in (K8S / "tfjob.yaml").read_text().splitlines()[0]
    replicas = job["spec"]["tfReplicaSpecs"]
    assert set(replicas) == set(REPLICA_TASK_TYPES)
    model_dir = model_dir_of(replicas["Chief"]["template"]["spec"]["containers"][0])
    images, mounts = set(), set()
    for replica_type, replica in replicas.items():
        image, mount = check_pod(
            replica["template"]["spec"], REPLICA_TASK_TYPES[replica_type], model_dir, claim
        )
        images.add(image)
        mounts.add(mount)
        assert replica["restartPolicy"] in ("OnFailure", "ExitCode")
    check_shared(images, mounts, model_dir, claim)


def test_the_tfjob_succeeds_only_once_its_one_evaluator_has_evaluated_the_final_checkpoint():
    job = documents("tfjob.yaml")["TFJob"]
    replicas = job["spec"]["tfReplicaSpecs"]
    assert replicas["Chief"]["replicas"] == 1  # the operator's success: the chief's
    assert replicas["Evaluator"]["replicas"] == 1
    assert replicas["PS"]["replicas"] >= 1
    # The chief waits for the evaluator's final evaluation because the evaluator is in the
    # TF_CONFIG the operator writes; then deleting what still runs at the end spares it.
    chief = json.dumps(
        {
            "cluster": {
                "chief": ["a:2222"],
                "worker": ["b:2222"],
                "ps": ["c:2222"],
                "evaluator": ["d:2222"],
            },
            "task": {"type": "chief", "index": 0},
            "environment": "cloud",
        }
    )
    assert check_cluster_config(chief).evaluator
    assert job["spec"]["runPolicy"]["cleanPodPolicy"] in ("Running", "None")
    assert not job["spec"].get("enableDynamicWorker")  # its sparseCluster is refused


def jobset_parts():
    manifest = documents("jobset.yaml")
    return manifest["JobSet"], manifest["PersistentVolumeClaim"]


def test_the_jobset_runs_every_task_type_with_the_launchers_arguments_on_one_image_and_volume():
    jobset, claim = jobset_parts()
    assert jobset["apiVersion"] == "jobset.x-k8s.io/v1alpha2"
    jobs = {job["name"]: job for job in jobset["spec"]["replicatedJobs"]}
    assert set(jobs) == set(TASK_TYPES)
    model_dir = model_dir_of(jobs["chief"]["template"]["spec"]["template"]["spec"]["containers"][0])
    images, mounts = set(), set()
    for role, job in jobs.items():
        image, mount = check_pod(
            job["template"]["spec"]["template"]["spec"], role, model_dir, claim
        )
        images.add(image)
        mounts.add(mount)
    check_shared(images, mounts, model_dir, claim)
    # Stable pod hostnames, resolvable while the tasks start.
    assert jobset["spec"]["network"]["enableDNSHostnames"] is True
    assert jobset["spec"]["network"].get("publishNotReadyAddresses", True) is True


def test_the_jobset_succeeds_when_chief_and_evaluator_complete():
    jobset, _ = jobset_parts()
    policy = jobset["spec"]["successPolicy"]
    assert policy["operator"] == "All"
    assert sorted(policy["targetReplicatedJobs"]) == ["chief", "evaluator"]


def test_each_jobset_pod_builds_the_tf_config_of_its_task_from_its_environment():
    """Plays JobSet: the labels the env's fieldRefs read, and JOB_COMPLETION_INDEX."""
    jobset, _ = jobset_parts()
    name = jobset["metadata"]["name"]
    jobs = {job["name"]: job for job in jobset["spec"]["replicatedJobs"]}
    for role, job in jobs.items():
        spec = job["template"]["spec"]
        assert job.get("replicas", 1) == 1  # one Job per role: its pods are the role's tasks
        assert spec["parallelism"] == spec["completions"]
        (container,) = spec["template"]["spec"]["containers"]
        env = {item["name"]: item for item in container["env"]}
        counts = dict(item.split("=") for item in env["TF_JOBSET_TASKS"]["value"].split(","))
        assert int(counts[role]) == spec["parallelism"], (role, counts)
        labels = {
            "jobset.sigs.k8s.io/jobset-name": name,
            "jobset.sigs.k8s.io/replicatedjob-name": role,
            "jobset.sigs.k8s.io/job-index": "0",
        }
        for index in range(spec["parallelism"]):
            environ = {"JOB_COMPLETION_INDEX": str(index)}
            for variable, item in env.items():
                if "value" in item:
                    environ[variable] = item["value"]
                else:
                    path = item["valueFrom"]["fieldRef"]["fieldPath"]
                    label = path.removeprefix("metadata.labels['").removesuffix("']")
                    environ[variable] = labels[label]
            tf_config = tf_config_from_jobset(environ)
            task = check_cluster_config(tf_config)
            assert (task.type, task.index) == (role, index)
            cluster = json.loads(tf_config)["cluster"]
            assert cluster["chief"] == [f"{name}-chief-0-0.{name}:2222"]
