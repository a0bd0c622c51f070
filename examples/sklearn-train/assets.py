"""The training container: check the input before the step, record the run after it.

startup() has downloaded the `train` channel from GCS before `check_input` runs; cleanup() uploads the model
to S3 and the metrics to Azure Blob after `record_run` (also when training failed).
"""

from __future__ import annotations

import json
import logging

from mldock import ChannelKind, TrainingContainer, UserError, on_cleanup, on_startup

logger = logging.getLogger(__name__)


class Training(TrainingContainer):
    @on_startup
    def check_input(self) -> None:
        files = sorted(self.env.channel("train").path.rglob("*.csv"))
        if not files:
            raise UserError(f"the train channel ({self.env.channel('train').uri}) holds no CSV file")
        logger.info("input: %s", ", ".join(f"{f.name} ({f.stat().st_size} B)" for f in files))

    @on_cleanup(stages=["dev", "test"])
    def record_run(self) -> None:
        """Outside production, keep the stage and hyperparameters beside the metrics."""
        folder = self.env.channel("metrics", ChannelKind.OUTPUT).path
        folder.mkdir(parents=True, exist_ok=True)
        run = {"stage": self.env.stage, "hyperparameters": self.env.hyperparameters.to_dict()}
        (folder / "run.json").write_text(json.dumps(run, indent=2), encoding="utf-8")
