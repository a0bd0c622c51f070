"""The build context: .dockerignore, the content hash and the reproducible tar."""

from __future__ import annotations

import io
import os
import string
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mldock.image.context import (
    DEFAULT_IGNORES,
    ContextFile,
    content_hash,
    parse_dockerignore,
    project_files,
    write_context_tar,
)
from mldock.image.dockerfile import render_dockerfile


def make_project(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "mldock.json").write_text('{"name": "demo"}')
    (root / "trainer.py").write_text("def train(env):\n    pass\n")
    (root / "pkg" / "model.py").write_text("X = 1\n")
    (root / "data.bin").write_bytes(b"\x00\x01")
    return root


def digest(root: Path, **overrides: str) -> str:
    inputs = {
        "dockerfile": render_dockerfile("localhost/base:1", has_requirements=False),
        "base_image": "localhost/base:1",
        "requirements": "",
        "mldock_source": "abc",
    }
    inputs.update(overrides)
    return content_hash(project_files(root), **inputs)


def test_hash_is_stable_when_nothing_changes(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    assert digest(root) == digest(root)


def test_hash_is_the_same_for_an_identical_copy_elsewhere(tmp_path: Path) -> None:
    assert digest(make_project(tmp_path / "a")) == digest(make_project(tmp_path / "b"))


def _edit_bytes(root: Path) -> None:
    (root / "trainer.py").write_text("def train(env):\n    return 1\n")


def _add_file(root: Path) -> None:
    (root / "extra.txt").write_text("x")


def _rename_file(root: Path) -> None:
    (root / "data.bin").rename(root / "data2.bin")


def _chmod(root: Path) -> None:
    (root / "trainer.py").chmod(0o755)


def _delete(root: Path) -> None:
    (root / "pkg" / "model.py").unlink()


@pytest.mark.parametrize(
    "change",
    [_edit_bytes, _add_file, _rename_file, _chmod, _delete],
    ids=["bytes", "added", "renamed", "mode", "deleted"],
)
def test_hash_changes_with_any_project_file(tmp_path: Path, change: object) -> None:
    root = make_project(tmp_path / "p")
    before = digest(root)
    change(root)  # type: ignore[operator]
    assert digest(root) != before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dockerfile", "FROM other\n"),
        ("base_image", "localhost/base:2"),
        ("requirements", "boto3==1.40.0\n"),
        ("mldock_source", "abd"),
    ],
    ids=["dockerfile", "base-image", "requirements", "mldock-source"],
)
def test_hash_changes_with_every_other_input(tmp_path: Path, field: str, value: str) -> None:
    root = make_project(tmp_path / "p")
    assert digest(root, **{field: value}) != digest(root)


def test_ignored_files_do_not_change_the_hash(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    (root / ".dockerignore").write_text("# local only\nnotes/\n*.log\n")
    before = digest(root)
    (root / "notes").mkdir()
    (root / "notes" / "todo.md").write_text("x")
    (root / "run.log").write_text("x")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"x")
    assert digest(root) == before
    names = [f.relative for f in project_files(root)]
    assert "notes/todo.md" not in names
    assert "run.log" not in names
    assert ".dockerignore" in names


def test_dockerignore_can_reinclude_a_default_ignore(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    (root / ".venv").mkdir()
    (root / ".venv" / "keep.txt").write_text("x")
    assert "**/__pycache__" in DEFAULT_IGNORES
    assert ".venv/keep.txt" not in [f.relative for f in project_files(root)]
    (root / ".dockerignore").write_text("!.venv\n")
    assert ".venv/keep.txt" in [f.relative for f in project_files(root)]


def test_symlinks_are_kept_as_links_and_hashed_by_target(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    (root / "link.py").symlink_to("trainer.py")
    files = {f.relative: f for f in project_files(root)}
    assert files["link.py"].link_target == "trainer.py"
    before = digest(root)
    (root / "link.py").unlink()
    (root / "link.py").symlink_to("pkg/model.py")
    assert digest(root) != before


def read_tar(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_context_tar_is_reproducible_and_laid_out(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "a-1-py3-none-any.whl").write_bytes(b"PK")
    tars = []
    for _ in range(2):
        out = io.BytesIO()
        write_context_tar(
            out, project_files(root), prefix="project", extra={"Dockerfile": b"FROM x\n"}, trees={"wheels/deps": wheels}
        )
        tars.append(out.getvalue())
        os.utime(root / "trainer.py", (1, 1))  # mtimes do not reach the tar
    assert tars[0] == tars[1]
    members = read_tar(tars[0])
    assert set(members) == {
        "Dockerfile",
        "wheels/deps/a-1-py3-none-any.whl",
        "project/mldock.json",
        "project/trainer.py",
        "project/pkg/model.py",
        "project/data.bin",
    }
    assert all(m.mtime == 0 and m.uid == 0 for m in members.values())


# ---- property tests of the .dockerignore parser and the file selection ---------------------------------

_names = st.text(alphabet=string.ascii_lowercase + string.digits + "_-", min_size=1, max_size=8)
_paths = st.lists(_names, min_size=1, max_size=3).map("/".join)


@given(text=st.text(alphabet=string.printable, max_size=300))
def test_dockerignore_parser_keeps_only_trimmed_patterns(text: str) -> None:
    patterns = parse_dockerignore(text)
    assert all(p and p == p.strip() and not p.startswith("#") for p in patterns)
    stripped = [line.strip() for line in text.splitlines()]
    assert patterns == [line for line in stripped if line and not line.startswith("#")]


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.sets(_paths, min_size=1, max_size=8), data=st.data())
def test_listed_paths_are_excluded_and_nothing_else(tmp_path_factory: pytest.TempPathFactory, files: set[str],
                                                      data: st.DataObject) -> None:
    root = tmp_path_factory.mktemp("ctx")
    made: set[str] = set()
    for rel in sorted(files):
        path = root / rel
        # a path cannot be both a file and a folder: skip the ones that collide with what exists
        if any(parent.is_file() for parent in path.parents if parent != root) or path.is_dir():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)
        made.add(rel)
    ignored = data.draw(st.sets(st.sampled_from(sorted(made))))
    (root / ".dockerignore").write_text("".join(f"{rel}\n" for rel in sorted(ignored)))
    selected = {f.relative for f in project_files(root)}
    assert selected == (made - ignored) | {".dockerignore"}


def test_context_file_digest_input_distinguishes_links_from_files() -> None:
    plain = ContextFile("a", Path("/x/a"), 0o100644)
    link = ContextFile("a", Path("/x/a"), 0o120777, link_target="b")
    assert plain.digest_input() != link.digest_input()
