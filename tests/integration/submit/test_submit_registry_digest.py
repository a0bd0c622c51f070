"""`mldock submit --registry R` runs the digest the registry holds for the project's content-hash tag.

A real registry (Debian's `docker-registry`, the distribution registry server, plain HTTP on loopback) started
here; the project's manifest is put there through the registry API, as an engine's push does, under the tag
`mldock push` uses (the content hash). Before that, the request names the tag with a note; after, the digest.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mldock.image import image_tag
from mldock.project import load_project
from mldock.submit.image import job_image, pushed_digest

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sklearn-train"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is not installed (scripts/install-registry.sh): this test needs a real registry")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage: {{filesystem: {{rootdirectory: {tmp_path / 'data'}}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
        "log: {level: error}\n"
    )
    process = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    host = f"127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://{host}/v2/", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                if process.poll() is not None:
                    error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                    pytest.fail(f"docker-registry exited: {error}")
                time.sleep(0.05)
        yield host
    finally:
        process.terminate()
        process.wait(timeout=10)


def put_image(host: str, name: str, tag: str) -> str:
    """Put a config blob, one layer blob and a manifest under `name:tag`; the manifest's digest."""

    def blob(data: bytes) -> dict[str, object]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        start = urllib.request.Request(f"http://{host}/v2/{name}/blobs/uploads/", method="POST")
        with urllib.request.urlopen(start, timeout=10) as answer:
            location = answer.headers["Location"]
        location = location if location.startswith("http") else f"http://{host}{location}"
        separator = "&" if "?" in location else "?"
        put = urllib.request.Request(f"{location}{separator}digest={digest}", data=data, method="PUT")
        put.add_header("Content-Type", "application/octet-stream")
        urllib.request.urlopen(put, timeout=10).close()
        return {"mediaType": "", "size": len(data), "digest": digest}

    config = blob(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}).encode())
    layer = blob(b"not really a tar, the registry does not look")
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {**config, "mediaType": "application/vnd.docker.container.image.v1+json"},
            "layers": [{**layer, "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip"}],
        }
    ).encode()
    put = urllib.request.Request(f"http://{host}/v2/{name}/manifests/{tag}", data=manifest, method="PUT")
    put.add_header("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
    with urllib.request.urlopen(put, timeout=10) as answer:
        return str(answer.headers["Docker-Content-Digest"])


def test_the_job_runs_the_pushed_digest_once_the_registry_has_the_tag(registry: str) -> None:
    project = load_project(EXAMPLE)
    content_tag = image_tag(project).rpartition(":")[2]

    before, note = job_image(project, registry=f"{registry}/team", insecure=True)
    assert before.reference == f"{registry}/team/sklearn-train:{content_tag}"
    assert not before.pinned
    assert note is not None
    assert "is not in the registry" in note

    digest = put_image(registry, "team/sklearn-train", content_tag)
    assert pushed_digest(f"{registry}/team/sklearn-train", content_tag, insecure=True) == digest
    after, note = job_image(project, registry=f"{registry}/team", insecure=True)
    assert (after.reference, after.pinned, note) == (f"{registry}/team/sklearn-train@{digest}", True, None)
    assert pushed_digest(f"{registry}/team/sklearn-train", "another-tag", insecure=True) is None
