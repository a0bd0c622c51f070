"""Hyperparameters: `<base>/input/config/hyperparameters.json`, overlaid by the file `MLDOCK_HYPERPARAMETERS_FILE`
names, overlaid by `MLDOCK_HYPERPARAMETERS`.

    hp = env.hyperparameters
    epochs = hp.get("epochs", int, default=10)      # "10" (SageMaker passes strings) reads as 10
    lr = hp.require("learning_rate", float)         # HyperparameterError when missing or not a number

Every source must be a JSON object; later sources win key by key. A missing `<base>` file or an unset (or
empty) variable counts as `{}`; a file `MLDOCK_HYPERPARAMETERS_FILE` names must exist. The file variable is how
values of any size travel: one environment variable is limited to 128 KiB on Linux (and all of them together
to a fraction of the stack), so the training entrypoint hands its step the merged hyperparameters in a file,
and both runners hand them to the task the same way. All sources are read by the same rules: a leading UTF-8
BOM is ignored (as it is in `mldock.json`); NaN, Infinity and numbers
too large for a float (`1e999`) are refused, as are values nested more than MAX_DEPTH arrays/objects deep
(a HyperparameterError naming the source, never a RecursionError).

Typed reads are tolerant: numbers given as strings, "true"/"false"/"yes"/"no"/"1"/"0" as bool, lists and
objects given as JSON strings.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator, KeysView, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast, overload

from mldock import contract
from mldock.errors import HyperparameterError

__all__ = ["HYPERPARAMETERS_FILE_VARIABLE", "HYPERPARAMETERS_VARIABLE", "MAX_DEPTH", "Hyperparameters"]

HYPERPARAMETERS_VARIABLE = contract.HYPERPARAMETERS
HYPERPARAMETERS_FILE_VARIABLE = contract.HYPERPARAMETERS_FILE_VARIABLE

T = TypeVar("T")
_MISSING: Any = object()
_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})
MAX_DEPTH = 100
"""Arrays/objects nested deeper than this are refused: deep enough for any configuration, shallow enough for
every recursive tool (copy, repr, json.dumps) that handles the values afterwards."""


class Hyperparameters:
    """An immutable mapping of hyperparameter names to JSON values, with typed reads.

    hp = Hyperparameters.from_sources(Path("/opt/ml/input/config/hyperparameters.json"), '{"lr": 0.1}')
    hp["lr"], dict(hp), hp.get("lr", float), hp.require("epochs", int)
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self._values: dict[str, Any] = copy.deepcopy(dict(values or {}))

    @classmethod
    def from_sources(
        cls, file: Path | None, variable_value: str | None, *, variable_file: str | None = None
    ) -> Hyperparameters:
        """`file`'s object (absent: `{}`), overlaid by `variable_file`'s (the value of MLDOCK_HYPERPARAMETERS_FILE:
        it must exist), overlaid by the variable's; HyperparameterError names the bad source."""
        merged: dict[str, Any] = {}
        if file is not None:
            merged.update(_read_file(file))
        if variable_file:
            merged.update(_read_file(Path(variable_file), variable=HYPERPARAMETERS_FILE_VARIABLE))
        if variable_value is not None and variable_value.strip():
            merged.update(_parse_object(variable_value, HYPERPARAMETERS_VARIABLE))
        return cls(merged)

    @classmethod
    def parse(cls, text: str, *, source: str = HYPERPARAMETERS_VARIABLE) -> Hyperparameters:
        """Hyperparameters from JSON `text`, which must be an object; `source` names it in errors."""
        return cls(_parse_object(text, source))

    def to_json(self) -> str:
        """The values as a JSON object (what `MLDOCK_HYPERPARAMETERS` would carry)."""
        return json.dumps(self._values, sort_keys=True, ensure_ascii=False)

    def to_dict(self) -> dict[str, Any]:
        """A mutable deep copy of the values."""
        return copy.deepcopy(self._values)

    @overload
    def get(self, key: str) -> Any: ...
    @overload
    def get(self, key: str, type: type[T]) -> T | None: ...
    @overload
    def get(self, key: str, type: type[T], *, default: T) -> T: ...
    def get(self, key: str, type: type[Any] | None = None, *, default: Any = None) -> Any:
        """The value of `key` converted to `type` (None = as stored), or `default` when it is absent."""
        if key not in self._values:
            return default
        return self.require(key, type) if type is not None else copy.deepcopy(self._values[key])

    @overload
    def require(self, key: str) -> Any: ...
    @overload
    def require(self, key: str, type: type[T]) -> T: ...
    def require(self, key: str, type: type[Any] | None = None) -> Any:
        """The value of `key` converted to `type`; HyperparameterError when it is absent or not convertible."""
        expected = f" (expected {type.__name__})" if type is not None else ""
        if key not in self._values:
            raise HyperparameterError(f"hyperparameter {key!r} is missing{expected}")
        value = copy.deepcopy(self._values[key])
        if type is None:
            return value
        try:
            return _convert(value, type)
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            raise HyperparameterError(
                f"hyperparameter {key!r} is {_shorten(value)}, which is not a valid {type.__name__}"
            ) from exc

    def __getitem__(self, key: str) -> Any:
        return copy.deepcopy(self._values[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def keys(self) -> KeysView[str]:
        """The hyperparameter names."""
        return self._values.keys()

    def items(self) -> list[tuple[str, Any]]:
        """(name, value) pairs; the values are copies."""
        return [(key, copy.deepcopy(value)) for key, value in self._values.items()]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Hyperparameters):
            return self._values == other._values
        if isinstance(other, Mapping):
            return self._values == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Hyperparameters({self._values!r})"


def _read_file(file: Path, *, variable: str | None = None) -> dict[str, Any]:
    """The object in `file`; `{}` when it is missing, unless `variable` named it (then an error naming both)."""
    source = f"{variable} ({file})" if variable else str(file)
    try:
        raw = file.read_bytes()
    except FileNotFoundError as exc:
        if variable is None:
            return {}
        raise HyperparameterError(f"{source}: no such hyperparameters file") from exc
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        reason = getattr(exc, "strerror", None) or exc
        raise HyperparameterError(f"{source}: cannot read the hyperparameters file ({reason})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HyperparameterError(
            f"{source}: the hyperparameters file is not UTF-8 text (bad byte at offset {exc.start})"
        ) from exc
    return _parse_object(text, source)


def _parse_object(text: str, source: str) -> dict[str, Any]:
    text = text.removeprefix("\ufeff")  # a BOM, as the file's utf-8-sig decoding drops it
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NotFinite as exc:
        raise HyperparameterError(
            f"{source}: {exc} is not a number JSON allows (NaN and infinities are refused); write it as a string"
        ) from exc
    except json.JSONDecodeError as exc:
        raise HyperparameterError(
            f"{source}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            'write a JSON object such as {"epochs": 10}'
        ) from exc
    except RecursionError as exc:
        raise HyperparameterError(f"{source}: values are nested more than {MAX_DEPTH} arrays/objects deep") from exc
    except ValueError as exc:  # an integer of more digits than int() takes, say
        raise HyperparameterError(f"{source}: not valid JSON ({_shorten(str(exc), 120)})") from exc
    if not isinstance(value, dict):
        raise HyperparameterError(
            f'{source}: hyperparameters must be a JSON object such as {{"epochs": 10}}, not {_json_kind(value)}'
        )
    if _depth(value) > MAX_DEPTH:
        raise HyperparameterError(f"{source}: values are nested more than {MAX_DEPTH} arrays/objects deep")
    return value


class _NotFinite(ValueError):
    """NaN, Infinity, -Infinity or a number that overflows a float, met while parsing."""


def _refuse_constant(name: str) -> Any:
    raise _NotFinite(name)


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotFinite(text if len(text) <= 40 else text[:37] + "...")
    return number


def _depth(value: Any) -> int:
    """How many arrays/objects deep `value` nests (0 for a scalar), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level + 1)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def _convert(value: Any, target: type[T]) -> T:
    """`value` as `target`, tolerating the string forms platforms pass; ValueError/TypeError when impossible."""
    result: Any
    if target is bool:
        result = _to_bool(value)
    elif target is int:
        result = _to_int(value)
    elif target is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise TypeError(value)
        result = float(value)
    elif target is str:
        if isinstance(value, str):
            result = value
        elif isinstance(value, (bool, int, float)) and value is not None:
            result = json.dumps(value)
        else:
            raise TypeError(value)
    elif target in (list, dict):
        result = json.loads(value) if isinstance(value, str) else value
        if not isinstance(result, target):
            raise TypeError(value)
    elif isinstance(value, target):
        result = value
    else:
        raise TypeError(value)
    return cast(T, result)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ValueError(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            number = float(text)
            if number.is_integer():
                return int(number)
    raise ValueError(value)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _shorten(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
