"""Hyperparameters: file overlaid by the variable, typed tolerant reads, clear errors for bad sources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mldock.errors import HyperparameterError
from mldock.runtime.hyperparameters import Hyperparameters


def test_variable_keys_win_over_the_file(tmp_path: Path) -> None:
    file = tmp_path / "hyperparameters.json"
    file.write_text(json.dumps({"epochs": 3, "lr": 0.1}))
    hp = Hyperparameters.from_sources(file, '{"epochs": 5, "extra": "x"}')
    assert dict(hp) == {"epochs": 5, "lr": 0.1, "extra": "x"}


@pytest.mark.parametrize(
    "variable", [pytest.param(None, id="unset"), pytest.param("", id="empty"), pytest.param("  ", id="blank")]
)
def test_missing_file_and_unset_variable_are_empty(tmp_path: Path, variable: str | None) -> None:
    assert len(Hyperparameters.from_sources(tmp_path / "absent.json", variable)) == 0


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        pytest.param(10, int, 10, id="int"),
        pytest.param("10", int, 10, id="int-from-string"),
        pytest.param(" 10 ", int, 10, id="int-from-padded-string"),
        pytest.param(10.0, int, 10, id="int-from-integral-float"),
        pytest.param("1e3", int, 1000, id="int-from-exponent-string"),
        pytest.param("0.5", float, 0.5, id="float-from-string"),
        pytest.param(2, float, 2.0, id="float-from-int"),
        pytest.param("true", bool, True, id="bool-true"),
        pytest.param("False", bool, False, id="bool-false"),
        pytest.param("yes", bool, True, id="bool-yes"),
        pytest.param(0, bool, False, id="bool-zero"),
        pytest.param(7, str, "7", id="str-from-int"),
        pytest.param("abc", str, "abc", id="str"),
        pytest.param("[1, 2]", list, [1, 2], id="list-from-json-string"),
        pytest.param({"a": 1}, dict, {"a": 1}, id="dict"),
    ],
)
def test_typed_reads_are_tolerant(value: Any, kind: type[Any], expected: Any) -> None:
    hp = Hyperparameters({"key": value})
    assert hp.get("key", kind) == expected
    assert type(hp.require("key", kind)) is kind


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        pytest.param("ten", int, id="word-as-int"),
        pytest.param(1.5, int, id="fraction-as-int"),
        pytest.param(True, int, id="bool-as-int"),
        pytest.param("maybe", bool, id="word-as-bool"),
        pytest.param(2, bool, id="two-as-bool"),
        pytest.param([1], float, id="list-as-float"),
        pytest.param(None, str, id="null-as-str"),
        pytest.param("{}", list, id="object-as-list"),
        pytest.param("[", list, id="broken-json-as-list"),
    ],
)
def test_bad_typed_reads_name_the_key_and_type(value: Any, kind: type[Any]) -> None:
    with pytest.raises(HyperparameterError, match=f"'key'.*{kind.__name__}"):
        Hyperparameters({"key": value}).get("key", kind)


def test_defaults_and_required_keys() -> None:
    hp = Hyperparameters({"a": 1})
    assert hp.get("missing", int, default=10) == 10
    assert hp.get("missing", int) is None
    assert hp.get("a") == 1
    with pytest.raises(HyperparameterError, match=r"'missing' is missing \(expected int\)"):
        hp.require("missing", int)


def test_the_mapping_is_immutable_even_through_nested_values() -> None:
    hp = Hyperparameters({"layers": [1, 2]})
    hp["layers"].append(3)
    hp.get("layers", list).append(4)
    assert hp["layers"] == [1, 2]
    with pytest.raises(TypeError):
        hp["x"] = 1  # type: ignore[index]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        pytest.param(b"{", "not valid JSON", id="invalid-json"),
        pytest.param(b"[1, 2]", "not an array", id="array"),
        pytest.param(b'"x"', "not a string", id="string"),
        pytest.param(b"\xff\xfe{}", "not UTF-8", id="not-utf8"),
        pytest.param(b"[" * 100_000, "nested more than 100", id="deep-nesting"),
    ],
)
def test_bad_file_errors_name_the_file(tmp_path: Path, content: bytes, fragment: str) -> None:
    file = tmp_path / "hyperparameters.json"
    file.write_bytes(content)
    with pytest.raises(HyperparameterError, match=fragment) as caught:
        Hyperparameters.from_sources(file, None)
    assert str(file) in str(caught.value)


def test_unreadable_file_is_an_error_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "hyperparameters.json"
    folder.mkdir()
    with pytest.raises(HyperparameterError, match="cannot read") as caught:
        Hyperparameters.from_sources(folder, None)
    assert str(folder) in str(caught.value)


@pytest.mark.parametrize(
    "value",
    [pytest.param("{", id="invalid"), pytest.param("42", id="number"), pytest.param("null", id="null")],
)
def test_bad_variable_errors_name_the_variable(value: str) -> None:
    with pytest.raises(HyperparameterError, match="MLDOCK_HYPERPARAMETERS"):
        Hyperparameters.from_sources(None, value)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@settings(deadline=None)
@given(values=st.dictionaries(st.text(max_size=10), _json, max_size=5))
def test_json_objects_round_trip(values: dict[str, Any]) -> None:
    hp = Hyperparameters.parse(json.dumps(values))
    assert hp == values
    assert Hyperparameters.parse(hp.to_json()) == hp


@settings(deadline=None)
@given(text=st.text(max_size=40) | st.binary(max_size=40).map(lambda b: b.decode("latin-1")))
def test_garbage_gives_hyperparameter_error_or_an_object(text: str) -> None:
    try:
        hp = Hyperparameters.parse(text)
    except HyperparameterError:
        return
    assert isinstance(json.loads(text), dict)
    assert len(hp) == len(json.loads(text))


def _nested(depth: int) -> str:
    return '{"a": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("depth", [pytest.param(d, id=f"depth-{d}") for d in (101, 500, 999, 1_000, 100_000)])
def test_deep_nesting_is_a_hyperparameter_error_in_the_variable_and_the_file(tmp_path: Path, depth: int) -> None:
    file = tmp_path / "hyperparameters.json"
    file.write_text(_nested(depth))
    with pytest.raises(HyperparameterError, match="MLDOCK_HYPERPARAMETERS: values are nested more than 100"):
        Hyperparameters.from_sources(None, _nested(depth))
    with pytest.raises(HyperparameterError, match=f"{file}: values are nested more than 100"):
        Hyperparameters.from_sources(file, None)


def test_nesting_up_to_the_limit_is_kept() -> None:
    assert Hyperparameters.parse(_nested(99))["a"] == json.loads(_nested(99))["a"]


@pytest.mark.parametrize(
    "number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400"], ids=["nan", "inf", "minus-inf", "huge", "minus-huge"]
)
def test_nan_and_infinities_are_refused_by_name(tmp_path: Path, number: str) -> None:
    text = f'{{"lr": {number}}}'
    file = tmp_path / "hyperparameters.json"
    file.write_text(text)
    for where, call in (
        ("MLDOCK_HYPERPARAMETERS", lambda: Hyperparameters.from_sources(None, text)),
        (str(file), lambda: Hyperparameters.from_sources(file, None)),
    ):
        with pytest.raises(HyperparameterError, match=f"{where}: .*NaN and infinities are refused"):
            call()


def test_a_5000_digit_integer_is_a_hyperparameter_error() -> None:
    with pytest.raises(HyperparameterError, match="not valid JSON"):
        Hyperparameters.parse('{"n": ' + "9" * 5_000 + "}")


def test_a_utf8_bom_is_ignored_in_the_file_and_the_variable_alike(tmp_path: Path) -> None:
    file = tmp_path / "hyperparameters.json"
    file.write_bytes(b"\xef\xbb\xbf" + b'{"a": 1}')
    assert dict(Hyperparameters.from_sources(file, None)) == {"a": 1}
    assert dict(Hyperparameters.from_sources(None, '\ufeff{"b": 2}')) == {"b": 2}


_nesting = st.recursive(st.integers() | st.text(max_size=3), lambda inner: st.lists(inner, max_size=2), max_leaves=3)


@settings(deadline=None)
@given(depth=st.integers(min_value=0, max_value=3_000), opener=st.sampled_from(["[", '{"k": ']))
def test_any_nesting_depth_gives_an_object_or_a_hyperparameter_error(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    text = '{"a": ' + opener * depth + "1" + closer * depth + "}"
    try:
        hp = Hyperparameters.parse(text)
    except HyperparameterError:
        assert depth >= 100
        return
    assert depth < 100
    assert Hyperparameters.parse(hp.to_json()) == hp


def test_the_file_variable_sits_between_the_base_file_and_the_variable(tmp_path: Path) -> None:
    base = tmp_path / "hyperparameters.json"
    base.write_text('{"a": 1, "b": 1, "c": 1}')
    named = tmp_path / "named.json"
    named.write_text('{"b": 2, "c": 2, "big": "' + "x" * 300_000 + '"}')
    hp = Hyperparameters.from_sources(base, '{"c": 3}', variable_file=str(named))
    assert (hp["a"], hp["b"], hp["c"]) == (1, 2, 3)
    assert len(hp["big"]) == 300_000


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        pytest.param("missing.json", None, "no such hyperparameters file", id="missing"),
        pytest.param("bad.json", b"[1]", "must be a JSON object", id="not-object"),
        pytest.param("bad\x00.json", None, "cannot read", id="nul-in-path"),
    ],
)
def test_a_bad_file_variable_is_an_error_naming_it(
    tmp_path: Path, name: str, content: bytes | None, fragment: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(HyperparameterError, match="MLDOCK_HYPERPARAMETERS_FILE") as caught:
        Hyperparameters.from_sources(None, None, variable_file=str(path))
    assert fragment in str(caught.value)
