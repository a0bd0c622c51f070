"""run_build: the build stream's errors become a BuildError; Podman's "layer not known" is built once more."""

from __future__ import annotations

import io
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from mldock.errors import BuildError
from mldock.image.builder import run_build

LOST = "checking if cached image exists from a previous build: getting top layer info: layer not known"


class FakeEngine:
    """A docker-py client whose builds answer with the given streams, one per build; records each context read."""

    def __init__(self, *streams: list[dict[str, Any]]) -> None:
        self.streams = list(streams)
        self.contexts: list[bytes] = []
        self.api = SimpleNamespace(build=self._build)
        self.images = SimpleNamespace(get=lambda tag: SimpleNamespace(tags=[tag]))

    def _build(self, *, fileobj: io.BytesIO, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.contexts.append(fileobj.read())
        return iter(self.streams.pop(0))


def _fails(message: str) -> list[dict[str, Any]]:
    return [{"stream": "STEP 1/2: FROM base\n"}, {"error": message, "errorDetail": {"message": message}}]


BUILT = [{"stream": "STEP 1/2: FROM base\n"}, {"stream": "COMMIT t\n"}]


def test_a_lost_layer_is_built_again_from_the_start_of_the_context() -> None:
    engine = FakeEngine(_fails(LOST), BUILT)
    lines: list[str] = []
    run_build(engine, io.BytesIO(b"the context"), "t:1", progress=lines.append)  # type: ignore[arg-type]
    assert engine.contexts == [b"the context", b"the context"]
    assert any("building t:1 again" in line for line in lines)


def test_a_lost_layer_twice_is_a_build_error() -> None:
    engine = FakeEngine(_fails(LOST), _fails(LOST))
    with pytest.raises(BuildError, match="layer not known"):
        run_build(engine, io.BytesIO(b"ctx"), "t:1")  # type: ignore[arg-type]
    assert len(engine.contexts) == 2


def test_a_failing_step_is_not_built_again() -> None:
    engine = FakeEngine(_fails("RUN pip install nothing-by-that-name: exit status 1"), BUILT)
    with pytest.raises(BuildError, match="exit status 1") as caught:
        run_build(engine, io.BytesIO(b"ctx"), "t:1")  # type: ignore[arg-type]
    assert len(engine.contexts) == 1
    assert "STEP 1/2: FROM base" in (caught.value.log_tail or "")
