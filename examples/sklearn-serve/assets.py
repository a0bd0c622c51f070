"""The serving container: startup() downloads the `model` channel from S3, then `check_model` makes sure it
holds what the predictor loads, so a wrong URI fails at startup with a clear reason (and /ping never turns
healthy) instead of at the first request.
"""

from __future__ import annotations

import logging

from mldock import ChannelKind, ServingContainer, on_startup

logger = logging.getLogger(__name__)

REQUIRED = ("model.joblib", "signature.json")


class Serving(ServingContainer):
    @on_startup
    def check_model(self) -> None:
        channel = self.env.channel("model", ChannelKind.INPUT_MODEL)
        missing = [name for name in REQUIRED if not (channel.path / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{channel.uri} lacks {', '.join(missing)}: is it a sklearn-train model?")
        logger.info("model from %s", channel.uri)
