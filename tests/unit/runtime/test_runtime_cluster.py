"""env.cluster from each platform's variables, and which node uploads what (mldock.runtime.cluster)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mldock.errors import UserError
from mldock.runtime.channels import ChannelKind
from mldock.runtime.cluster import Cluster, ClusterError, plan_uploads
from mldock.runtime.containers import TrainingContainer
from mldock.runtime.environment import Environment


def _sagemaker_env(tmp_path: Path, current: str, hosts: list[str], **environ: str) -> Environment:
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": current, "hosts": hosts}))
    return Environment.from_env(environ, base_dir=tmp_path)


# -- each platform ---------------------------------------------------------------------------------------------


def test_no_platform_variable_is_a_single_node(tmp_path: Path) -> None:
    cluster = Environment.from_env({}, base_dir=tmp_path).cluster
    assert cluster == Cluster()
    assert (cluster.rank, cluster.world_size, cluster.is_leader, cluster.is_multi_node) == (0, 1, True, False)
    assert cluster.describe() == "single node"


def test_sagemaker_resourceconfig_sorted_hosts_first_is_the_leader(tmp_path: Path) -> None:
    cluster = _sagemaker_env(tmp_path, "algo-2", ["algo-3", "algo-1", "algo-2"]).cluster
    assert cluster.hosts == ("algo-1", "algo-2", "algo-3")
    assert (cluster.rank, cluster.world_size, cluster.leader_host) == (1, 3, "algo-1")
    assert (cluster.current_host, cluster.node_name, cluster.source) == ("algo-2", "algo-2", "resourceconfig.json")
    assert not cluster.is_leader
    assert _sagemaker_env(tmp_path, "algo-1", ["algo-1", "algo-2"]).cluster.is_leader


def test_sagemaker_current_host_outside_the_hosts_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match=r"resourceconfig.json: current_host 'algo-9'"):
        _sagemaker_env(tmp_path, "algo-9", ["algo-1", "algo-2"])


def test_sagemaker_hosts_win_over_rank_variables(tmp_path: Path) -> None:
    cluster = _sagemaker_env(tmp_path, "algo-1", ["algo-1", "algo-2"], RANK="1", WORLD_SIZE="4").cluster
    assert (cluster.source, cluster.rank, cluster.world_size) == ("resourceconfig.json", 0, 2)


def _spec(pools: dict[str, list[str]], task_type: str, index: int) -> str:
    return json.dumps({"cluster": pools, "environment": "cloud", "task": {"type": task_type, "index": index}})


VERTEX_POOLS = {
    "workerpool0": ["cmle-training-workerpool0-ab-0:2222"],
    "workerpool1": ["cmle-training-workerpool1-ab-0:2222", "cmle-training-workerpool1-ab-1:2222"],
}


@pytest.mark.parametrize(
    ("task_type", "index", "rank"),
    [
        pytest.param("workerpool0", 0, 0, id="primary"),
        pytest.param("workerpool1", 0, 1, id="worker-0"),
        pytest.param("workerpool1", 1, 2, id="worker-1"),
    ],
)
def test_vertex_cluster_spec(task_type: str, index: int, rank: int) -> None:
    cluster = Cluster.from_env({"CLUSTER_SPEC": _spec(VERTEX_POOLS, task_type, index)})
    assert (cluster.rank, cluster.world_size, cluster.is_leader) == (rank, 3, rank == 0)
    assert cluster.leader_host == "cmle-training-workerpool0-ab-0:2222"
    assert cluster.node_name == f"{task_type}-{index}"
    assert cluster.current_host == cluster.hosts[rank]


def test_cluster_spec_wins_over_tf_config() -> None:
    environ = {
        "CLUSTER_SPEC": _spec(VERTEX_POOLS, "workerpool1", 1),
        "TF_CONFIG": _spec({"chief": ["a:1"], "worker": ["b:1"]}, "chief", 0),
    }
    assert Cluster.from_env(environ).source == "CLUSTER_SPEC"


@pytest.mark.parametrize(
    ("pools", "task_type", "index", "rank", "leader"),
    [
        pytest.param({"chief": ["c:1"], "worker": ["w0:1", "w1:1"]}, "worker", 1, 2, "c:1", id="chief-worker"),
        pytest.param({"worker": ["w0:1", "w1:1"], "ps": ["p:1"]}, "worker", 0, 0, "w0:1", id="no-chief"),
        pytest.param({"worker": ["w0:1", "w1:1"], "ps": ["p:1"]}, "ps", 0, 2, "w0:1", id="parameter-server"),
        pytest.param({"master": ["m:1"], "worker": ["w0:1"]}, "master", 0, 0, "m:1", id="master"),
        pytest.param({"chief": ["c:1"], "worker": ["w0:1"]}, "evaluator", 0, 2, "c:1", id="evaluator-outside"),
    ],
)
def test_tf_config(pools: dict[str, list[str]], task_type: str, index: int, rank: int, leader: str) -> None:
    cluster = Cluster.from_env({"TF_CONFIG": _spec(pools, task_type, index)})
    assert (cluster.rank, cluster.leader_host, cluster.source) == (rank, leader, "TF_CONFIG")
    assert cluster.rank < cluster.world_size
    assert cluster.node_name == f"{task_type}-{index}"


def test_empty_tf_config_is_a_single_node() -> None:
    assert Cluster.from_env({"TF_CONFIG": '{"environment": "cloud"}'}) == Cluster()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param(
            {"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "NODE_RANK": "1", "MASTER_ADDR": "10.0.0.4"},
            (3, 8, 1, 1, "10.0.0.4", "RANK"),
            id="azureml-pytorch",
        ),
        pytest.param(
            {"RANK": "0", "WORLD_SIZE": "2", "GROUP_RANK": "0", "MASTER_ADDR": "node-0"},
            (0, 2, 0, None, "node-0", "RANK"),
            id="torchrun",
        ),
        pytest.param(
            {
                "OMPI_COMM_WORLD_RANK": "1",
                "OMPI_COMM_WORLD_SIZE": "2",
                "OMPI_COMM_WORLD_LOCAL_RANK": "0",
                "AZ_BATCH_MASTER_NODE": "10.0.0.5:6105",
            },
            (1, 2, None, 0, "10.0.0.5", "OMPI_COMM_WORLD_RANK"),
            id="azureml-mpi",
        ),
    ],
)
def test_rank_variables(environ: dict[str, str], expected: tuple[object, ...]) -> None:
    cluster = Cluster.from_env(environ)
    found = (cluster.rank, cluster.world_size, cluster.node_rank, cluster.local_rank, cluster.leader_host)
    assert (*found, cluster.source) == expected
    assert cluster.node_name == f"rank-{cluster.rank}"
    assert cluster.hosts == ()


@pytest.mark.parametrize(
    ("environ", "culprit"),
    [
        pytest.param({"RANK": "2", "WORLD_SIZE": "2"}, r"RANK: 2 must be below WORLD_SIZE=2", id="rank-too-big"),
        pytest.param({"RANK": "x", "WORLD_SIZE": "2"}, r"RANK: 'x' is not a whole number", id="rank-text"),
        pytest.param({"RANK": "-1", "WORLD_SIZE": "2"}, r"RANK: '-1'", id="rank-negative"),
        pytest.param({"RANK": "0", "WORLD_SIZE": "0"}, r"WORLD_SIZE: '0' must be at least 1", id="size-zero"),
        pytest.param({"RANK": "0"}, r"WORLD_SIZE: not set", id="size-missing"),
        pytest.param({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "a"}, r"LOCAL_RANK: 'a'", id="local-rank"),
        pytest.param({"CLUSTER_SPEC": "{not json"}, r"CLUSTER_SPEC: not valid JSON", id="spec-json"),
        pytest.param({"CLUSTER_SPEC": "[]"}, r"CLUSTER_SPEC: expected a JSON object", id="spec-list"),
        pytest.param(
            {"CLUSTER_SPEC": _spec({"workerpool0": ["a:1"]}, "workerpool1", 0)},
            r"CLUSTER_SPEC: task.type 'workerpool1' is not in the cluster",
            id="spec-type",
        ),
        pytest.param(
            {"CLUSTER_SPEC": _spec({"workerpool0": ["a:1"]}, "workerpool0", 1)},
            r"CLUSTER_SPEC: task.index 1 is not below the 1 replicas",
            id="spec-index",
        ),
        pytest.param(
            {"CLUSTER_SPEC": _spec({"workerpool1": ["a:1"]}, "workerpool1", 0)},
            r"CLUSTER_SPEC: cluster.workerpool0 \(the primary replica\) is missing",
            id="spec-no-primary",
        ),
        pytest.param({"TF_CONFIG": '{"cluster": 3, "task": {}}'}, r"TF_CONFIG: expected \"cluster\"", id="tf-shape"),
        pytest.param(
            {"TF_CONFIG": _spec({"chief": ["a:1"], "gpu": ["b:1"]}, "chief", 0)},
            r"TF_CONFIG: unknown task type 'gpu'",
            id="tf-role",
        ),
    ],
)
def test_bad_values_name_the_variable(environ: dict[str, str], culprit: str) -> None:
    with pytest.raises(ClusterError, match=culprit):
        Cluster.from_env(environ)
    assert issubclass(ClusterError, UserError)


# -- properties of the JSON variables --------------------------------------------------------------------------

_address = st.from_regex(r"[a-z][a-z0-9-]{0,12}:[0-9]{2,5}", fullmatch=True)


@st.composite
def _vertex_pools(draw: st.DrawFn) -> dict[str, list[str]]:
    sizes = [1, *draw(st.lists(st.integers(0, 4), min_size=0, max_size=3))]
    addresses = draw(st.lists(_address, min_size=sum(sizes), max_size=sum(sizes), unique=True))
    pools, start = {}, 0
    for number, size in enumerate(sizes):
        pools[f"workerpool{number}"] = addresses[start : start + size]
        start += size
    return pools


@given(_vertex_pools())
def test_cluster_spec_every_replica_has_its_own_rank_and_one_leads(pools: dict[str, list[str]]) -> None:
    tasks = [(pool, index) for pool, addresses in pools.items() for index in range(len(addresses))]
    clusters = [Cluster.from_env({"CLUSTER_SPEC": _spec(pools, pool, index)}) for pool, index in tasks]
    assert sorted(c.rank for c in clusters) == list(range(len(tasks)))
    assert [c.is_leader for c in clusters].count(True) == 1
    assert {c.world_size for c in clusters} == {len(tasks)}
    assert all(c.current_host == c.hosts[c.rank] and c.leader_host == pools["workerpool0"][0] for c in clusters)
    assert len({c.node_name for c in clusters}) == len(tasks)


@given(
    st.dictionaries(st.sampled_from(["chief", "worker", "ps"]), st.integers(0, 3), min_size=1).filter(
        lambda sizes: sizes.get("chief", 0) + sizes.get("worker", 0) > 0
    ),
    st.data(),
)
def test_tf_config_every_task_has_its_own_rank_and_one_leads(sizes: dict[str, int], data: st.DataObject) -> None:
    total = sum(sizes.values())
    addresses = data.draw(st.lists(_address, min_size=total, max_size=total, unique=True))
    pools, start = {}, 0
    for role, size in sizes.items():
        pools[role], start = addresses[start : start + size], start + size
    tasks = [(role, index) for role, members in pools.items() for index in range(len(members))]
    clusters = [Cluster.from_env({"TF_CONFIG": _spec(pools, role, index)}) for role, index in tasks]
    assert sorted(c.rank for c in clusters) == list(range(total))
    assert [c.is_leader for c in clusters].count(True) == 1


def _outcome(environ: dict[str, str]) -> tuple[Cluster | None, str]:
    """The cluster `environ` gives, or None and the ClusterError's message (any other exception propagates)."""
    try:
        return Cluster.from_env(environ), ""
    except ClusterError as exc:
        return None, str(exc)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 5) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@given(
    st.sampled_from(["CLUSTER_SPEC", "TF_CONFIG"]),
    st.one_of(
        st.text(max_size=60),
        _json_values.map(json.dumps),
        st.fixed_dictionaries({"cluster": _json_values, "task": _json_values}).map(json.dumps),
        st.fixed_dictionaries(
            {
                "cluster": st.dictionaries(
                    st.sampled_from(["workerpool0", "workerpool1", "chief", "worker", "ps", "evaluator"]),
                    st.lists(_address, max_size=3),
                ),
                "task": st.fixed_dictionaries(
                    {
                        "type": st.sampled_from(["workerpool0", "workerpool1", "chief", "worker", "evaluator"]),
                        "index": st.integers(-1, 4) | st.text(max_size=2),
                    }
                ),
            }
        ).map(json.dumps),
    ),
)
def test_json_variables_give_a_cluster_or_a_cluster_error(variable: str, text: str) -> None:
    cluster, message = _outcome({variable: text})
    assert message.startswith(f"{variable}: ") if cluster is None else 0 <= cluster.rank < cluster.world_size


@given(st.text(max_size=8), st.text(max_size=8))
def test_rank_variables_give_a_cluster_or_an_error_naming_one(rank: str, size: str) -> None:
    cluster, message = _outcome({"RANK": rank, "WORLD_SIZE": size})
    if cluster is None:
        assert message.split(":")[0] in {"RANK", "WORLD_SIZE"}
    else:
        assert 0 <= cluster.rank < cluster.world_size


# -- uploads ---------------------------------------------------------------------------------------------------


def _outputs(**extra: str) -> dict[str, str]:
    return {
        "MLDOCK_OUTPUT_CHANNEL_LOGS": "s3://bucket/run/logs",
        "MLDOCK_OUTPUT_CHANNEL_REPORT": "s3://bucket/run/report",
        "MLDOCK_OUTPUT_MODEL_CHANNEL_MODEL": "s3://bucket/run/model",
        **extra,
    }


def _plan(environ: dict[str, str], tmp_path: Path) -> tuple[dict[str, str], list[str]]:
    env = Environment.from_env(environ, base_dir=tmp_path)
    plan = plan_uploads((*env.output_channels, *env.output_model_channels), env.cluster, env.settings)
    return {c.name: str(c.uri) for c in plan.uploads}, [c.name for c in plan.skipped]


def test_single_node_and_leader_upload_everything_to_the_channel_uri(tmp_path: Path) -> None:
    every = {"logs": "s3://bucket/run/logs", "model": "s3://bucket/run/model", "report": "s3://bucket/run/report"}
    assert _plan(_outputs(), tmp_path) == (every, [])
    assert _plan(_outputs(RANK="0", WORLD_SIZE="2"), tmp_path) == (every, [])


def test_other_nodes_skip_all_but_the_all_nodes_channels_which_go_below_the_node(tmp_path: Path) -> None:
    assert _plan(_outputs(RANK="1", WORLD_SIZE="2"), tmp_path) == ({}, ["logs", "report", "model"])
    environ = _outputs(RANK="1", WORLD_SIZE="2", MLDOCK_UPLOAD_ON_ALL_NODES="logs")
    assert _plan(environ, tmp_path) == ({"logs": "s3://bucket/run/logs/rank-1"}, ["report", "model"])
    leader = _outputs(RANK="0", WORLD_SIZE="2", MLDOCK_UPLOAD_ON_ALL_NODES="Logs, model")
    uploads, skipped = _plan(leader, tmp_path)
    assert (uploads["logs"], uploads["model"], uploads["report"], skipped) == (
        "s3://bucket/run/logs/rank-0",
        "s3://bucket/run/model/rank-0",
        "s3://bucket/run/report",
        [],
    )


def test_all_nodes_setting_naming_no_output_channel_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match=r"MLDOCK_UPLOAD_ON_ALL_NODES: no output channel 'metrcs'"):
        Environment.from_env(_outputs(MLDOCK_UPLOAD_ON_ALL_NODES="logs,metrcs"), base_dir=tmp_path)


def test_cleanup_on_another_node_uploads_only_its_share_and_says_what_it_skips(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    environ = {
        "MLDOCK_OUTPUT_CHANNEL_LOGS": f"file://{store}/logs",
        "MLDOCK_OUTPUT_CHANNEL_REPORT": f"file://{store}/report",
        "MLDOCK_UPLOAD_ON_ALL_NODES": "logs",
        "MLDOCK_CREATE_MISSING_BUCKETS": "true",  # file://: the parent of <uri>/<node> is the channel's folder
    }
    env = _sagemaker_env(tmp_path / "ml", "algo-2", ["algo-1", "algo-2"], **environ)
    env.prepare()
    for name in ("logs", "report"):
        (env.channel(name, ChannelKind.OUTPUT).path / f"{name}.txt").write_text(name)
    with caplog.at_level(logging.INFO, logger="mldock"):
        TrainingContainer(env).cleanup()
    written = sorted(p.relative_to(store).as_posix() for p in store.rglob("*") if p.is_file())
    assert written == ["logs/algo-2/logs.txt"]
    skips = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert skips == [
        "cleanup: skipping output channel 'report' on algo-2: the leader algo-1 uploads it "
        "(MLDOCK_UPLOAD_ON_ALL_NODES names channels all nodes upload)"
    ]
