"""The local base image: present and usable, reused while present, and the import path through the Engine API."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mldock.engine import engine_errors
from mldock.image.base_image import LOCAL_BASE_IMAGE, _import, ensure_base_image

if TYPE_CHECKING:
    import docker

pytestmark = [pytest.mark.integration, pytest.mark.engine]


def test_base_image_has_python_with_venv_and_is_reused(engine: docker.DockerClient, base_image: str) -> None:
    again = ensure_base_image(client=engine)
    assert (again.tag, again.created) == (LOCAL_BASE_IMAGE, False)
    out = engine.containers.run(
        LOCAL_BASE_IMAGE,
        ["python3", "-c", "import sys, venv, ssl; print(sys.version_info[:2])"],
        remove=True,
    ).decode()
    assert out.strip() == "(3, 11)"


def test_a_root_file_system_is_imported_and_tagged_through_the_api(engine: docker.DockerClient,
                                                                   tmp_path: Path) -> None:
    """The import step of ensure_base_image on a tiny root file system (a static binary), then run."""
    from mldock.emulators.gcs import find_fake_gcs_server

    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    shutil.copy(find_fake_gcs_server(), rootfs / "server")
    (rootfs / "server").chmod(0o755)
    tag = f"localhost/mldock-test-import:{int(time.time() * 1000)}"
    lines: list[str] = []
    try:
        _import(engine, rootfs, tag, lines.append)
        out = engine.containers.run(tag, ["/server", "-help"], remove=True, stdout=True, stderr=True).decode()
        assert "-backend" in out
        assert any(line.startswith("sha256:") for line in lines)
        assert f"{tag.rsplit(':', 1)[0]}:latest" not in engine.images.get(tag).tags
    finally:
        with engine_errors("removing the test image"):
            engine.images.remove(tag, force=True)
