"""`mldock push`: the project's content-hash image to a registry, through the engine; prints the pushed digest.

    $ mldock push --registry 123456789012.dkr.ecr.eu-west-1.amazonaws.com/team     # boto3 logs in
    $ mldock push --registry europe-docker.pkg.dev/my-project/images --tag latest   # google.auth logs in
    $ echo "$TOKEN" | mldock push --registry registry.example.com:5000 --username ci --password-stdin --json

The image is built first when the engine does not have it (as `mldock run` does). It is pushed as
`REGISTRY/NAME:<content hash>` plus every `--tag`.
"""

from __future__ import annotations

import os
import sys

import click

from mldock.cli.common import emit_json, err, json_option, load, out, project_option
from mldock.errors import UserError

__all__ = ["push_command"]

PASSWORD_VARIABLE = "MLDOCK_REGISTRY_PASSWORD"


@click.command("push")
@project_option
@click.option(
    "--registry",
    envvar="MLDOCK_REGISTRY",
    metavar="HOST[:PORT][/NAMESPACE]",
    help="Where to push (or set MLDOCK_REGISTRY). The image goes to REGISTRY/<project name>.",
)
@click.option(
    "--tag", "tags", multiple=True, metavar="TAG", help="Another tag to push besides the content hash (repeatable)."
)
@click.option(
    "--username",
    envvar="MLDOCK_REGISTRY_USERNAME",
    default=None,
    help="Log in with this user name (or MLDOCK_REGISTRY_USERNAME); the password comes from --password-stdin "
    f"or {PASSWORD_VARIABLE}. Without it, ECR, Artifact Registry/GCR and ACR hosts log in through their SDK.",
)
@click.option("--password-stdin", is_flag=True, help="Read the registry password from stdin (one line).")
@click.option(
    "--insecure",
    is_flag=True,
    help="Plain HTTP / unverified TLS for this push (Podman's tlsVerify=false; Docker follows its daemon's "
    "insecure-registries).",
)
@json_option
def push_command(
    project: str,
    registry: str | None,
    tags: tuple[str, ...],
    username: str | None,
    password_stdin: bool,
    insecure: bool,
    as_json: bool,
) -> None:
    """Push the project's image (built first when missing) to a registry and print the pushed digest."""
    from mldock.cli.progress import build_progress
    from mldock.engine import connect
    from mldock.image import build_image
    from mldock.image.push import push_image, validate_tag
    from mldock.image.registry import Registry, registry_credentials

    if not registry:
        raise UserError("no registry given: use --registry HOST[:PORT][/NAMESPACE] or set MLDOCK_REGISTRY")
    target = Registry.parse(registry)
    extra_tags = [validate_tag(tag) for tag in tags]
    password = _password(password_stdin)
    console = err()
    credentials = registry_credentials(
        target,
        username=username or None,
        password=password,
        missing_sdk=lambda line: console.print(f"note: {line}", markup=False),
    )
    config = load(project)
    with build_progress(console, f"image {config.name}", enabled=not as_json) as on_line:
        built = build_image(config, progress=on_line)
    content_tag = built.tag.rpartition(":")[2]
    all_tags = [content_tag, *(tag for tag in dict.fromkeys(extra_tags) if tag != content_tag)]

    def progress(line: str) -> None:
        if not as_json:
            console.print(line, markup=False, highlight=False)

    pushed = push_image(
        connect(),
        built.tag,
        target,
        name=config.name,
        tags=all_tags,
        credentials=credentials,
        insecure=insecure,
        progress=progress,
    )
    if as_json:
        emit_json(pushed.to_json())
        return
    out().print(pushed.reference, markup=False)


def _password(from_stdin: bool) -> str | None:
    if from_stdin:
        if sys.stdin is None or sys.stdin.isatty():
            raise UserError("--password-stdin: pipe the password in (e.g. `echo \"$TOKEN\" | mldock push ...`)")
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise UserError("--password-stdin: stdin gave an empty password")
        return line
    return os.environ.get(PASSWORD_VARIABLE) or None
