"""HotViewsFunction: a DynamoDB Streams batch → the real-time views in Redis, exactly once
(``thermocline.services.hot_views``); ``{"rebuild": "<view>"}`` rebuilds views from the warehouse.

Returns the ``batchItemFailures`` response; the event source mapping has ReportBatchItemFailures on.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from thermocline import warehouse
from thermocline.contracts import load_contracts
from thermocline.hot.connection import connect
from thermocline.hot.store import HotStore
from thermocline.hot.views import load_views
from thermocline.observability import instrumented
from thermocline.runtime import Runtime
from thermocline.services.hot_views import handle_hot_event
from thermocline.settings import HotViewsSettings

# Read once at cold start: a missing variable or a malformed view fails here, the connection pool is reused.
settings = HotViewsSettings.from_env()
views = load_views(settings.views_path)
contracts = load_contracts(settings.contracts_path)
store = HotStore(
    connect(settings.redis_url, iam_cache=settings.redis_iam_cache, region=settings.aws_region),
    guard_seconds=settings.guard_seconds,
)
runtime = Runtime()  # the clock, sleep and metrics the service uses


@instrumented
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_hot_event(
        event,
        views=views,
        contracts=contracts,
        store=store,
        connect_warehouse=(lambda: warehouse.connect(str(settings.warehouse_url)))
        if settings.warehouse_url
        else None,
        runtime=runtime,
    )
