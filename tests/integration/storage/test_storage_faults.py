"""Transfers through a fault-injecting proxy (resets, stalls, truncated responses, 503s) between each SDK and
each emulator: retries absorb the faults, and whatever they cannot absorb ends as a clean StorageError naming
the transport problem; never a file or object that looks complete and is not.

MLDOCK_FAULT_TRIALS (default 3) sets the trials per cloud and direction; each test prints its figures:

    MLDOCK_FAULT_TRIALS=20 .venv/bin/pytest tests/integration/storage/test_storage_faults.py -q -n 0 -s
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from storage_faults import FaultProxy, Faults

from mldock.emulators.azure import azure_env
from mldock.emulators.gcs import gcs_env
from mldock.emulators.s3 import s3_env
from mldock.errors import StorageError
from mldock.storage import RemoteURI, parse_uri
from mldock.storage.registry import remote_for

pytestmark = pytest.mark.integration

TRIALS = int(os.environ.get("MLDOCK_FAULT_TRIALS", "3"))
FAULTS = Faults(reset=0.025, stall=0.02, truncate=0.025, http_503=0.025, stall_seconds=3.0)
STORAGE_TIMEOUT = "12"  # 2 s per request: a stall of 3 s is a timeout, and trials stay short
ENV_FOR: dict[str, Callable[[str], dict[str, str]]] = {"s3": s3_env, "gs": gcs_env, "az": azure_env}
EMULATOR_FIXTURE = {"s3": "_s3_emu", "gs": "_gcs_emu", "az": "_azure_emu"}
TRANSPORT_WORDS = ("cannot reach the storage endpoint", "did not answer in time", "cut short or garbled")
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A mixed tree: 150 small files in nested folders and three of 9 MiB (multipart, blocks, ranges)."""
    rng = random.Random(17)
    files = {f"d{i % 7}/s{i % 3}/f{i:03d}.bin": rng.randbytes(rng.randint(0, 40_000)) for i in range(150)}
    files.update({f"big/b{i}.bin": rng.randbytes(9 * MiB + i) for i in range(3)})
    return files


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for key, data in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    return root


def _read(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@dataclass
class Figures:
    trials: int = 0
    identical: int = 0
    clean_failures: int = 0
    corrupt: int = 0


def _check_failure(error: StorageError) -> None:
    """A failure the retries could not absorb names the transport problem and the endpoint."""
    message = str(error)
    assert any(words in message for words in TRANSPORT_WORDS), f"not named as a transport problem: {message}"
    assert "[http://127.0.0.1:" in message


@pytest.mark.parametrize("direction", ["download", "upload"])
@pytest.mark.parametrize("scheme", ["s3", "gs", "az"])
def test_transfers_through_faults_are_identical_or_fail_cleanly(
    scheme: str, direction: str, tree: dict[str, bytes], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    emulator = request.getfixturevalue(EMULATOR_FIXTURE[scheme])
    direct_env = dict(emulator.env())
    direct = remote_for(parse_uri(f"{scheme}://probe"), direct_env)
    port = urlsplit(emulator.endpoint_url).port
    assert port is not None
    source = _write(tmp_path / "source", tree)
    seeded: RemoteURI | None = None
    if direction == "download":
        seeded = parse_uri(f"{scheme}://fault-{uuid.uuid4().hex[:12]}/data")
        direct.upload(source, seeded, create_bucket=True)
    figures = Figures()
    injected: dict[str, int] = {}
    for trial in range(TRIALS):
        seed = hash((scheme, direction, trial)) & 0xFFFF
        with FaultProxy(port, FAULTS, seed=seed) as proxy:
            env = {**ENV_FOR[scheme](proxy.url), "MLDOCK_STORAGE_TIMEOUT": STORAGE_TIMEOUT}
            if direction == "download":
                assert seeded is not None
                outcome = _download_trial(seeded, env, tmp_path / f"dest-{trial}", tree)
            else:
                outcome = _upload_trial(scheme, env, direct_env, source, tmp_path / f"back-{trial}", tree)
            for fault, count in proxy.counts.items():
                injected[fault] = injected.get(fault, 0) + count
        figures.trials += 1
        figures.identical += outcome == "identical"
        figures.clean_failures += outcome == "clean failure"
        figures.corrupt += outcome == "corrupt"
    print(
        f"\nFAULTS {scheme} {direction}: trials={figures.trials} identical={figures.identical} "
        f"clean_failures={figures.clean_failures} corrupt={figures.corrupt} connections={injected}"
    )
    assert figures.corrupt == 0
    assert figures.identical >= 0.95 * figures.trials


def _download_trial(uri: RemoteURI, env: dict[str, str], dest: Path, tree: dict[str, bytes]) -> str:
    try:
        remote_for(uri, env).download(uri, dest)
    except StorageError as error:
        _check_failure(error)
        got = _read(dest) if dest.exists() else {}
        complete = {k: v for k, v in got.items() if not k.rsplit("/", 1)[-1].endswith(".mldock-partial")}
        if any(tree.get(key) != data for key, data in complete.items()):
            return "corrupt"
        print(f"  clean failure: {error}")
        return "clean failure"
    return "identical" if _read(dest) == tree else "corrupt"


def _upload_trial(
    scheme: str, env: dict[str, str], direct_env: dict[str, str], source: Path, back: Path, tree: dict[str, bytes]
) -> str:
    bucket = parse_uri(f"{scheme}://fault-{uuid.uuid4().hex[:12]}")
    direct = remote_for(bucket, direct_env)
    direct.create_bucket(bucket)
    uri = bucket.join("out")
    try:
        remote_for(uri, env).upload(source, uri)
    except StorageError as error:
        _check_failure(error)
        print(f"  clean failure: {error}")
        failed = True
    else:
        failed = False
    if direct.list(uri):
        direct.download(uri, back)
    stored = _read(back) if back.exists() else {}
    if any(tree.get(key) != data for key, data in stored.items()):
        return "corrupt"
    if failed:
        return "clean failure"
    return "identical" if stored == tree else "corrupt"
