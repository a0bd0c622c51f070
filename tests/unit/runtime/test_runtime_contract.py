"""mldock.contract: the names, defaults and rules of the container contract, as pure functions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mldock import contract
from mldock.errors import UserError


def test_every_variable_carries_the_prefix() -> None:
    names = [getattr(contract, name) for name in contract.__all__ if name.isupper()]
    variables = [value for value in names if isinstance(value, str) and value.startswith("MLDOCK")]
    assert len(variables) >= 15
    assert all(value.startswith(contract.PREFIX) for value in variables)
    assert contract.setting_key(contract.SERVE_PORT) == "SERVE_PORT"


def test_all_is_exact() -> None:
    public = {name for name in vars(contract) if not name.startswith("_")}
    imported = {"annotations", "os", "re", "Mapping", "Path", "Final", "UserError"}
    assert set(contract.__all__) == public - imported


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, False, id="unset"),
        pytest.param("", False, id="empty"),
        pytest.param(" TRUE ", True, id="upper-padded"),
        pytest.param("on", True, id="on"),
        pytest.param("1", True, id="one"),
        pytest.param("yes", True, id="yes"),
        pytest.param("y", False, id="y"),
        pytest.param("0", False, id="zero"),
        pytest.param("false", False, id="false"),
    ],
)
def test_is_truthy(value: str | None, expected: bool) -> None:
    assert contract.is_truthy(value) is expected


@given(st.text(max_size=80))
def test_stage_names_follow_the_rule(value: str) -> None:
    expected = (
        0 < len(value) <= contract.MAX_STAGE_LENGTH
        and "a" <= value[0] <= "z"
        and all(c in "abcdefghijklmnopqrstuvwxyz0123456789_-" for c in value)
    )
    assert contract.is_stage_name(value) is expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({}, 8080, id="default"),
        pytest.param({"AIP_HTTP_PORT": "9000"}, 9000, id="vertex"),
        pytest.param({"MLDOCK_SERVE_PORT": "7000", "AIP_HTTP_PORT": "9000"}, 7000, id="mldock-wins"),
        pytest.param({"MLDOCK_SERVE_PORT": "", "AIP_HTTP_PORT": "9000"}, 9000, id="empty-skipped"),
        pytest.param({"MLDOCK_SERVE_PORT": " 0 "}, 0, id="any-port"),
    ],
)
def test_serve_port(environ: dict[str, str], expected: int) -> None:
    assert contract.serve_port(environ) == expected


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        pytest.param({"MLDOCK_SERVE_PORT": "http"}, "MLDOCK_SERVE_PORT", id="word"),
        pytest.param({"AIP_HTTP_PORT": "70000"}, "AIP_HTTP_PORT", id="range"),
        pytest.param({"MLDOCK_SERVE_PORT": "-1", "AIP_HTTP_PORT": "80"}, "MLDOCK_SERVE_PORT", id="negative"),
    ],
)
def test_a_bad_serve_port_names_its_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(UserError, match=variable):
        contract.serve_port(environ)


@given(st.dictionaries(st.sampled_from(["MLDOCK_SERVE_PORT", "AIP_HTTP_PORT"]), st.text(max_size=8)))
def test_serve_port_is_total(environ: dict[str, str]) -> None:
    try:
        port = contract.serve_port(environ)
    except UserError:
        return
    assert 0 <= port <= 65535


def test_stop_grace_seconds() -> None:
    assert contract.stop_grace_seconds({}) == 20.0
    assert contract.stop_grace_seconds({"MLDOCK_STOP_GRACE_SECONDS": " 2.5 "}) == 2.5
    for bad in ("soon", "", "-1", "nan", "inf"):
        with pytest.raises(UserError, match="MLDOCK_STOP_GRACE_SECONDS"):
            contract.stop_grace_seconds({"MLDOCK_STOP_GRACE_SECONDS": bad})


def test_project_dir_from(tmp_path: Path) -> None:
    assert contract.project_dir_from({}, cwd=tmp_path) == tmp_path
    assert contract.project_dir_from({"MLDOCK_PROJECT_DIR": "/opt/program"}, cwd=tmp_path) == Path("/opt/program")
    assert contract.project_dir_from({"MLDOCK_PROJECT_DIR": "code"}, cwd=tmp_path) == tmp_path / "code"
    assert contract.project_dir_from({"MLDOCK_PROJECT_DIR": " a/../b "}, cwd=tmp_path) == tmp_path / "b"


@pytest.mark.parametrize(
    "value", [pytest.param("", id="empty"), pytest.param("  ", id="blank"), pytest.param("a\x00", id="nul")]
)
def test_an_unusable_folder_names_its_variable(value: str) -> None:
    with pytest.raises(UserError, match="MLDOCK_PROJECT_DIR"):
        contract.project_dir_from({"MLDOCK_PROJECT_DIR": value})
    with pytest.raises(UserError, match="MLDOCK_BASE_DIR"):
        contract.base_dir_from({"MLDOCK_BASE_DIR": value})


@given(st.text(max_size=30))
def test_folder_parsing_is_total_and_absolute(value: str) -> None:
    try:
        path = contract.project_dir_from({"MLDOCK_PROJECT_DIR": value}, cwd=Path("/work"))
    except UserError:
        return
    assert path.is_absolute()
    assert path == Path(os.path.normpath(path))


def test_base_dir_from() -> None:
    assert contract.base_dir_from({}) == Path("/opt/ml")
    assert contract.base_dir_from({"MLDOCK_BASE_DIR": "/data/ml/"}) == Path("/data/ml")


def test_cache_dir(tmp_path: Path) -> None:
    assert contract.cache_dir({}, home=tmp_path) == tmp_path / ".cache" / "mldock"
    assert contract.cache_dir({"MLDOCK_CACHE_DIR": "  "}, home=tmp_path) == tmp_path / ".cache" / "mldock"
    assert contract.cache_dir({"MLDOCK_CACHE_DIR": "~/c"}, home=tmp_path) == tmp_path / "c"
    assert contract.cache_dir({"MLDOCK_CACHE_DIR": "/var/cache/m "}, home=tmp_path) == Path("/var/cache/m")
