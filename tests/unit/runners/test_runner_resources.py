"""Resource options of the docker runner: parsed with `docker run`'s spellings, refused by name, layered."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from mldock.errors import UserError
from mldock.project.config import ProjectConfig, StageConfig
from mldock.runners.base import RunSpec
from mldock.runners.resources import Resources, parse_resources, parse_size, task_resources


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1024, 1024), ("512m", 512 * 1024**2), ("2g", 2 * 1024**3), ("2GB", 2 * 1024**3), ("1.5k", 1536), ("10", 10)],
)
def test_sizes(value: object, expected: int) -> None:
    assert parse_size(value, "x") == expected


def test_engine_settings_for_every_resource() -> None:
    resources = parse_resources(
        {"gpus": "all", "shm_size": "1g", "cpus": 1.5, "memory": "256m", "platform": "linux/amd64"}, "r"
    )
    kwargs = resources.engine_kwargs()
    assert kwargs["device_requests"] == [
        {"Driver": "", "Count": -1, "DeviceIDs": None, "Capabilities": [["gpu"]], "Options": {}}
    ]
    assert kwargs["shm_size"] == 1024**3
    assert kwargs["nano_cpus"] == 1_500_000_000
    assert kwargs["mem_limit"] == 256 * 1024**2
    assert kwargs["platform"] == "linux/amd64"


@pytest.mark.parametrize(
    ("gpus", "count", "ids"), [(2, 2, None), ("device=0,2", 0, ["0", "2"]), ('"device=1"', 0, ["1"])]
)
def test_gpu_requests_in_the_spellings_users_know(gpus: object, count: int, ids: list[str] | None) -> None:
    (request,) = parse_resources({"gpus": gpus}, "r").engine_kwargs()["device_requests"]
    assert (request["Count"], request["DeviceIDs"]) == (count, ids)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"gpus": "some"}, "mldock.json: resources.gpus: 'some' is not a GPU request"),
        ({"gpus": 0}, "resources.gpus: 0 is not a GPU request"),
        ({"shm_size": "big"}, "resources.shm_size: 'big' is not a size"),
        ({"memory": 0}, "resources.memory: 0 must be more than 0 bytes"),
        ({"cpus": -1}, "resources.cpus: -1 is not a CPU count"),
        ({"cpus": True}, "resources.cpus: True is not a CPU count"),
        ({"platform": "amd64"}, "resources.platform: 'amd64' is not a platform"),
        ({"gpu": "all"}, "unknown resource(s) gpu; allowed: gpus"),
    ],
)
def test_bad_values_are_user_errors_naming_the_setting(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError) as info:
        parse_resources(raw, "mldock.json: resources")
    assert message in str(info.value)


def test_the_command_line_names_its_option() -> None:
    with pytest.raises(UserError, match="--shm-size: 'x' is not a size"):
        parse_resources({"shm_size": "x"}, "the command line", key_name=lambda k: "--" + k.replace("_", "-"))


def test_project_then_stage_then_run() -> None:
    stage = StageConfig(name="test", resources=MappingProxyType({"memory": "1g", "cpus": 2}))
    project = ProjectConfig(
        root=Path("/p"), name="p", stages=MappingProxyType({"test": stage}),
        resources=MappingProxyType({"shm_size": "64m", "memory": "512m"}),
    )  # fmt: skip
    spec = RunSpec(project, stage, resources={"cpus": 0.5})
    assert task_resources(spec) == Resources(shm_size=64 * 1024**2, memory=1024**3, cpus=0.5)
    assert Resources().engine_kwargs() == {}
