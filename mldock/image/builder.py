"""Build a project's image: cached by a content hash of everything that goes into it, installed offline
from a host wheelhouse, output streamed, a failed build reported with the failing step's output.

    built = build_image(load_project("examples/iris"), progress=print)
    built.tag        # localhost/mldock/iris:1f2e3d4c5b6a
    built.rebuilt    # False when the engine already had that tag (nothing was built)
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mldock.engine import connect, engine_errors, sweep_stale
from mldock.errors import BuildError, EngineError
from mldock.image.base_image import LOCAL_BASE_IMAGE, ensure_base_image
from mldock.image.context import ContextFile, DigestCache, content_hash, project_files, write_context_tar
from mldock.image.dockerfile import render_dockerfile, render_labels
from mldock.image.wheelhouse import (
    cache_dir,
    check_python_matches,
    mldock_source_hash,
    mldock_wheel,
    platform_requirements,
    requirements_wheelhouse,
)

if TYPE_CHECKING:
    import docker

    from mldock.project.config import ProjectConfig

__all__ = [
    "CONTENT_HASH_LABEL",
    "IMAGE_REPOSITORY_PREFIX",
    "PROJECT_LABEL",
    "BuildPlan",
    "BuiltImage",
    "build_image",
    "digest_cache",
    "image_tag",
    "plan_build",
    "run_build",
    "with_platform_requirements",
]

IMAGE_REPOSITORY_PREFIX = "localhost/mldock/"
PROJECT_LABEL = "io.mldock.project"
CONTENT_HASH_LABEL = "io.mldock.content-hash"
BASE_IMAGE_LABEL = "io.mldock.base-image"
_TAIL_LINES = 60
_LOST_LAYER = "layer not known"  # Podman, when a concurrent removal took a layer its build cache was reading
_STEP = re.compile(r"^(\[\d+/\d+\] )?(STEP|Step) \d+(/\d+)?\s*:", re.IGNORECASE)

Progress = Callable[[str], None]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuiltImage:
    """The outcome of `build_image`: the tag, whether it was built now, and how long the call took (s)."""

    tag: str
    rebuilt: bool
    duration: float
    content_hash: str = ""


@dataclass(frozen=True)
class BuildPlan:
    """Everything a build takes, computed without the engine: files, Dockerfile, hash and tag."""

    project: ProjectConfig
    files: tuple[ContextFile, ...]
    dockerfile: str
    requirements: str
    source_hash: str
    content_hash: str

    @property
    def tag(self) -> str:
        return f"{IMAGE_REPOSITORY_PREFIX}{self.project.name}:{self.content_hash[:12]}"

    @property
    def labels(self) -> dict[str, str]:
        return {
            PROJECT_LABEL: self.project.name,
            CONTENT_HASH_LABEL: self.content_hash,
            BASE_IMAGE_LABEL: self.project.base_image,
        }


def plan_build(project: ProjectConfig, *, digests: DigestCache | None = None) -> BuildPlan:
    """Collect the context (after .dockerignore), render the Dockerfile and hash every input.

    A project file whose size, times and inode are as when it was last hashed is not read again: its digest
    comes from `digests` (default: the project's cache file in mldock's cache folder, see `digest_cache`).
    """
    requirements_file = project.requirements_file
    requirements = requirements_file.read_text(encoding="utf-8") if requirements_file else ""
    requirements = with_platform_requirements(requirements, project.platforms)
    files = tuple(project_files(project.root))
    dockerfile = render_dockerfile(project.base_image, has_requirements=bool(requirements.strip()))
    source_hash = mldock_source_hash()
    cache = digest_cache(project) if digests is None else digests
    digest = content_hash(
        files,
        dockerfile=dockerfile,
        base_image=project.base_image,
        requirements=requirements,
        mldock_source=source_hash,
        digests=cache,
    )
    cache.save()
    return BuildPlan(project, files, dockerfile, requirements, source_hash, digest)


def with_platform_requirements(requirements: str, platforms: Iterable[str]) -> str:
    """`requirements` (a requirements file's text) plus the cloud SDKs `platforms` need and it does not name
    (mldock.image.wheelhouse.platform_requirements): what the image installs, and what its content hash sees."""
    extra = platform_requirements(platforms, requirements)
    if not extra:
        return requirements
    separator = "\n" if requirements and not requirements.endswith("\n") else ""
    return requirements + separator + "# added for the project's platforms (mldock.json)\n" + "\n".join(extra) + "\n"


def digest_cache(project: ProjectConfig) -> DigestCache:
    """The file digests last computed for `project`'s folder: `<cache dir>/digests/project-<hash of the path>.json`."""
    key = hashlib.sha256(str(project.root.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return DigestCache.load(cache_dir() / "digests" / f"project-{key}.json")


def image_tag(project: ProjectConfig) -> str:
    """The tag the project's image has (or would have): `localhost/mldock/<name>:<content hash[:12]>`."""
    return plan_build(project).tag


def build_image(
    project: ProjectConfig,
    *,
    client: docker.DockerClient | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> BuiltImage:
    """Build the project's image unless the engine already has its content-hash tag (or `force`)."""
    import docker.errors as de

    started = time.monotonic()
    plan = plan_build(project)
    client = client or connect()
    if not force:
        try:
            with engine_errors(f"looking up {plan.tag}"):
                client.images.get(plan.tag)
        except EngineError as exc:
            if not isinstance(exc.__cause__, de.ImageNotFound):
                raise
        else:
            _say(progress, f"{plan.tag} is up to date (content unchanged): not rebuilt")
            duration = time.monotonic() - started
            return BuiltImage(plan.tag, rebuilt=False, duration=duration, content_hash=plan.content_hash)
    sweep_stale(client)
    check_python_matches(project.base_image)
    _ensure_base(client, project.base_image, progress)
    wheel = mldock_wheel(progress=progress, source_hash=plan.source_hash)
    deps = requirements_wheelhouse(plan.requirements, cwd=project.root, progress=progress)
    _say(progress, f"building {plan.tag} from {project.root}")
    with tempfile.TemporaryFile(prefix="mldock-context-") as context:
        write_context_tar(
            context,
            plan.files,
            prefix="project",
            extra={"Dockerfile": (plan.dockerfile + render_labels(plan.labels)).encode()},
            trees={"wheels/deps": deps, "wheels/mldock": wheel.parent},
        )
        context.seek(0)
        run_build(client, context, plan.tag, progress=progress)
    duration = time.monotonic() - started
    _say(progress, f"built {plan.tag} in {duration:.1f} s")
    return BuiltImage(plan.tag, rebuilt=True, duration=duration, content_hash=plan.content_hash)


def _ensure_base(client: docker.DockerClient, base_image: str, progress: Progress | None) -> None:
    """Make the local base image when the project names it and the engine does not have it yet."""

    if base_image == LOCAL_BASE_IMAGE:
        ensure_base_image(base_image, client=client, progress=progress)


def run_build(client: docker.DockerClient, context: Any, tag: str, *, progress: Progress | None = None) -> None:
    """Build `tag` from a tar `context` (a seekable file object holding a Dockerfile), streaming lines to `progress`.

    Raises BuildError with the failing step's output when the engine reports an error. A build the engine fails
    with "layer not known" is run once more: Podman reports so when an image removal elsewhere on the engine
    (another session's clean-up, a parallel test) takes a layer its build cache was looking at, not a fault of
    the project.
    """
    try:
        _build_once(client, context, tag, progress)
    except BuildError as exc:
        if _LOST_LAYER not in str(exc):
            raise
        log.warning("building %s: the engine lost a cached layer to a concurrent removal; building again", tag)
        _say(progress, f"building {tag} again: the engine lost a cached layer to a concurrent removal")
        context.seek(0)
        _build_once(client, context, tag, progress)


def _build_once(client: docker.DockerClient, context: Any, tag: str, progress: Progress | None) -> None:
    step_lines: list[str] = []
    tail: list[str] = []
    with engine_errors(f"building {tag}"):
        stream = client.api.build(
            fileobj=context,
            custom_context=True,
            tag=tag,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
        )
        for line, error in _lines(stream):
            if error is not None:
                failing = step_lines[-_TAIL_LINES:] or tail[-_TAIL_LINES:]
                raise BuildError(f"building {tag} failed: {error.strip()}", log_tail="\n".join(failing))
            if _STEP.match(line):
                step_lines = []
            step_lines.append(line)
            tail = [*tail[-(_TAIL_LINES - 1) :], line]
            log.debug("%s", line)
            if progress is not None:
                progress(line)
    with engine_errors(f"checking the built {tag}"):
        try:
            client.images.get(tag)
        except Exception as exc:
            raise BuildError(f"building {tag} ended without the image", log_tail="\n".join(tail)) from exc


def _lines(stream: Iterable[Mapping[str, Any]]) -> Iterable[tuple[str, str | None]]:
    """(line, error) pairs from a decoded build stream; error is set on the chunk that reports a failure."""
    for chunk in stream:
        if chunk.get("error") or chunk.get("errorDetail"):
            detail = chunk.get("errorDetail") or {}
            yield "", str(chunk.get("error") or detail.get("message") or chunk)
            return
        text = chunk.get("stream") or chunk.get("status") or ""
        for line in str(text).splitlines():
            if line.strip():
                yield line.rstrip(), None


def _say(progress: Progress | None, line: str) -> None:
    log.info("%s", line)
    if progress is not None:
        progress(line)
