"""Image build through the real engine: offline install, content-hash cache, failing step output, .dockerignore."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from engine_project import write_project

from mldock.engine import engine_errors
from mldock.errors import BuildError
from mldock.image import build_image

if TYPE_CHECKING:
    import docker

pytestmark = [pytest.mark.integration, pytest.mark.engine]


def run_in(engine: docker.DockerClient, tag: str, program: str, *args: str) -> str:
    with engine_errors("running a check"):
        out = engine.containers.run(tag, list(args), entrypoint=[program], remove=True, stdout=True, stderr=True)
    return out.decode() if isinstance(out, bytes) else str(out)


def test_build_then_cache_hit_then_rebuild_on_change(
    engine: docker.DockerClient, base_image: str, frozen_sources: str, tmp_path: Path
) -> None:
    project = write_project(
        tmp_path / "p",
        base_image,
        requirements="six==1.16.0\n",
        extra={".dockerignore": "secrets/\n*.log\n", "secrets/key.txt": "k", "debug.log": "x", "pkg/util.py": "U=1\n"},
    )
    lines: list[str] = []
    first = build_image(project, client=engine, progress=lines.append)
    assert first.tag.startswith("localhost/mldock/engine-test:")
    if first.rebuilt:
        assert any("STEP" in line or "Step" in line for line in lines), "build output was not streamed"

    second = build_image(project, client=engine)
    assert (second.tag, second.rebuilt) == (first.tag, False)

    # the image trains with the runtime from this checkout and the requirement from the host wheelhouse
    trained = engine.containers.run(first.tag, remove=True, stdout=True, stderr=True).decode()
    assert "trained in the image" in trained
    listing = run_in(
        engine,
        first.tag,
        "python",
        "-c",
        "import os, six, mldock; print(sorted(os.listdir('/opt/program')), os.path.exists('/tmp/wheels'))",
    )
    assert "'trainer.py'" in listing
    assert "'pkg'" in listing
    assert "secrets" not in listing
    assert "debug.log" not in listing
    assert listing.strip().endswith("False")

    # a change no earlier run has built: images of earlier sessions stay in the engine
    (project.root / "trainer.py").write_text(f"def train(env):\n    print('changed {uuid.uuid4().hex}')\n")
    third = build_image(project, client=engine)
    assert third.rebuilt
    assert third.tag != first.tag


def test_a_failing_build_shows_the_failing_step_output(
    engine: docker.DockerClient, base_image: str, frozen_sources: str, tmp_path: Path
) -> None:
    """A base image without the venv module: the step that makes the venv fails, and its output is shown."""
    import io
    import tarfile

    from mldock.image.builder import run_build

    broken = "localhost/mldock-test-broken-base:1"
    dockerfile = f"FROM {base_image}\nRUN rm -rf /usr/lib/python3.11/venv\n".encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    context.seek(0)
    run_build(engine, context, broken)

    project = write_project(tmp_path / "p", broken)
    with pytest.raises(BuildError) as info:
        build_image(project, client=engine)
    error = info.value
    assert "python3 -m venv" in str(error)
    assert "venv" in error.log_tail
    assert "No module named venv" in error.log_tail or "No module named" in error.log_tail
