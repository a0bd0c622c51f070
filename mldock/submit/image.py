"""Which image a job runs: the pushed digest when there is one, else the content-hash tag (with a note why).

    ref, note = job_image(project, image="reg.example.com/team/iris@sha256:...")   # pinned, no note
    ref, note = job_image(project, registry="reg.example.com/team")   # reg.example.com/team/iris:<hash>, a note
    ref, note = job_image(project)                                    # localhost/mldock/iris:<hash>, a note

`mldock push` prints `REPOSITORY@sha256:...` (or `--json`'s "digest"): pass it as --image to pin the exact
image. The content-hash tag is what `mldock push` pushed for this project as it is now; a tag can move, a
digest cannot, hence the note.
"""

from __future__ import annotations

import re

from mldock.errors import UserError
from mldock.image import image_tag
from mldock.image.registry import Registry
from mldock.project.config import ProjectConfig
from mldock.submit.job import ImageRef

__all__ = ["job_image"]

_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$")


def job_image(
    project: ProjectConfig, *, image: str | None = None, registry: str | None = None
) -> tuple[ImageRef, str | None]:
    """The image reference for a job of `project`, and a note when it is not a pushed digest."""
    if image:
        if not _REFERENCE.match(image) or ("@" in image and "@sha256:" not in image):
            # not echoed when it holds an '@' that is not a digest's: `user:password@registry/...` is a mistake
            shown = repr(image) if "@" not in image or "@sha256:" in image else "(with a user part, not shown)"
            raise UserError(f"--image {shown} is not an image reference (REPOSITORY[:TAG] or REPOSITORY@sha256:...)")
        ref = ImageRef.parse(image)
        if ref.pinned:
            return ref, None
        return ref, f"the image {image} is a tag, not a digest: the job runs whatever the tag points to then"
    content_tag = image_tag(project).rpartition(":")[2]
    if registry:
        reference = f"{Registry.parse(registry).repository(project.name)}:{content_tag}"
        return ImageRef(reference, pinned=False), (
            f"the image is the content-hash tag {reference} (what `mldock push` pushes for the project as it is "
            "now); pass --image REPOSITORY@sha256:... (what `mldock push` printed) to pin the digest"
        )
    local = image_tag(project)
    return ImageRef(local, pinned=False), (
        f"the image is the local tag {local}: no registry was given, so the platform cannot pull it; "
        "push it first (`mldock push --registry ...`) and pass --image with the digest it prints, or --registry"
    )
