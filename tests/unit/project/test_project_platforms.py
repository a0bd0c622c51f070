"""mldock.json's `platforms`: the platforms the image is meant for (default: every one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mldock.errors import ConfigError
from mldock.project.config import PLATFORMS, parse_config, schema

ROOT = Path("/project")


def _parse(data: dict[str, Any]) -> Any:
    return parse_config(json.dumps({"name": "demo", **data}), root=ROOT)


def test_every_platform_by_default_and_as_the_schema_says() -> None:
    assert PLATFORMS == ("sagemaker", "vertex", "azureml", "kubernetes")
    assert _parse({}).platforms == PLATFORMS
    assert tuple(schema()["properties"]["platforms"]["default"]) == PLATFORMS
    assert tuple(schema()["properties"]["platforms"]["items"]["enum"]) == PLATFORMS
    assert "platforms" not in _parse({}).to_dict()


@pytest.mark.parametrize("platforms", [[], ["sagemaker"], ["azureml", "vertex"]])
def test_a_listed_subset_loads_and_round_trips(platforms: list[str]) -> None:
    config = _parse({"platforms": platforms})
    assert config.platforms == tuple(platforms)
    assert config.to_dict()["platforms"] == platforms
    assert parse_config(json.dumps(config.to_dict()), root=ROOT) == config


@pytest.mark.parametrize(
    ("platforms", "expected"),
    [
        (["gke"], "platforms.0"),
        (["vertex", "vertex"], "platforms"),
        ("vertex", "platforms"),
        ([3], "platforms.0"),
    ],
    ids=["unknown", "twice", "not-a-list", "not-a-string"],
)
def test_a_bad_platforms_value_names_the_field(platforms: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        _parse({"platforms": platforms})
    assert expected in str(info.value)
