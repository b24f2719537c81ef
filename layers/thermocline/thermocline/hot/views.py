"""View definitions: shipped YAML files, one per view, in ``thermocline/hot/views/`` (pure, no I/O beyond
reading them).

A view answers one question about one entity, kept current from the stream::

    description: Revenue of orders placed today (UTC), per region
    entity: orders                                  # the warehouse table the table contracts route to
    group_by: region                                # the attribute each value is kept per
    measure: {sum: total, scale: 2}                 # {sum: attr, scale: n} | {count: true}
                                                    # | {latest: attr, order_by: attr}
    store: hash                                     # hash (default) | leaderboard (a sorted set)
    window: {period: day, time: created_at, keep: 2}   # day | week | month; none: all time

The entity's key pattern is the table contract's route for it (``contracts/*.yaml``): the lake, the
warehouse and the views select items by one definition, so a view and its warehouse question see the same
items. Sums are kept as integers of ``10**-scale`` units (Redis counters are 64-bit integers, sorted-set
scores are doubles exact to 2**53): money is never rounded.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = ["VIEW_NAME", "ViewDefinition", "ViewError", "Window", "available_views", "load_view", "load_views"]

VIEW_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
_PERIODS = ("day", "week", "month")
_STORES = ("hash", "leaderboard")
_KEYS = {"description", "entity", "group_by", "measure", "store", "window"}


class ViewError(ValueError):
    """A view definition is malformed, or no view has the name asked for."""


@dataclass(frozen=True)
class Window:
    period: str  # day | week | month
    time: str  # the attribute holding the item's time: ISO-8601 text, epoch seconds or a timestamp
    keep: int = 2  # windows kept before Redis expires them: the current one and keep-1 before it

    def start(self, at: dt.datetime) -> dt.datetime:
        day = at.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        if self.period == "week":
            return day - dt.timedelta(days=day.weekday())
        if self.period == "month":
            return day.replace(day=1)
        return day

    def next_start(self, start: dt.datetime, windows: int = 1) -> dt.datetime:
        if self.period == "month":
            months = start.year * 12 + start.month - 1 + windows
            return start.replace(year=months // 12, month=months % 12 + 1)
        return start + dt.timedelta(days=windows * (7 if self.period == "week" else 1))

    def bucket(self, at: dt.datetime) -> str:
        """The window's name: ``2026-11-27``, ``2026-W48`` (ISO week) or ``2026-11``."""
        return _bucket_name(self.period, self.start(at))

    def expires_at(self, at: dt.datetime) -> int:
        """Epoch seconds at which the window holding ``at`` is dropped: ``keep`` windows after it opened."""
        return _expiry(self, self.start(at))


@functools.lru_cache(maxsize=4096)
def _bucket_name(period: str, start: dt.datetime) -> str:
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return start.strftime("%Y-%m" if period == "month" else "%Y-%m-%d")


@functools.lru_cache(maxsize=4096)
def _expiry(window: Window, start: dt.datetime) -> int:
    return int(window.next_start(start, window.keep).timestamp())


@dataclass(frozen=True)
class ViewDefinition:
    name: str
    entity: str
    group_by: str
    kind: str  # sum | count | latest
    attribute: str | None  # summed attribute, or the latest value's attribute
    scale: int = 0
    order_by: str | None = None  # latest: which item is the latest
    store: str = "hash"
    window: Window | None = None
    description: str = ""

    @functools.cached_property
    def attributes(self) -> tuple[str, ...]:
        """Every item attribute the view reads."""
        names = [self.group_by, self.attribute, self.order_by, self.window.time if self.window else None]
        return tuple(dict.fromkeys(n for n in names if n))

    def bucket(self, at: dt.datetime | None) -> str:
        return self.window.bucket(at) if self.window and at else "all"


def parse_view(name: str, document: Any, origin: str = "<view>") -> ViewDefinition:
    where = f"{origin}"
    if not VIEW_NAME.match(name):
        raise ViewError(f"{where}: a view name is lower-case letters, digits and _, got {name!r}")
    if not isinstance(document, dict):
        raise ViewError(f"{where}: a view definition is a mapping")
    unknown = set(document) - _KEYS
    if unknown:
        raise ViewError(f"{where}: unknown keys {sorted(unknown)}")
    entity, group_by = document.get("entity"), document.get("group_by")
    if not isinstance(entity, str) or not isinstance(group_by, str):
        raise ViewError(f"{where}: needs 'entity' (a warehouse table) and 'group_by' (an attribute)")
    store = document.get("store", "hash")
    if store not in _STORES:
        raise ViewError(f"{where}: store is one of {', '.join(_STORES)}, got {store!r}")
    kind, attribute, scale, order_by = _measure(document.get("measure"), where)
    if kind == "latest" and store != "hash":
        raise ViewError(f"{where}: a latest measure keeps one value per group: use store: hash")
    return ViewDefinition(
        name=name,
        entity=entity,
        group_by=group_by,
        kind=kind,
        attribute=attribute,
        scale=scale,
        order_by=order_by,
        store=store,
        window=_window(document.get("window"), where),
        description=str(document.get("description", "")),
    )


def _measure(spec: Any, where: str) -> tuple[str, str | None, int, str | None]:
    if not isinstance(spec, dict):
        raise ViewError(
            f"{where}: measure is {{sum: attr, scale: n}}, {{count: true}} or {{latest: attr, ...}}"
        )
    if set(spec) == {"count"} and spec["count"] is True:
        return "count", None, 0, None
    if "sum" in spec and set(spec) <= {"sum", "scale"} and isinstance(spec["sum"], str):
        scale = spec.get("scale", 0)
        if not isinstance(scale, int) or isinstance(scale, bool) or not 0 <= scale <= 18:
            raise ViewError(f"{where}: measure scale is an integer from 0 to 18, got {scale!r}")
        return "sum", spec["sum"], scale, None
    if set(spec) == {"latest", "order_by"} and all(isinstance(v, str) for v in spec.values()):
        return "latest", spec["latest"], 0, spec["order_by"]
    raise ViewError(
        f"{where}: measure is {{sum: attr, scale: n}}, {{count: true}} or {{latest: attr, order_by: attr}}"
    )


def _window(spec: Any, where: str) -> Window | None:
    if spec is None:
        return None
    if (
        not isinstance(spec, dict)
        or spec.get("period") not in _PERIODS
        or not isinstance(spec.get("time"), str)
    ):
        raise ViewError(f"{where}: window is {{period: day|week|month, time: attr, keep: n}}, got {spec!r}")
    keep = spec.get("keep", 2)
    if set(spec) - {"period", "time", "keep"} or not isinstance(keep, int) or not 1 <= keep <= 366:
        raise ViewError(f"{where}: window keep is a number of windows from 1 to 366, got {keep!r}")
    return Window(spec["period"], spec["time"], keep)


def _folder(path: str | Path | None) -> Any:
    return resources.files("thermocline") / "hot" / "views" if path is None else Path(path)


def available_views(path: str | Path | None = None) -> list[str]:
    return sorted(p.name[:-5] for p in _folder(path).iterdir() if p.name.endswith(".yaml"))


def load_view(name: str, path: str | Path | None = None) -> ViewDefinition:
    """One view by name, from the shipped definitions (or the folder ``path``)."""
    if not VIEW_NAME.match(name):
        raise ViewError(f"invalid view name {name!r}: use lower-case letters, digits and _")
    file = _folder(path) / f"{name}.yaml"
    if not file.is_file():
        raise ViewError(f"no view named {name!r}; available: {', '.join(available_views(path))}")
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ViewError(f"{name}.yaml: not valid YAML: {exc}") from None
    return parse_view(name, document, f"{name}.yaml")


def load_views(path: str | Path | None = None) -> list[ViewDefinition]:
    """Every view definition: the shipped ones, or those in the folder ``path``."""
    return [load_view(name, path) for name in available_views(path)]
