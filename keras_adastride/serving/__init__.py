"""TF Serving deployment: export (``<base>/<name>/<version>/`` SavedModels), ``models.config``,
and client helpers for the REST and gRPC predict APIs. See ``docs/serving.md``."""

from keras_adastride.serving.client import (
    predict_request,
    predict_response_to_numpy,
    rest_body,
    rest_response_to_numpy,
    rest_url,
)
from keras_adastride.serving.config import models_config, write_models_config
from keras_adastride.serving.detector import DETECTION_OUTPUTS, export_detector
from keras_adastride.serving.export import (
    SIGNATURE_KEY,
    existing_versions,
    export_model,
    next_version,
    write_warmup_requests,
)
from keras_adastride.serving.graph_check import xla_findings

__all__ = [
    "DETECTION_OUTPUTS", "SIGNATURE_KEY", "existing_versions", "export_detector", "export_model",
    "models_config", "next_version", "predict_request", "predict_response_to_numpy", "rest_body", "rest_response_to_numpy",
    "rest_url", "write_models_config", "write_warmup_requests", "xla_findings",
]
