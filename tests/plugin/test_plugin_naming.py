"""Bucket names: valid on S3, GCS and Azure for any test id and worker, distinct per test, worker and n."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pytest_mldock.naming import BUCKET_NAME, bucket_name


@given(nodeid=st.text(max_size=300), worker=st.text(max_size=40), n=st.integers(min_value=1, max_value=10**9))
def test_every_name_is_valid_everywhere(nodeid: str, worker: str, n: int) -> None:
    name = bucket_name(nodeid, worker=worker, n=n)
    assert BUCKET_NAME.match(name)
    assert 3 <= len(name) <= 63
    assert "--" not in name
    assert name == name.lower()


@given(a=st.text(max_size=50), b=st.text(max_size=50))
def test_different_tests_get_different_names(a: str, b: str) -> None:
    if a != b:
        assert bucket_name(a, worker="gw0", n=1) != bucket_name(b, worker="gw0", n=1)


def test_worker_and_counter_make_names_distinct() -> None:
    names = {bucket_name("t.py::test", worker=w, n=n) for w in ("main", "gw0", "gw1") for n in (1, 2, 3)}
    assert len(names) == 9
    assert bucket_name("t.py::test", worker="gw1", n=2).startswith("t-gw1-")
