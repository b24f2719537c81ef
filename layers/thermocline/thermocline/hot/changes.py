"""A stream record's old and new images → what it changes in each view (pure: no Redis, no AWS).

Each view sees an item as its *contribution*: the (window bucket, group, amount) it adds to a sum or count,
or the member it adds to a group's "latest" ordering. A record changes a view by its new image's
contribution minus its old image's, so replaying every record of an item exactly once, in order, leaves
the view equal to the same question asked of the items' current state. Exactly once is the store's job
(a guard per item and view holding the last applied sequence number); this module only says what to apply.

An item value the measure cannot hold exactly (a sum with more decimals than its scale, a time that is no
time) counts as absent, as the warehouse's typed column holds NULL for it, and comes back as a
:class:`Problem` so the caller can quarantine it: never silently.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, InvalidOperation
from typing import Any

from thermocline.hot.views import ViewDefinition
from thermocline.sources.dynamodb_streams import av_to_json, pad_sequence_number

__all__ = [
    "Contribution",
    "ItemChange",
    "Op",
    "Problem",
    "RecordChanges",
    "ViewState",
    "contribution",
    "item_id",
    "record_changes",
    "view_state",
]

_INT64 = 2**63 - 1
SEPARATOR = "\x1f"  # between the parts of a latest view's member: order, item, value


class ImageError(ValueError):
    """A record or image that cannot be read: no sequence number, keys or valid attribute values."""


@dataclass(frozen=True)
class Problem:
    view: str | None
    seq: str | None
    item: str | None
    reason: str


@dataclass(frozen=True)
class Contribution:
    bucket: str
    group: str
    amount: int = 0  # sum (in 10**-scale units) or count views
    member: str | None = None  # latest views: "<order>\x1f<item>\x1f<value>", greatest is latest
    expires_at: int | None = None  # epoch seconds, windowed views


@dataclass(frozen=True)
class Op:
    kind: str  # "incr" | "add" | "remove"
    bucket: str
    group: str
    amount: int = 0
    member: str = ""
    expires_at: int | None = None


@dataclass(frozen=True)
class ItemChange:
    view: str
    item: str
    seq: str  # zero-padded to 40 digits: text order is stream order
    ops: tuple[Op, ...]


@dataclass
class RecordChanges:
    changes: list[ItemChange] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


# ------------------------------------------------------------------------------------------- values


def _checked(decode: Callable[..., Any], *args: Any) -> Any:
    try:
        return decode(*args)
    except (
        Exception
    ) as exc:  # the decoder's own error class is internal to it; its message says what is wrong
        raise ImageError(str(exc)) from None


_DECODER = json.JSONDecoder(parse_float=Decimal, parse_int=Decimal)


def plain_value(av: Any) -> Any:
    """One AttributeValue as a plain Python value through the lake's decoder: numbers exact (Decimal)."""
    return _DECODER.decode(_checked(av_to_json, av))


def plain_image(image: Mapping[str, Any] | None, names: Iterable[str]) -> dict[str, Any] | None:
    """The attributes ``names`` of a stream image (those present), or None when there is no image."""
    if image is None:
        return None
    if not isinstance(image, dict):
        raise ImageError("image is not a map of attribute values")
    return {name: plain_value(image[name]) for name in names if name in image}


_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def text(value: Any) -> str:
    """A group or value as text, the same for a stream image and a warehouse row (150 == 150.00)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        number = Decimal(value)
        # normalize() rounds to its context's precision (28 digits by default): DynamoDB numbers have 38.
        return format(number.normalize(_EXACT), "f") if number else "0"
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return json.dumps(value, sort_keys=True, default=str)


def as_time(value: Any) -> dt.datetime:
    """ISO-8601 text, epoch seconds or a timestamp (naive: UTC, as the warehouse returns it) → UTC time."""
    try:
        if isinstance(value, dt.datetime):
            return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
            return dt.datetime.fromtimestamp(float(value), dt.UTC)
    except (OverflowError, ValueError, OSError):
        # Epoch milliseconds (1.7E+12), or a time that is before year 1 in UTC: no time a window holds.
        raise ImageError(f"not a time: {str(value)[:60]!r}") from None
    if isinstance(value, str):
        parsed = _iso_time(value)
        if parsed is not None:
            return parsed
    raise ImageError(f"not a time: {str(value)[:60]!r}")


@functools.lru_cache(maxsize=8192)
def _iso_time(text: str) -> dt.datetime | None:
    # An item's time is read once per view and image; the same text recurs across a batch.
    try:
        return as_time(dt.datetime.fromisoformat(text))
    except (ValueError, ImageError):
        return None


def scaled(value: Any, scale: int) -> int:
    """A number as an integer of 10**-scale units, exactly, or ImageError."""
    try:
        number = (
            Decimal(value) if isinstance(value, (int, Decimal, str)) and not isinstance(value, bool) else None
        )
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise ImageError(f"not a number: {str(value)[:60]!r}")
    units = number.scaleb(scale)
    if units != units.to_integral_value() or abs(units) > _INT64:
        raise ImageError(f"{value} does not fit {scale} decimal places in a 64-bit counter")
    return int(units)


# ------------------------------------------------------------------------------------- contributions


def contribution(
    view: ViewDefinition, item: str, image: Mapping[str, Any] | None, now: dt.datetime
) -> tuple[Contribution | None, list[str]]:
    """What one item image (plain values) adds to ``view``, and what in it could not be used."""
    problems: list[str] = []
    if image is None or image.get(view.group_by) is None:
        return None, problems
    group = text(image[view.group_by])
    bucket, expires = "all", None
    if view.window is not None:
        try:
            at = as_time(image.get(view.window.time))
        except ImageError as exc:
            if image.get(view.window.time) is not None:
                problems.append(f"{view.window.time}: {exc}")
            return None, problems
        try:
            expires = view.window.expires_at(at)
            bucket = view.window.bucket(at)
        except (OverflowError, ValueError):
            problems.append(f"{view.window.time}: {at.isoformat()} has no window before the year 10000")
            return None, problems
        if expires <= now.timestamp():
            return None, problems  # the window has expired from Redis: nothing left to change
    if view.kind == "count":
        return Contribution(bucket, group, 1, expires_at=expires), problems
    if view.kind == "sum":
        assert view.attribute is not None
        amount = 0
        if image.get(view.attribute) is not None:
            try:
                amount = scaled(image[view.attribute], view.scale)
            except ImageError as exc:
                problems.append(f"{view.attribute}: {exc}")
        return Contribution(bucket, group, amount, expires_at=expires), problems
    assert view.order_by is not None and view.attribute is not None
    try:
        order = as_time(image.get(view.order_by)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except ImageError as exc:
        if image.get(view.order_by) is not None:
            problems.append(f"{view.order_by}: {exc}")
        return None, problems
    value = "" if image.get(view.attribute) is None else text(image[view.attribute])
    member = SEPARATOR.join((order, item, value))
    return Contribution(bucket, group, member=member, expires_at=expires), problems


def _ops(old: Contribution | None, new: Contribution | None, kind: str) -> tuple[Op, ...]:
    if kind == "latest":
        if old == new:
            return ()
        ops = []
        if old is not None:
            ops.append(
                Op("remove", old.bucket, old.group, member=old.member or "", expires_at=old.expires_at)
            )
        if new is not None:
            ops.append(Op("add", new.bucket, new.group, member=new.member or "", expires_at=new.expires_at))
        return tuple(ops)
    amounts: dict[tuple[str, str], int] = {}
    expiry: dict[tuple[str, str], int | None] = {}
    for part, sign in ((old, -1), (new, 1)):
        if part is not None:
            key = (part.bucket, part.group)
            amounts[key] = amounts.get(key, 0) + sign * part.amount
            expiry[key] = part.expires_at
    return tuple(Op("incr", b, g, amount=a, expires_at=expiry[(b, g)]) for (b, g), a in amounts.items() if a)


# ------------------------------------------------------------------------------------------- records


def item_id(key_values: Mapping[str, Any]) -> str:
    """An item's identity: its key values as JSON text, in key-name order (unambiguous, readable), the
    same for a stream record's ``Keys`` and a warehouse row."""
    ordered = [text(key_values[name]) for name in sorted(key_values)]
    return json.dumps(ordered, ensure_ascii=False, separators=(",", ":"))


def item_key(keys: Mapping[str, Any]) -> str:
    """The identity of a stream record's item, from its ``Keys``."""
    if not isinstance(keys, dict) or not keys:
        raise ImageError("record has no Keys")
    return item_id({name: plain_value(av) for name, av in keys.items()})


def record_changes(
    record: Mapping[str, Any],
    views: Iterable[ViewDefinition],
    entity_of: Callable[[Mapping[str, Any]], str | None],
    now: dt.datetime,
) -> RecordChanges:
    """The changes one Lambda DynamoDB Streams record makes to each view it touches.

    ``entity_of`` names the warehouse table the record routes to (the table contracts' routing).
    Raises :class:`ImageError` for a record that cannot be read at all (no sequence number or keys).
    """
    out = RecordChanges()
    body = record.get("dynamodb") if isinstance(record, dict) else None
    if not isinstance(body, dict):
        raise ImageError("record has no 'dynamodb' object")
    seq = _checked(pad_sequence_number, body.get("SequenceNumber"))
    item = item_key(body.get("Keys"))  # type: ignore[arg-type]
    entity = entity_of(record)
    wanted = [v for v in views if v.entity == entity]
    if not wanted:
        return out
    names = {name for view in wanted for name in view.attributes}
    old = plain_image(body.get("OldImage"), names)
    new = plain_image(body.get("NewImage"), names)
    if record.get("eventName") != "REMOVE" and new is None:
        # KEYS_ONLY or OLD_IMAGE streams carry no new image: the view cannot know the item's state.
        out.problems.append(Problem(None, seq, item, "record carries no NewImage (stream view type)"))
        return out
    for view in wanted:
        # The old image's problems were reported when that image was the new one.
        before, _ = contribution(view, item, old, now)
        after, problems = contribution(view, item, new, now)
        out.problems.extend(Problem(view.name, seq, item, reason) for reason in problems)
        ops = _ops(before, after, view.kind)
        if ops:
            out.changes.append(ItemChange(view.name, item, seq, ops))
    return out


@dataclass
class ViewState:
    """A view as it should be: bucket → group → value (sums in 10**-scale units, counts, latest values),
    each bucket's expiry, and a latest view's members per (bucket, group)."""

    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    expires: dict[str, int | None] = field(default_factory=dict)
    members: dict[tuple[str, str], list[str]] = field(default_factory=dict)


def view_state(
    view: ViewDefinition, items: Iterable[tuple[str, Mapping[str, Any]]], now: dt.datetime
) -> ViewState:
    """The view for ``items`` (item key, plain image). Groups whose sum or count is zero are left out, as
    the store removes them."""
    state = ViewState()
    for item, image in items:
        part, _ = contribution(view, item, image, now)
        if part is None:
            continue
        state.expires[part.bucket] = part.expires_at
        groups = state.values.setdefault(part.bucket, {})
        if view.kind == "latest":
            state.members.setdefault((part.bucket, part.group), []).append(part.member or "")
            groups[part.group] = max(groups.get(part.group, ""), part.member or "")
        else:
            groups[part.group] = groups.get(part.group, 0) + part.amount
    for bucket, groups in list(state.values.items()):
        if view.kind == "latest":
            state.values[bucket] = {g: m.rsplit(SEPARATOR, 1)[1] for g, m in groups.items()}
        else:
            state.values[bucket] = {g: n for g, n in groups.items() if n}
        if not state.values[bucket]:
            del state.values[bucket]
    return state
