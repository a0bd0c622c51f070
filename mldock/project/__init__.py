"""Container projects: `mldock.json` and its stages (developer-machine tooling)."""

from mldock.project.config import (
    CONFIG_FILE,
    DEFAULT_BASE_IMAGE,
    ProjectConfig,
    StageConfig,
    load_project,
    parse_config,
    schema,
)

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_BASE_IMAGE",
    "ProjectConfig",
    "StageConfig",
    "load_project",
    "parse_config",
    "schema",
]
