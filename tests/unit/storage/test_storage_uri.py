"""parse_uri: total (InvalidURIError or a RemoteURI), round-trips through str(), errors name the URI."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mldock.errors import InvalidURIError, UserError
from mldock.runtime.environment import Environment
from mldock.storage import RemoteURI, parse_uri
from mldock.storage.uri import bucket_name_problem


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("s3://bkt/p/q", RemoteURI("s3", "bkt", "p/q")),
        ("GS://bkt", RemoteURI("gs", "bkt", "")),
        ("az://cnt/x/", RemoteURI("az", "cnt", "x/")),
        ("file:///data/train/", RemoteURI("file", "", "/data/train")),
        ("file://localhost/data", RemoteURI("file", "", "/data")),
    ],
    ids=["s3", "upper-scheme", "az-trailing-slash", "file", "file-localhost"],
)
def test_parses(value: str, expected: RemoteURI) -> None:
    assert parse_uri(value) == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("ftp://b/p", "unsupported URI scheme"),
        ("bucket/p", "no scheme"),
        ("s3:///p", "has no bucket"),
        ("file://host/data", "no host"),
        ("file:///", "absolute folder"),
        (" s3://bkt", "whitespace"),
        ("s3://bkt/p?x=1", "query or fragment"),
    ],
    ids=["scheme", "bare", "no-bucket", "file-host", "file-root", "whitespace", "query"],
)
def test_bad_uris_name_the_uri_and_what_is_wrong(value: str, words: str) -> None:
    with pytest.raises(InvalidURIError, match=words) as info:
        parse_uri(value)
    assert repr(value.partition("?")[0] + ("?***" if "?" in value else "")) in str(info.value)
    assert isinstance(info.value, UserError)


def test_join_and_bucket_root() -> None:
    uri = parse_uri("s3://bkt/runs/1")
    assert str(uri.join("a/b.txt")) == "s3://bkt/runs/1/a/b.txt"
    assert uri.bucket_root() == RemoteURI("s3", "bkt", "")
    assert parse_uri("file:///srv/b/train").bucket_root() == parse_uri("file:///srv/b")


def _round_trips_through_the_environment(uri: RemoteURI, tmp_path: Path) -> None:
    environment = Environment.from_env({"MLDOCK_INPUT_CHANNEL_TRAIN": str(uri)}, base_dir=tmp_path)
    again = Environment.from_env(environment.to_environ(), base_dir=tmp_path)
    assert [channel.uri for channel in again.channels] == [uri]


_uri_text = st.one_of(
    st.text(max_size=60),
    st.builds(
        "".join,
        st.tuples(
            st.sampled_from(["s3://", "gs://", "az://", "file://", "file:///", "file://localhost/", "FILE:", "s3:"]),
            st.text(st.characters(codec="utf-8"), max_size=40),
        ),
    ),
    st.builds(
        "{}{}".format,
        st.sampled_from(["file:///", "file:////", "s3://bucket/", "gs://bucket/", "az://container/"]),
        st.lists(
            st.sampled_from(["a", "%2F", "%25", "%20", "..", ".", "/", "//", "%00", "%ff", "é", "?", "#", "@"])
        ).map("".join),
    ),
)


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_uri_text)
def test_parsing_is_total_and_every_uri_round_trips(value: str, tmp_path: Path) -> None:
    try:
        uri = parse_uri(value)
    except InvalidURIError:
        return
    assert parse_uri(str(uri)) == uri
    assert str(parse_uri(str(uri))) == str(uri)
    if uri.scheme == "file":
        assert uri.prefix.startswith("/")
        assert uri.prefix != "/"
        assert "//" not in uri.prefix
        assert not {".", ".."} & set(uri.prefix.split("/"))
    else:
        assert bucket_name_problem(uri.scheme, uri.bucket) == ""
    _round_trips_through_the_environment(uri, tmp_path)


@settings(deadline=None)
@given(
    scheme=st.sampled_from(["s3", "gs", "az"]),
    bucket=st.from_regex(r"[a-z0-9][a-z0-9-]{1,30}[a-z0-9]", fullmatch=True).filter(
        lambda name: "--" not in name and not name.startswith(("goog", "xn--", "sthree-")) and "google" not in name
    ),
    prefix=st.from_regex(r"[A-Za-z0-9_./ %-]{0,40}", fullmatch=True).filter(lambda p: p == p.rstrip()),
)
def test_cloud_uris_round_trip(scheme: str, bucket: str, prefix: str) -> None:
    uri = parse_uri(f"{scheme}://{bucket}/{prefix}")
    assert (uri.scheme, uri.bucket) == (scheme, bucket)
    assert parse_uri(str(uri)) == uri


@settings(deadline=None)
@given(segments=st.lists(st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1), min_size=1))
def test_any_absolute_folder_round_trips_as_a_file_uri(segments: list[str]) -> None:
    assume(not {".", ".."} & set(segments) and not any(_has_control(s) for s in segments))
    path = "/" + "/".join(segments)
    uri = RemoteURI("file", "", path)
    assert parse_uri(str(uri)) == uri


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


@pytest.mark.parametrize(
    "value",
    [
        "file:///",
        "file:////",
        "file:///%2F",
        "file://localhost//",
        "file:///%2F%2F",
        "file:///./",
        "file:///a/..",
        "file://localhost/%2f/",
    ],
)
def test_every_spelling_of_the_filesystem_root_is_refused(value: str) -> None:
    with pytest.raises(InvalidURIError, match=r"root|'\.' and '\.\.'"):
        parse_uri(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("file:///data//train", "/data/train"),
        ("file:///data/%2Ftrain", "/data/train"),
        ("file:///my%20data/a%25b", "/my data/a%b"),
        ("file:///d%C3%A9j%C3%A0", "/déjà"),
    ],
    ids=["double-slash", "escaped-slash", "escapes", "utf8"],
)
def test_file_paths_are_decoded_and_normalised(value: str, expected: str) -> None:
    uri = parse_uri(value)
    assert uri.prefix == expected
    assert parse_uri(str(uri)) == uri


@pytest.mark.parametrize(
    "value",
    ["s3://user:secret-pw@bucket/x", "gs://token@bucket", "file://u:secret-pw@localhost/data"],
    ids=["s3", "gs-token", "file"],
)
def test_credentials_in_a_uri_are_refused_and_never_shown(value: str) -> None:
    with pytest.raises(InvalidURIError, match="credentials") as info:
        parse_uri(value)
    assert "secret" not in str(info.value)
    assert "token" not in str(info.value)
    assert "***@" in str(info.value)


def test_a_signature_in_a_query_is_not_shown() -> None:
    with pytest.raises(InvalidURIError, match="query") as info:
        parse_uri("az://container/x?sv=2024&sig=SECRETSIG")
    assert "SECRETSIG" not in str(info.value)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("s3://Bad Bucket/x", "S3 bucket names"),
        ("s3://UPPER/x", "S3 bucket names"),
        ("s3://a..b/x", "S3 bucket names"),
        ("s3://b-/x", "S3 bucket names"),
        ("s3://192.168.1.1/x", "IP address"),
        ("s3://xn--bucket/x", "reserves"),
        ("s3://bucket-s3alias/x", "reserves"),
        ("s3://" + "a" * 64 + "/x", "S3 bucket names"),
        ("s3://b:9000/x", "S3 bucket names"),
        ("gs://goog-data/x", "goog"),
        ("gs://my-google-data/x", "google"),
        ("gs://" + "a" * 64, "GCS bucket names"),
        ("gs://" + "a" * 64 + ".b", "GCS bucket names"),
        ("az://A_B/x", "Azure container names"),
        ("az://a--b/x", "Azure container names"),
        ("az://a.b/x", "Azure container names"),
        ("s3://ab/x", "S3 bucket names are 3-63"),
        ("gs://a", "GCS bucket names are 3-63"),
        ("az://xy/x", "Azure container names are 3-63"),
        ("s3://abc/x", None),
        ("gs://a-b/x", None),
        ("az://$web/x", None),
        ("gs://my_bucket.example.com/x", None),
        ("s3://my.bucket-1/x", None),
    ],
)
def test_bucket_names_follow_each_clouds_rules(value: str, words: str | None) -> None:
    if words is None:
        assert parse_uri(value).prefix == "x"
        return
    with pytest.raises(InvalidURIError, match=words) as info:
        parse_uri(value)
    assert "the bucket name" in str(info.value)


@pytest.mark.parametrize(
    "value", ["s3://bkt/a\tb", "s3://bkt/a\nb", "file:///a%00b", "file:///a%0Ab", "s3://bkt/\ud800"]
)
def test_control_characters_nul_and_lone_surrogates_are_refused(value: str) -> None:
    with pytest.raises(InvalidURIError):
        parse_uri(value)
