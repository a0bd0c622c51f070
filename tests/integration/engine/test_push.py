"""`mldock push` against a real registry (Debian's `docker-registry`, the distribution registry server) started
here on a free port: the image round-trips by digest, and a failing push fails loudly.

The engine trusts the registry through a self-signed certificate written to the engine's per-registry
certificate folder (`/etc/containers/certs.d/HOST:PORT/ca.crt` for Podman, `/etc/docker/certs.d/...` for
Docker): both engines read it on every connection, so no engine restart and no insecure setting is needed.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from engine_project import write_project

if TYPE_CHECKING:
    import docker

pytestmark = [pytest.mark.integration, pytest.mark.engine]

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


@dataclass
class LocalRegistry:
    host: str
    scheme: str
    ca_file: Path | None

    def get(self, path: str, accept: str = "application/json") -> tuple[dict[str, Any], Mapping[str, str]]:
        context = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else None
        request = urllib.request.Request(f"{self.scheme}://{self.host}{path}", headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=10, context=context) as answer:
            return json.loads(answer.read()), answer.headers


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "registry.crt", folder / "registry.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def _certs_dir(engine: docker.DockerClient) -> Path:
    components = engine.version().get("Components") or []
    podman = any("podman" in str(part.get("Name", "")).lower() for part in components)
    return Path("/etc/containers/certs.d" if podman else "/etc/docker/certs.d")


def _start_registry(folder: Path, *, tls: tuple[Path, Path] | None) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("the distribution registry is not installed: bash scripts/install-registry.sh")
    for _attempt in range(3):
        port = _free_port()
        http = f"  addr: 127.0.0.1:{port}\n"
        if tls:
            http += f"  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}\n"
        config = folder / f"config-{port}.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n{http}"
        )
        log = (folder / f"registry-{port}.log").open("wb")
        process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and process.poll() is None:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return process, f"127.0.0.1:{port}"
            time.sleep(0.05)
        process.kill()
        process.wait()
    pytest.fail(f"the registry did not start; log: {(folder / f'registry-{port}.log').read_text()[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def tls_registry(engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """A TLS registry on a free port whose self-signed certificate the engine trusts (root: writes /etc)."""
    folder = tmp_path_factory.mktemp("registry")
    tls = _self_signed(folder)
    certs = _certs_dir(engine)
    if not os.access(certs.parent if certs.parent.exists() else "/etc", os.W_OK):
        pytest.skip(f"trusting the test registry needs write access to {certs}")
    process, host = _start_registry(folder, tls=tls)
    trust = certs / host
    try:
        trust.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tls[0], trust / "ca.crt")
        registry = LocalRegistry(host, "https", tls[0])
        registry.get("/v2/")
        yield registry
    finally:
        shutil.rmtree(trust, ignore_errors=True)
        _stop(process)


@pytest.fixture(scope="module")
def push_project(
    engine: docker.DockerClient, base_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The engine tests' tiny project under a name of its own (no other test's images are touched); its images
    are removed at the end."""
    from mldock.image.builder import PROJECT_LABEL

    root = tmp_path_factory.mktemp("push") / "project"
    name = f"push-{uuid.uuid4().hex[:8]}"
    write_project(root, base_image)
    (root / "mldock.json").write_text(json.dumps({"name": name, "base_image": base_image}))
    yield root
    for image in engine.images.list(filters={"label": f"{PROJECT_LABEL}={name}"}):
        engine.images.remove(image.id, force=True)


def mldock(*args: str, env: Mapping[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """The CLI as a process (its code, `python -m mldock.cli.main`), with the engine the tests use."""
    from mldock.engine import connect, engine_url

    client = connect()
    engine_env = {"DOCKER_HOST": engine_url(client)}
    client.close()
    return subprocess.run(
        [sys.executable, "-m", "mldock.cli.main", *args],
        env={**os.environ, **engine_env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _pull(engine: docker.DockerClient, reference: str) -> None:
    """Pull through the engine API, failing on an error line (the engine reports failures in the stream)."""
    repository, _, digest = reference.partition("@")
    for chunk in engine.api.pull(repository, tag=digest, stream=True, decode=True):
        assert not chunk.get("errorDetail"), f"pulling {reference} failed: {chunk}"
        assert not chunk.get("error"), f"pulling {reference} failed: {chunk}"


def test_push_round_trips_the_image_by_digest(
    engine: docker.DockerClient, tls_registry: LocalRegistry, push_project: Path
) -> None:
    result = mldock("push", "--project", str(push_project), "--registry", f"{tls_registry.host}/team",
                    "--tag", "latest", "--json")
    assert result.returncode == 0, result.stderr[-4000:]
    pushed = json.loads(result.stdout)
    name = json.loads((push_project / "mldock.json").read_text())["name"]
    content_tag = pushed["image"].rpartition(":")[2]
    assert pushed["repository"] == f"{tls_registry.host}/team/{name}"
    assert pushed["tags"] == [content_tag, "latest"]
    assert pushed["digest"].startswith("sha256:")

    # the registry serves both tags with the reported digest, and the manifest's config is the local image
    image_id = engine.images.get(pushed["image"]).id
    tags, _ = tls_registry.get(f"/v2/team/{name}/tags/list")
    assert sorted(tags["tags"]) == sorted([content_tag, "latest"])
    for tag in (content_tag, "latest"):
        manifest, headers = tls_registry.get(f"/v2/team/{name}/manifests/{tag}", accept=MANIFEST_TYPES)
        assert headers["Docker-Content-Digest"] == pushed["digest"]
        assert manifest["config"]["digest"] == image_id
    # the registry tags were only needed for the push: the local image keeps its localhost/mldock tag alone
    assert [t for t in engine.images.get(image_id).tags if t.startswith(tls_registry.host)] == []

    # gone from the engine, then pulled back by digest: the same image (same ID = config digest)
    reference = f"{pushed['repository']}@{pushed['digest']}"
    engine.images.remove(image_id, force=True)
    _pull(engine, reference)
    pulled = engine.images.get(reference)
    assert pulled.id == image_id
    assert reference in (pulled.attrs.get("RepoDigests") or [])
    pulled.tag(*pushed["image"].rsplit(":", 1))  # the local tag back, for the next tests


def test_a_failing_push_exits_non_zero_naming_the_registry_and_the_engines_error(push_project: Path) -> None:
    port = _free_port()  # nothing listens there
    result = mldock(
        "push", "--project", str(push_project), "--registry", f"127.0.0.1:{port}", "--username", "ci",
        env={"MLDOCK_REGISTRY_PASSWORD": "hunter2-secret"},
    )
    shown = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 1, shown
    assert "Traceback" not in result.stderr, shown
    assert f"to the registry 127.0.0.1:{port} failed: the engine reported:" in result.stderr, shown
    assert "connection refused" in result.stderr.lower(), shown
    assert "sha256:" not in result.stdout, shown
    assert "hunter2-secret" not in result.stdout + result.stderr, shown


def test_insecure_pushes_to_a_plain_http_registry(
    engine: docker.DockerClient, push_project: Path, tmp_path: Path
) -> None:
    """Podman: `--insecure` is the compat push's tlsVerify=false; without it the push fails with a hint."""
    if "podman" not in str(engine.version().get("Components") or "").lower():
        pytest.skip("--insecure maps to Podman's tlsVerify; Docker follows its daemon's insecure-registries")
    process, host = _start_registry(tmp_path, tls=None)
    try:
        refused = mldock("push", "--project", str(push_project), "--registry", host)
        assert refused.returncode == 1, refused.stderr[-3000:]
        assert "server gave HTTP response to HTTPS client" in refused.stderr
        assert "--insecure" in refused.stderr

        result = mldock("push", "--project", str(push_project), "--registry", host, "--insecure", "--json")
        assert result.returncode == 0, result.stderr[-4000:]
        pushed = json.loads(result.stdout)
        repository = pushed["repository"].partition("/")[2]
        _, headers = LocalRegistry(host, "http", None).get(
            f"/v2/{repository}/manifests/{pushed['tags'][0]}", accept=MANIFEST_TYPES
        )
        assert headers["Docker-Content-Digest"] == pushed["digest"]
    finally:
        _stop(process)
