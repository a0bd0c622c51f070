"""The docker runner's log pump: a followed stream that ends before the container's last lines (as Podman's does
under load, at the exit event) is completed from one more read of the logs, and `log` gets the missing lines."""

from __future__ import annotations

from mldock.runners.docker import _LogPump
from mldock.runners.environment import TaskEnvironment

FULL = b"setup: serve\nserving on 8080\ncleanup: begin\ncleanup: done in 0.01s\n"


class _EngineStandIn:
    """A stopped container whose followed stream lost the end of its output (the engine race, made certain)."""

    name = "stand-in"

    def __init__(self, streamed: bytes) -> None:
        self._streamed = streamed

    def logs(self, *, stream: bool = False, follow: bool = False, stdout: bool = True, stderr: bool = True) -> object:
        if stream:
            return iter([self._streamed[:10], self._streamed[10:]]) if self._streamed else iter(())
        return FULL


def _pump(streamed: bytes) -> tuple[_LogPump, list[str]]:
    lines: list[str] = []
    pump = _LogPump.start(_EngineStandIn(streamed), TaskEnvironment.of({}), lines.append)  # type: ignore[arg-type]
    assert pump.wait(5.0)
    return pump, lines


def test_a_stream_that_ended_early_is_completed_with_every_line_once() -> None:
    pump, lines = _pump(b"setup: serve\nserving on 8080\n")
    assert pump.settle() == FULL.decode()
    assert lines == ["setup: serve", "serving on 8080", "cleanup: begin", "cleanup: done in 0.01s"]


def test_a_partial_last_line_is_not_emitted_twice() -> None:
    pump, lines = _pump(b"setup: serve\nserving on 80")
    assert pump.settle() == FULL.decode()
    assert lines == ["setup: serve", "serving on 80", "cleanup: begin", "cleanup: done in 0.01s"]


def test_a_complete_stream_is_left_as_it_is() -> None:
    pump, lines = _pump(FULL)
    assert pump.settle() == FULL.decode()
    assert lines == ["setup: serve", "serving on 8080", "cleanup: begin", "cleanup: done in 0.01s"]
