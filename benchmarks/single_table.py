"""A single-table-design stream for the decode benchmark: six entity types under one key schema (pk/sk).

Each entity has its own attributes and many are sparse (present in some items only): users, profiles,
orders, order lines, carts and reviews, with nested maps and lists, string/number/binary sets, booleans,
nulls, binary, and numbers of many shapes (small and 20-digit integers, negatives, money, long fractions,
tiny magnitudes, 38-digit values and exponents outside DECIMAL(38, s); each attribute's values stay
within what Arrow's decimal256 holds, so the naive path can load them exactly too). About 70%
INSERT, 25% MODIFY (attributes change, appear and disappear), 5% REMOVE, NEW_AND_OLD_IMAGES. Seeded, so
every run and both paths see the same records. ``CONTRACT`` routes the same table into one warehouse table
per entity, as a data engineer would configure it.
"""

from __future__ import annotations

import base64
import json
import random
from decimal import Decimal
from typing import Any

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Shop-store/stream/2026-11-01T00:00:00.000"
CONTRACT = """
version: 1
sources:
  - table: "Shop-store"
    routes:
      - {target: users, match: {pk: "USER#*", sk: "USER"}, primary_key: [pk, sk]}
      - {target: user_profiles, match: {pk: "USER#*", sk: "PROFILE"}, primary_key: [pk, sk]}
      - {target: order_lines, match: {pk: "USER#*", sk: "ORDER#*#LINE#*"}, primary_key: [pk, sk]}
      - {target: orders, match: {pk: "USER#*", sk: "ORDER#*"}, primary_key: [pk, sk]}
      - {target: carts, match: {pk: "USER#*", sk: "CART"}, primary_key: [pk, sk]}
      - {target: reviews, match: {pk: "USER#*", sk: "REVIEW#*"}, primary_key: [pk, sk]}
"""
REGIONS = ["us-east", "us-west", "eu-central", "eu-west", "ap-south", "ap-northeast"]
STATUSES = ["PLACED", "PAID", "PACKED", "SHIPPED", "DELIVERED", "REFUNDED"]
NAMES = ["Ada Lovelace", "Grace Hopper", "Zoë Núñez", "Søren Kierkegaard", "Yūki Tanaka", "Chidi Okafor"]
WORDS = "great fast fragile gift blue large small again never always quality price box arrived".split()


def stream_record(i: int, name: str, body: dict[str, Any], arn: str) -> dict[str, Any]:
    """One DynamoDB Streams record as Lambda delivers it: the envelope around ``body`` (its ``dynamodb``)."""
    return {
        "eventID": f"{i:032x}",
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": body,
        "eventSourceARN": arn,
    }


def _n(value: Any) -> dict[str, str]:
    return {"N": str(value)}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _b(rng: random.Random, size: int) -> str:
    return base64.b64encode(rng.randbytes(size)).decode()


def _money(rng: random.Random) -> str:
    # DynamoDB normalises numbers: 150.00 arrives as "150", 12.50 as "12.5".
    return (
        str(Decimal(rng.randint(1, 999_999)).scaleb(-2).normalize()).replace("E+1", "0").replace("E+2", "00")
    )


def _integer(rng: random.Random) -> str:
    """An integral number of some size, as DynamoDB spells it (no exponent up to 38 digits)."""
    shape = rng.randrange(4)
    if shape == 0:
        return str(rng.randint(-1000, 1000))
    if shape == 1:
        return str(rng.randint(10**18, 10**20))  # beyond BIGINT
    if shape == 2:
        return str(rng.randint(10**37, 10**38 - 1))  # 38 digits
    return f"{rng.randint(1, 9)}E+{rng.randint(40, 70)}"  # no DECIMAL(38, s) holds it


def _fraction(rng: random.Random) -> str:
    """A number with a fractional part: money, long fractions, tiny magnitudes down to 1E-60."""
    shape = rng.randrange(4)
    if shape == 0:
        return _money(rng)
    if shape == 1:
        return f"{rng.randint(0, 9)}.{rng.randint(1, 10**12):012d}".rstrip("0")
    if shape == 2:
        return f"0.{rng.randint(1, 999):09d}".rstrip("0")
    return f"-{rng.randint(1, 9)}.{rng.randint(1, 9)}E-{rng.randint(40, 58)}"


def _user(rng: random.Random, uid: str) -> dict[str, Any]:
    item = {
        "pk": _s(f"USER#{uid}"),
        "sk": _s("USER"),
        "user_id": _s(uid),
        "email": _s(f"{uid}@example.com"),
        "name": _s(rng.choice(NAMES)),
        "created_at": _s(f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T08:00:00Z"),
        "marketing_opt_in": {"BOOL": rng.random() < 0.4},
    }
    if rng.random() < 0.5:
        item["tags"] = {
            "SS": rng.sample(["vip", "beta", "wholesale", "returning", "gift-buyer"], rng.randint(1, 3))
        }
    if rng.random() < 0.3:
        item["avatar"] = {"B": _b(rng, 24)}
    if rng.random() < 0.2:
        item["phone"] = _s(f"+49 30 {rng.randint(1000000, 9999999)}")
    return item


def _profile(rng: random.Random, uid: str) -> dict[str, Any]:
    item = {
        "pk": _s(f"USER#{uid}"),
        "sk": _s("PROFILE"),
        "region": _s(rng.choice(REGIONS)),
        "address": {
            "M": {
                "city": _s(rng.choice(["Berlin", "Austin", "Pune", "Osaka", "Lyon"])),
                "zip": _s(f"{rng.randint(10000, 99999)}"),
                "geo": {
                    "M": {
                        "lat": _n(Decimal(rng.randint(-9000, 9000)) / 100),
                        "lon": _n(rng.randint(-180, 180)),
                    }
                },
            }
        },
        "preferences": {
            "M": {
                "channels": {"L": [_s("email"), _s("sms")][: rng.randint(0, 2)]},
                "sizes": {"NS": sorted({str(rng.randint(34, 46)) for _ in range(3)})},
                "notes": {"NULL": True},
            }
        },
        "loyalty_points": _n(rng.randint(0, 50_000)),
    }
    if rng.random() < 0.3:
        item["birthday"] = _s(f"19{rng.randint(50, 99)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}")
    if rng.random() < 0.4:
        item["score"] = _n(_integer(rng))
    return item


def _order(rng: random.Random, uid: str, oid: int, lines: int) -> dict[str, Any]:
    item = {
        "pk": _s(f"USER#{uid}"),
        "sk": _s(f"ORDER#{oid:09d}"),
        "order_id": _s(f"{oid:09d}"),
        "status": _s("PLACED"),
        "total": _n(_money(rng)),
        "currency": _s(rng.choice(["EUR", "USD", "JPY"])),
        "item_count": _n(lines),
        "created_at": _s(f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}T12:00:00Z"),
        "exchange_rate": _n(f"1.{rng.randint(0, 10**9):09d}".rstrip("0").rstrip(".")),
    }
    if rng.random() < 0.3:
        item["coupon"] = _s(f"SAVE{rng.randint(5, 30)}")
    if rng.random() < 0.5:
        item["shipping"] = {
            "M": {
                "method": _s(rng.choice(["standard", "express"])),
                "cost": _n(_money(rng)),
                "tracking": {"L": [_s(f"TRK{rng.randint(10**8, 10**9)}")]},
            }
        }
    if rng.random() < 0.1:
        item["audit_value"] = _n(_integer(rng))
    return item


def _line(rng: random.Random, uid: str, oid: int, n: int) -> dict[str, Any]:
    item = {
        "pk": _s(f"USER#{uid}"),
        "sk": _s(f"ORDER#{oid:09d}#LINE#{n:03d}"),
        "line_no": _n(n),
        "sku": _s(f"SKU-{rng.randint(1, 5000):05d}"),
        "quantity": _n(rng.randint(1, 4)),
        "unit_price": _n(_money(rng)),
    }
    if rng.random() < 0.6:
        item["attributes"] = {
            "M": {
                k: _s(rng.choice(WORDS))
                for k in rng.sample(["colour", "size", "material", "fit"], rng.randint(1, 3))
            }
        }
    if rng.random() < 0.2:
        item["discounts"] = {"L": [_n(_money(rng)) for _ in range(rng.randint(1, 3))]}
    if rng.random() < 0.1:
        item["gift_wrap"] = {"BOOL": True}
    return item


def _cart(rng: random.Random, uid: str) -> dict[str, Any]:
    item = {
        "pk": _s(f"USER#{uid}"),
        "sk": _s("CART"),
        "items": {
            "L": [
                {"M": {"sku": _s(f"SKU-{rng.randint(1, 5000):05d}"), "qty": _n(rng.randint(1, 3))}}
                for _ in range(rng.randint(0, 4))
            ]
        },
        "updated_at": _s(f"2026-11-{rng.randint(1, 26):02d}T{rng.randint(0, 23):02d}:00:00Z"),
        "expires": _n(1_764_000_000 + rng.randint(0, 10**6)),
    }
    if rng.random() < 0.5:
        item["session_ids"] = {"SS": [f"s{rng.randint(1, 10**6)}" for _ in range(rng.randint(1, 3))]}
    if rng.random() < 0.3:
        item["checksums"] = {"BS": sorted({_b(rng, 8) for _ in range(rng.randint(1, 3))})}
    return item


def _review(rng: random.Random, uid: str, pid: int) -> dict[str, Any]:
    item = {
        "pk": _s(f"USER#{uid}"),
        "sk": _s(f"REVIEW#{pid:06d}"),
        "rating": _n(rng.randint(1, 5)),
        "body": _s(" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 60))) + " ✓"),
        "helpful_votes": _n(rng.randint(0, 300)),
    }
    if rng.random() < 0.3:
        item["photos"] = {"L": [{"M": {"key": _s(f"p/{rng.randint(1, 10**6)}.jpg"), "w": _n(1024)}}]}
    if rng.random() < 0.3:
        item["sentiment"] = _n(_fraction(rng))
    return item


def _modified(rng: random.Random, item: dict[str, Any]) -> dict[str, Any]:
    """A MODIFY's new image: one attribute changed, sometimes one added or removed (sparse)."""
    new = dict(item)
    sk = item["sk"]["S"]
    if sk.startswith("ORDER#") and "#LINE#" not in sk:
        new["status"] = _s(rng.choice(STATUSES))
        if rng.random() < 0.3:
            new["refund"] = _n(_money(rng))
    elif sk == "PROFILE":
        new["loyalty_points"] = _n(rng.randint(0, 50_000))
    elif sk == "CART":
        new["updated_at"] = _s("2026-11-27T00:00:00Z")
        new.pop("session_ids", None)
    elif sk == "USER":
        new["marketing_opt_in"] = {"BOOL": not item["marketing_opt_in"]["BOOL"]}
        if rng.random() < 0.5:
            new["last_login"] = _s("2026-11-26T10:00:00Z")
    else:
        new["helpful_votes" if sk.startswith("REVIEW#") else "quantity"] = _n(rng.randint(1, 9))
    return new


def _new_items(rng: random.Random, state: dict[str, int]) -> list[dict[str, Any]]:
    """The items one new action writes: a user with profile, an order with lines, a cart or a review."""
    roll = rng.random()
    if roll < 0.15 or state["users"] < 5:
        state["users"] += 1
        uid = f"{state['users']:06d}"
        return [_user(rng, uid), _profile(rng, uid)]
    uid = f"{rng.randint(1, state['users']):06d}"
    if roll < 0.6:
        state["orders"] += 1
        lines = rng.randint(1, 4)
        return [_order(rng, uid, state["orders"], lines)] + [
            _line(rng, uid, state["orders"], n) for n in range(1, lines + 1)
        ]
    if roll < 0.8:
        return [_cart(rng, uid)]
    return [_review(rng, uid, rng.randint(1, 10**5))]


def generate_records(n: int, seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    state = {"users": 0, "orders": 0}
    live: dict[tuple[str, str], dict[str, Any]] = {}
    pending: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    seq = 4_300_000_000_000_000_000_000_000
    for i in range(n):
        seq += rng.randint(1, 50)
        roll = rng.random()
        body: dict[str, Any] = {
            "ApproximateCreationDateTime": 1_764_000_000 + i // 10,
            "SequenceNumber": str(seq),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if pending or roll < 0.62 or len(live) < 20:
            if not pending:
                pending = _new_items(rng, state)
            new = pending.pop(0)
            key = (new["pk"]["S"], new["sk"]["S"])
            name = "MODIFY" if key in live else "INSERT"
            if key in live:
                body["OldImage"] = live[key]
            body["NewImage"] = live[key] = new
        elif roll < 0.92:
            key = rng.choice(list(live))
            name = "MODIFY"
            body["OldImage"], body["NewImage"] = live[key], _modified(rng, live[key])
            live[key] = body["NewImage"]
        else:
            key = rng.choice(list(live))
            name = "REMOVE"
            body["OldImage"] = live.pop(key)
        image = body.get("NewImage") or body["OldImage"]
        body["Keys"] = {"pk": image["pk"], "sk": image["sk"]}
        body["SizeBytes"] = 100 + len(json.dumps(image)) // 2
        records.append(stream_record(i, name, body, ARN))
    # As Lambda hands them over: parsed from JSON text, no shared objects between records.
    return json.loads(json.dumps(records))
