"""Wildcards in a cloud URI's prefix, as Vertex AI writes its data URIs: `gs://b/dataset/training-*.csv`.

    split = split_wildcard("dataset/training-*.csv")   # Wildcard(folder="dataset/", listed="dataset/training-")
    split.matches("dataset/training-0.csv")             # True; "dataset/sub/training-0.csv" is False

Rules: a prefix holding `*` is a pattern (only for the cloud remotes: a `file://` path is always taken as
written; `?` cannot be a wildcard, since a storage URI may hold no query). `*` matches any run of characters
but `/`, `**` any run including `/`; every other character matches itself. The objects listed are those
below the literal part before the first wildcard; each lands in the channel folder under its key relative
to `folder` (up to the last `/` before the first wildcard), so `training-*.csv` gives `training-0.csv`,
`training-1.csv` side by side. Uploading to a pattern is refused (mldock.storage.blob).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["WILDCARD_CHARACTERS", "Wildcard", "split_wildcard"]

WILDCARD_CHARACTERS = "*"


@dataclass(frozen=True)
class Wildcard:
    """A prefix pattern: the folder its matches are relative to, the literal part to list, and the pattern."""

    folder: str
    listed: str
    pattern: str

    def matches(self, key: str) -> bool:
        """True when the full object `key` matches the pattern."""
        return _compile(self.pattern).fullmatch(key) is not None


def split_wildcard(prefix: str) -> Wildcard | None:
    """The Wildcard of `prefix`, or None when it holds no wildcard character."""
    first = prefix.find(WILDCARD_CHARACTERS)
    if first < 0:
        return None
    listed = prefix[:first]
    folder = listed[: listed.rfind("/") + 1]
    return Wildcard(folder, listed, prefix)


def _compile(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    position = 0
    while position < len(pattern):
        char = pattern[position]
        if pattern.startswith("**", position):
            parts.append(".*")
            position += 2
            continue
        parts.append("[^/]*" if char == "*" else re.escape(char))
        position += 1
    return re.compile("".join(parts), re.DOTALL)
