"""Channel variables: kinds, folders, aliases, and every way a variable can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mldock.errors import ChannelError
from mldock.runtime.channels import (
    Channel,
    ChannelKind,
    channel_variable,
    parse_channels,
    require_scheme,
)
from mldock.storage import parse_uri

BASE = Path("/opt/ml")


@pytest.mark.parametrize(
    ("variable", "kind", "folder"),
    [
        pytest.param("MLDOCK_INPUT_CHANNEL_TRAIN", ChannelKind.INPUT, "input/data/train", id="input"),
        pytest.param("MLDOCK_INPUT_MODEL_CHANNEL_TRAIN", ChannelKind.INPUT_MODEL, "model/train", id="input-model"),
        pytest.param("MLDOCK_OUTPUT_CHANNEL_TRAIN", ChannelKind.OUTPUT, "output/train", id="output"),
        pytest.param("MLDOCK_OUTPUT_MODEL_CHANNEL_TRAIN", ChannelKind.OUTPUT_MODEL, "model/train", id="output-model"),
        pytest.param("MLDOCK_MODEL_INPUT_CHANNEL_TRAIN", ChannelKind.INPUT_MODEL, "model/train", id="alias-input"),
        pytest.param("MLDOCK_MODEL_OUTPUT_CHANNEL_TRAIN", ChannelKind.OUTPUT_MODEL, "model/train", id="alias-output"),
    ],
)
def test_each_kind_lands_in_its_folder(variable: str, kind: ChannelKind, folder: str) -> None:
    (channel,) = parse_channels({variable: "s3://bucket/prefix"}, BASE)
    assert channel == Channel(kind, "train", parse_uri("s3://bucket/prefix"), BASE / folder, variable)
    assert channel.variable == variable


def test_name_is_the_suffix_lower_cased_and_may_hold_digits_dots_dashes() -> None:
    channels = parse_channels(
        {"MLDOCK_INPUT_CHANNEL_Train_V2.1-a": "gs://bkt/p", "MLDOCK_INPUT_CHANNEL_7": "az://cnt/p"}, BASE
    )
    assert [c.name for c in channels] == ["7", "train_v2.1-a"]


def test_unrelated_variables_are_ignored_and_result_is_sorted_by_kind_then_name() -> None:
    environ = {
        "PATH": "/bin",
        "MLDOCK_STAGE": "dev",
        "MLDOCK_OUTPUT_CHANNEL_B": "file:///out/b",
        "MLDOCK_INPUT_CHANNEL_Z": "file:///in/z",
        "MLDOCK_INPUT_CHANNEL_A": "file:///in/a",
    }
    channels = parse_channels(environ, BASE)
    assert [(c.kind, c.name) for c in channels] == [
        (ChannelKind.INPUT, "a"),
        (ChannelKind.INPUT, "z"),
        (ChannelKind.OUTPUT, "b"),
    ]


def test_input_and_output_model_channels_may_share_a_name_and_folder() -> None:
    channels = parse_channels(
        {"MLDOCK_INPUT_MODEL_CHANNEL_BASE": "s3://mdl/in", "MLDOCK_OUTPUT_MODEL_CHANNEL_BASE": "s3://mdl/out"}, BASE
    )
    assert {c.kind for c in channels} == {ChannelKind.INPUT_MODEL, ChannelKind.OUTPUT_MODEL}
    assert {c.path for c in channels} == {BASE / "model" / "base"}


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        pytest.param({"MLDOCK_INPUT_CHANNEL_": "s3://bkt/p"}, "channel name is missing", id="empty-suffix"),
        pytest.param({"MLDOCK_OUTPUT_CHANNEL": "s3://bkt/p"}, "channel name is missing", id="bare-prefix"),
        pytest.param({"MLDOCK_INPUT_CHANNEL_..": "s3://bkt/p"}, "cannot be a folder name", id="dotdot"),
        pytest.param({"MLDOCK_INPUT_CHANNEL_.": "s3://bkt/p"}, "cannot be a folder name", id="dot"),
        pytest.param({"MLDOCK_INPUT_CHANNEL_A/B": "s3://bkt/p"}, "cannot be a folder name", id="slash"),
        pytest.param({"MLDOCK_INPUT_CHANNEL__X": "s3://bkt/p"}, "cannot be a folder name", id="leading-underscore"),
        pytest.param({"MLDOCK_INPUT_CHANNEL_\u212a": "s3://bkt/p"}, "cannot be a folder name", id="kelvin-sign"),
        pytest.param({"MLDOCK_INPUT_CHANNEL_" + "A" * 101: "s3://bkt/p"}, "at most 100", id="too-long"),
        pytest.param({"MLDOCK_OUTPUT_CHANNEL_FAILURE": "s3://bkt/p"}, "failure file", id="failure-name"),
        pytest.param({"MLDOCK_INPUT_CHANNEL_T": "ftp://b/p"}, "unsupported URI scheme", id="scheme"),
        pytest.param({"MLDOCK_INPUT_CHANNEL_T": "bucket/prefix"}, "has no URI scheme", id="schemeless"),
        pytest.param({"MLDOCK_INPUT_CHANNEL_T": "s3:///prefix"}, "has no bucket", id="no-bucket"),
        pytest.param({"MLDOCK_INPUT_CHANNEL_T": "file://relative"}, "no host", id="file-host"),
        pytest.param({"MLDOCK_INPUT_CHANNEL_T": ""}, "empty", id="empty-value"),
        pytest.param({"MLDOCK_INPUT_CHANNEL_T": " s3://bkt/p"}, "whitespace", id="whitespace"),
    ],
)
def test_bad_variables_are_channel_errors_naming_the_variable(environ: dict[str, str], fragment: str) -> None:
    with pytest.raises(ChannelError, match=fragment) as caught:
        parse_channels(environ, BASE)
    assert next(iter(environ)) in str(caught.value)


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param(
            {"MLDOCK_INPUT_CHANNEL_TRAIN": "s3://aaa/1", "MLDOCK_INPUT_CHANNEL_Train": "s3://aaa/2"}, id="case"
        ),
        pytest.param(
            {"MLDOCK_INPUT_MODEL_CHANNEL_M": "s3://aaa/1", "MLDOCK_MODEL_INPUT_CHANNEL_M": "s3://aaa/2"}, id="alias-in"
        ),
        pytest.param(
            {"MLDOCK_OUTPUT_MODEL_CHANNEL_M": "s3://aaa/1", "MLDOCK_MODEL_OUTPUT_CHANNEL_m": "s3://aaa/2"},
            id="alias-out",
        ),
    ],
)
def test_two_variables_on_one_channel_name_both(environ: dict[str, str]) -> None:
    with pytest.raises(ChannelError, match="both set") as caught:
        parse_channels(environ, BASE)
    for variable in environ:
        assert variable in str(caught.value)


def test_a_resolver_turns_bare_values_into_uris() -> None:
    def to_s3(value: str, variable: str) -> str:
        return value if "://" in value else f"s3://{value}"

    (channel,) = parse_channels({"MLDOCK_INPUT_CHANNEL_T": "bucket/data"}, BASE, resolve_uri=to_s3)
    assert channel.uri == parse_uri("s3://bucket/data")


def test_the_resolved_uri_is_still_validated() -> None:
    with pytest.raises(ChannelError, match="MLDOCK_INPUT_CHANNEL_T"):
        parse_channels({"MLDOCK_INPUT_CHANNEL_T": "x"}, BASE, resolve_uri=lambda value, variable: "ftp://x/y")


def test_require_scheme_returns_the_value_unchanged() -> None:
    assert require_scheme("file:///data/x", "V") == "file:///data/x"


# -- properties ---------------------------------------------------------------------------------------------

_PREFIXES = [kind.prefix for kind in ChannelKind] + ["MLDOCK_MODEL_INPUT_CHANNEL_", "MLDOCK_MODEL_OUTPUT_CHANNEL_"]
_names = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,30}", fullmatch=True).filter(lambda n: n != "failure")
_uris = st.builds(
    lambda scheme, bucket, prefix: f"{scheme}://{bucket}/{prefix}",
    st.sampled_from(["s3", "gs", "az"]),
    # a bucket name every cloud accepts: letters and digits, one inner '-', nothing Google reserves
    st.from_regex(r"[a-z0-9]{3,8}(-[a-z0-9]{1,8})?", fullmatch=True).filter(lambda b: not b.startswith("goog")),
    # a prefix without '.' or '..' segments (the URI parser refuses those)
    st.from_regex(r"[A-Za-z0-9_/.-]{0,30}", fullmatch=True).filter(lambda p: not {".", ".."} & set(p.split("/"))),
)


@settings(deadline=None)
@given(
    environ=st.dictionaries(
        st.one_of(st.sampled_from(_PREFIXES).flatmap(lambda p: st.text(max_size=12).map(lambda s: p + s)), st.text()),
        st.text(max_size=40),
        max_size=6,
    )
)
def test_parsing_arbitrary_variables_raises_only_channel_errors(environ: dict[str, str]) -> None:
    try:
        channels = parse_channels(environ, BASE)
    except ChannelError:
        return
    for channel in channels:
        assert channel.variable in environ
        assert channel.path.is_relative_to(BASE)
        assert channel.path.name == channel.name


@settings(deadline=None)
@given(kind=st.sampled_from(list(ChannelKind)), name=_names, uri=_uris)
def test_accepted_channels_round_trip_name_variable_and_uri(kind: ChannelKind, name: str, uri: str) -> None:
    variable = channel_variable(kind, name)
    (channel,) = parse_channels({variable: uri}, BASE)
    assert (channel.kind, channel.name, channel.variable) == (kind, name, variable)
    assert channel_variable(channel.kind, channel.name) == variable
    assert channel.uri == parse_uri(uri)
    assert parse_uri(str(channel.uri)) == channel.uri


# -- optional channels --------------------------------------------------------------------------------------


def test_optional_channels_are_marked_by_name_for_inputs_only() -> None:
    environ = {
        "MLDOCK_INPUT_CHANNEL_TRAIN": "s3://data/train",
        "MLDOCK_INPUT_MODEL_CHANNEL_WARM": "s3://models/warm",
        "MLDOCK_OUTPUT_MODEL_CHANNEL_WARM": "s3://models/out",
        "MLDOCK_OPTIONAL_CHANNELS": " WARM , unknown",
    }
    marked = {(c.kind, c.name): c.optional for c in parse_channels(environ, BASE)}
    assert marked == {
        (ChannelKind.INPUT, "train"): False,
        (ChannelKind.INPUT_MODEL, "warm"): True,
        (ChannelKind.OUTPUT_MODEL, "warm"): False,
    }


def test_a_bad_optional_channel_name_names_the_variable() -> None:
    with pytest.raises(ChannelError, match=r"MLDOCK_OPTIONAL_CHANNELS: 'a b' is not a channel name"):
        parse_channels({"MLDOCK_OPTIONAL_CHANNELS": "a b,c"}, BASE)
