"""The TF_CONFIG shapes evaluator=checkpoint accepts, as the platforms write them, and refusals.

Each fixture is written as its scheduler writes it, with the source cited; host names are
the schedulers' own patterns. No TensorFlow session and no process here: the checks run
before TensorFlow reads TF_CONFIG (a few tests call `train()` to show nothing is written).
"""

from __future__ import annotations

import json

import pytest

from estimator_inmemory.cluster import (
    ClusterTask,
    Task,
    adopt_jobset_environment,
    check_cluster_config,
    run_folders,
    tf_config_from_jobset,
    tf_configs,
)
from estimator_inmemory.errors import (
    JobSetEnvironmentError,
    MasterWithEvaluatorError,
    MultiNodeError,
    NoChiefError,
    NoParameterServerError,
    SeveralChiefsError,
    SeveralEvaluatorsError,
    SparseClusterError,
    TaskNotInClusterError,
    UnknownTaskTypeError,
    UnsupportedClusterError,
)
from estimator_inmemory.guards import check_tf_config
from helpers import compose_train, train


def kubeflow_tfjob(task_type: str, index: int = 0) -> str:
    """A TFJob (kubeflow.org/v1) named `run` in namespace `ml`, with Chief 1, Worker 2, PS 1,
    Evaluator 1, as Kubeflow's Training Operator v1 writes TF_CONFIG: every replica type in
    'cluster', the evaluator included, as `<job>-<type>-<i>.<namespace>.svc:<port>`, plus
    "environment": "cloud" (kubeflow/training-operator pkg/controller.v1/tensorflow/
    tensorflow.go: genTFConfigJSONStr, genClusterSpec; the older tf-operator skipped the
    evaluator)."""
    cluster = {
        "chief": ["run-chief-0.ml.svc:2222"],
        "evaluator": ["run-evaluator-0.ml.svc:2222"],
        "ps": ["run-ps-0.ml.svc:2222"],
        "worker": ["run-worker-0.ml.svc:2222", "run-worker-1.ml.svc:2222"],
    }
    return json.dumps(
        {"cluster": cluster, "task": {"type": task_type, "index": index}, "environment": "cloud"}
    )


def sagemaker_parameter_server(task_type: str, index: int = 0) -> str:
    """SageMaker's parameter-server mode on two hosts (algo-1, algo-2), as its training toolkit
    writes TF_CONFIG: the first host is the 'master' (no chief), the others workers, a ps on
    every host at port 2223, "environment": "cloud", no evaluator
    (aws/sagemaker-tensorflow-training-toolkit src/sagemaker_tensorflow_container/training.py,
    _build_tf_config; ps_task=True gives the ps tasks' own)."""
    cluster = {
        "master": ["algo-1:2222"],
        "ps": ["algo-1:2223", "algo-2:2223"],
        "worker": ["algo-2:2222"],
    }
    return json.dumps(
        {"cluster": cluster, "environment": "cloud", "task": {"index": index, "type": task_type}}
    )


def vertex_ai(task_type: str, index: int = 0, chief: str = "chief") -> str:
    """AI Platform Training / Vertex AI custom training with worker pools 0 (chief), 1
    (workers), 2 (ps), 3 (evaluator): 'cluster' never lists the evaluator; the task has
    'trial' (hyperparameter tuning) and 'cloud' (an internal id); top-level 'job' (the job's
    spec) and "environment": "cloud"; runtime versions before 2.1 name the chief 'master'
    (cloud.google.com/ai-platform/training/docs/distributed-training-details;
    cloud.google.com/vertex-ai/docs/training/distributed-training)."""
    cluster = {
        chief: ["workerpool0-1a2b-0:2222"],
        "ps": ["workerpool2-1a2b-0:2222"],
        "worker": ["workerpool1-1a2b-0:2222", "workerpool1-1a2b-1:2222"],
    }
    return json.dumps(
        {
            "cluster": cluster,
            "environment": "cloud",
            "job": {"worker_pool_specs": [{"replica_count": 1}, {"replica_count": 2}]},
            "task": {"type": task_type, "index": index, "trial": "3", "cloud": "id-1a2b"},
        }
    )


def tensorflow_docs(task_type: str, index: int = 0) -> str:
    """TensorFlow's own shape (tf.estimator.train_and_evaluate's docs): chief, workers and ps
    in 'cluster'; the evaluator not in it, given the same cluster and its own task."""
    cluster = {
        "chief": ["host0:2222"],
        "worker": ["host1:2222", "host2:2222"],
        "ps": ["host3:2222"],
    }
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


@pytest.mark.parametrize(
    "tf_config, expected",
    [
        (kubeflow_tfjob("chief"), ClusterTask("chief", 0, 3, evaluator=True)),
        (kubeflow_tfjob("worker", 1), ClusterTask("worker", 1, 3, evaluator=True)),
        (kubeflow_tfjob("ps"), ClusterTask("ps", 0, 3, evaluator=True)),
        (kubeflow_tfjob("evaluator"), ClusterTask("evaluator", 0, 3, evaluator=True)),
        (sagemaker_parameter_server("master"), ClusterTask("master", 0, 2)),
        (sagemaker_parameter_server("worker"), ClusterTask("worker", 0, 2)),
        (sagemaker_parameter_server("ps", 1), ClusterTask("ps", 1, 2)),
        (vertex_ai("chief"), ClusterTask("chief", 0, 3)),
        (vertex_ai("worker", 1), ClusterTask("worker", 1, 3)),
        (vertex_ai("evaluator"), ClusterTask("evaluator", 0, 3, evaluator=True)),
        (vertex_ai("master", chief="master"), ClusterTask("master", 0, 3)),
        (tensorflow_docs("chief"), ClusterTask("chief", 0, 3)),
        (tensorflow_docs("evaluator"), ClusterTask("evaluator", 0, 3, evaluator=True)),
    ],
)
def test_the_shapes_the_platforms_write_are_accepted(tf_config, expected):
    assert check_cluster_config(tf_config) == expected


def test_unknown_top_level_keys_are_ignored_and_an_index_may_be_a_string():
    config = json.loads(tensorflow_docs("worker"))
    config.update(rpc_layer="grpc", job={"anything": 1}, something_new=[1, 2])
    config["task"]["index"] = "1"
    assert check_cluster_config(json.dumps(config)) == ClusterTask("worker", 1, 3)


def test_the_tasks_shares_of_the_training_data_and_what_they_say_they_do():
    # SageMaker's master reads part 0 like a chief; ps and evaluator read no training data.
    assert check_cluster_config(sagemaker_parameter_server("master")).shard == (2, 0)
    assert check_cluster_config(sagemaker_parameter_server("worker")).shard == (2, 1)
    described = {
        t: check_cluster_config(kubeflow_tfjob(t)).describe()
        for t in ("chief", "worker", "ps", "evaluator")
    }
    assert described["chief"] == "chief:0 (trains on part 1 of 3 of the training data)"
    assert described["worker"] == "worker:0 (trains on part 2 of 3 of the training data)"
    assert described["ps"] == "ps:0 (holds variables; reads no data)"
    assert "training data" not in described["evaluator"]
    assert "evaluates" in check_cluster_config(sagemaker_parameter_server("master")).describe()


def with_cluster(cluster: dict, task: dict | None = None, **extra) -> str:
    return json.dumps({"cluster": cluster, **({"task": task} if task else {}), **extra})


@pytest.mark.parametrize(
    "tf_config, error, fix",
    [
        (  # Kubeflow TFJob with spec.enableDynamicWorker: true (genTFConfigJSONStr)
            json.dumps(
                {
                    "sparseCluster": {"worker": {"1": "run-worker-1.ml.svc:2222"}, "ps": ["p:1"]},
                    "task": {"type": "worker", "index": 1},
                }
            ),
            SparseClusterError,
            "enableDynamicWorker",
        ),
        (
            with_cluster({"chief": ["a:1", "b:1"], "ps": ["c:1"]}, {"type": "chief", "index": 0}),
            SeveralChiefsError,
            "tfReplicaSpecs.Chief.replicas to 1",
        ),
        (
            with_cluster({"chief": ["a:1"], "master": ["b:1"]}, {"type": "chief", "index": 0}),
            SeveralChiefsError,
            "drop Master",
        ),
        (  # a TFJob of workers only: the operator's TF_CONFIG then has no chief
            with_cluster({"worker": ["a:1", "b:1"], "ps": ["c:1"]}, {"type": "worker", "index": 0}),
            NoChiefError,
            "add a Chief replica",
        ),
        (
            with_cluster({"chief": ["a:1"], "worker": ["b:1"]}, {"type": "chief", "index": 0}),
            NoParameterServerError,
            "tfReplicaSpecs.PS",
        ),
        (
            with_cluster(
                {"chief": ["a:1"], "ps": ["c:1"], "evaluator": ["d:1", "e:1"]},
                {"type": "evaluator", "index": 0},
            ),
            SeveralEvaluatorsError,
            "Evaluator.replicas",
        ),
        (
            with_cluster({"chief": ["a:1"], "ps": ["c:1"]}, {"type": "evaluator", "index": 1}),
            SeveralEvaluatorsError,
            "index 0",
        ),
        (  # a TFJob with Master and Evaluator replicas
            with_cluster(
                {"master": ["a:1"], "ps": ["c:1"], "evaluator": ["d:1"]},
                {"type": "master", "index": 0},
            ),
            MasterWithEvaluatorError,
            "name the chief 'chief'",
        ),
        (
            with_cluster({"chief": ["a:1"], "tpu_worker": ["b:1"]}, {"type": "chief", "index": 0}),
            UnknownTaskTypeError,
            "tpu_worker",
        ),
        (with_cluster({"chief": ["a:1"], "ps": ["c:1"]}), TaskNotInClusterError, "no 'task'"),
        (
            with_cluster({"chief": ["a:1"], "ps": ["c:1"]}, {"type": "worker", "index": 0}),
            TaskNotInClusterError,
            "not in its cluster",
        ),
        ("{not json", UnsupportedClusterError, "TF_CONFIG is not JSON"),
        (
            with_cluster({"chief": ["a:1"]}, {"type": "chief", "index": "first"}),
            UnsupportedClusterError,
            "must look like",
        ),
    ],
)
def test_what_estimator_cannot_run_is_refused_in_one_line_naming_the_setting(tf_config, error, fix):
    with pytest.raises(error) as raised:
        check_cluster_config(tf_config)
    message = str(raised.value)
    assert fix in message and "\n" not in message


def test_a_refused_cluster_stops_train_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv(
        "TF_CONFIG", with_cluster({"worker": ["a:1"], "ps": ["b:1"]}, {"type": "ps", "index": 0})
    )
    with pytest.raises(NoChiefError):
        train(compose_train("evaluator=checkpoint"), tmp_path)
    assert not list(tmp_path.iterdir())


MULTI_NODE = [
    kubeflow_tfjob("chief"),
    kubeflow_tfjob("worker"),
    kubeflow_tfjob("evaluator"),
    sagemaker_parameter_server("master"),
    sagemaker_parameter_server("ps"),
    vertex_ai("chief"),
    vertex_ai("evaluator"),
    tensorflow_docs("chief"),
    json.dumps({"sparseCluster": {"ps": ["p:1"]}, "task": {"type": "ps", "index": 0}}),
]


@pytest.mark.parametrize("tf_config", MULTI_NODE)
def test_in_memory_evaluation_refuses_every_multi_node_shape_and_names_the_way_out(tf_config):
    with pytest.raises(MultiNodeError, match="evaluator=checkpoint"):
        check_tf_config(tf_config)


def test_in_memory_training_refuses_a_cluster_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", kubeflow_tfjob("chief"))
    with pytest.raises(MultiNodeError, match="evaluator=checkpoint"):
        train(compose_train(), tmp_path)
    assert not list(tmp_path.iterdir())


def test_one_machine_shapes_stay_allowed_in_memory():
    check_tf_config(None)
    check_tf_config(json.dumps({"cluster": {"chief": ["a:1"]}, "task": {"type": "chief"}}))
    check_tf_config(
        json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"index": "0", "type": "worker"}})
    )


def test_the_local_launcher_writes_tf_config_as_kubeflow_does():
    tasks = [Task("evaluator", 0), Task("worker", 0), Task("chief", 0), Task("ps", 0)]
    configs = {name: json.loads(text) for name, text in tf_configs(tasks, [1, 2, 3, 4]).items()}
    chief = configs["chief:0"]
    assert chief == {
        "cluster": {
            "chief": ["localhost:3"],
            "worker": ["localhost:2"],
            "ps": ["localhost:4"],
            "evaluator": ["localhost:1"],
        },
        "task": {"type": "chief", "index": 0},
        "environment": "cloud",
    }
    assert all(c["cluster"] == chief["cluster"] for c in configs.values())
    for name, config in configs.items():
        task = check_cluster_config(json.dumps(config))
        assert f"{task.type}:{task.index}" == name and task.evaluator


@pytest.mark.parametrize(
    "arguments, model_dir, record_root",
    [
        (["model_dir=/r/a", "x=1"], "/r/a", None),
        (["hydra.run.dir=/r/b", "x=1"], "/r/b", None),  # as the entry point: the run folder
        (["model_dir=/r/a", "hydra.run.dir=/r/b"], "/r/a", "/r/b"),
        (["model_dir=gs://bucket/run"], "gs://bucket/run", "/claimed"),  # Hydra stays local
        ([], "/claimed", None),
    ],
)
def test_the_launcher_picks_its_run_folder_as_the_entry_point_does(
    arguments, model_dir, record_root
):
    found = run_folders(arguments, claim=lambda: "/claimed")
    assert found == (model_dir, record_root, ["x=1"] if "x=1" in arguments else [])


# JobSet (kubernetes-sigs/jobset): TF_CONFIG built inside the pod from its environment.
# Pod hostnames are <jobset>-<replicatedJob>-<jobIndex>-<podIndex>.<subdomain>, the
# subdomain defaulting to the JobSet's name (site/content/en/docs/concepts); the role and
# job index are the pod labels jobset.sigs.k8s.io/replicatedjob-name and .../job-index,
# passed down by k8s/jobset.yaml; Kubernetes sets JOB_COMPLETION_INDEX in Indexed Jobs'
# pods, JobSet's default completionMode.


def jobset_pod(role: str, index: int, **extra) -> dict:
    return {
        "JOBSET_NAME": "run",
        "REPLICATED_JOB_NAME": role,
        "JOB_INDEX": "0",
        "JOB_COMPLETION_INDEX": str(index),
        "TF_JOBSET_TASKS": "chief=1,worker=2,ps=1,evaluator=1",
        **extra,
    }


def test_tf_config_from_jobsets_environment_names_every_pod_by_its_stable_hostname():
    config = json.loads(tf_config_from_jobset(jobset_pod("worker", 1)))
    assert config == {
        "cluster": {
            "chief": ["run-chief-0-0.run:2222"],
            "worker": ["run-worker-0-0.run:2222", "run-worker-0-1.run:2222"],
            "ps": ["run-ps-0-0.run:2222"],
            "evaluator": ["run-evaluator-0-0.run:2222"],
        },
        "task": {"type": "worker", "index": 1},
        "environment": "cloud",
    }
    other = json.loads(
        tf_config_from_jobset(jobset_pod("ps", 0, TF_JOBSET_PORT="3000", JOBSET_SUBDOMAIN="net"))
    )
    assert other["cluster"]["ps"] == ["run-ps-0-0.net:3000"]
    # Every pod's TF_CONFIG is one the checkpoint path accepts, with the same cluster.
    for role, count in (("chief", 1), ("worker", 2), ("ps", 1), ("evaluator", 1)):
        for index in range(count):
            task = check_cluster_config(tf_config_from_jobset(jobset_pod(role, index)))
            assert (task.type, task.index, task.training_tasks) == (role, index, 3)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"JOBSET_NAME": ""}, "JOBSET_NAME is not set"),
        ({"REPLICATED_JOB_NAME": "trainers"}, "'trainers', which TF_JOBSET_TASKS does not list"),
        ({"JOB_COMPLETION_INDEX": "2"}, "worker=2"),
        ({"JOB_INDEX": "1"}, "replicas: 1"),
        ({"TF_JOBSET_TASKS": "chief=1,boss=1"}, "each of chief, worker, ps, evaluator"),
        ({"TF_JOBSET_TASKS": "chief=1,worker=two"}, "must be a number"),
    ],
)
def test_a_jobset_environment_that_does_not_add_up_is_refused(change, message):
    with pytest.raises(JobSetEnvironmentError, match=message):
        tf_config_from_jobset({**jobset_pod("worker", 1), **change})


def test_a_pod_without_tf_config_adopts_the_jobset_one_and_an_explicit_one_wins():
    environ = jobset_pod("chief", 0)
    assert json.loads(adopt_jobset_environment(environ))["task"]["type"] == "chief"
    assert environ["TF_CONFIG"]  # set for Estimator's RunConfig, which reads os.environ
    explicit = {**jobset_pod("chief", 0), "TF_CONFIG": tensorflow_docs("ps")}
    assert adopt_jobset_environment(explicit) == tensorflow_docs("ps")
    assert adopt_jobset_environment({}) is None
