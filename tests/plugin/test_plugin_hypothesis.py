"""The hypothesis-driven env-var parsing tests, run through the plugin's fixtures: what `mldock_storage` records
and what `mldock_container` passes is exactly what the runtime parses back."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PROPERTY_TESTS = """
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mldock import ChannelKind, Environment

NAMES = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,20}", fullmatch=True)
SCALARS = (st.none() | st.booleans() | st.integers(-(2**60), 2**60)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                      max_size=3), max_leaves=6)
HYPERPARAMETERS = st.dictionaries(st.text(min_size=1, max_size=10), VALUES, max_size=5)
FIXTURES_OK = {"suppress_health_check": [HealthCheck.function_scoped_fixture], "deadline": None}


@settings(**FIXTURES_OK)
@given(inputs=st.lists(NAMES, unique=True, max_size=3), models=st.lists(NAMES, unique=True, max_size=2),
       outputs=st.lists(NAMES.filter(lambda n: n != "failure"), unique=True, max_size=3),
       hyperparameters=HYPERPARAMETERS)
def test_recorded_channels_parse_back(mldock_storage, tmp_path, inputs, models, outputs, hyperparameters):
    expected = {}
    for name in inputs:
        expected[(ChannelKind.INPUT, name)] = mldock_storage.input(name, {"f": name.encode()}, scheme="file")
    for name in models:
        expected[(ChannelKind.INPUT_MODEL, name)] = mldock_storage.input_model(name, {"m": b"1"}, scheme="file")
    for name in outputs:
        expected[(ChannelKind.OUTPUT, name)] = mldock_storage.output(name, scheme="file")
    environ = {**mldock_storage.environment, "MLDOCK_HYPERPARAMETERS": json.dumps(hyperparameters)}
    env = Environment.from_env(environ, base_dir=tmp_path / "base")
    for (kind, name), uri in expected.items():
        assert str(env.channel(name, kind).uri) == uri
    for name in inputs:
        assert mldock_storage.read(env.channel(name).uri) == {"f": name.encode()}
    assert env.hyperparameters.to_dict() == hyperparameters


# each example starts a container: pinned, so HYPOTHESIS_PROFILE=deep does not mean 20,000 container runs
@settings(max_examples=3, **FIXTURES_OK)
@given(extra=st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: k != "epochs"), VALUES, max_size=3),
       greeting=st.text(alphabet=st.characters(codec="ascii", exclude_categories=["Cc"]), min_size=1, max_size=20))
def test_container_gets_stage_and_call_values(mldock_container, extra, greeting):
    result = mldock_container("train", hyperparameters=extra, env={"MLDOCK_GREETING": greeting})
    result.assert_succeeded()
    metrics = json.loads(result.outputs["metrics"]["metrics.json"])
    assert metrics["hyperparameters"] == {"epochs": 3, **extra}
    assert metrics["greeting"] == greeting
"""


def test_property_tests_through_the_fixtures(pytester: pytest.Pytester, sample_project: Path) -> None:
    pytester.makepyfile(test_properties=PROPERTY_TESTS)
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
