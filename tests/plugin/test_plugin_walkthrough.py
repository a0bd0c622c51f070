"""docs/plugin.md "Test-first in five minutes", run as written: its files taken from the page's code blocks,
the red run of step 2 and the green run of step 4, under the process runner and on the real image."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugin.md"
_BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.S)

pytestmark = pytest.mark.integration


def _walkthrough() -> dict[str, str]:
    """The files of the walkthrough, from the page: the json block, the requirements, the test, the trainer."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Test-first in five minutes") : text.index("## Options and ini keys")]
    blocks = _BLOCK.findall(section)
    by_language: dict[str, list[str]] = {}
    for language, body in blocks:
        by_language.setdefault(language, []).append(body)
    (config,) = by_language["json"]
    (requirements,) = by_language["text"]
    test, trainer = by_language["python"]
    return {
        "mldock.json": config,
        "requirements.txt": requirements,
        "tests/test_train.py": test,
        "trainer.py": trainer,
    }


def _pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest in `folder` as the user runs it: its own session, its own rootdir."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


@pytest.mark.parametrize(
    "runner",
    [pytest.param("process", id="process"), pytest.param("docker", id="docker", marks=pytest.mark.engine)],
)
def test_the_walkthrough_works_as_written(tmp_path: Path, runner: str) -> None:
    files = _walkthrough()
    folder = tmp_path / "churn"
    for name in ("mldock.json", "requirements.txt", "tests/test_train.py"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(files[name], encoding="utf-8")
    if runner == "process":  # step 2 (the red run) once: the image adds nothing to it
        red = _pytest(folder)
        shown = red.stdout[-6000:] + red.stderr[-2000:]
        assert red.returncode == 1, shown
        assert "2 failed" in red.stdout, shown
        assert "AssetsError" in red.stdout, shown
        assert "AWS_ACCESS_KEY_ID=***" in red.stdout, shown
    (folder / "trainer.py").write_text(files["trainer.py"], encoding="utf-8")
    green = _pytest(folder, f"--mldock-runner={runner}")
    assert green.returncode == 0, green.stdout[-8000:] + green.stderr[-2000:]
    assert "2 passed" in green.stdout
