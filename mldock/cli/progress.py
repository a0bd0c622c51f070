"""Progress bars on stderr: bytes for transfers (a storage remote's `progress(bytes)` callback) and a spinner
with the current step for image builds (the builder's `progress(line)` callback).

    with TransferProgress(err()) as bars:
        remote.upload(folder, uri, progress=bars.add(f"seed {uri}", total=folder_size(folder)))

    with build_progress(err(), "building my-project") as on_line:
        build_image(project, progress=on_line)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import TracebackType

    from rich.console import Console
    from rich.progress import Progress, TaskID

__all__ = ["TransferProgress", "build_progress", "folder_size"]

_STEP_LINE = re.compile(r"^(STEP|Step) \d+/\d+", re.IGNORECASE)


def folder_size(folder: Path) -> int:
    """The bytes of every file below `folder`."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


class TransferProgress:
    """One bar per transfer, in bytes; `add` returns the callback a remote calls with each chunk's size.

        with TransferProgress(console) as bars:
            callback = bars.add("download s3://models/run-1", total=1_000_000)
            callback(4096)
    """

    def __init__(self, console: Console, *, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled
        self._progress: Progress | None = None

    def __enter__(self) -> TransferProgress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def add(self, description: str, total: int | None) -> Callable[[int], None]:
        """A new bar; the returned callback advances it by the bytes it is given."""
        progress = self._progress
        if progress is None:
            return _ignore
        task: TaskID = progress.add_task(description, total=total or None)

        def advance(moved: int) -> None:
            progress.advance(task, moved)

        return advance


def _ignore(_: int) -> None:
    return None


@contextmanager
def build_progress(
    console: Console, description: str, *, enabled: bool = True, echo_all: bool = False
) -> Iterator[Callable[[str], None]]:
    """A spinner showing the build's latest line; each `STEP n/m` line (every line with `echo_all`) is also
    printed for the record."""
    if not enabled:
        yield lambda _line: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=True
    ) as progress:
        task = progress.add_task(description, total=None)

        def on_line(line: str) -> None:
            text = line.rstrip()
            if not text:
                return
            if echo_all or _STEP_LINE.match(text):
                progress.console.print(f"  {text[:160]}", markup=False, highlight=False)
            progress.update(task, description=f"{description}: {text[:80]}")

        yield on_line
