"""The generated Dockerfile and the build plan's tag."""

from __future__ import annotations

import json
from pathlib import Path

from mldock.image import image_tag, plan_build
from mldock.image.dockerfile import render_dockerfile, render_labels
from mldock.project.config import load_project


def test_dependencies_are_installed_offline_before_the_project_is_copied() -> None:
    text = render_dockerfile("localhost/mldock-python:3.11-bookworm", has_requirements=True)
    lines = text.splitlines()
    assert lines.count("FROM localhost/mldock-python:3.11-bookworm AS deps") == 1
    assert "FROM localhost/mldock-python:3.11-bookworm" in lines
    installs = [i for i, line in enumerate(lines) if "pip install" in line]
    assert all("--no-index" in lines[i] for i in installs)
    assert "-r /tmp/wheels/deps/requirements.txt" in lines[installs[0]]
    assert "--no-deps" in lines[installs[1]]
    copy_project = lines.index("COPY project/ /opt/program/")
    assert max(installs) < copy_project
    assert 'ENTRYPOINT ["mldock-entrypoint"]' in lines
    assert "CMD []" in lines  # no default task: the entrypoint's no-task rule decides
    assert lines.index("CMD []") > lines.index('ENTRYPOINT ["mldock-entrypoint"]')
    assert "MLDOCK_PROJECT_DIR=/opt/program" in text
    # no wheel reaches the final stage: it copies only the venv from the deps stage
    final = lines[lines.index("FROM localhost/mldock-python:3.11-bookworm") :]
    assert not any("wheels" in line for line in final)


def test_no_requirements_file_means_no_dash_r() -> None:
    assert "-r " not in render_dockerfile("b", has_requirements=False)


def test_labels_are_quoted() -> None:
    value = 'a "b"'
    line = render_labels({"io.mldock.project": value, "io.mldock.content-hash": "ff"})
    assert line.startswith("LABEL ")
    assert "io.mldock.project=" + json.dumps(value) in line
    assert render_labels({}) == ""


def write_project(root: Path, requirements: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = {"name": "demo", "base_image": "localhost/mldock-python:3.11-bookworm"}
    (root / "mldock.json").write_text(json.dumps(config))
    (root / "trainer.py").write_text("def train(env):\n    pass\n")
    if requirements is not None:
        (root / "requirements.txt").write_text(requirements)
    return root


def test_tag_carries_the_content_hash(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path / "p"))
    plan = plan_build(project)
    assert plan.tag == f"localhost/mldock/demo:{plan.content_hash[:12]}"
    assert image_tag(project) == plan.tag
    assert plan.labels["io.mldock.content-hash"] == plan.content_hash


def test_requirements_change_the_tag(tmp_path: Path) -> None:
    without = image_tag(load_project(write_project(tmp_path / "a")))
    with_req = image_tag(load_project(write_project(tmp_path / "b", "boto3\n")))
    other_req = image_tag(load_project(write_project(tmp_path / "c", "boto3==1.40.0\n")))
    assert len({without, with_req, other_req}) == 3
