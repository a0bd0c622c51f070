"""Image build: the project folder as context, a host wheelhouse for offline installs, a content-hash tag.

    from mldock.image import build_image, image_tag

    built = build_image(project, progress=print)     # BuiltImage(tag, rebuilt, duration)
    image_tag(project)                                # the tag, computed without the engine

The local Python base image (no registry needed) is in `mldock.image.base_image`.
"""

from __future__ import annotations

from mldock.image.base_image import LOCAL_BASE_IMAGE, BaseImage, ensure_base_image
from mldock.image.builder import BuildPlan, BuiltImage, build_image, image_tag, plan_build

__all__ = [
    "LOCAL_BASE_IMAGE",
    "BaseImage",
    "BuildPlan",
    "BuiltImage",
    "build_image",
    "ensure_base_image",
    "image_tag",
    "plan_build",
]
