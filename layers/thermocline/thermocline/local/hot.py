"""The hot views on the local stack: the demo's delivery to HotViewsFunction, its reconciliation against
the warehouse, and printing views (``thermocline hot get``).

The demo delivers every stream batch to HotViewsFunction twice, and each time in an order a multi-shard
stream could produce: the batch's items are split in two halves by a hash of their key, and the second
half goes first. Each item's own records stay in order, as DynamoDB Streams guarantees; across items the
order changes. The views must come out exactly as the warehouse answers the same questions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis
from rich.console import Console
from rich.table import Table

from thermocline.contracts import load_contracts
from thermocline.hot.store import HotStore
from thermocline.hot.views import ViewDefinition, load_views
from thermocline.local.session import HOT
from thermocline.services.hot_views import current_state

if TYPE_CHECKING:
    from thermocline.local.poller import StreamPoller, StreamReader
    from thermocline.local.session import LocalStack

Invoke = Callable[[dict[str, Any]], Any]


def _half(record: dict[str, Any]) -> int:
    keys = json.dumps(record.get("dynamodb", {}).get("Keys"), sort_keys=True)
    return hashlib.sha256(keys.encode()).digest()[0] & 1


def reordered_twice(invoke: Invoke) -> Invoke:
    """Deliver a batch as two invocations with the items reordered across keys, then the batch again
    (at-least-once delivery). The response fails from the lowest failed record, as Lambda reads it."""

    def deliver(event: dict[str, Any]) -> Any:
        records = event["Records"]
        halves = [[r for r in records if _half(r) == 1], [r for r in records if _half(r) == 0]]
        failed: list[str] = []
        for part in [*halves, records]:
            if part:
                response = invoke({"Records": part}) or {}
                failed += [f["itemIdentifier"] for f in response.get("batchItemFailures", [])]
        if not failed:
            return {"batchItemFailures": []}
        return {"batchItemFailures": [{"itemIdentifier": min(failed, key=lambda s: s.rjust(40, "0"))}]}

    return deliver


@dataclass
class HotReconciliation:
    views: dict[str, dict[str, int]] = field(default_factory=dict)  # view -> bucket -> groups
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def reconcile_views(store: HotStore, warehouse: Any, now: dt.datetime | None = None) -> HotReconciliation:
    """Every bucket of every view in Redis against the same question answered from the warehouse."""
    now = now or dt.datetime.now(dt.UTC)
    contracts = load_contracts()
    outcome = HotReconciliation()
    for view in load_views():
        want = current_state(view, contracts, warehouse, now).values
        got = {b: store.raw(view, b) for b in store.buckets(view)}
        outcome.views[view.name] = {b: len(g) for b, g in got.items()}
        for bucket in sorted(set(want) | set(got)):
            if want.get(bucket, {}) != got.get(bucket, {}):
                wrong = sorted(
                    g
                    for g in set(want.get(bucket, {})) | set(got.get(bucket, {}))
                    if want.get(bucket, {}).get(g) != got.get(bucket, {}).get(g)
                )
                outcome.problems.append(
                    f"{view.name} {bucket}: {len(wrong)} groups differ from the warehouse (e.g. {', '.join(wrong[:3])})"
                )
    return outcome


def view_table(store: HotStore, view: ViewDefinition, bucket: str, limit: int = 10) -> Table:
    read = store.read(view, bucket)
    table = Table(
        title=f"{view.name} [{bucket}]", caption=view.description, title_justify="left", min_width=48
    )
    table.add_column(view.group_by)
    table.add_column(view.attribute or view.kind, justify="right")
    for group, value in read.values[:limit]:
        table.add_row(group, str(value))
    if len(read.values) > limit:
        table.add_row(f"... {len(read.values) - limit} more", "")
    return table


def current_bucket(store: HotStore, view: ViewDefinition, now: dt.datetime | None = None) -> str:
    """The bucket a view is read at by default: the window holding now (or ``all``)."""
    return view.bucket(now or dt.datetime.now(dt.UTC))


def print_views(store: HotStore, console: Console, now: dt.datetime | None = None) -> None:
    for view in load_views():
        console.print(view_table(store, view, current_bucket(store, view, now)))


# ------------------------------------------------------------------------------------------ demo hook


def poller(local: LocalStack, reader: StreamReader | None = None) -> StreamPoller | None:
    """The stream → HotViewsFunction mapping, every batch delivered reordered and twice; None when the
    local stack has no Redis. ``reader``: shared with the stream's other mappings."""
    if not local.redis_url:
        return None
    return local.stream_poller(
        function=HOT, invoke=reordered_twice(lambda event: local.invoke(HOT, event)), reader=reader
    )


def reconcile(local: LocalStack, warehouse: Any, summary: Any, console: Console) -> HotReconciliation:
    """Print the views and reconcile them against the warehouse, into the demo's summary."""
    store = HotStore(redis.Redis.from_url(str(local.redis_url)))
    outcome = reconcile_views(store, warehouse)
    print_views(store, console)
    summary.hot_views, summary.hot_problems = outcome.views, outcome.problems
    summary.hot_current = {
        view.name: store.read(view, current_bucket(store, view)).as_dict() for view in load_views()
    }
    return outcome
