"""The nodes of one training run, read from each platform's own variables (no `MLDOCK_*` variable needed).

    cluster = Cluster.from_env(environ, sagemaker_layout)   # Environment.from_env does this: env.cluster
    cluster.rank, cluster.world_size, cluster.is_leader
    cluster.hosts, cluster.current_host, cluster.leader_host, cluster.node_name

Where each platform says it (the first that is present wins):
- SageMaker: `<base>/input/config/resourceconfig.json` (`current_host`, `hosts`; parsed once, by
  mldock.runtime.sagemaker). The leader is the first of the sorted hosts, the host SageMaker's training toolkit
  calls the master; ranks follow the sorted hosts.
- Vertex AI: `CLUSTER_SPEC` (JSON: `cluster.workerpool0..3` lists of addresses, `task.type`, `task.index`).
  Hosts in pool order; the leader is workerpool0's replica 0, the primary replica.
- `TF_CONFIG` (JSON: `cluster.chief|master|worker|ps|evaluator`, `task.type`, `task.index`; Vertex AI sets it
  too). Hosts in that role order; the leader is the chief (or master), else worker 0.
- `RANK` + `WORLD_SIZE` (torchrun, Azure ML's PyTorch distribution), else `OMPI_COMM_WORLD_RANK` +
  `OMPI_COMM_WORLD_SIZE` (Azure ML's MPI distribution); `NODE_RANK`/`GROUP_RANK` and
  `LOCAL_RANK`/`OMPI_COMM_WORLD_LOCAL_RANK` when set. The leader is rank 0, at `MASTER_ADDR` (else the host part
  of `AZ_BATCH_MASTER_NODE` or `AZ_BATCHAI_MPI_MASTER_NODE`). No host list: `hosts` is empty.
- none of these: a single node (rank 0 of 1, the leader).

`rank` and `world_size` count nodes for SageMaker and Vertex AI, and processes for the RANK variables (several per
node when a launcher starts one per GPU): in every case exactly one of them has rank 0, the leader. A value that
cannot be used (JSON that does not parse or has the wrong shape, a rank that is not a whole number or not below
the world size, a task missing from its cluster) is a ClusterError (a UserError) naming the variable.

Uploads (`plan_uploads`, used by cleanup()): in a multi-node run only the leader uploads the output and
output-model channels; every other node logs one line per channel it skips. `MLDOCK_UPLOAD_ON_ALL_NODES=logs,metrics`
names channels every node uploads: each node then writes below `<uri>/<node_name>/` (the leader too), so no node
overwrites another's files (for a file:// channel, `<uri>` is then the folder that must exist, or set
MLDOCK_CREATE_MISSING_BUCKETS=true). A single-node run uploads every channel to its own URI, as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from mldock.errors import UserError
from mldock.runtime.channels import Channel, ChannelKind, parse_channel_names
from mldock.runtime.sagemaker import SageMakerLayout

__all__ = [
    "CLUSTER_SPEC",
    "TF_CONFIG",
    "UPLOAD_ON_ALL_NODES",
    "Cluster",
    "ClusterError",
    "UploadPlan",
    "plan_uploads",
]

CLUSTER_SPEC = "CLUSTER_SPEC"
TF_CONFIG = "TF_CONFIG"
UPLOAD_ON_ALL_NODES = "MLDOCK_UPLOAD_ON_ALL_NODES"
"""Output (and output-model) channels every node of a multi-node run uploads, by name, comma-separated."""

_RANK_VARIABLES = (("RANK", "WORLD_SIZE"), ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"))
_NODE_RANK_VARIABLES = ("NODE_RANK", "GROUP_RANK")
_LOCAL_RANK_VARIABLES = ("LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK")
_LEADER_ADDRESS_VARIABLES = ("MASTER_ADDR", "AZ_BATCH_MASTER_NODE", "AZ_BATCHAI_MPI_MASTER_NODE")
_VERTEX_POOLS = ("workerpool0", "workerpool1", "workerpool2", "workerpool3")
_TF_ROLES = ("chief", "master", "worker", "ps", "evaluator")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ClusterError(UserError):
    """A platform's cluster variable (or file) that cannot be read: names it and says what is wrong."""


@dataclass(frozen=True)
class Cluster:
    """Who this node is in its run: rank, world size, hosts and leader (see the module table).

    env.cluster.is_leader            # True on exactly one node (rank 0); True on a single node
    env.cluster.node_name            # "algo-2", "workerpool1-0", "worker-1", "rank-3"; "" on a single node
    """

    rank: int = 0
    world_size: int = 1
    hosts: tuple[str, ...] = ()
    current_host: str | None = None
    leader_host: str | None = None
    source: str = ""
    """Where it was read: "resourceconfig.json", "CLUSTER_SPEC", "TF_CONFIG", "RANK", "OMPI_COMM_WORLD_RANK";
    "" for a single node."""
    node_rank: int | None = None
    local_rank: int | None = None
    node_name: str = ""
    """A name for this node that is safe in a storage key (the prefix of the channels every node uploads)."""

    @property
    def is_leader(self) -> bool:
        """True for rank 0: the node that uploads the outputs."""
        return self.rank == 0

    @property
    def is_multi_node(self) -> bool:
        """True when the run has more than one node (or process)."""
        return self.world_size > 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str], sagemaker: SageMakerLayout | None = None) -> Cluster:
        """The cluster `environ` (and SageMaker's parsed resourceconfig.json, when given) describe.

        ClusterError naming the variable or file for a value that cannot be used.
        """
        if sagemaker is not None and sagemaker.hosts:
            return _from_sagemaker(sagemaker)
        if environ.get(CLUSTER_SPEC):
            return _from_cluster_spec(environ[CLUSTER_SPEC])
        if environ.get(TF_CONFIG):
            found = _from_tf_config(environ[TF_CONFIG])
            if found is not None:
                return found
        for rank_name, size_name in _RANK_VARIABLES:
            if environ.get(rank_name) is not None or environ.get(size_name) is not None:
                return _from_ranks(environ, rank_name, size_name)
        return cls()

    def describe(self) -> str:
        """One line for the log: rank, world size, this node and the leader."""
        if not self.is_multi_node:
            return "single node"
        role = "the leader" if self.is_leader else f"leader {self.leader_host or 'rank 0'}"
        return f"node {self.node_name} (rank {self.rank} of {self.world_size}, from {self.source}), {role}"


@dataclass(frozen=True)
class UploadPlan:
    """What cleanup() uploads on this node: channels (URIs already per node where needed) and those it skips."""

    uploads: tuple[Channel, ...]
    skipped: tuple[Channel, ...]


def plan_uploads(channels: Iterable[Channel], cluster: Cluster, settings: Mapping[str, str]) -> UploadPlan:
    """Which of `channels` (output and output-model ones) this node uploads, and where (module docstring).

    `settings` is Environment.settings (MLDOCK_UPLOAD_ON_ALL_NODES read from it); ChannelError for a bad name.
    """
    every_node = all_nodes_channels(settings)
    uploads: list[Channel] = []
    skipped: list[Channel] = []
    for channel in channels:
        if not cluster.is_multi_node:
            uploads.append(channel)
        elif channel.name in every_node:
            uploads.append(replace(channel, uri=channel.uri.join(cluster.node_name)))
        elif cluster.is_leader:
            uploads.append(channel)
        else:
            skipped.append(channel)
    return UploadPlan(tuple(uploads), tuple(skipped))


def all_nodes_channels(settings: Mapping[str, str]) -> frozenset[str]:
    """The channel names MLDOCK_UPLOAD_ON_ALL_NODES lists (empty when unset); ChannelError naming it when bad."""
    value = settings.get(UPLOAD_ON_ALL_NODES.removeprefix("MLDOCK_"))
    return frozenset() if value is None else parse_channel_names(value, UPLOAD_ON_ALL_NODES)


def check_upload_setting(settings: Mapping[str, str], channels: Iterable[Channel]) -> None:
    """ClusterError when MLDOCK_UPLOAD_ON_ALL_NODES names a channel that is not an output or output-model one."""
    named = all_nodes_channels(settings)
    known = {c.name for c in channels if c.kind in (ChannelKind.OUTPUT, ChannelKind.OUTPUT_MODEL)}
    unknown = sorted(named - known)
    if unknown:
        raise ClusterError(
            f"{UPLOAD_ON_ALL_NODES}: no output channel {', '.join(map(repr, unknown))}; "
            f"output channels: {', '.join(sorted(known)) or 'none'}"
        )


# -- each platform ---------------------------------------------------------------------------------------------


def _from_sagemaker(layout: SageMakerLayout) -> Cluster:
    where = "resourceconfig.json"
    hosts = tuple(sorted(layout.hosts))
    if len(set(hosts)) != len(hosts):
        raise ClusterError(f"{where}: hosts {list(layout.hosts)} name a host twice")
    if layout.current_host not in hosts:
        raise ClusterError(f"{where}: current_host {layout.current_host!r} is not one of the hosts {list(hosts)}")
    return Cluster(
        rank=hosts.index(layout.current_host),
        world_size=len(hosts),
        hosts=hosts,
        current_host=layout.current_host,
        leader_host=hosts[0],
        source=where,
        node_name=_safe(layout.current_host),
    )


def _from_cluster_spec(text: str) -> Cluster:
    spec = _json_object(text, CLUSTER_SPEC)
    cluster, task_type, index = _cluster_and_task(spec, CLUSTER_SPEC)
    unknown = sorted(set(cluster) - set(_VERTEX_POOLS))
    if unknown:
        raise ClusterError(f"{CLUSTER_SPEC}: unknown worker pool {unknown[0]!r} (expected {', '.join(_VERTEX_POOLS)})")
    if not cluster.get("workerpool0"):
        raise ClusterError(f"{CLUSTER_SPEC}: cluster.workerpool0 (the primary replica) is missing or empty")
    return _from_roles(cluster, _VERTEX_POOLS, task_type, index, CLUSTER_SPEC, cluster["workerpool0"][0])


def _from_tf_config(text: str) -> Cluster | None:
    config = _json_object(text, TF_CONFIG)
    if not config.get("cluster") and not config.get("task"):
        return None  # TF_CONFIG='{}' or only "environment": TensorFlow reads it as no cluster
    cluster, task_type, index = _cluster_and_task(config, TF_CONFIG)
    unknown = sorted(set(cluster) - set(_TF_ROLES))
    if unknown:
        raise ClusterError(f"{TF_CONFIG}: unknown task type {unknown[0]!r} (expected {', '.join(_TF_ROLES)})")
    leader_role = next((role for role in ("chief", "master", "worker") if cluster.get(role)), None)
    if leader_role is None:
        raise ClusterError(f"{TF_CONFIG}: the cluster has no chief, master or worker")
    return _from_roles(cluster, _TF_ROLES, task_type, index, TF_CONFIG, cluster[leader_role][0])


def _from_roles(
    cluster: dict[str, list[str]], order: tuple[str, ...], task_type: str, index: int, variable: str, leader: str
) -> Cluster:
    """Hosts listed role by role in `order` (the leader is the first); this node is `cluster[task_type][index]`.

    TensorFlow leaves an evaluator out of the cluster: it then counts after the listed hosts.
    """
    hosts = [address for role in order for address in cluster.get(role, [])]
    if task_type == "evaluator" and task_type not in cluster:
        return Cluster(
            rank=len(hosts) + index,
            world_size=len(hosts) + index + 1,
            hosts=tuple(hosts),
            leader_host=leader,
            source=variable,
            node_name=_safe(f"{task_type}-{index}"),
        )
    if task_type not in cluster:
        raise ClusterError(f"{variable}: task.type {task_type!r} is not in the cluster ({', '.join(cluster)})")
    if index >= len(cluster[task_type]):
        raise ClusterError(
            f"{variable}: task.index {index} is not below the {len(cluster[task_type])} replicas of {task_type!r}"
        )
    rank = hosts.index(cluster[task_type][index])
    return Cluster(
        rank=rank,
        world_size=len(hosts),
        hosts=tuple(hosts),
        current_host=hosts[rank],
        leader_host=leader,
        source=variable,
        node_name=_safe(f"{task_type}-{index}"),
    )


def _from_ranks(environ: Mapping[str, str], rank_name: str, size_name: str) -> Cluster:
    rank = _whole(environ, rank_name, required=True, default=0)
    size = _whole(environ, size_name, required=True, default=1)
    if size < 1:
        raise ClusterError(f"{size_name}: {environ[size_name]!r} must be at least 1")
    if rank >= size:
        raise ClusterError(f"{rank_name}: {rank} must be below {size_name}={size}")
    node_rank = next((_whole(environ, n) for n in _NODE_RANK_VARIABLES if environ.get(n) is not None), None)
    local_rank = next((_whole(environ, n) for n in _LOCAL_RANK_VARIABLES if environ.get(n) is not None), None)
    leader = next((environ[n].strip() for n in _LEADER_ADDRESS_VARIABLES if (environ.get(n) or "").strip()), None)
    if leader is not None and ":" in leader and not leader.startswith("["):
        leader = leader.rsplit(":", 1)[0]  # AZ_BATCH_MASTER_NODE is address:port
    return Cluster(
        rank=rank,
        world_size=size,
        leader_host=leader,
        source=rank_name,
        node_rank=node_rank,
        local_rank=local_rank,
        node_name=f"rank-{rank}",
    )


# -- parsing helpers -------------------------------------------------------------------------------------------


def _json_object(text: str, variable: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ClusterError(f"{variable}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ClusterError(f"{variable}: expected a JSON object, got {type(value).__name__}")
    return value


def _cluster_and_task(config: dict[str, Any], variable: str) -> tuple[dict[str, list[str]], str, int]:
    """`config`'s cluster (role -> addresses) and task (type, index), checked."""
    cluster = config.get("cluster")
    if not isinstance(cluster, dict) or not cluster:
        raise ClusterError(f'{variable}: expected "cluster": {{"<role>": ["host:port", ...], ...}}')
    for role, addresses in cluster.items():
        if not (isinstance(addresses, list) and all(isinstance(a, str) and a for a in addresses)):
            raise ClusterError(f"{variable}: cluster.{role} must be a list of host:port strings")
    every = [a for addresses in cluster.values() for a in addresses]
    if len(set(every)) != len(every):
        raise ClusterError(f"{variable}: the cluster names an address twice")
    task = config.get("task")
    if not isinstance(task, dict):
        raise ClusterError(f'{variable}: expected "task": {{"type": "<role>", "index": <n>}}')
    task_type, index = task.get("type"), task.get("index", 0)
    if not isinstance(task_type, str):
        raise ClusterError(f"{variable}: task.type must be a role name of the cluster, got {task_type!r}")
    if isinstance(index, str) and _is_small_whole(index.strip()):
        index = int(index)
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ClusterError(f"{variable}: task.index must be a whole number >= 0, got {index!r}")
    return cluster, task_type, index


def _whole(environ: Mapping[str, str], name: str, *, required: bool = False, default: int = 0) -> int:
    raw = environ.get(name)
    if raw is None:
        if required:
            raise ClusterError(f"{name}: not set (it comes with the other rank variables)")
        return default
    text = raw.strip()
    if not _is_small_whole(text):
        raise ClusterError(f"{name}: {raw!r} is not a whole number >= 0")
    return int(text)


def _is_small_whole(text: str) -> bool:
    """ASCII digits only (str.isdigit also accepts '²'), short enough for int() (which refuses > 4,300 digits)."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def _safe(name: str) -> str:
    """`name` as one storage key segment: runs of characters other than letters, digits, `._-` become `-`."""
    cleaned = _UNSAFE.sub("-", name).strip("-.") or "node"
    return cleaned[:100]
