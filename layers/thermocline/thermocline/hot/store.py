"""The views in Redis (or Valkey): apply item changes exactly once, read views, rebuild, cache reports.

Key layout, every key of a view under the hash tag ``{hot:<view>}`` so that one script call touches one
slot (ElastiCache Serverless runs in cluster mode and refuses scripts whose keys span slots):

* ``{hot:<view>}:<bucket>``: a hash (group → value) or, for a leaderboard, a sorted set (group → score);
  ``<bucket>`` is the window (``2026-11-27``, ``2026-W48``, ``2026-11``) or ``all``. Windowed keys carry
  an EXPIREAT, so a window leaves Redis on its own.
* ``{hot:<view>}:<bucket>:members:<group>``: a latest view's members of one group (sorted by text).
* ``{hot:<view>}:seq:<item>``: the last sequence number applied to the view for the item (the guard),
  kept ``guard_seconds``: longer than the stream's 24-hour retention, after which no older record of the
  item can be delivered again.
* ``{hot:report:<name>}``: the latest result of a report (JSON).

Changes go to Redis through one Lua script (``apply.lua``) per view and chunk of a batch: a re-delivered,
retried or partially applied batch changes nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any

import redis

from thermocline.hot.changes import ItemChange, ViewState
from thermocline.hot.views import ViewDefinition

__all__ = ["DEFAULT_GUARD_SECONDS", "HotStore", "HotStoreError", "ViewRead"]

# Two days: a record can be re-delivered while it is in the stream (24 hours), so a guard older than that
# has nothing left to guard against.
DEFAULT_GUARD_SECONDS = 2 * 24 * 3600
_CHUNK = 250  # changes per script call: bounds how long one call holds the server
_SCRIPT = (resources.files("thermocline") / "hot" / "apply.lua").read_text(encoding="utf-8")


class HotStoreError(RuntimeError):
    """Redis refused or did not answer; what was applied before stays applied and guarded."""


@dataclass(frozen=True)
class ViewRead:
    view: str
    bucket: str
    values: list[tuple[str, Any]]  # (group, value) in the view's order: leaderboards by score, highest first

    def as_dict(self) -> dict[str, Any]:
        return {"view": self.view, "bucket": self.bucket, "values": {g: _jsonable(v) for g, v in self.values}}


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


class HotStore:
    """The views' data in one Redis database, through an injected ``redis.Redis`` client."""

    def __init__(self, client: Any, *, guard_seconds: int = DEFAULT_GUARD_SECONDS) -> None:
        self.client = client
        self.guard_seconds = guard_seconds
        self._script = client.register_script(_SCRIPT)

    # ---- keys ------------------------------------------------------------------------------------
    @staticmethod
    def tag(view: str) -> str:
        return f"{{hot:{view}}}"

    def data_key(self, view: str, bucket: str) -> str:
        return f"{self.tag(view)}:{bucket}"

    def members_key(self, view: str, bucket: str, group: str) -> str:
        return f"{self.tag(view)}:{bucket}:members:{group}"

    def guard_key(self, view: str, item: str) -> str:
        return f"{self.tag(view)}:seq:{item}"

    @staticmethod
    def report_key(name: str) -> str:
        return f"{{hot:report:{name}}}"

    # ---- applying changes --------------------------------------------------------------------------
    def apply(self, view: ViewDefinition, changes: list[ItemChange]) -> tuple[int, int]:
        """Apply ``changes`` (all of ``view``, in stream order); returns (applied, skipped as already seen).

        Raises what the client raises; changes before the failing one are applied and guarded, so calling
        again with the same changes finishes the job without applying anything twice.
        """
        applied = skipped = 0
        for start in range(0, len(changes), _CHUNK):
            keys, payload = self._call(view, changes[start : start + _CHUNK])
            try:
                done, seen = self._script(keys=keys, args=[payload, self.guard_seconds])
            except redis.RedisError as exc:
                raise HotStoreError(f"{view.name}: {exc}") from exc
            applied, skipped = applied + int(done), skipped + int(seen)
        return applied, skipped

    def _call(self, view: ViewDefinition, changes: Iterable[ItemChange]) -> tuple[list[str], str]:
        index: dict[str, int] = {}

        def at(key: str) -> int:
            return index.setdefault(key, len(index) + 1)  # Lua's KEYS are 1-based

        incr = "zincr" if view.store == "leaderboard" else "hincr"
        body = []
        for change in changes:
            ops = []
            for op in change.ops:
                entry: dict[str, Any] = {"f": op.group}
                if op.kind == "incr":
                    entry.update(t=incr, k=at(self.data_key(view.name, op.bucket)), a=str(op.amount))
                else:
                    entry.update(
                        t=op.kind,
                        k=at(self.members_key(view.name, op.bucket, op.group)),
                        h=at(self.data_key(view.name, op.bucket)),
                        m=op.member,
                    )
                if op.expires_at is not None:
                    entry["x"] = op.expires_at
                ops.append(entry)
            body.append({"g": at(self.guard_key(view.name, change.item)), "s": change.seq, "o": ops})
        return list(index), json.dumps(body, ensure_ascii=False)

    # ---- reading -----------------------------------------------------------------------------------
    def read(self, view: ViewDefinition, bucket: str) -> ViewRead:
        key = self.data_key(view.name, bucket)
        if view.store == "leaderboard":
            pairs = [(_text(m), int(s)) for m, s in self.client.zrevrange(key, 0, -1, withscores=True)]
            values: list[tuple[str, Any]] = [(g, _units(n, view.scale)) for g, n in pairs]
        elif view.kind == "latest":
            values = sorted((_text(g), _text(v)) for g, v in self.client.hgetall(key).items())
        else:
            raw = sorted((_text(g), int(v)) for g, v in self.client.hgetall(key).items())
            values = [(g, _units(n, view.scale) if view.kind == "sum" else n) for g, n in raw]
        return ViewRead(view.name, bucket, values)

    def raw(self, view: ViewDefinition, bucket: str) -> dict[str, Any]:
        """A bucket as stored (sums in 10**-scale units): what :func:`changes.view_state` computes."""
        key = self.data_key(view.name, bucket)
        if view.store == "leaderboard":
            return {_text(m): int(s) for m, s in self.client.zrange(key, 0, -1, withscores=True)}
        stored = self.client.hgetall(key)
        if view.kind == "latest":
            return {_text(g): _text(v) for g, v in stored.items()}
        return {_text(g): int(v) for g, v in stored.items()}

    def buckets(self, view: ViewDefinition) -> list[str]:
        """The view's buckets now in Redis, newest first."""
        prefix = f"{self.tag(view.name)}:"
        found = set()
        for key in self.client.scan_iter(match=f"{_glob(prefix)}*", count=1000):
            rest = _text(key)[len(prefix) :]
            if not rest.startswith("seq:") and ":members:" not in rest:
                found.add(rest)
        return sorted(found, reverse=True)

    # ---- rebuilding ----------------------------------------------------------------------------------
    def replace(self, view: ViewDefinition, state: ViewState, guards: Mapping[str, str]) -> None:
        """Replace everything the view holds by ``state`` in one transaction (MULTI/EXEC).

        ``guards`` hold the sequence number each item is known at, so records the state already holds are
        skipped when the stream delivers them.
        """
        expires = state.expires
        prefix = f"{self.tag(view.name)}:"
        old = list(self.client.scan_iter(match=f"{_glob(prefix)}*", count=1000))
        pipe = self.client.pipeline(transaction=True)
        for start in range(0, len(old), 1000):
            pipe.unlink(*old[start : start + 1000])
        for bucket, groups in state.values.items():
            key = self.data_key(view.name, bucket)
            if not groups:
                continue
            if view.store == "leaderboard":
                pipe.zadd(key, {g: v for g, v in groups.items()})
            else:
                pipe.hset(key, mapping={g: v for g, v in groups.items()})
            if expires.get(bucket) is not None:
                pipe.expireat(key, expires[bucket])
        for (bucket, group), found in state.members.items():
            key = self.members_key(view.name, bucket, group)
            pipe.zadd(key, dict.fromkeys(found, 0))
            if expires.get(bucket) is not None:
                pipe.expireat(key, expires[bucket])
        for item, seq in guards.items():
            pipe.set(self.guard_key(view.name, item), seq, ex=self.guard_seconds)
        pipe.execute()

    # ---- reports -------------------------------------------------------------------------------------
    def put_report(self, name: str, document: Mapping[str, Any]) -> None:
        self.client.set(self.report_key(name), json.dumps(document, default=str, ensure_ascii=False))

    def get_report(self, name: str) -> dict[str, Any] | None:
        stored = self.client.get(self.report_key(name))
        return None if stored is None else json.loads(stored)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _units(n: int, scale: int) -> Decimal:
    return Decimal(n).scaleb(-scale) if scale else Decimal(n)


def _glob(text: str) -> str:
    """``text`` as a literal in a SCAN pattern."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)
