"""Which image a job runs: the pushed digest when there is one, else the content-hash tag (with a note why).

    ref, note = job_image(project, image="reg.example.com/team/iris@sha256:...")   # as given, no note
    ref, note = job_image(project, registry="reg.example.com/team")    # reg.example.com/team/iris@sha256:...
    ref, note = job_image(project)                                     # localhost/mldock/iris:<hash>, a note

`mldock push` pushes the project's image as `REGISTRY/NAME:<content hash>` and prints `REPOSITORY@sha256:...`.
With --registry, the registry is asked (`HEAD /v2/NAME/manifests/<content hash>`, the registry API every
engine pushes through) which manifest that tag names, and the job runs that digest: the image `mldock push`
pushed for the project as it is now, pinned. When the registry does not have the tag (not pushed yet, or the
project changed since), or cannot be asked, the job gets the tag with a note saying so. --image takes what
`mldock push` printed as it is.

Logging in for the question: ECR, Artifact Registry/GCR and ACR through their SDKs
(mldock.image.registry.registry_credentials, as `mldock push` does), a registry's bearer-token challenge
answered anonymously or with those credentials; a password never reaches a message.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from email.message import Message

from mldock.errors import MldockError, ToolingError, UserError
from mldock.image import image_tag
from mldock.image.registry import Credentials, Registry, registry_credentials
from mldock.project.config import ProjectConfig
from mldock.submit.job import ImageRef

__all__ = ["MANIFEST_TYPES", "RegistryLookupError", "job_image", "pushed_digest"]

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
_TIMEOUT = 10.0


class RegistryLookupError(ToolingError):
    """The registry could not say which manifest a tag names (unreachable, refused, unexpected answer)."""


def job_image(
    project: ProjectConfig, *, image: str | None = None, registry: str | None = None, insecure: bool = False
) -> tuple[ImageRef, str | None]:
    """The image reference for a job of `project`, and a note when it is not a pushed digest."""
    if image:
        if not _REFERENCE.match(image) or ("@" in image and "@sha256:" not in image):
            # not echoed when it holds an '@' that is not a digest's: `user:password@registry/...` is a mistake
            shown = repr(image) if "@" not in image or "@sha256:" in image else "(with a user part, not shown)"
            raise UserError(f"--image {shown} is not an image reference (REPOSITORY[:TAG] or REPOSITORY@sha256:...)")
        ref = ImageRef.parse(image)
        if ref.pinned:
            return ref, None
        return ref, f"the image {image} is a tag, not a digest: the job runs whatever the tag points to then"
    local = image_tag(project)
    content_tag = local.rpartition(":")[2]
    if not registry:
        return ImageRef(local, pinned=False), (
            f"the image is the local tag {local}: no registry was given, so the platform cannot pull it; "
            "push it first (`mldock push --registry ...`) and pass --registry (or --image with the digest it prints)"
        )
    target = Registry.parse(registry)
    repository = target.repository(project.name)
    try:
        credentials = registry_credentials(target)
        digest = pushed_digest(repository, content_tag, credentials=credentials, insecure=insecure)
    except MldockError as exc:  # RegistryLookupError, or a cloud login that failed: the tag, with a note
        return ImageRef(f"{repository}:{content_tag}", pinned=False), (
            f"the image is the content-hash tag {repository}:{content_tag}: the registry could not say which "
            f"digest it names ({exc}); pass --image REPOSITORY@sha256:... (what `mldock push` printed) to pin it"
        )
    if digest is None:
        return ImageRef(f"{repository}:{content_tag}", pinned=False), (
            f"{repository}:{content_tag} is not in the registry: the project as it is now was not pushed there; "
            "run `mldock push --registry ...` first (the job would fail to pull it)"
        )
    return ImageRef(f"{repository}@{digest}", pinned=True), None


def pushed_digest(
    repository: str, tag: str, *, credentials: Credentials | None = None, insecure: bool = False
) -> str | None:
    """The digest of the manifest `repository:tag` names in its registry, or None when it has no such tag.

    `insecure` asks over plain HTTP. Raises RegistryLookupError (the password masked) for any other outcome.
    """
    host, _, name = repository.partition("/")
    url = f"{'http' if insecure else 'https'}://{host}/v2/{name}/manifests/{urllib.parse.quote(tag)}"
    mask = credentials.mask if credentials is not None else (lambda text: text)
    headers = {"Accept": ", ".join(MANIFEST_TYPES)}
    try:
        status, answer = _head(url, headers)
        if status == 401:
            headers["Authorization"] = _authorization(str(answer.get("WWW-Authenticate", "")), credentials, name)
            status, answer = _head(url, headers)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RegistryLookupError(mask(f"{host}: {exc}")) from None
    if status == 404:
        return None
    digest = str(answer.get("Docker-Content-Digest", ""))
    if status != 200 or not _DIGEST.match(digest):
        raise RegistryLookupError(f"{host} answered {status} for {name}:{tag} without a manifest digest")
    return digest


def _head(url: str, headers: Mapping[str, str]) -> tuple[int, Message]:
    """The status and the (case-insensitive) headers of a HEAD request."""
    request = urllib.request.Request(url, headers=dict(headers), method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as answer:
            return int(answer.status), answer.headers
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.headers


def _authorization(challenge: str, credentials: Credentials | None, name: str) -> str:
    """The Authorization header answering a registry's 401 challenge (Basic, or a Bearer token from its realm)."""
    scheme, _, params = challenge.partition(" ")
    basic = (
        "Basic " + base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
        if credentials is not None
        else None
    )
    if scheme.lower() == "basic":
        if basic is None:
            raise RegistryLookupError("the registry wants a login: give mldock push's --username, or push first")
        return basic
    if scheme.lower() != "bearer":
        raise RegistryLookupError(f"the registry asks for an unknown login scheme {scheme!r}")
    fields = dict(_CHALLENGE.findall(params))
    query = {"service": fields.get("service", ""), "scope": fields.get("scope", f"repository:{name}:pull")}
    token_url = f"{fields.get('realm', '')}?{urllib.parse.urlencode(query)}"
    request = urllib.request.Request(token_url, headers={"Authorization": basic} if basic else {})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as answer:
            data = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        raise RegistryLookupError(f"the registry's token service answered {exc.code}") from None
    token = data.get("token") or data.get("access_token")
    if not token:
        raise RegistryLookupError("the registry's token service gave no token")
    return f"Bearer {token}"
