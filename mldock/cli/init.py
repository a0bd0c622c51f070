"""`mldock init DIR --template generic|aws|gcp|azure`: a new container project whose own tests pass.

    $ mldock init iris --template gcp --base-image localhost/mldock-python:3.11-bookworm
    $ cd iris && pytest                     # the project's tests, through the pytest plugin

The template is copied into a temporary folder beside DIR, its placeholders filled, its mldock.json
validated, and only then renamed into place: an interrupted or failed init leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import click

from mldock.cli.common import emit_json, json_option, out
from mldock.errors import UserError
from mldock.project import DEFAULT_BASE_IMAGE, parse_config

__all__ = ["TEMPLATES", "init_command", "render_project"]

TEMPLATES = ("generic", "aws", "gcp", "azure")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
COMMON = "_common"
TEMPLATE_SETTINGS = "template.json"
_SKIPPED = {"__pycache__", ".pytest_cache", ".mldock", TEMPLATE_SETTINGS}
_TEXT_SUFFIXES = {".py", ".json", ".txt", ".md", ".toml", ".cfg", ".ini", ".csv", ""}


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--template", "-t", type=click.Choice(TEMPLATES), default="generic", show_default=True)
@click.option("--name", default=None, help="Project name [default: the folder's name, made valid].")
@click.option(
    "--base-image",
    default=None,
    help="Image the project builds FROM [default: the schema's, docker.io/library/python:3.11-slim]; "
    "without a registry use localhost/mldock-python:3.11-bookworm (`mldock base-image`).",
)
@click.option("--force", is_flag=True, help="Write into DIR even when it is not empty (files of the template win).")
@json_option
def init_command(
    directory: Path, template: str, name: str | None, base_image: str | None, force: bool, as_json: bool
) -> None:
    """Create a container project in DIR from a template: mldock.json (stages dev, test, prod), assets.py,
    trainer.py, predictor.py, requirements.txt, tests/ (pytest plugin), sample data, .dockerignore, README."""

    target = directory.expanduser().resolve()
    project_name = name if name is not None else _name_from(target.name)
    if not _NAME.match(project_name):
        raise UserError(
            f"--name {project_name!r} is not a valid project name: lower-case letters, digits, '_', '.', '-', "
            "starting with a letter or digit, at most 63 characters"
        )
    if target.exists() and not target.is_dir():
        raise UserError(f"{directory} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise UserError(f"{directory} is not empty; choose a new folder or pass --force")
    files = render_project(target, template, project_name, base_image or DEFAULT_BASE_IMAGE)
    if as_json:
        emit_json({"path": str(target), "template": template, "name": project_name, "files": files})
        return
    console = out()
    console.print(f"created {project_name} ({template} template) in {target}", markup=False)
    for file in files:
        console.print(f"  {file}", markup=False)
    console.print(
        f"next:\n  cd {directory}\n  pytest                              # the project's own tests (process runner)\n"
        "  mldock run train --stage dev        # train against emulated storage",
        markup=False,
    )


def _name_from(folder: str) -> str:
    name = re.sub(r"[^a-z0-9_.-]+", "-", folder.lower()).strip("-_.")[:63]
    return name or "mldock-project"


def render_project(target: Path, template: str, name: str, base_image: str) -> list[str]:
    """Write the template into `target` atomically (temp folder, then rename); returns the files written."""

    templates = resources.files("mldock").joinpath("templates")
    source = templates.joinpath(template)
    if not source.joinpath(TEMPLATE_SETTINGS).is_file():
        raise UserError(f"no template {template!r} in this mldock installation")
    settings = json.loads(source.joinpath(TEMPLATE_SETTINGS).read_text(encoding="utf-8"))
    values = {
        "name": name,
        "bucket": _bucket(name),
        "base_image": base_image,
        "template": template,
        "scheme": settings["scheme"],
        "platform": settings["platform"],
        "platform_notes": settings["platform_notes"],
        "requirements": "\n".join(settings["requirements"]),
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.mldock-init-", dir=target.parent))
    try:
        written = set(_copy(templates.joinpath(COMMON), staging, values))
        written |= set(_copy(source, staging, values))
        config = staging / "mldock.json"
        parse_config(config.read_text(encoding="utf-8"), root=staging, source=str(config))
        _place(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(written)


def _bucket(name: str) -> str:
    """A bucket/container name stem valid on S3, GCS and Azure: lower-case letters, digits, single hyphens."""
    stem = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", name)).strip("-")
    return (stem or "mldock")[:40]


def _copy(source: Traversable, dest: Path, values: dict[str, str], prefix: str = "") -> list[str]:
    written: list[str] = []
    dest.mkdir(parents=True, exist_ok=True)
    for entry in sorted(source.iterdir(), key=lambda e: e.name):
        if entry.name in _SKIPPED or entry.name.endswith(".pyc"):
            continue
        relative = f"{prefix}{entry.name}"
        if entry.is_dir():
            written += _copy(entry, dest / entry.name, values, f"{relative}/")
            continue
        data = entry.read_bytes()
        if Path(entry.name).suffix in _TEXT_SUFFIXES or entry.name.startswith("."):
            text = data.decode("utf-8")
            for key, value in values.items():
                text = text.replace("{{" + key + "}}", value)
            data = text.encode("utf-8")
        (dest / entry.name).write_bytes(data)
        written.append(relative)
    return written


def _place(staging: Path, target: Path) -> None:
    """Rename the staged project into place; into an existing folder (--force), file by file."""
    if not target.exists():
        os.rename(staging, target)
        return
    if not any(target.iterdir()):
        target.rmdir()
        os.rename(staging, target)
        return
    for path in sorted(staging.rglob("*")):
        destination = target / path.relative_to(staging)
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        else:
            os.replace(path, destination)
