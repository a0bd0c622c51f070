"""Channel variables: which URI each local channel folder is downloaded from or uploaded to.

    channels = parse_channels({"MLDOCK_INPUT_CHANNEL_TRAIN": "s3://data/train"}, Path("/opt/ml"))
    channels[0].path        # Path("/opt/ml/input/data/train")
    channels[0].uri         # RemoteURI("s3", "data", "train"), parsed once here

| variable                              | kind          | folder                    |
|---------------------------------------|---------------|---------------------------|
| `MLDOCK_INPUT_CHANNEL_<NAME>`         | INPUT         | `<base>/input/data/<name>`|
| `MLDOCK_INPUT_MODEL_CHANNEL_<NAME>`   | INPUT_MODEL   | `<base>/model/<name>`     |
| `MLDOCK_OUTPUT_CHANNEL_<NAME>`        | OUTPUT        | `<base>/output/<name>`    |
| `MLDOCK_OUTPUT_MODEL_CHANNEL_<NAME>`  | OUTPUT_MODEL  | `<base>/model/<name>`     |

The 0.9.2 spellings `MLDOCK_MODEL_INPUT_CHANNEL_<NAME>` and `MLDOCK_MODEL_OUTPUT_CHANNEL_<NAME>` are aliases of
the two model kinds. The channel name is the suffix lower-cased; it must match `[a-z0-9][a-z0-9_.-]*` (at most
100 characters) so it is always a plain folder name. An input model channel and an output model channel may
share a name: they then share one folder, which startup() fills and cleanup() uploads (the fine-tune flow).
An output channel cannot be called `failure`: `<base>/output/failure` is the failure file.

`MLDOCK_OPTIONAL_CHANNELS=warm_start,extra` (comma-separated channel names) marks input and input-model channels
as optional: startup() gives an empty folder and a log line when nothing is under an optional channel's URI,
where a required one fails. A name that matches no input channel is ignored (a stage may declare one that
only some runs set); a name that cannot be a channel is a ChannelError naming the variable.

Serving has its own channel set: `MLDOCK_SERVE_CHANNELS=model` (same form) names the input and input-model
channels a serving container downloads; without it, serving downloads the input-model channels only (never the
training data). Serving uploads nothing at shutdown unless `MLDOCK_SERVE_UPLOAD_OUTPUTS` is true.

Parsing is pure and total: it raises ChannelError (naming the variable) and nothing else; a URI the storage
parser refuses (InvalidURIError, which names the URI) becomes a ChannelError naming the variable too.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mldock.errors import ChannelError, InvalidURIError
from mldock.storage.uri import RemoteURI, parse_uri

__all__ = [
    "OPTIONAL_CHANNELS",
    "SERVE_CHANNELS",
    "SERVE_UPLOAD_OUTPUTS",
    "Channel",
    "ChannelKind",
    "UriResolver",
    "channel_variable",
    "check_channel_name",
    "is_channel_variable",
    "optional_channel_names",
    "parse_channel_names",
    "parse_channel_uri",
    "parse_channels",
    "require_scheme",
]

OPTIONAL_CHANNELS = "MLDOCK_OPTIONAL_CHANNELS"
"""The input and input-model channels that may be empty, by name, comma-separated."""
SERVE_CHANNELS = "MLDOCK_SERVE_CHANNELS"
"""The input and input-model channels serving downloads, by name, comma-separated (default: the model ones)."""
SERVE_UPLOAD_OUTPUTS = "MLDOCK_SERVE_UPLOAD_OUTPUTS"
"""True (1/true/yes/on): serving uploads its output channels at shutdown, as training does (default: nothing)."""

UriResolver = Callable[[str, str], str]
"""Turns a variable's value into a full URI string: `resolve(value, variable_name) -> uri`; raises ChannelError.
(parse_channels parses what it returns.)"""

_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_MAX_NAME_LENGTH = 100
_RESERVED_OUTPUT_NAMES = frozenset({"failure"})


class ChannelKind(enum.Enum):
    """What a channel is for: downloaded inputs and models, uploaded outputs and models."""

    INPUT = "input"
    INPUT_MODEL = "input_model"
    OUTPUT = "output"
    OUTPUT_MODEL = "output_model"

    @property
    def prefix(self) -> str:
        """The variable prefix of this kind (the current spelling), e.g. `MLDOCK_INPUT_CHANNEL_`."""
        return _CANONICAL_PREFIX[self]

    @property
    def is_input(self) -> bool:
        """True for the kinds startup() downloads."""
        return self in (ChannelKind.INPUT, ChannelKind.INPUT_MODEL)

    def folder(self, base_dir: Path, name: str) -> Path:
        """The local folder of channel `name` of this kind below `base_dir`."""
        if self is ChannelKind.INPUT:
            return base_dir / "input" / "data" / name
        if self is ChannelKind.OUTPUT:
            return base_dir / "output" / name
        return base_dir / "model" / name


_CANONICAL_PREFIX: dict[ChannelKind, str] = {
    ChannelKind.INPUT: "MLDOCK_INPUT_CHANNEL_",
    ChannelKind.INPUT_MODEL: "MLDOCK_INPUT_MODEL_CHANNEL_",
    ChannelKind.OUTPUT: "MLDOCK_OUTPUT_CHANNEL_",
    ChannelKind.OUTPUT_MODEL: "MLDOCK_OUTPUT_MODEL_CHANNEL_",
}
_ALIAS_PREFIX: dict[str, ChannelKind] = {
    "MLDOCK_MODEL_INPUT_CHANNEL_": ChannelKind.INPUT_MODEL,
    "MLDOCK_MODEL_OUTPUT_CHANNEL_": ChannelKind.OUTPUT_MODEL,
}
_PREFIXES: tuple[tuple[str, ChannelKind], ...] = (
    *((prefix, kind) for kind, prefix in _CANONICAL_PREFIX.items()),
    *_ALIAS_PREFIX.items(),
)


@dataclass(frozen=True)
class Channel:
    """One channel: its kind, name, URI (parsed), local folder, and the variable it came from.

        channel = env.channel("train", ChannelKind.INPUT)
        channel.uri.bucket, str(channel.uri)
        for file in channel.path.iterdir(): ...

    `variable` is informative (the spelling used, possibly an alias) and does not take part in equality.
    `optional` is True for an input or input-model channel named in MLDOCK_OPTIONAL_CHANNELS.
    """

    kind: ChannelKind
    name: str
    uri: RemoteURI
    path: Path
    variable: str = field(compare=False)
    optional: bool = False


def channel_variable(kind: ChannelKind, name: str) -> str:
    """The variable (current spelling) that sets channel `name` of `kind`: the inverse of parsing."""
    return f"{kind.prefix}{name.upper()}"


def is_channel_variable(variable: str) -> bool:
    """True when `variable` is spelled as a channel variable (valid or not), including a bare prefix."""
    return _kind_of(variable) is not None


def require_scheme(value: str, variable: str) -> str:
    """The default resolver: `value` must already be a full URI (parse_channels then checks the rest)."""
    head = value.split("/", 1)[0]
    if value and ":" not in head:
        raise ChannelError(
            f"{variable}: {value!r} has no URI scheme; write a full URI such as s3://bucket/prefix, "
            "gs://bucket/prefix, az://container/prefix or file:///abs/path "
            "(only the platform environments resolve a bare bucket/path)"
        )
    return value


def parse_channel_uri(value: str, variable: str) -> RemoteURI:
    """`value` parsed as a storage URI; ChannelError naming `variable` (and the URI) when it cannot be used."""
    try:
        return parse_uri(value)
    except InvalidURIError as exc:
        raise ChannelError(f"{variable}: {exc}") from exc


def parse_channels(
    environ: Mapping[str, str],
    base_dir: Path,
    *,
    resolve_uri: UriResolver = require_scheme,
) -> tuple[Channel, ...]:
    """Every channel set in `environ`, sorted by kind then name; ChannelError names the first bad variable."""
    optional = optional_channel_names(environ)
    found: dict[tuple[ChannelKind, str], Channel] = {}
    for variable in sorted(environ):
        matched = _kind_of(variable)
        if matched is None:
            continue
        kind, prefix = matched
        name = _channel_name(variable, prefix, kind)
        uri = parse_channel_uri(resolve_uri(environ[variable], variable), variable)
        previous = found.get((kind, name))
        if previous is not None:
            raise ChannelError(
                f"{variable} and {previous.variable} both set the {kind.value} channel {name!r}; keep one of them"
            )
        found[(kind, name)] = Channel(
            kind, name, uri, kind.folder(base_dir, name), variable, optional=kind.is_input and name in optional
        )
    order = list(ChannelKind)
    return tuple(sorted(found.values(), key=lambda c: (order.index(c.kind), c.name)))


def optional_channel_names(environ: Mapping[str, str]) -> frozenset[str]:
    """The channel names MLDOCK_OPTIONAL_CHANNELS lists (empty when unset); ChannelError for a bad name."""
    return parse_channel_names(environ.get(OPTIONAL_CHANNELS, ""), OPTIONAL_CHANNELS)


def parse_channel_names(value: str, variable: str) -> frozenset[str]:
    """Comma-separated channel names (any case, spaces ignored); ChannelError naming `variable` for a bad one."""
    names = frozenset(part.strip().lower() for part in value.split(",") if part.strip())
    for name in sorted(names):
        if len(name) > _MAX_NAME_LENGTH or not name.isascii() or not _NAME_PATTERN.fullmatch(name):
            raise ChannelError(
                f"{variable}: {name!r} is not a channel name; list channel names (lower-case letters, "
                "digits, '_', '.', '-') separated by commas, e.g. warm_start,extra"
            )
    return names


def _kind_of(variable: str) -> tuple[ChannelKind, str] | None:
    """The kind and matching prefix of `variable`; a bare prefix without the trailing `_` also matches."""
    for prefix, kind in _PREFIXES:
        if variable.startswith(prefix) or variable == prefix[:-1]:
            return kind, prefix
    return None


def check_channel_name(kind: ChannelKind, name: str) -> None:
    """ChannelError (naming the variable that would set it) unless `name` can be a channel of `kind`."""
    _check_name(channel_variable(kind, name), name, name, kind)


def _channel_name(variable: str, prefix: str, kind: ChannelKind) -> str:
    suffix = variable[len(prefix) :] if variable.startswith(prefix) else ""
    if not suffix:
        raise ChannelError(f"{variable}: the channel name is missing; write {prefix}<NAME>, e.g. {prefix}TRAIN")
    name = suffix.lower()
    _check_name(variable, suffix, name, kind)
    return name


def _check_name(variable: str, suffix: str, name: str, kind: ChannelKind) -> None:
    if len(name) > _MAX_NAME_LENGTH or not suffix.isascii() or not _NAME_PATTERN.fullmatch(name):
        raise ChannelError(
            f"{variable}: the channel name {suffix!r} cannot be a folder name; use letters, digits, '_', '.' "
            f"or '-', starting with a letter or digit, at most {_MAX_NAME_LENGTH} characters"
        )
    if kind is ChannelKind.OUTPUT and name in _RESERVED_OUTPUT_NAMES:
        raise ChannelError(
            f"{variable}: an output channel cannot be called {name!r}; <base>/output/{name} is the failure file"
        )
