"""A realistic e-commerce workload for the demo table (single-table design).

Items (keys ``pk``/``sk``):
* user        ``USER#<uid>`` / ``USER``                     email, name, created_at, tags (SS), marketing_opt_in, avatar (B)
* profile     ``USER#<uid>`` / ``PROFILE``                  region, address (M), preferences (M with L), loyalty_points
* order       ``USER#<uid>`` / ``ORDER#<oid>``              region, status, created_at, total, currency, item_count
* order line  ``USER#<uid>`` / ``ORDER#<oid>#LINE#<nnn>``   line_no, sku, quantity, unit_price, attributes (M)

The workload runs in phases (inserts, updates, deletes) so the pipeline sees every kind of change, and is
deterministic for a seed. Numbers are written as DynamoDB normalises them (``150.00`` → ``150``).
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

REGIONS = ["us-east", "us-west", "eu-central", "eu-west", "ap-south", "ap-northeast"]
STATUSES = ["PLACED", "PAID", "SHIPPED", "DELIVERED"]
FIRST = ["Ada", "Grace", "Linus", "Zoë", "Søren", "Mária", "José", "Yūki", "Chidi", "Priya", "Ōta", "Élodie"]
LAST = ["Lovelace", "Hopper", "Torvalds", "Kierkegaard", "Núñez", "Okafor", "Sharma", "Tanaka", "Dubois"]
TAGS = ["vip", "newsletter", "beta", "wholesale", "returning", "gift-buyer"]
SKUS = [f"SKU-{n:05d}" for n in range(1, 400)]


def ddb_number(value: Decimal | int) -> dict[str, str]:
    """A DynamoDB number as the service stores it: no trailing zeros, no exponent for normal values."""
    text = format(Decimal(value).normalize(), "f")
    return {"N": text}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


@dataclass
class Order:
    user_id: str
    order_id: str
    region: str
    created_at: dt.datetime
    lines: list[tuple[str, int, Decimal]]
    status: str = "PLACED"

    @property
    def total(self) -> Decimal:
        return sum((q * p for _, q, p in self.lines), Decimal("0")).quantize(Decimal("0.01"))


@dataclass
class Workload:
    orders: int = 2000
    seed: int = 7
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0))

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.users = max(5, self.orders // 4)
        self.user_region: dict[str, str] = {}
        self.live_orders: dict[str, Order] = {}

    # ---- phase 1: users and profiles, phase 2: orders and lines ----------------------------------
    def user_items(self) -> Iterator[dict[str, Any]]:
        for n in range(self.users):
            uid = f"u{n:06d}"
            region = self.rng.choice(REGIONS)
            self.user_region[uid] = region
            name = f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}"
            since = self.now - dt.timedelta(days=self.rng.randint(400, 1500))
            user = {
                "pk": _s(f"USER#{uid}"),
                "sk": _s("USER"),
                "user_id": _s(uid),
                "email": _s(f"{uid}@example.com"),
                "name": _s(name),
                "created_at": _s(since.isoformat().replace("+00:00", "Z")),
                "marketing_opt_in": {"BOOL": self.rng.random() < 0.4},
                "avatar": {"B": self.rng.randbytes(16)},
            }
            tags = self.rng.sample(TAGS, self.rng.randint(0, 3))
            if tags:  # DynamoDB has no empty sets
                user["tags"] = {"SS": tags}
            yield user
            yield {
                "pk": _s(f"USER#{uid}"),
                "sk": _s("PROFILE"),
                "user_id": _s(uid),
                "region": _s(region),
                "address": {
                    "M": {
                        "city": _s(self.rng.choice(["Berlin", "Austin", "Pune", "Osaka", "Lyon"])),
                        "zip": _s(f"{self.rng.randint(10000, 99999)}"),
                        "geo": {
                            "M": {
                                "lat": ddb_number(Decimal(self.rng.randint(-9000, 9000)) / 100),
                                "lon": ddb_number(Decimal(self.rng.randint(-18000, 18000)) / 100),
                            }
                        },
                    }
                },
                "preferences": {
                    "M": {
                        "currency": _s("USD"),
                        "channels": {"L": [_s("email"), _s("sms")]},
                        "sizes": {"NS": ["38", "40"]},
                        "notes": {"NULL": True},
                    }
                },
                "loyalty_points": ddb_number(self.rng.randint(0, 5000)),
            }

    def order_items(self) -> Iterator[dict[str, Any]]:
        uids = sorted(self.user_region)
        for n in range(self.orders):
            uid = self.rng.choice(uids)
            created = self.now - dt.timedelta(days=self.rng.uniform(0, 420))
            lines = [
                (self.rng.choice(SKUS), self.rng.randint(1, 4), Decimal(self.rng.randint(199, 25000)) / 100)
                for _ in range(self.rng.randint(1, 4))
            ]
            order = Order(uid, f"o{n:07d}", self.user_region[uid], created, lines)
            self.live_orders[order.order_id] = order
            yield self._order_item(order)
            for i, (sku, qty, price) in enumerate(lines, start=1):
                yield {
                    "pk": _s(f"USER#{uid}"),
                    "sk": _s(f"ORDER#{order.order_id}#LINE#{i:03d}"),
                    "order_id": _s(order.order_id),
                    "line_no": ddb_number(i),
                    "sku": _s(sku),
                    "quantity": ddb_number(qty),
                    "unit_price": ddb_number(price),
                    "attributes": {
                        "M": {
                            "gift": {"BOOL": self.rng.random() < 0.1},
                            "colour": _s(self.rng.choice(["red", "blue", "black"])),
                        }
                    },
                }

    def _order_item(self, order: Order) -> dict[str, Any]:
        return {
            "pk": _s(f"USER#{order.user_id}"),
            "sk": _s(f"ORDER#{order.order_id}"),
            "order_id": _s(order.order_id),
            "user_id": _s(order.user_id),
            "region": _s(order.region),
            "status": _s(order.status),
            "created_at": _s(order.created_at.isoformat().replace("+00:00", "Z")),
            "total": ddb_number(order.total),
            "currency": _s("USD"),
            "item_count": ddb_number(len(order.lines)),
        }

    # ---- phase 3: updates ---------------------------------------------------------------------------
    def updates(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(kind, update_item kwargs) for ~25% of orders and ~20% of profiles."""
        for order in self.rng.sample(
            sorted(self.live_orders.values(), key=lambda o: o.order_id), self.orders // 4
        ):
            order.status = self.rng.choice(STATUSES[1:])
            key = {"pk": _s(f"USER#{order.user_id}"), "sk": _s(f"ORDER#{order.order_id}")}
            if self.rng.random() < 0.3 and len(order.lines) > 1:
                order.lines.pop()  # a line was refunded: the total changes too
                values = {
                    ":s": _s(order.status),
                    ":t": ddb_number(order.total),
                    ":c": ddb_number(len(order.lines)),
                }
                expr = "SET #s = :s, #t = :t, item_count = :c"
                names = {"#s": "status", "#t": "total"}
            else:
                values, expr, names = {":s": _s(order.status)}, "SET #s = :s", {"#s": "status"}
            yield (
                "order",
                {
                    "Key": key,
                    "UpdateExpression": expr,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                },
            )
        for uid in self.rng.sample(sorted(self.user_region), max(1, self.users // 5)):
            yield (
                "profile",
                {
                    "Key": {"pk": _s(f"USER#{uid}"), "sk": _s("PROFILE")},
                    "UpdateExpression": "SET loyalty_points = loyalty_points + :p, last_seen = :d",
                    "ExpressionAttributeValues": {
                        ":p": ddb_number(self.rng.randint(1, 300)),
                        ":d": _s(self.now.date().isoformat()),
                    },
                },
            )

    # ---- phase 4: deletes -----------------------------------------------------------------------------
    def deletes(self) -> Iterator[dict[str, Any]]:
        """Keys to delete: ~5% of orders (with their lines) and a few users' whole item collections."""
        for order in self.rng.sample(
            sorted(self.live_orders.values(), key=lambda o: o.order_id), max(1, self.orders // 20)
        ):
            del self.live_orders[order.order_id]
            yield {"pk": _s(f"USER#{order.user_id}"), "sk": _s(f"ORDER#{order.order_id}")}
            for i in range(1, len(order.lines) + 1):
                yield {"pk": _s(f"USER#{order.user_id}"), "sk": _s(f"ORDER#{order.order_id}#LINE#{i:03d}")}


# Requests in flight at once: every phase writes each item once, so they may go in any order (DynamoDB
# keeps the order of one item's changes, and each item changes once per phase), as many clients would.
WRITERS = 4


def _chunks(requests: Iterable[dict[str, Any]], size: int = 25) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for request in requests:
        chunk.append(request)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _concurrently(
    send: Callable[[Any], int], work: Iterable[Any], writers: int, progress: Callable[[int], None] | None
) -> int:
    """``send`` each piece of ``work``, ``writers`` at a time; the count of what was written."""
    done = 0
    with concurrent.futures.ThreadPoolExecutor(writers, thread_name_prefix="workload") as pool:
        for count in pool.map(send, work):
            done += count
            if progress:
                progress(count)
    return done


def batch_write(
    ddb: Any,
    table: str,
    requests: Iterable[dict[str, Any]],
    progress: Callable[[int], None] | None = None,
    writers: int = 1,
) -> int:
    """Write put/delete requests 25 at a time (``writers`` batches in flight), resubmitting unprocessed
    items."""

    def flush(items: list[dict[str, Any]]) -> int:
        pending = {table: items}
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        return len(items)

    return _concurrently(flush, _chunks(requests), writers, progress)


def run_phase(
    ddb: Any,
    table: str,
    workload: Workload,
    phase: str,
    progress: Callable[[int], None] | None = None,
    writers: int = 1,
) -> int:
    """Apply one phase of the workload to the table, ``writers`` requests at a time; returns the number
    of writes."""
    if phase == "users":
        puts = ({"PutRequest": {"Item": i}} for i in workload.user_items())
        return batch_write(ddb, table, puts, progress, writers)
    if phase == "orders":
        puts = ({"PutRequest": {"Item": i}} for i in workload.order_items())
        return batch_write(ddb, table, puts, progress, writers)
    if phase == "updates":

        def update(kwargs: dict[str, Any]) -> int:
            ddb.update_item(TableName=table, **kwargs)
            return 1

        return _concurrently(update, (kwargs for _, kwargs in workload.updates()), writers, progress)
    if phase == "deletes":
        deletes = ({"DeleteRequest": {"Key": k}} for k in workload.deletes())
        return batch_write(ddb, table, deletes, progress, writers)
    raise ValueError(f"unknown workload phase {phase!r}")


PHASES = ("users", "orders", "updates", "deletes")
