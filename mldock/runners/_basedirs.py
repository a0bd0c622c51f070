"""Host folders holding a run's base dir, owned by the runner until `cleanup()` (shared by both runners)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

__all__ = ["BaseDirs"]


class BaseDirs:
    """Temporary folders made for runs; `cleanup()` removes the ones still present.

        dirs = BaseDirs()
        path = dirs.new("demo-train")
        dirs.cleanup()
    """

    def __init__(self) -> None:
        self._paths: list[Path] = []

    def new(self, label: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=f"mldock-{label}-"))
        self._paths.append(path)
        return path

    def remove(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(ValueError):
            self._paths.remove(path)

    def cleanup(self) -> None:
        while self._paths:
            self.remove(self._paths[-1])
