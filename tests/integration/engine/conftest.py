"""Fixtures of the engine/build integration tests: a real Docker Engine API (Podman here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import docker


@pytest.fixture(scope="session")
def engine() -> Iterator[docker.DockerClient]:
    """A client for the engine; a failure (not a skip) when none answers: these tests are about the engine."""
    from mldock.engine import connect
    from mldock.errors import EngineError

    try:
        client = connect()
    except EngineError as exc:
        pytest.fail(f"these tests need a container engine: {exc}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(engine: docker.DockerClient) -> str:
    """The local Python base image (made once when missing: ~1-2 minutes, as root)."""
    from mldock.image.base_image import LOCAL_BASE_IMAGE, ensure_base_image

    ensure_base_image(LOCAL_BASE_IMAGE, client=engine)
    return LOCAL_BASE_IMAGE


@pytest.fixture
def frozen_sources(monkeypatch: pytest.MonkeyPatch) -> str:
    """Pin the mldock source hash for one test, so colleagues editing the checkout meanwhile cannot turn a
    cache hit into a rebuild (the hash itself is unit-tested; the engine's cache is what is tested here)."""
    import mldock.image.builder as image_module
    from mldock.image.wheelhouse import mldock_source_hash

    pinned = mldock_source_hash()
    monkeypatch.setattr(image_module, "mldock_source_hash", lambda: pinned)
    return pinned
