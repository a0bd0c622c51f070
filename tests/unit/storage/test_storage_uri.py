"""parse_uri: total (InvalidURIError or a RemoteURI), round-trips through str(), errors name the URI."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mldock.errors import InvalidURIError, UserError
from mldock.storage import RemoteURI, parse_uri


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("s3://b/p/q", RemoteURI("s3", "b", "p/q")),
        ("GS://b", RemoteURI("gs", "b", "")),
        ("az://c/x/", RemoteURI("az", "c", "x/")),
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
        (" s3://b", "whitespace"),
        ("s3://b/p?x=1", "query or fragment"),
    ],
    ids=["scheme", "bare", "no-bucket", "file-host", "file-root", "whitespace", "query"],
)
def test_bad_uris_name_the_uri_and_what_is_wrong(value: str, words: str) -> None:
    with pytest.raises(InvalidURIError, match=words) as info:
        parse_uri(value)
    assert repr(value) in str(info.value)
    assert isinstance(info.value, UserError)


def test_join_and_bucket_root() -> None:
    uri = parse_uri("s3://b/runs/1")
    assert str(uri.join("a/b.txt")) == "s3://b/runs/1/a/b.txt"
    assert uri.bucket_root() == RemoteURI("s3", "b", "")
    assert parse_uri("file:///srv/b/train").bucket_root() == parse_uri("file:///srv/b")


@given(st.text(max_size=60))
def test_parsing_is_total(value: str) -> None:
    try:
        uri = parse_uri(value)
    except InvalidURIError:
        return
    assert parse_uri(str(uri)) == uri


@given(
    scheme=st.sampled_from(["s3", "gs", "az"]),
    bucket=st.from_regex(r"[a-z0-9][a-z0-9.-]{2,30}", fullmatch=True),
    prefix=st.from_regex(r"[A-Za-z0-9_./-]{0,40}", fullmatch=True),
)
def test_cloud_uris_round_trip(scheme: str, bucket: str, prefix: str) -> None:
    uri = parse_uri(f"{scheme}://{bucket}/{prefix}")
    assert (uri.scheme, uri.bucket) == (scheme, bucket)
    assert parse_uri(str(uri)) == uri
