"""What `mldock clean` plans, against a stand-in engine: old tags only, dead owners only, idle unused base dirs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mldock.engine import MANAGED_LABEL, OWNER_HOST_LABEL, OWNER_PID_LABEL
from mldock.image.builder import CONTENT_HASH_LABEL, PROJECT_LABEL, plan_build
from mldock.image.prune import apply_clean, plan_clean
from mldock.project import load_project


class FakeImages:
    def __init__(self, images: list[Any]) -> None:
        self.images = images
        self.removed: list[str] = []

    def list(self, filters: dict[str, str]) -> list[Any]:
        wanted = filters["label"]
        return [image for image in self.images if f"{PROJECT_LABEL}={image.labels.get(PROJECT_LABEL)}" == wanted]

    def remove(self, reference: str, noprune: bool = False) -> None:
        self.removed.append(reference)


class FakeListing:
    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def list(self, **_: Any) -> list[Any]:
        return self.items


def _image(ident: str, project: str, content: str, tags: list[str]) -> Any:
    return SimpleNamespace(id=ident, labels={PROJECT_LABEL: project, CONTENT_HASH_LABEL: content},
                           attrs={"RepoTags": tags})


def _dead_owner_labels() -> dict[str, str]:
    import socket

    return {MANAGED_LABEL: "true", OWNER_HOST_LABEL: socket.gethostname(), OWNER_PID_LABEL: "0"}


@pytest.fixture
def project(tmp_path: Path) -> Any:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "mldock.json").write_text(json.dumps({"name": "demo", "base_image": "localhost/x:1"}))
    (root / "trainer.py").write_text("def train(env):\n    pass\n")
    return load_project(root)


def _client(project: Any) -> Any:
    current = plan_build(project).content_hash
    images = FakeImages([
        _image("sha256:old", "demo", "0" * 64, ["localhost/mldock/demo:000000000000", "r.example/demo:latest"]),
        _image("sha256:cur", "demo", current, [f"localhost/mldock/demo:{current[:12]}"]),
        _image("sha256:dangling", "demo", "1" * 64, []),
        _image("sha256:other", "demo-two", "2" * 64, ["localhost/mldock/demo-two:222222222222"]),
    ])
    dead = SimpleNamespace(id="c-dead", name="dead-box", labels=_dead_owner_labels(), attrs={})
    alive = SimpleNamespace(id="c-live", name="live-box", attrs={},
                            labels={**_dead_owner_labels(), OWNER_PID_LABEL: str(os.getpid())})
    net = SimpleNamespace(id="n-dead", name="dead-net", attrs={"Labels": _dead_owner_labels()})
    return SimpleNamespace(images=images, containers=FakeListing([dead, alive]), networks=FakeListing([net]),
                           volumes=FakeListing([]))


def _base_dir(temp: Path, name: str, *, age: float) -> Path:
    folder = temp / name
    (folder / "ml").mkdir(parents=True)
    then = time.time() - age
    for path in (folder / "ml", folder):
        os.utime(path, (then, then))
    return folder


def test_plan_lists_old_tags_dead_owners_and_idle_base_dirs(project: Any, tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    idle = _base_dir(temp, "mldock-demo-train-abcd1234", age=7200)
    _base_dir(temp, "mldock-demo-serve-efgh5678", age=10)  # a run may still write there
    _base_dir(temp, "mldock-demo-two-train-ijkl9012", age=7200)  # another project
    _base_dir(temp, "mldock-demo-train-short", age=7200)  # not a runner's name
    plan = plan_clean(_client(project), project, temp_dir=temp)
    assert [item.name for item in plan.images] == [
        "localhost/mldock/demo:000000000000", "r.example/demo:latest", "sha256:dangling"]
    assert plan.containers == [("c-dead", "dead-box")]
    assert plan.networks == [("n-dead", "dead-net")]
    assert plan.base_dirs == [idle]
    assert plan.run_outputs == []


def test_all_takes_the_current_image_fresh_base_dirs_and_run_outputs(project: Any, tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    fresh = _base_dir(temp, "mldock-demo-serve-efgh5678", age=10)
    runs = project.root / ".mldock" / "runs" / "dev-20260101-000000"
    runs.mkdir(parents=True)
    plan = plan_clean(_client(project), project, temp_dir=temp, everything=True)
    assert "sha256:cur" in {item.image_id for item in plan.images}
    assert plan.base_dirs == [fresh]
    assert plan.run_outputs == [runs]


def test_a_base_dir_a_running_process_uses_is_never_planned(project: Any, tmp_path: Path) -> None:
    if not Path("/proc/self/environ").exists():
        pytest.skip("needs Linux /proc")
    temp = tmp_path / "tmp"
    busy = _base_dir(temp, "mldock-demo-train-abcd1234", age=7200)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                             env={**os.environ, "MLDOCK_BASE_DIR": str(busy / "ml")})
    try:  # Popen returns once the child has exec'd: /proc/PID/environ is already the child's
        assert plan_clean(_client(project), project, temp_dir=temp, everything=True).base_dirs == []
    finally:
        child.kill()
        child.wait()
    assert plan_clean(_client(project), project, temp_dir=temp).base_dirs == [busy]


def test_apply_removes_what_the_plan_lists(project: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mldock.image.prune as prune

    temp = tmp_path / "tmp"
    idle = _base_dir(temp, "mldock-demo-train-abcd1234", age=7200)
    client = _client(project)
    removed_resources: list[tuple[str, str]] = []
    monkeypatch.setattr(prune, "remove_resource",
                        lambda _c, kind, ident: removed_resources.append((kind, ident)) or True)
    report = apply_clean(client, plan_clean(client, project, temp_dir=temp))
    assert client.images.removed == ["localhost/mldock/demo:000000000000", "r.example/demo:latest",
                                     "sha256:dangling"]
    assert removed_resources == [("container", "c-dead"), ("network", "n-dead")]
    assert not idle.exists()
    assert report.to_json()["base_dirs"] == [str(idle)]
    assert report.skipped == []
