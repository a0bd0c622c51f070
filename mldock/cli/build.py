"""`mldock build` (the project's image, cached by content hash) and `mldock base-image` (a local Python base).

    $ mldock build --project my-project          # prints the tag and whether it was rebuilt
    $ mldock build --json
    $ mldock base-image                          # localhost/mldock-python:3.11-bookworm, made without a registry
"""

from __future__ import annotations

import click

from mldock.cli.common import emit_json, err, json_option, load, out, project_option
from mldock.cli.progress import build_progress
from mldock.image import build_image
from mldock.image.base_image import LOCAL_BASE_IMAGE, ensure_base_image

__all__ = ["base_image_command", "build_command"]


@click.command("build")
@project_option
@click.option("--force", is_flag=True, help="Rebuild even when an image with the same content hash exists.")
@json_option
def build_command(project: str, force: bool, as_json: bool) -> None:
    """Build the project's image: its folder as context, requirements from a host wheelhouse (offline),
    a tag carrying the content hash (an unchanged project is never rebuilt)."""

    config = load(project)
    with build_progress(err(), f"image {config.name}", enabled=not as_json) as on_line:
        built = build_image(config, progress=on_line, force=force)
    if as_json:
        emit_json(
            {
                "project": config.name,
                "tag": built.tag,
                "rebuilt": built.rebuilt,
                "duration": round(built.duration, 3),
                "content_hash": built.content_hash,
            }
        )
        return
    state = f"built in {built.duration:.1f}s" if built.rebuilt else "up to date (content unchanged), not rebuilt"
    out().print(f"{built.tag}: {state}", markup=False)


@click.command("base-image")
@click.option("--tag", default=None, help="The image to make [default: localhost/mldock-python:3.11-bookworm].")
@click.option("--force", is_flag=True, help="Make it again even when the engine has it.")
@json_option
def base_image_command(tag: str | None, force: bool, as_json: bool) -> None:
    """Make a Python base image on this machine (debootstrap + import; no registry needed). Needs root."""

    wanted = tag or LOCAL_BASE_IMAGE
    with build_progress(err(), f"base image {wanted}", enabled=not as_json, echo_all=True) as on_line:
        made = ensure_base_image(wanted, progress=on_line, force=force)
    if as_json:
        emit_json({"tag": made.tag, "created": made.created, "duration": round(made.duration, 3)})
        return
    state = f"made in {made.duration:.0f}s" if made.created else "present, nothing to do"
    out().print(f"{made.tag}: {state}", markup=False)
