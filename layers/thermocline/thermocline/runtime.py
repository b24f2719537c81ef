"""The one clock, sleep and metrics sink handed to services, so tests and the local stack can drive time.

Every handler makes one ``Runtime()`` at cold start and hands it to its service. Services take
``runtime: Runtime | None = None`` and use ``Runtime()`` (real time, the Powertools metrics) when given none;
nothing in a service, the load leg or a source calls ``datetime.now``, ``time.sleep`` or the global
metrics itself (pure code takes a plain ``now`` that its service read from ``runtime.clock()``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from thermocline import observability

__all__ = ["Runtime"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _metrics() -> Any:
    return observability.metrics


@dataclass(frozen=True)
class Runtime:
    clock: Callable[[], datetime] = _utc_now  # the current time, timezone-aware (UTC)
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic  # for deadlines
    metrics: Any = field(default_factory=_metrics)  # add_metric(name=, unit=, value=), Powertools' shape
