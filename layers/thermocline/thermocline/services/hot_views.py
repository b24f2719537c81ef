"""HotViewsFunction: a DynamoDB Streams batch → the real-time views in Redis, exactly once; on demand
(``{"rebuild": "<view>" | ["<view>", ...] | "*"}``), views rebuilt from the warehouse.

Stream batches: every record becomes per-view item changes (``hot.changes``), applied per view in stream
order by one guarded script (``hot.store``). A record already applied is skipped, so Lambda's at-least-once
delivery (retries, re-delivered batches) changes nothing twice. When Redis fails, the whole batch is
reported failed and retried: what was applied before the failure is skipped on the retry.

Rebuild: the view is computed from the entity's warehouse rows (the same contribution rules), and every
item the warehouse knows, live or deleted (tombstones), is guarded at the sequence number the warehouse
holds it at, so a stream re-read from before that point applies exactly what the warehouse lacks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from thermocline.contracts import Contracts
from thermocline.hot.changes import (
    ImageError,
    ItemChange,
    Problem,
    ViewState,
    item_id,
    record_changes,
    view_state,
)
from thermocline.hot.store import HotStore, HotStoreError
from thermocline.hot.views import ViewDefinition, ViewError
from thermocline.load.sql import BOOKKEEPING_SCHEMA, tombstone_table
from thermocline.names import qualified_name, quote_ident, safe_identifier
from thermocline.observability import logger
from thermocline.runtime import Runtime
from thermocline.sources.dynamodb_streams import target_tables

if TYPE_CHECKING:
    from thermocline.warehouse.port import Warehouse


def handle_hot_event(
    event: dict[str, Any],
    *,
    views: list[ViewDefinition],
    contracts: Contracts,
    store: HotStore,
    connect_warehouse: Callable[[], Warehouse] | None = None,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    """HotViewsFunction's one call: a stream batch applied, or ``{"rebuild": ...}`` views rebuilt."""
    runtime = runtime or Runtime()
    if isinstance(event, dict) and "rebuild" in event:
        if connect_warehouse is None:
            raise ViewError("rebuilding a view needs WAREHOUSE_URL")
        chosen = _chosen(event["rebuild"], views)
        now = runtime.clock()
        with connect_warehouse() as warehouse:
            return {"rebuilt": {v.name: rebuild_view(v, contracts, store, warehouse, now) for v in chosen}}
    return apply_stream_batch(event.get("Records") or [], views, contracts, store, runtime)


def _chosen(spec: Any, views: list[ViewDefinition]) -> list[ViewDefinition]:
    by_name = {v.name: v for v in views}
    names = list(by_name) if spec == "*" else [spec] if isinstance(spec, str) else spec
    unknown = [n for n in names if n not in by_name] if isinstance(names, list) else [names]
    if unknown:
        raise ViewError(f"no view named {unknown}; available: {', '.join(by_name)}")
    return [by_name[n] for n in names]


# ------------------------------------------------------------------------------------------- stream


def apply_stream_batch(
    records: list[Any],
    views: list[ViewDefinition],
    contracts: Contracts,
    store: HotStore,
    runtime: Runtime,
) -> dict[str, Any]:
    """Apply a batch; returns the ``batchItemFailures`` response (empty, or the whole batch to retry).
    ``runtime.clock()`` decides which windows are current."""
    now, metrics = runtime.clock(), runtime.metrics
    per_view: dict[str, list[ItemChange]] = {v.name: [] for v in views}
    problems: list[Problem] = []

    def entity_of(record: Mapping[str, Any]) -> str | None:
        return next(iter(target_tables([record], contracts)), None)

    for record in records:
        try:
            found = record_changes(record, views, entity_of, now)
        except ImageError as exc:
            seq = record.get("dynamodb", {}).get("SequenceNumber") if isinstance(record, dict) else None
            problems.append(Problem(None, str(seq) if seq else None, None, str(exc)))
            continue
        problems.extend(found.problems)
        for change in found.changes:
            per_view[change.view].append(change)
    for problem in problems:
        # The record itself is in the lake (StreamIngestFunction reads the same stream); here the value
        # counts as absent, as it does in the warehouse's typed column.
        logger.error("hot view input problem", **problem.__dict__)
    metrics.add_metric(name="HotViewProblems", unit="Count", value=len(problems))
    applied = skipped = 0
    failed: list[str] = []
    for view in views:  # each view on its own: one that Redis refuses does not hold the others back
        if not per_view[view.name]:
            continue
        try:
            done, seen = store.apply(view, per_view[view.name])
        except HotStoreError as exc:
            logger.warning("view not updated, the batch is retried", view=view.name, error=str(exc))
            failed.append(view.name)
            continue
        applied, skipped = applied + done, skipped + seen
    if failed:
        metrics.add_metric(name="HotBatchRetries", unit="Count", value=1)
        return _retry_whole_batch(records, HotStoreError(f"views not updated: {', '.join(failed)}"))
    metrics.add_metric(name="HotChangesApplied", unit="Count", value=applied)
    metrics.add_metric(name="HotChangesSkipped", unit="Count", value=skipped)
    logger.info(
        "views updated", records=len(records), applied=applied, skipped=skipped, problems=len(problems)
    )
    return {"batchItemFailures": []}


def _retry_whole_batch(records: list[Any], exc: Exception) -> dict[str, Any]:
    seqs = [
        r["dynamodb"]["SequenceNumber"]
        for r in records
        if isinstance(r, dict) and isinstance(r.get("dynamodb"), dict) and r["dynamodb"].get("SequenceNumber")
    ]
    if not seqs:
        raise exc
    first = min(seqs, key=lambda s: str(s).rjust(40, "0"))
    return {"batchItemFailures": [{"itemIdentifier": first}]}


# ------------------------------------------------------------------------------------------ rebuild


def _primary_key(contracts: Contracts, entity: str) -> tuple[str, ...]:
    for source in contracts.sources:
        for route in source.routes:
            if route.target == entity and route.primary_key:
                return route.primary_key
    raise ViewError(f"rebuilding needs {entity}'s primary key: declare it in the table contract's route")


def _warehouse_items(
    view: ViewDefinition, contracts: Contracts, warehouse: Warehouse
) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, str], tuple[str, ...]]:
    """The entity's live warehouse rows as (item key, plain image), and each item's ``_seq``."""
    keys = _primary_key(contracts, view.entity)
    columns = [*keys, *(a for a in view.attributes if a not in keys)]
    select = ", ".join(quote_ident(safe_identifier(c)) for c in columns)
    rows = warehouse.query(
        f'SELECT {select}, "_seq" FROM {quote_ident(view.entity)} WHERE NOT COALESCE("_deleted", FALSE)'  # noqa: S608
    ).rows
    items, guards = [], {}
    for row in rows:
        image = dict(zip(columns, row[:-1], strict=True))
        item = item_id({k: image[k] for k in keys})
        items.append((item, image))
        guards[item] = str(row[-1])
    return items, guards, keys


def current_state(
    view: ViewDefinition, contracts: Contracts, warehouse: Warehouse, now: dt.datetime
) -> ViewState:
    """The view as the warehouse answers it now: the rebuild's computation, not stored (reconciliation)."""
    items, _, _ = _warehouse_items(view, contracts, warehouse)
    return view_state(view, items, now)


def rebuild_view(
    view: ViewDefinition, contracts: Contracts, store: HotStore, warehouse: Warehouse, now: dt.datetime
) -> dict[str, Any]:
    """Replace ``view`` in Redis by what the warehouse's rows of its entity say; returns a summary."""
    items, guards, keys = _warehouse_items(view, contracts, warehouse)
    # Deleted items are guarded too, so their REMOVE records, if the stream delivers them again, are skipped.
    tombstones = qualified_name(BOOKKEEPING_SCHEMA, tombstone_table(view.entity))
    key_list = ", ".join(quote_ident(safe_identifier(c)) for c in keys)
    for row in warehouse.query(f'SELECT {key_list}, "_seq" FROM {tombstones}').rows:  # noqa: S608
        guards.setdefault(item_id(dict(zip(keys, row[:-1], strict=True))), str(row[-1]))
    state = view_state(view, items, now)
    store.replace(view, state, guards)
    logger.info(
        "view rebuilt from the warehouse", view=view.name, items=len(items), buckets=len(state.values)
    )
    return {"items": len(items), "guards": len(guards), "buckets": sorted(state.values)}
