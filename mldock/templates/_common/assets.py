"""The project's containers: the lifecycle around the training step and the serving handler.

startup() downloads the input channels, then runs the @on_startup steps of the current stage; cleanup()
runs the @on_cleanup steps, then uploads the output channels (also after a failed step).
"""

from __future__ import annotations

import logging

from mldock import ServingContainer, TrainingContainer, on_cleanup, on_startup

logger = logging.getLogger(__name__)


class Training(TrainingContainer):
    @on_startup(stages=["dev", "test"])
    def check_inputs(self) -> None:
        """Outside production, say what arrived: a quick check that seeding worked."""
        files = sorted(p.name for p in self.env.channel("train").path.rglob("*") if p.is_file())
        logger.info("training inputs: %s", files)

    @on_cleanup
    def log_outputs(self) -> None:
        logger.info("training done in stage %s", self.env.stage)


class Serving(ServingContainer):
    pass
