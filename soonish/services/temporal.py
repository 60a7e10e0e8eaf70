"""The app's Temporal gateway, made once per app from its config."""
from flask import current_app

from ..temporal.client import TemporalGateway, TemporalSettings


def gateway() -> TemporalGateway:
    extensions = current_app.extensions
    if "soonish.temporal" not in extensions:
        extensions["soonish.temporal"] = TemporalGateway(TemporalSettings.from_config(current_app.config))
    return extensions["soonish.temporal"]
