"""What `mldock clean` removes for a project, planned first (a dry run is the plan alone), then applied.

    plan = plan_clean(client, project)            # nothing removed yet
    print(plan.to_json())
    report = apply_clean(client, plan)            # removes what the plan lists; report.skipped says what stayed

What counts as leftover:
- images: every tag of an image labelled with this project's name (`io.mldock.project`) whose content hash
  (`io.mldock.content-hash`) is not the project's current one; with `everything`, the current one too. An
  image that a container still uses stays (reported as skipped).
- engine resources: containers, networks and volumes labelled `io.mldock.managed` whose owner process on this
  host is gone (the rule of `mldock.engine.sweep_stale`, any project): a live session's are never touched.
- base dirs: the host folders the runners make for this project's runs, `$TMPDIR/mldock-<project>-<task>-*`,
  that no running process uses (as MLDOCK_BASE_DIR or working directory) and that nothing has written to for
  an hour (`min_age`); with `everything`, any age.
- run outputs (only with `everything`): `<project>/.mldock/runs/*`, what `mldock run train` fetched.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mldock.engine import engine_errors, managed_filter, owner_alive, remove_resource
from mldock.errors import EngineError
from mldock.image.builder import CONTENT_HASH_LABEL, PROJECT_LABEL, plan_build

if TYPE_CHECKING:
    import docker

    from mldock.project.config import ProjectConfig

__all__ = ["BASE_DIR_MIN_AGE", "CleanPlan", "CleanReport", "apply_clean", "plan_clean"]

log = logging.getLogger(__name__)

BASE_DIR_MIN_AGE = 3600.0
"""Seconds a base dir must have gone unwritten before it counts as leftover (a run in progress writes there)."""

_TASKS = ("train", "serve")


@dataclass(frozen=True)
class ImageTag:
    """A tag to remove (`tag` is None for an untagged image, removed by id)."""

    image_id: str
    tag: str | None
    content_hash: str

    @property
    def name(self) -> str:
        return self.tag or self.image_id


@dataclass
class CleanPlan:
    """Everything a clean would remove (see the module docstring for the rules)."""

    project: str
    current_tag: str
    images: list[ImageTag] = field(default_factory=list)
    containers: list[tuple[str, str]] = field(default_factory=list)
    networks: list[tuple[str, str]] = field(default_factory=list)
    volumes: list[tuple[str, str]] = field(default_factory=list)
    base_dirs: list[Path] = field(default_factory=list)
    run_outputs: list[Path] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.images or self.containers or self.networks or self.volumes or self.base_dirs
                    or self.run_outputs)

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "current_tag": self.current_tag,
            "images": [item.name for item in self.images],
            "containers": [name for _, name in self.containers],
            "networks": [name for _, name in self.networks],
            "volumes": [name for _, name in self.volumes],
            "base_dirs": [str(path) for path in self.base_dirs],
            "run_outputs": [str(path) for path in self.run_outputs],
        }


@dataclass
class CleanReport:
    """What `apply_clean` removed, and what it left with the reason."""

    removed: CleanPlan
    skipped: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**self.removed.to_json(), "skipped": self.skipped}


def plan_clean(
    client: docker.DockerClient,
    project: ProjectConfig,
    *,
    everything: bool = False,
    temp_dir: Path | None = None,
    min_age: float = BASE_DIR_MIN_AGE,
) -> CleanPlan:
    """List what a clean of `project` removes; removes nothing."""
    build = plan_build(project)
    plan = CleanPlan(project.name, build.tag)
    plan.images = list(_old_images(client, project.name, None if everything else build.content_hash))
    listings: dict[str, Callable[[], list[Any]]] = {
        "containers": lambda: client.containers.list(all=True, filters=managed_filter()),
        "networks": lambda: client.networks.list(filters=managed_filter()),
        "volumes": lambda: client.volumes.list(filters=managed_filter()),
    }
    for kind, listing in listings.items():
        with engine_errors(f"listing mldock's {kind}"):
            found = listing()
        stale = [(item.id, item.name) for item in found if not owner_alive(_labels(item))]
        setattr(plan, kind, stale)
    in_use = _paths_in_use()
    plan.base_dirs = [
        path
        for path in _base_dirs(temp_dir or Path(tempfile.gettempdir()), project.name)
        if not _in_use(path, in_use) and (everything or _idle_for(path) >= min_age)
    ]
    runs = project.root / ".mldock" / "runs"
    if everything and runs.is_dir():
        plan.run_outputs = sorted(path for path in runs.iterdir() if not _in_use(path, in_use))
    return plan


def apply_clean(client: docker.DockerClient, plan: CleanPlan) -> CleanReport:
    """Remove what `plan` lists; what cannot go (in use, already gone) is reported, never raised."""
    import docker.errors as de

    removed = CleanPlan(plan.project, plan.current_tag)
    report = CleanReport(removed)
    for kind in ("container", "network", "volume"):
        for ident, name in getattr(plan, f"{kind}s"):
            if remove_resource(client, kind, ident):  # type: ignore[arg-type]
                getattr(removed, f"{kind}s").append((ident, name))
            else:
                report.skipped.append({"what": f"{kind} {name}", "why": "already gone or refused (see the log)"})
    for item in plan.images:
        try:
            with engine_errors(f"removing {item.name}"):
                client.images.remove(item.tag or item.image_id, noprune=False)
        except EngineError as exc:
            if isinstance(exc.__cause__, de.ImageNotFound):
                continue
            report.skipped.append({"what": f"image {item.name}", "why": str(exc)})
        else:
            removed.images.append(item)
    for path in [*plan.base_dirs, *plan.run_outputs]:
        try:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            report.skipped.append({"what": str(path), "why": f"{type(exc).__name__}: {exc}"})
        else:
            (removed.base_dirs if path in plan.base_dirs else removed.run_outputs).append(path)
    return report


def _old_images(client: docker.DockerClient, project: str, keep_hash: str | None) -> Iterator[ImageTag]:
    with engine_errors(f"listing the images of project {project}"):
        images = client.images.list(filters={"label": f"{PROJECT_LABEL}={project}"})
    for image in images:
        labels = image.labels or {}
        if labels.get(PROJECT_LABEL) != project:
            continue
        content = labels.get(CONTENT_HASH_LABEL, "")
        if keep_hash is not None and content == keep_hash:
            continue
        tags = [tag for tag in (image.attrs.get("RepoTags") or []) if tag and "<none>" not in tag]
        if not tags:
            yield ImageTag(image.id, None, content)
        for tag in sorted(tags):
            yield ImageTag(image.id, tag, content)


def _base_dirs(temp_dir: Path, project: str) -> list[Path]:
    """The folders `mldock.runners._basedirs.BaseDirs.new` makes for this project's runs."""
    pattern = re.compile(rf"^mldock-{re.escape(project)}-({'|'.join(_TASKS)})-[A-Za-z0-9_]{{8}}$")
    try:
        entries = list(temp_dir.iterdir())
    except OSError:
        return []
    return sorted(path for path in entries if pattern.match(path.name) and path.is_dir() and not path.is_symlink())


def _idle_for(path: Path) -> float:
    """Seconds since anything in the tree at `path` was last modified."""
    newest = 0.0
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, entry) for entry in (*dirs, *files))]:
            try:
                newest = max(newest, os.lstat(name).st_mtime)
            except OSError:
                continue
    return time.time() - newest


def _in_use(path: Path, in_use: set[Path]) -> bool:
    """Whether `path` or anything below it is among `in_use`."""
    resolved = path.resolve()
    return any(used == resolved or resolved in used.parents for used in in_use)


def _paths_in_use() -> set[Path]:
    """Folders running processes use as MLDOCK_BASE_DIR or working directory (Linux /proc; empty elsewhere)."""
    used: set[Path] = set()
    proc = Path("/proc")
    if not proc.is_dir():
        return used
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            used.add(Path(os.readlink(entry / "cwd")).resolve())
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        for variable in environ.split(b"\0"):
            if variable.startswith(b"MLDOCK_BASE_DIR="):
                used.add(Path(os.fsdecode(variable.partition(b"=")[2])).resolve())
    return used


def _labels(resource: Any) -> dict[str, str]:
    labels = getattr(resource, "labels", None)
    if labels is None:
        labels = resource.attrs.get("Labels")
    return dict(labels or {})
