"""Blob storage remotes: `file://`, `s3://`, `gs://`, `az://` behind one interface."""

from mldock.storage.base import ObjectInfo, Remote, RemoteURI, TransferReport, parse_uri
from mldock.storage.registry import remote_for

__all__ = ["ObjectInfo", "Remote", "RemoteURI", "TransferReport", "parse_uri", "remote_for"]
