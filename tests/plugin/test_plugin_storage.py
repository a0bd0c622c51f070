"""Emulator fixtures and `mldock_storage` against the real emulators (inner runs in-process: faster)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

STARTED_RECORDER = """
import json
from pytest_mldock.state import session_state

def pytest_sessionfinish(session):
    started = [e.name for e in session_state(session.config).started]
    (session.config.rootpath / "started.json").write_text(json.dumps(started))
"""


def _started(pytester: pytest.Pytester) -> list[str]:
    import json

    loaded: list[str] = json.loads((pytester.path / "started.json").read_text())
    return loaded


def test_emulator_fixtures_are_lazy_and_session_scoped(pytester: pytest.Pytester, sample_project: Path) -> None:
    pytester.makeconftest(STARTED_RECORDER)
    pytester.makepyfile(
        test_emulators="""
        import boto3

        seen = []

        def test_nothing_started_yet(request):
            from pytest_mldock.state import session_state
            assert session_state(request.config).started == []

        def test_s3(s3_emulator):
            seen.append(s3_emulator)
            s3_emulator.create_bucket("plain")
            client = boto3.client("s3", endpoint_url=s3_emulator.endpoint_url, aws_access_key_id="a",
                                  aws_secret_access_key="b", region_name="us-east-1")
            assert [b["Name"] for b in client.list_buckets()["Buckets"]] == ["plain"]

        def test_s3_again_is_the_same_one(s3_emulator):
            assert s3_emulator is seen[0]

        def test_gcs_env(gcs_emulator):
            assert gcs_emulator.env()["STORAGE_EMULATOR_HOST"] == gcs_emulator.endpoint_url
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=4)
    assert _started(pytester) == ["s3", "gcs"]


def test_storage_channels_on_every_scheme(pytester: pytest.Pytester, sample_project: Path) -> None:
    pytester.makeconftest(STARTED_RECORDER)
    folder = pytester.mkdir("seed")
    (folder / "sub").mkdir()
    (folder / "sub" / "b.txt").write_bytes(b"bee")
    (folder / "a.txt").write_bytes(b"ay")
    pytester.makepyfile(
        test_storage="""
        import re
        from pathlib import Path

        SEED = Path(__file__).parent / "seed"

        def test_channels(mldock_storage, s3_emulator, gcs_emulator, azure_blob_emulator):
            s3 = mldock_storage.input("train", {"data.csv": b"1,2\\n", "deep/x.bin": "text"}, scheme="s3")
            gs = mldock_storage.input("extra", SEED, scheme="gcs")
            az = mldock_storage.input_model("base", SEED / "a.txt", scheme="az")
            out = mldock_storage.output("metrics", scheme="azure")
            model = mldock_storage.output_model("model")          # stage test names s3:// for it
            local = mldock_storage.input("local", {"f": b"1"})    # no scheme in the stage: file://
            assert mldock_storage.read(s3) == {"data.csv": b"1,2\\n", "deep/x.bin": b"text"}
            assert mldock_storage.read(gs) == {"a.txt": b"ay", "sub/b.txt": b"bee"}
            assert mldock_storage.read(az) == {"a.txt": b"ay"}
            assert mldock_storage.read(out) == {}
            assert mldock_storage.read(local) == {"f": b"1"}
            assert local.startswith("file://") and model.startswith("s3://")
            assert mldock_storage.environment == {
                "MLDOCK_INPUT_CHANNEL_TRAIN": s3,
                "MLDOCK_INPUT_CHANNEL_EXTRA": gs,
                "MLDOCK_INPUT_MODEL_CHANNEL_BASE": az,
                "MLDOCK_OUTPUT_CHANNEL_METRICS": out,
                "MLDOCK_OUTPUT_MODEL_CHANNEL_MODEL": model,
                "MLDOCK_INPUT_CHANNEL_LOCAL": local,
            }
            buckets = [uri.split("/")[2] for uri in (s3, gs, az, out, model)]
            assert len(set(buckets)) == 5
            for bucket in buckets:
                assert re.fullmatch(r"t-main-[0-9a-f]{10}-[0-9]+", bucket), bucket
            assert buckets[0] in s3_emulator.bucket_names()
            assert buckets[1] in gcs_emulator.bucket_names()
            assert buckets[2] in azure_blob_emulator.bucket_names()
            mldock_storage.write(out, {"late.txt": b"later"})
            assert mldock_storage.read(out) == {"late.txt": b"later"}

        def test_buckets_of_the_previous_test_are_gone(s3_emulator, gcs_emulator, azure_blob_emulator):
            assert s3_emulator.bucket_names() == []
            assert gcs_emulator.bucket_names() == []
            assert azure_blob_emulator.bucket_names() == []

        def test_bad_names_are_refused(mldock_storage):
            import pytest
            with pytest.raises(ValueError, match="scheme 'ftp' is not one of s3, gs, az, file"):
                mldock_storage.input("train", scheme="ftp")
            with pytest.raises(ValueError, match="cannot be a folder name"):
                mldock_storage.output("no/slash")
            with pytest.raises(ValueError, match="cannot be called 'failure'"):
                mldock_storage.output("failure")
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3)
    assert sorted(_started(pytester)) == ["azure", "gcs", "s3"]


def test_only_the_clouds_a_test_uses_start(pytester: pytest.Pytester, sample_project: Path) -> None:
    pytester.makeconftest(STARTED_RECORDER)
    pytester.makepyfile(
        test_lazy="""
        def test_file_only(mldock_storage):
            uri = mldock_storage.input("train", {"a": b"1"}, scheme="file")
            assert mldock_storage.read(uri) == {"a": b"1"}
            assert mldock_storage.emulators == []

        def test_gcs_only(mldock_storage):
            mldock_storage.output("metrics", scheme="gs")
            assert [e.name for e in mldock_storage.emulators] == ["gcs"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)
    assert _started(pytester) == ["gcs"]


def test_keep_leaves_buckets_and_lists_emulators(pytester: pytest.Pytester, sample_project: Path) -> None:
    pytester.makepyfile(
        test_keep="""
        made = []

        def test_make(mldock_storage):
            made.append(mldock_storage.output("metrics", scheme="s3").split("/")[2])

        def test_still_there(s3_emulator):
            assert made[0] in s3_emulator.bucket_names()
        """
    )
    result = pytester.runpytest_subprocess("--mldock-keep", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*mldock: kept running (--mldock-keep)*",
            "s3 emulator: http://127.0.0.1:*",
            "mldock: not a terminal, so they stop now, with the session",
        ]
    )


def test_emulator_config_fixture_can_be_overridden(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest
        from pytest_mldock import EmulatorConfig

        @pytest.fixture(scope="session")
        def mldock_emulator_config():
            return EmulatorConfig(host="0.0.0.0", start_timeout=90)
        """
    )
    pytester.makepyfile(
        test_config="""
        def test_bound_everywhere(gcs_emulator):
            assert gcs_emulator.host == "0.0.0.0"
            assert gcs_emulator.start_timeout == 90
            assert gcs_emulator.endpoint_url.startswith("http://127.0.0.1:")
            gcs_emulator.create_bucket("reachable")
            assert gcs_emulator.bucket_names() == ["reachable"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
