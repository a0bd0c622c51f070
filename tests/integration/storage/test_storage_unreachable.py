"""An endpoint that never answers (a black hole) or refuses connections (a closed port) fails every cloud's
download and upload with a StorageError naming the endpoint, within the bound MLDOCK_STORAGE_TIMEOUT sets.

Times are printed, not asserted tightly: the only time asserted is "within the configured bound plus a
generous margin" (the SDKs' own backoff delays and a loaded machine), far below the minutes it took before the
setting existed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from storage_faults import BlackHole, closed_port

from mldock.emulators.azure import azure_env
from mldock.emulators.gcs import gcs_env
from mldock.emulators.s3 import s3_env
from mldock.errors import StorageError, UserError
from mldock.storage import parse_uri
from mldock.storage.registry import remote_for

pytestmark = pytest.mark.integration

BOUND = 3.0  # MLDOCK_STORAGE_TIMEOUT for these tests: 0.5 s per request
MARGIN = 60.0
ENV_FOR: dict[str, Callable[[str], dict[str, str]]] = {"s3": s3_env, "gs": gcs_env, "az": azure_env}


@contextmanager
def _endpoint(kind: str) -> Iterator[str]:
    if kind == "black-hole":
        with BlackHole() as hole:
            yield hole.url
    else:
        yield f"http://127.0.0.1:{closed_port()}"


@pytest.mark.parametrize("direction", ["download", "upload"])
@pytest.mark.parametrize("kind", ["black-hole", "closed-port"])
@pytest.mark.parametrize("scheme", ["s3", "gs", "az"])
def test_an_unanswering_endpoint_fails_in_bounded_time_naming_it(
    scheme: str, kind: str, direction: str, tmp_path: Path
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("a")
    with _endpoint(kind) as url:
        env = {**ENV_FOR[scheme](url), "MLDOCK_STORAGE_TIMEOUT": str(BOUND)}
        uri = parse_uri(f"{scheme}://bucket-x/prefix")
        remote = remote_for(uri, env)
        started = time.monotonic()
        transfer = (
            (lambda: remote.download(uri, tmp_path / "dest"))
            if direction == "download"
            else (lambda: remote.upload(tmp_path / "src", uri))
        )
        with pytest.raises(StorageError) as caught:
            transfer()
        elapsed = time.monotonic() - started
    print(f"{scheme} {kind} {direction}: {elapsed:.1f} s (bound {BOUND} s): {caught.value}")
    assert url.removeprefix("http://") in str(caught.value)
    assert "MLDOCK_STORAGE_TIMEOUT" in str(caught.value)
    assert elapsed < BOUND + MARGIN
    assert not (tmp_path / "dest").exists() or not any((tmp_path / "dest").rglob("*"))


@pytest.mark.parametrize("value", ["0", "-1", "soon", "1e7", "nan"])
@pytest.mark.parametrize("scheme", ["s3", "gs", "az"])
def test_a_bad_timeout_setting_is_a_user_error_naming_it(scheme: str, value: str) -> None:
    env = {**ENV_FOR[scheme]("http://127.0.0.1:9"), "MLDOCK_STORAGE_TIMEOUT": value}
    with pytest.raises(UserError, match="MLDOCK_STORAGE_TIMEOUT"):
        remote_for(parse_uri(f"{scheme}://bucket-x/p"), env)
