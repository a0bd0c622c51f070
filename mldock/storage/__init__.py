"""Blob storage remotes: `file://`, `s3://`, `gs://`, `az://` behind one interface.

A URI is parsed once, and a remote is made from explicit settings (os.environ when `environ` is None):

    uri = parse_uri("s3://data/train")
    remote_for(uri, environ).download(uri, Path("/opt/ml/input/data/train"))
"""

from mldock.storage.base import ObjectInfo, ProgressCallback, Remote, TransferReport
from mldock.storage.registry import remote_for
from mldock.storage.uri import RemoteURI, parse_uri

__all__ = ["ObjectInfo", "ProgressCallback", "Remote", "RemoteURI", "TransferReport", "parse_uri", "remote_for"]
