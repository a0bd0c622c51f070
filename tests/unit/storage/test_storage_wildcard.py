"""Wildcard prefixes (mldock.storage.wildcard): where the listing starts, what the matches are relative to,
and which keys match."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mldock.storage.wildcard import Wildcard, split_wildcard


def test_a_prefix_without_wildcards_is_no_pattern() -> None:
    assert split_wildcard("data/train") is None
    assert split_wildcard("data/[x]") is None  # only * is a wildcard


@pytest.mark.parametrize(
    ("prefix", "folder", "listed"),
    [
        pytest.param("data/train-*.csv", "data/", "data/train-", id="in-a-folder"),
        pytest.param("train-*.csv", "", "train-", id="at-the-root"),
        pytest.param("a/b*/c*.csv", "a/", "a/b", id="first-wildcard-counts"),
        pytest.param("a/*", "a/", "a/", id="star-first"),
    ],
)
def test_split(prefix: str, folder: str, listed: str) -> None:
    assert split_wildcard(prefix) == Wildcard(folder, listed, prefix)


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        pytest.param("d/t-*.csv", "d/t-0.csv", True, id="star"),
        pytest.param("d/t-*.csv", "d/t-.csv", True, id="star-empty"),
        pytest.param("d/t-*.csv", "d/t-0/x.csv", False, id="star-stops-at-slash"),
        pytest.param("d/**.csv", "d/t-0/x.csv", True, id="double-star-crosses"),
        pytest.param("d/t.*", "d/tx.csv", False, id="dot-is-literal"),
        pytest.param("d/(a)+*", "d/(a)+b", True, id="regex-characters-are-literal"),
    ],
)
def test_matches(pattern: str, key: str, matches: bool) -> None:
    wildcard = split_wildcard(pattern)
    assert wildcard is not None
    assert wildcard.matches(key) is matches


_SEGMENT = st.text(st.sampled_from("ab.-_*+(?[]"), min_size=1, max_size=6)


@given(_SEGMENT, st.text(st.sampled_from("ab.-_+("), max_size=8))
def test_within_one_folder_it_agrees_with_fnmatch(pattern: str, name: str) -> None:
    wildcard = split_wildcard(f"dir/{pattern}")
    if wildcard is None or "**" in pattern:
        return
    literal = pattern.replace("[", "[[]").replace("?", "[?]")  # fnmatch's other wildcards are literal here
    assert wildcard.matches(f"dir/{name}") is fnmatch.fnmatchcase(name, literal)
    assert wildcard.listed.startswith(wildcard.folder)
