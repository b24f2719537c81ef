"""The one Powertools logger, tracer and metrics of the package."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "thermocline")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Thermocline")

logger = Logger(service=SERVICE)
# Tracing is off outside Lambda unless asked for: the X-Ray SDK is not needed on a laptop.
tracer = Tracer(service=SERVICE, disabled=not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
