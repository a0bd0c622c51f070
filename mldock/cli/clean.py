"""`mldock clean`: old image tags of the project, resources of dead mldock sessions, leftover base dirs.

    $ mldock clean --dry-run          # lists what would go, removes nothing
    $ mldock clean --json
    $ mldock clean --all              # also the current image and the fetched run outputs (.mldock/runs)

What counts as leftover is spelled out in `mldock.image.prune` and docs/cli.md.
"""

from __future__ import annotations

from typing import Any

import click

from mldock.cli.common import emit_json, json_option, load, out, project_option

__all__ = ["clean_command"]

_SECTIONS = (
    ("images", "image tag"),
    ("containers", "container"),
    ("networks", "network"),
    ("volumes", "volume"),
    ("base_dirs", "base dir"),
    ("run_outputs", "run output"),
)


@click.command("clean")
@project_option
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Also the current image, base dirs of any age and the fetched run outputs in .mldock/runs.",
)
@json_option
def clean_command(project: str, dry_run: bool, everything: bool, as_json: bool) -> None:
    """Remove the project's old content-hash image tags, containers/networks/volumes of mldock sessions that
    are gone, and base-dir copies no run uses any more."""
    from mldock.engine import connect
    from mldock.image.prune import apply_clean, plan_clean

    config = load(project)
    client = connect()
    plan = plan_clean(client, config, everything=everything)
    if dry_run:
        result: dict[str, Any] = {**plan.to_json(), "dry_run": True, "skipped": []}
    else:
        result = {**apply_clean(client, plan).to_json(), "dry_run": False}
    if as_json:
        emit_json(result)
        return
    _print(result)


def _print(result: dict[str, Any]) -> None:
    console = out()
    verb = "would remove" if result["dry_run"] else "removed"
    total = 0
    for key, what in _SECTIONS:
        for name in result[key]:
            console.print(f"{verb} {what}: {name}", markup=False)
            total += 1
    for item in result["skipped"]:
        console.print(f"kept {item['what']}: {item['why']}", markup=False)
    if not total:
        console.print(f"nothing to clean for {result['project']} (current image {result['current_tag']})", markup=False)
    else:
        console.print(f"{verb} {total} item(s); kept the current image {result['current_tag']}"
                      if "current_tag" in result and result["current_tag"] not in result["images"]
                      else f"{verb} {total} item(s)", markup=False)
