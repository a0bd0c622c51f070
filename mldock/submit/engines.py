"""The four engines behind one shape, loaded only when asked for (each brings its own cloud SDK).

    engine = load_engine("sagemaker")
    request = engine.build_request(spec)
    engine.validate_request(request)          # UserError naming the field, before anything is sent
    print(engine.render(request))             # JSON; YAML for Kubernetes
    engine.submit(request, spec.settings)     # {"job": ..., "arn"/"url": ...}
    engine.status(job, settings)              # {"job": ..., "status": ...}
    engine.logs(job, settings)                # log lines (SageMaker, Kubernetes; None elsewhere)
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mldock.errors import UserError
from mldock.submit.job import PLATFORMS, JobSpec

__all__ = ["Engine", "load_engine", "render_json"]

Request = dict[str, Any]


@dataclass(frozen=True)
class Engine:
    """One platform's request builder, validator, renderer, submitter and status reader."""

    name: str
    build_request: Callable[[JobSpec], Request]
    validate_request: Callable[[Mapping[str, Any]], None]
    submit: Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, str]]
    status: Callable[[str, Mapping[str, Any]], dict[str, Any]]
    render: Callable[[Mapping[str, Any]], str]
    final_states: Mapping[str, bool] = field(default_factory=dict)
    """The statuses a job ends in, and whether each is a success."""
    logs: Callable[[str, Mapping[str, Any]], Iterator[str]] | None = None
    """None where mldock cannot read the logs (Vertex AI: Cloud Logging; Azure ML: the studio)."""


def render_json(request: Mapping[str, Any]) -> str:
    """The request as indented JSON, in the order it was built."""
    return json.dumps(request, indent=2) + "\n"


def load_engine(name: str) -> Engine:
    """The engine for `name`; UserError for an unknown name or when its SDK is not installed."""
    if name not in PLATFORMS:
        raise UserError(f"unknown platform {name!r}: choose one of {', '.join(PLATFORMS)}")
    try:
        # deferred: each platform module imports its cloud SDK (seconds, hundreds of MB), only for its platform
        module = importlib.import_module(f"mldock.submit.{name}")
    except ImportError as exc:
        raise UserError(
            f"--platform {name}: its SDK is not installed ({exc.name or exc}); install it with "
            "pip install 'mldock[submit]'"
        ) from None
    return Engine(
        name=name,
        build_request=module.build_request,
        validate_request=module.validate_request,
        submit=module.submit,
        status=module.status,
        render=getattr(module, "render", render_json),
        final_states=module.FINAL_STATES,
        logs=getattr(module, "logs", None),
    )
