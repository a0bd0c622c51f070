"""Image build (placeholder until build_image lands)."""

from __future__ import annotations

__all__: list[str] = []
