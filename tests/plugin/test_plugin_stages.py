"""One test file, two stages: `test` runs against emulators, `prod` (a production stage whose channels are
`file://` folders standing in for the cloud) runs against "real" storage with no emulator started."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SAME_TESTS = """
import json


def test_trains(mldock_stage, mldock_storage, mldock_container):
    mldock_storage.input("train", {"data.csv": b"x,y\\n1,2\\n3,4\\n"})
    result = mldock_container("train")
    result.assert_succeeded()
    metrics = json.loads(result.outputs["metrics"]["metrics.json"])
    assert metrics["stage"] == mldock_stage.name
    assert metrics["rows"] >= 3
    assert json.loads(result.models["model"]["model.json"])["scale"] == metrics["rows"]


def test_emulator_specific(s3_emulator):
    assert s3_emulator.bucket_names() is not None
"""

RECORDER = """
import json
from pytest_mldock.state import session_state

def pytest_sessionfinish(session):
    started = [e.name for e in session_state(session.config).started]
    (session.config.rootpath / "started.json").write_text(json.dumps(started))
"""


def test_switching_between_a_test_stage_and_a_production_stage(
    pytester: pytest.Pytester, sample_project: Path
) -> None:
    pytester.makeconftest(RECORDER)
    pytester.makepyfile(test_same=SAME_TESTS)
    prod = sample_project / "prod-storage"

    under_test = pytester.runpytest("-p", "no:randomly", "--mldock-stage=test")
    under_test.assert_outcomes(passed=2)
    assert json.loads((sample_project / "started.json").read_text()) == ["s3", "gcs"]
    assert not (prod / "metrics" / "metrics.json").exists()

    under_prod = pytester.runpytest("-p", "no:randomly", "-rsP", "--mldock-stage=prod")
    under_prod.assert_outcomes(passed=1, skipped=1)
    assert json.loads((sample_project / "started.json").read_text()) == []
    under_prod.stdout.fnmatch_lines(
        [
            "*- mldock storage (notes) -*",
            "MLDOCK_INPUT_CHANNEL_TRAIN: production stage 'prod': seeding skipped, the test reads the real file://*",
            "SKIPPED*mldock: stage 'prod' is a production stage: no s3 emulator starts*",
        ],
        consecutive=False,
    )
    written = json.loads((prod / "metrics" / "metrics.json").read_text())
    assert (written["stage"], written["rows"], written["epochs"]) == ("prod", 10, 5)
    assert (prod / "train" / "data.csv").read_text().count("\n") == 10  # the "production" input was not replaced


def test_production_stage_needs_the_channel_named(pytester: pytest.Pytester, sample_project: Path) -> None:
    pytester.makepyfile(
        test_missing="""
        def test_unnamed_channel(mldock_storage):
            mldock_storage.output("reports")
        """
    )
    result = pytester.runpytest("--mldock-stage=prod")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*production stage 'prod' names no MLDOCK_OUTPUT_CHANNEL_REPORTS; add "
            '"OUTPUT_CHANNEL_REPORTS": "<uri>" to stages.prod.environment in mldock.json*'
        ]
    )


def test_local_inputs_are_read_in_place_and_outputs_go_to_the_test(pytester: pytest.Pytester) -> None:
    data = pytester.mkdir("local-data")
    (data / "rows.csv").write_text("1\n")
    results = pytester.path / "local-results"
    stage = {"environment": {"INPUT_CHANNEL_TRAIN": data.as_uri(), "OUTPUT_CHANNEL_METRICS": results.as_uri()}}
    pytester.makefile(".json", mldock=json.dumps({"name": "local", "stages": {"dev": stage}}))
    pytester.makepyfile(
        test_local=f"""
        def test_channels(mldock_storage, tmp_path):
            env = mldock_storage.run_environment()
            assert env["MLDOCK_INPUT_CHANNEL_TRAIN"] == {data.as_uri()!r}
            out = env["MLDOCK_OUTPUT_CHANNEL_METRICS"]
            assert out.startswith(tmp_path.as_uri()) and out.endswith("/metrics")
            assert mldock_storage.emulators == []
        """
    )
    pytester.runpytest("--mldock-stage=dev").assert_outcomes(passed=1)
