"""The Kubernetes Job's pod, run locally by `podman kube play`, uploads what `mldock run` uploads.

examples/sklearn-train's `test` stage: its image built by `mldock build`, the pod printed by
`mldock submit --platform kubernetes --dry-run --pod` (host networking, the emulators' variables referenced
from a Secret by envFrom, never written into the manifest), the emulators run by this test on the host's
loopback, the input seeded from data/train. The outputs the pod uploads are compared with the ones
`mldock run train --runner docker` fetched for the same stage: the same files, the same bytes for the metrics.

Podman 4.3 reads a Kubernetes Secret referenced by a pod from a podman secret of the same name whose content
is a JSON object of base64 values (what `podman secret create NAME FILE` stores).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml

from mldock.emulators import AzureBlobEmulator, Emulator, GCSEmulator, S3Emulator
from mldock.project import load_project
from mldock.project.stage_storage import StageStorage, stage_channels
from mldock.runtime.channels import ChannelKind

pytestmark = [pytest.mark.integration, pytest.mark.engine]

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sklearn-train"
ENGINE_SOCKET = Path("/run/mldock/podman.sock")
STAGE = "test"


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without pytest's, the cloud SDKs' or mldock's variables, with the engine's socket."""
    cleared = ("PYTEST_", "MLDOCK_", "AWS_", "AZURE_", "GOOGLE_", "STORAGE_EMULATOR_HOST")
    env = {k: v for k, v in os.environ.items() if not k.startswith(cleared)}
    if "DOCKER_HOST" not in env and ENGINE_SOCKET.exists():
        env["DOCKER_HOST"] = f"unix://{ENGINE_SOCKET}"
    return {**env, **(extra or {})}


def run(*args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=environment(), capture_output=True, text=True, timeout=timeout, check=False)


def mldock(*args: str) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "mldock.cli.main", *args)


@pytest.fixture(scope="module")
def podman() -> str:
    found = shutil.which("podman")
    if found is None:
        pytest.fail("podman is not installed: this test runs the Job's pod with `podman kube play`")
    return found


@pytest.fixture(scope="module")
def image() -> str:
    built = mldock("build", "--project", str(EXAMPLE), "--json")
    assert built.returncode == 0, built.stderr
    tag: str = json.loads(built.stdout)["tag"]
    return tag


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The example, copied, so `mldock run` writes its run folder and nothing else lands in the repository."""
    target = tmp_path / "sklearn-train"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".mldock", "build", "__pycache__"))
    return target


@pytest.fixture
def emulators() -> Iterator[list[Emulator]]:
    with ExitStack() as stack:
        yield [stack.enter_context(cls(host="127.0.0.1")) for cls in (S3Emulator, GCSEmulator, AzureBlobEmulator)]


def files_below(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_job_s_pod_uploads_what_mldock_run_uploads(
    podman: str, image: str, project_copy: Path, emulators: list[Emulator], tmp_path: Path
) -> None:
    # the reference: mldock run, docker runner, its own emulators, outputs fetched into a folder
    local = tmp_path / "local-run"
    ran = mldock("run", "train", "--project", str(project_copy), "--stage", STAGE, "-q", "--output", str(local))
    assert ran.returncode == 0, ran.stderr[-3000:]

    # the same stage as a Kubernetes pod, against emulators on the host's loopback
    config = load_project(EXAMPLE)
    channels = stage_channels(config.stage(STAGE))
    storage = StageStorage({emulator.scheme: emulator.env() for emulator in emulators})
    storage.create_buckets(channels)
    train = next(c for c in channels if c.kind is ChannelKind.INPUT and c.name == "train")
    storage.seed(train.uri, EXAMPLE / "data" / "train")

    secret = f"mldock-emulators-{uuid.uuid4().hex[:8]}"
    job = f"wine-pod-{uuid.uuid4().hex[:8]}"
    printed = mldock(
        "submit", "--platform", "kubernetes", "--stage", STAGE, "--project", str(EXAMPLE), "--dry-run", "--pod",
        "--image", image, "--job-name", job, "--set", "host_network=true", "--set", f'env_from_secrets=["{secret}"]',
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    variables = {k: v for emulator in emulators for k, v in emulator.env().items()}
    for value in variables.values():
        assert value not in printed.stdout  # endpoints and keys only by reference
    pod_file = tmp_path / "pod.yaml"
    pod_file.write_text(printed.stdout)
    assert yaml.safe_load(printed.stdout)["spec"]["containers"][0]["envFrom"] == [{"secretRef": {"name": secret}}]

    secret_file = tmp_path / "secret.json"
    secret_file.write_text(json.dumps({k: base64.b64encode(v.encode()).decode() for k, v in variables.items()}))
    container = f"{job}-train"
    try:
        created = run(podman, "secret", "create", secret, str(secret_file))
        assert created.returncode == 0, created.stderr
        played = run(podman, "kube", "play", str(pod_file))
        assert played.returncode == 0, played.stderr
        waited = run(podman, "wait", container, timeout=900)
        logs = run(podman, "logs", container)
        assert waited.stdout.strip() == "0", logs.stdout[-3000:] + logs.stderr[-3000:]
    finally:
        run(podman, "kube", "down", str(pod_file))
        run(podman, "secret", "rm", secret)

    compared: list[str] = []
    for channel in channels:
        if channel.kind.is_input:
            continue
        folder = "model" if channel.kind is ChannelKind.OUTPUT_MODEL else "output"
        from_pod = storage.read(channel.uri)
        from_run = files_below(local / folder / channel.name)
        assert sorted(from_pod) == sorted(from_run), channel.name
        assert from_pod, f"the pod uploaded nothing to {channel.uri}"
        for name, data in from_run.items():
            if name.endswith(".json"):
                assert json.loads(from_pod[name]) == json.loads(data), f"{channel.name}/{name}"
                compared.append(f"{channel.name}/{name}")
    # the model (joblib) is compared by name; its signature and the metrics (random_state 0) by content
    assert {"metrics/metrics.json", "model/signature.json"} <= set(compared), compared
