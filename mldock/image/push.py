"""Push a built image to a registry through the engine, and fail loudly when the push fails.

    pushed = push_image(client, "localhost/mldock/iris:1f2e3d4c5b6a", Registry.parse("127.0.0.1:5000/team"),
                        name="iris", tags=["1f2e3d4c5b6a", "latest"])
    pushed.digest        # sha256:... (the manifest digest the registry now serves)

The engine reports a failed push as an `errorDetail` line inside a stream that otherwise looks fine (no
exception, HTTP 200): the stream is read to its end, and any error line fails the push with the engine's
own words, naming the registry. The registry tags are removed locally again after the push (the image keeps
its `localhost/mldock/...` tag), so pushing does not pile up tags for `mldock clean` to find.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mldock.engine import engine_errors
from mldock.errors import EngineError, UserError
from mldock.image.registry import Credentials, Registry

if TYPE_CHECKING:
    import docker

__all__ = ["PushedImage", "push_image", "read_push_stream", "validate_tag"]

log = logging.getLogger(__name__)

_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PushedImage:
    """What `push_image` pushed: the local image, the registry repository, its tags and the manifest digest."""

    image: str
    repository: str
    tags: tuple[str, ...]
    digest: str

    @property
    def reference(self) -> str:
        """`repository@digest`: the exact image, whatever happens to the tags later."""
        return f"{self.repository}@{self.digest}"

    def to_json(self) -> dict[str, Any]:
        return {"image": self.image, "repository": self.repository, "tags": list(self.tags), "digest": self.digest}


def validate_tag(tag: str) -> str:
    """`tag` when it is a valid image tag (UserError otherwise)."""
    if not _TAG.match(tag):
        raise UserError(
            f"{tag!r} is not an image tag: up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"
        )
    return tag


def push_image(
    client: docker.DockerClient,
    image: str,
    registry: Registry,
    *,
    name: str,
    tags: Sequence[str],
    credentials: Credentials | None = None,
    insecure: bool = False,
    progress: Progress | None = None,
) -> PushedImage:
    """Tag `image` as `registry/name:TAG` for each tag, push each, and return the pushed digest.

    `insecure` asks the engine to skip TLS (Podman's `tlsVerify=false`; Docker decides by its daemon's
    `insecure-registries`). Raises EngineError naming the registry and the engine's error line.
    """
    if not tags:
        raise UserError("nothing to push: no tag given")
    repository = registry.repository(name)
    mask = credentials.mask if credentials is not None else _no_mask
    auth = credentials.auth_config() if credentials is not None else None
    with engine_errors(f"looking up {image}"):
        local = client.images.get(image)
    digests: dict[str, str] = {}
    try:
        for tag in tags:
            with engine_errors(f"tagging {image} as {repository}:{validate_tag(tag)}"):
                local.tag(repository, tag)
            where = f"{repository}:{tag}"
            _say(progress, f"pushing {where}")
            try:
                with engine_errors(f"pushing {where} to {registry.host}"):
                    stream = _push_stream(client, repository, tag, auth, insecure=insecure)
                    digests[tag] = read_push_stream(stream, where=where, registry=registry.host, progress=progress)
            except EngineError as exc:
                raise EngineError(mask(str(exc))) from None
    finally:
        for tag in tags:
            _untag(client, f"{repository}:{tag}")
    first = digests[tags[0]]
    if any(digest != first for digest in digests.values()):
        log.warning("the tags of %s were pushed with different digests: %s", repository, digests)
    _say(progress, f"pushed {repository}@{first}")
    return PushedImage(image, repository, tuple(tags), first)


def read_push_stream(
    stream: Iterable[Mapping[str, Any]], *, where: str, registry: str, progress: Progress | None = None
) -> str:
    """Read a decoded push stream to its end and return the digest it reports.

    Raises EngineError on the first error line (the engine's message, naming `registry`), and when the stream
    ends without a digest.
    """
    digest = ""
    for chunk in stream:
        if chunk.get("error") or chunk.get("errorDetail"):
            detail = chunk.get("errorDetail") or {}
            message = str(detail.get("message") or chunk.get("error") or chunk).strip()
            raise EngineError(
                f"pushing {where} to the registry {registry} failed: the engine reported: {message}{_hint(message)}"
            )
        aux = chunk.get("aux")
        if isinstance(aux, Mapping) and str(aux.get("Digest", "")).startswith("sha256:"):
            digest = str(aux["Digest"])
        status = str(chunk.get("status") or chunk.get("stream") or "").strip()
        found = _DIGEST.search(status)
        if found:
            digest = found.group(1)
        if status and progress is not None:
            layer = chunk.get("id")
            progress(f"{layer}: {status}" if layer else status)
    if not digest:
        raise EngineError(
            f"pushing {where} to the registry {registry} ended without a digest: the engine did not confirm the push"
        )
    return digest


def _hint(message: str) -> str:
    if "server gave HTTP response to HTTPS client" in message:
        return (
            "\nhint: the registry speaks plain HTTP: push with --insecure (Podman), list it as insecure in the "
            "engine's settings, or give it TLS (see docs/containers.md)"
        )
    if "connection refused" in message.lower():
        return "\nhint: nothing answers at that address: is the registry running, and is the port right?"
    return ""


def _push_stream(
    client: docker.DockerClient, repository: str, tag: str, auth: dict[str, str] | None, *, insecure: bool
) -> Iterable[Mapping[str, Any]]:
    if not insecure:
        stream: Iterable[Mapping[str, Any]] = client.images.push(
            repository, tag=tag, stream=True, decode=True, auth_config=auth
        )
        return stream
    # docker-py's push has no way to add a query parameter: the same request, with Podman's `tlsVerify`
    from docker import auth as docker_auth

    api = client.api
    headers = {"X-Registry-Auth": docker_auth.encode_header(auth)} if auth else {}
    if not auth:
        header = docker_auth.get_config_header(api, docker_auth.resolve_repository_name(repository)[0])
        if header:
            headers["X-Registry-Auth"] = header
    response = api._post(
        api._url("/images/{0}/push", repository),
        params={"tag": tag, "tlsVerify": "false"},
        headers=headers,
        stream=True,
    )
    api._raise_for_status(response)
    return api._stream_helper(response, decode=True)  # type: ignore[no-any-return]


def _untag(client: docker.DockerClient, reference: str) -> None:
    import docker.errors as de

    try:
        client.images.remove(reference, noprune=True)
    except (de.NotFound, de.APIError) as exc:
        log.debug("could not untag %s: %s", reference, exc)


def _no_mask(text: str) -> str:
    return text


def _say(progress: Progress | None, line: str) -> None:
    log.info("%s", line)
    if progress is not None:
        progress(line)
