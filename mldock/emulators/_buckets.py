"""Bucket administration every emulator shares, whatever runs it (a process, a container, the user):
buckets are made, listed and deleted through `mldock.storage.remote_for(uri, self.env())`, the remotes the
container runs, never a client of the emulator's own.

A subclass says its `name`, `scheme`, the SDK variables that reach it (`env()`) and how to tell it is not
running (`_require_running()`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from mldock.storage import Remote, RemoteURI, remote_for

__all__ = ["BucketAdmin"]


class BucketAdmin:
    """`remote()`, `create_bucket`, `delete_bucket`, `bucket_names` and `reset` on top of `env()`."""

    name: ClassVar[str]
    scheme: ClassVar[str]

    def env(self, host: str | None = None) -> Mapping[str, str]:
        """The SDK's standard variables pointing at this emulator (with `host` in place of its address)."""
        raise NotImplementedError

    def _require_running(self) -> None:
        raise NotImplementedError

    def remote(self) -> Remote:
        """mldock's remote for this emulator's scheme, built from `env()` (the host-side address)."""
        self._require_running()
        return remote_for(RemoteURI(self.scheme, f"{self.name}-emulator", ""), self.env())

    def create_bucket(self, name: str) -> None:
        """Create bucket (container) `name`; no error when it exists."""
        self.remote().create_bucket(self._bucket(name))

    def delete_bucket(self, name: str) -> None:
        """Delete bucket `name` and every object in it; no error when it does not exist."""
        self.remote().delete_bucket(self._bucket(name))

    def bucket_names(self) -> list[str]:
        """The buckets the emulator holds now, sorted."""
        return sorted(self.remote().list_buckets())

    def reset(self) -> None:
        """Delete every bucket and object."""
        remote = self.remote()
        for name in remote.list_buckets():
            remote.delete_bucket(self._bucket(name))

    def _bucket(self, name: str) -> RemoteURI:
        return RemoteURI(self.scheme, name, "")
