"""What a task container may use: GPUs, shared memory, CPUs, memory, and the image platform (docker runner only).

    resources = parse_resources({"gpus": "all", "shm_size": "2g", "cpus": 4, "memory": "8g"}, "mldock.json: resources")
    client.containers.create(image, **resources.engine_kwargs())

The spellings are the ones `docker run` users know:

| key | example | `docker run` | Engine API (HostConfig) |
|---|---|---|---|
| `gpus` | `"all"`, `2`, `"device=0,2"` | `--gpus` | `DeviceRequests` (driver chosen by the engine, capability `gpu`) |
| `shm_size` | `"2g"`, `"512m"`, `1073741824` | `--shm-size` | `ShmSize` |
| `cpus` | `1.5` | `--cpus` | `NanoCpus` |
| `memory` | `"8g"` | `--memory` | `Memory` |
| `platform` | `"linux/amd64"` | `--platform` | the create call's `platform` |

Sizes are a number of bytes or a number with the unit b, k, m or g (any case; powers of 1024). They come from
`resources` in mldock.json (the project's, then the stage's, key by key), the CLI's `--gpus`, `--shm-size`,
`--cpus`, `--memory`, `--platform`, and the plugin marker `@pytest.mark.mldock(resources={...})`; later ones
win. The process runner runs on the host as it is and ignores them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from mldock.errors import UserError

if TYPE_CHECKING:
    from mldock.runners.base import RunSpec

__all__ = ["RESOURCE_KEYS", "Resources", "parse_resources", "parse_size", "task_resources"]

RESOURCE_KEYS = ("gpus", "shm_size", "cpus", "memory", "platform")

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmg]?)b?\s*$", re.I)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_DEVICES = re.compile(r'^"?device=([A-Za-z0-9_-]+(?:,[A-Za-z0-9_-]+)*)"?$')
_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$")


@dataclass(frozen=True)
class Resources:
    """Resource settings of one task container; None means the engine's default."""

    gpus: str | None = None
    """"all", a count ("2"), or device ids ("device=0,2")."""
    shm_size: int | None = None
    cpus: float | None = None
    memory: int | None = None
    platform: str | None = None

    def overlaid(self, other: Resources) -> Resources:
        """These settings with every one `other` sets taken from `other`."""
        given = {f.name: getattr(other, f.name) for f in fields(other) if getattr(other, f.name) is not None}
        return replace(self, **given)

    def engine_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for docker-py's `containers.create`."""
        kwargs: dict[str, Any] = {}
        if self.gpus is not None:
            kwargs["device_requests"] = [_device_request(self.gpus)]
        if self.shm_size is not None:
            kwargs["shm_size"] = self.shm_size
        if self.cpus is not None:
            kwargs["nano_cpus"] = round(self.cpus * 1e9)
        if self.memory is not None:
            kwargs["mem_limit"] = self.memory
        if self.platform is not None:
            kwargs["platform"] = self.platform
        return kwargs

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


def parse_size(value: object, where: str) -> int:
    """Bytes from `value` (an integer, or "512m", "2g", ...); UserError naming `where`."""
    if isinstance(value, bool):
        raise UserError(f"{where}: {value!r} is not a size; write bytes or a number with b, k, m or g (e.g. 2g)")
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE.match(str(value))
        if match is None:
            raise UserError(f"{where}: {value!r} is not a size; write bytes or a number with b, k, m or g (e.g. 2g)")
        size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size <= 0:
        raise UserError(f"{where}: {value!r} must be more than 0 bytes")
    return size


def parse_resources(raw: Mapping[str, Any], where: str, *, key_name: Callable[[str], str] | None = None) -> Resources:
    """Resources from a mapping of the keys above; UserError naming the setting (`where`.key, or `key_name(key)`)
    and what is wrong with its value."""
    name = key_name or (lambda key: f"{where}.{key}")
    unknown = sorted(set(raw) - set(RESOURCE_KEYS))
    if unknown:
        raise UserError(f"{where}: unknown resource(s) {', '.join(unknown)}; allowed: {', '.join(RESOURCE_KEYS)}")
    gpus, shm_size, cpus, memory, platform = (raw.get(key) for key in RESOURCE_KEYS)
    return Resources(
        gpus=None if gpus is None else _gpus(gpus, name("gpus")),
        shm_size=None if shm_size is None else parse_size(shm_size, name("shm_size")),
        cpus=None if cpus is None else _cpus(cpus, name("cpus")),
        memory=None if memory is None else parse_size(memory, name("memory")),
        platform=None if platform is None else _platform(platform, name("platform")),
    )


def _gpus(value: object, where: str) -> str:
    text = str(value).strip() if not isinstance(value, bool) else ""
    if text == "all" or _DEVICES.match(text) or (text.isdigit() and int(text) > 0):
        return text.strip('"')
    raise UserError(f"{where}: {value!r} is not a GPU request; write all, a count such as 2, or device=0,2")


def _cpus(value: object, where: str) -> float:
    try:
        cpus = float(value) if not isinstance(value, bool) else -1.0  # type: ignore[arg-type]
    except (TypeError, ValueError):
        cpus = -1.0
    if not cpus > 0 or cpus > 4096:
        raise UserError(f"{where}: {value!r} is not a CPU count; write a positive number such as 1.5")
    return cpus


def _platform(value: object, where: str) -> str:
    if isinstance(value, str) and _PLATFORM.match(value):
        return value
    raise UserError(f"{where}: {value!r} is not a platform; write os/arch[/variant], e.g. linux/amd64")


def _device_request(gpus: str) -> dict[str, Any]:
    """The Engine API's DeviceRequest for `gpus` (what docker-py's `docker.types.DeviceRequest` serialises to)."""
    request: dict[str, Any] = {"Driver": "", "Count": 0, "DeviceIDs": None, "Capabilities": [["gpu"]], "Options": {}}
    if gpus == "all":
        request["Count"] = -1
    elif gpus.isdigit():
        request["Count"] = int(gpus)
    else:
        request["DeviceIDs"] = gpus.removeprefix("device=").split(",")
    return request


def task_resources(spec: RunSpec) -> Resources:
    """The resources of `spec`'s container: mldock.json's (the project's, then the stage's), then the run's."""
    config = spec.project.config_file
    return (
        parse_resources(spec.project.resources, f"{config}: resources")
        .overlaid(parse_resources(spec.stage.resources, f"{config}: stages.{spec.stage.name}.resources"))
        .overlaid(parse_resources(spec.resources, "the run's resources"))
    )
