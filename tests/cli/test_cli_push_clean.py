"""`mldock push` user mistakes (plain errors, exit 2, before any engine work) and `mldock clean` on a real engine:
two versions of a tiny project built, the old tag listed by --dry-run, then removed; the current one stays."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest
from conftest import LOCAL_BASE_IMAGE, Mldock, assert_plain_error


def _tiny_project(root: Path, name: str, version: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "mldock.json").write_text(json.dumps({"name": name, "base_image": LOCAL_BASE_IMAGE}))
    (root / "trainer.py").write_text(f"def train(env):\n    print('version {version}')\n")
    return root


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        pytest.param([], {}, "no registry given", id="no-registry"),
        pytest.param(["--registry", "https://r.example"], {}, "without a scheme", id="scheme"),
        pytest.param(["--registry", "r.example", "--tag", "-bad"], {}, "is not an image tag", id="bad-tag"),
        pytest.param(["--registry", "r.example", "--username", "ci"], {}, "needs a password", id="no-password"),
        pytest.param(["--registry", "r.example"], {"MLDOCK_REGISTRY_PASSWORD": "pw-only"}, "without --username",
                     id="password-alone"),
    ],
)
def test_push_mistakes_are_plain_errors(
    mldock: Mldock, tmp_path: Path, args: list[str], env: dict[str, str], fragment: str
) -> None:
    project = _tiny_project(tmp_path / "p", "push-mistakes", "1")
    env = {"MLDOCK_REGISTRY": "", "MLDOCK_REGISTRY_USERNAME": "", "MLDOCK_REGISTRY_PASSWORD": "", **env}
    result = mldock("push", "--project", str(project), *args, env=env)
    assert_plain_error(result, 2, fragment)
    assert "pw-only" not in result.stdout + result.stderr


def test_push_password_stdin_needs_a_pipe(mldock: Mldock, tmp_path: Path) -> None:
    project = _tiny_project(tmp_path / "p", "push-mistakes", "1")
    result = mldock("push", "--project", str(project), "--registry", "r.example", "--username", "ci",
                    "--password-stdin", env={"MLDOCK_REGISTRY_PASSWORD": ""})
    assert_plain_error(result, 2, "--password-stdin")


def _engine_env() -> dict[str, str]:
    socket_path = Path("/run/mldock/podman.sock")
    if "DOCKER_HOST" not in os.environ and socket_path.exists():
        return {"DOCKER_HOST": f"unix://{socket_path}"}
    return {}


@pytest.mark.integration
@pytest.mark.engine
def test_clean_removes_old_tags_and_leftover_base_dirs_and_keeps_the_current_image(
    mldock: Mldock, tmp_path: Path
) -> None:
    name = f"clean-{uuid.uuid4().hex[:8]}"
    project = _tiny_project(tmp_path / "p", name, "1")
    scratch = tmp_path / "tmp"  # the runners' base dirs go to the temp dir: this test's own
    scratch.mkdir()
    env = {**_engine_env(), "TMPDIR": str(scratch)}
    old_dir = scratch / f"mldock-{name}-train-abcd1234"
    fresh_dir = scratch / f"mldock-{name}-serve-efgh5678"
    other_dir = scratch / f"mldock-{name}x-train-ijkl9012"
    for folder in (old_dir, fresh_dir, other_dir):
        (folder / "ml" / "output").mkdir(parents=True)
        (folder / "ml" / "output" / "failure").write_text("x")
    two_hours_ago = time.time() - 7200
    for folder in (old_dir, other_dir):
        for path in [*folder.rglob("*"), folder]:
            os.utime(path, (two_hours_ago, two_hours_ago))

    first = mldock("build", "--project", str(project), "--json", env=env, timeout=1800)
    assert first.returncode == 0, first.stderr[-3000:]
    old_tag = json.loads(first.stdout)["tag"]
    _tiny_project(project, name, "2")
    try:
        for _attempt in range(3):  # a colleague editing mldock's sources meanwhile changes every current tag
            second = mldock("build", "--project", str(project), "--json", env=env, timeout=1800)
            assert second.returncode == 0, second.stderr[-3000:]
            new_tag = json.loads(second.stdout)["tag"]
            dry = mldock("clean", "--project", str(project), "--dry-run", "--json", env=env)
            assert dry.returncode == 0, dry.stderr[-3000:]
            planned = json.loads(dry.stdout)
            if planned["current_tag"] == new_tag:
                break
        assert new_tag != old_tag
        assert planned["dry_run"] is True
        assert planned["current_tag"] == new_tag
        assert old_tag in planned["images"]
        assert new_tag not in planned["images"]
        assert planned["base_dirs"] == [str(old_dir)]
        text = mldock("clean", "--project", str(project), "--dry-run", env=env)
        assert f"would remove image tag: {old_tag}" in text.stdout
        assert f"would remove base dir: {old_dir}" in text.stdout
        tags = mldock("build", "--project", str(project), "--json", env=env)
        assert json.loads(tags.stdout)["rebuilt"] is False  # the dry run removed nothing
        assert old_dir.exists()

        done = mldock("clean", "--project", str(project), "--json", env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        report = json.loads(done.stdout)
        assert report["dry_run"] is False
        assert old_tag in report["images"]
        assert new_tag not in report["images"]
        assert not old_dir.exists()
        assert fresh_dir.exists()
        assert other_dir.exists()  # another project's (name prefix alone is not enough)

        again = mldock("clean", "--project", str(project), "--dry-run", "--json", env=env)
        assert old_tag not in json.loads(again.stdout)["images"]
        kept = json.loads(mldock("build", "--project", str(project), "--json", env=env).stdout)
        assert (kept["tag"], kept["rebuilt"]) == (new_tag, False)

        everything = mldock("clean", "--project", str(project), "--all", "--json", env=env)
        assert everything.returncode == 0, everything.stderr[-3000:]
        assert new_tag in json.loads(everything.stdout)["images"]
        assert fresh_dir.exists() is False
    finally:
        mldock("clean", "--project", str(project), "--all", env=env)
