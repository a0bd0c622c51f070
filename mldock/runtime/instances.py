"""Vertex AI's prediction bodies: `{"instances": [...], "parameters": ...}` in, `{"predictions": [...]}` out.

    from mldock.runtime.instances import InstancesPredictor

    class Predictor(InstancesPredictor):
        def __init__(self, env): self.model = load(env.channel("model", ChannelKind.INPUT_MODEL).path)
        def predict_instances(self, instances, parameters):
            return self.model.predict(instances).tolist()      # one prediction per instance

or, inside any predict(): `request = parse_instances(body)` and `return predictions_response(values)`.

Rules (Vertex AI's request and response bodies for custom containers): the body is a JSON object with an
`instances` list (it may be empty) and an optional `parameters` value; other keys are refused. The answer is
`{"predictions": [...]}`, one per instance (InstancesPredictor checks the count), plus any extra keys the
predictor returns in a mapping (`deployedModelId` is Vertex's own, so it is refused). A body that breaks a
rule raises UserError naming the problem, which the prediction app answers with 400.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mldock.errors import UserError

__all__ = ["InstancesPredictor", "InstancesRequest", "parse_instances", "predictions_response"]

_KEYS = frozenset({"instances", "parameters"})
_RESERVED_ANSWER_KEYS = frozenset({"deployedModelId", "model", "modelDisplayName", "modelVersionId"})


@dataclass(frozen=True)
class InstancesRequest:
    """A parsed request: the instances, and the parameters (None when the body had none)."""

    instances: list[Any]
    parameters: Any = None


def parse_instances(body: bytes | str) -> InstancesRequest:
    """The request in `body`; UserError naming what is wrong (not JSON, not an object, no `instances` list,
    an unknown key)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise UserError(f'the body is not JSON ({exc}); send {{"instances": [...]}}') from None
    if not isinstance(data, dict):
        raise UserError(f'the body is JSON {type(data).__name__}, not an object; send {{"instances": [...]}}')
    if "instances" not in data:
        raise UserError('the body has no "instances" key; send {"instances": [...], "parameters": {...}}')
    instances = data["instances"]
    if not isinstance(instances, list):
        raise UserError(f'"instances" is {type(instances).__name__}, not a list')
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise UserError(f'unknown key(s) {", ".join(map(repr, unknown))}; a request holds "instances" and "parameters"')
    return InstancesRequest(instances, data.get("parameters"))


def predictions_response(predictions: Iterable[Any], **extra: Any) -> dict[str, Any]:
    """`{"predictions": [...], **extra}`; TypeError when a key is Vertex AI's own."""
    reserved = sorted(set(extra) & _RESERVED_ANSWER_KEYS)
    if reserved:
        raise TypeError(f"{', '.join(reserved)}: Vertex AI adds these to the answer itself")
    return {"predictions": list(predictions), **extra}


class InstancesPredictor:
    """A predictor mixin for Vertex AI bodies: implement predict_instances(instances, parameters).

    predict_instances returns one prediction per instance (a sequence), or a mapping with a `predictions`
    sequence and extra keys for the answer. A wrong count raises (an answer that would mislead the caller).
    """

    def predict_instances(self, instances: list[Any], parameters: Any) -> Sequence[Any] | Mapping[str, Any]:
        """The predictions for `instances` (one each); `parameters` is the request's, None when absent."""
        raise NotImplementedError(f"{type(self).__name__} must define predict_instances(instances, parameters)")

    def predict(self, body: bytes, content_type: str, accept: str) -> dict[str, Any]:
        """The prediction app's entry: parse the body, call predict_instances, shape the answer."""
        request = parse_instances(body)
        result = self.predict_instances(request.instances, request.parameters)
        extra: dict[str, Any] = {}
        if isinstance(result, Mapping):
            extra = {key: value for key, value in result.items() if key != "predictions"}
            result = result.get("predictions", [])
        predictions = list(result)
        if len(predictions) != len(request.instances):
            raise ValueError(
                f"predict_instances returned {len(predictions)} prediction(s) for {len(request.instances)} instance(s)"
            )
        return predictions_response(predictions, **extra)
