"""The one Powertools logger, tracer and metrics of the package, and the one handler decorator stack."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "thermocline")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Thermocline")
XRAY_SDK = "THERMOCLINE_XRAY_SDK"


class _Untraced:
    """Powertools' Tracer decorators that do nothing, for functions that do not load the X-Ray SDK."""

    def capture_lambda_handler(self, handler: Callable[..., Any] | None = None, **_: Any) -> Any:
        return handler if handler is not None else (lambda h: h)

    capture_method = capture_lambda_handler


logger = Logger(service=SERVICE)
# Lambda's active tracing (template.yaml: Tracing: Active) records every invocation, its initialisation and
# its duration without an SDK in the function. The X-Ray SDK adds a subsegment per AWS call, but costs about
# 0.3 s of CPU at every cold start: at import it builds a botocore client to poll sampling rules, which Lambda
# applies itself ("Using AWS Lambda with AWS X-Ray", Lambda Developer Guide). So it loads only when asked
# (template parameter XRaySdkTracing). Powertools turns it off by itself outside Lambda.
tracer: Tracer | _Untraced = (
    Tracer(service=SERVICE) if os.environ.get(XRAY_SDK, "").lower() == "true" else _Untraced()
)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def instrumented(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """The one decorator stack of every function's handler: the invocation's context in every log line,
    metrics flushed after each invocation (with a ColdStart metric), and an X-Ray subsegment where tracing
    is on. Outermost first, so the logger sees what the others raise."""
    traced = tracer.capture_lambda_handler(handler)
    measured = metrics.log_metrics(traced, capture_cold_start_metric=True)
    return logger.inject_lambda_context(measured)  # type: ignore[no-any-return]
