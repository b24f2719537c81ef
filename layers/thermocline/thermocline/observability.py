"""The one Powertools logger, tracer and metrics of the package."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "thermocline")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Thermocline")

logger = Logger(service=SERVICE)
# Powertools turns tracing off by itself outside Lambda and under POWERTOOLS_TRACE_DISABLED (the local
# stack sets it), so the X-Ray SDK is needed only where it is deployed.
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
