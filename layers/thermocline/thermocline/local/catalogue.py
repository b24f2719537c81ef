"""The demo's relational catalogue (the local Aurora's data): customers, products and regions.

Consistent with the DynamoDB workload (:mod:`thermocline.local.workload`): one customer per workload user
(``customer_id`` = the orders' ``user_id``, with the user item's name, email and creation time, the
country of the profile's region), one product per SKU the order lines use, one row per order region. So
reports can join the warehouse's ``orders`` and ``order_lines`` with ``customers``, ``products`` and
``regions``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from thermocline.local.workload import REGIONS, SKUS, Workload
from thermocline.sources.rds_export.layout import SourceColumn

__all__ = ["CATALOGUE_DDL", "CatalogueTable", "catalogue", "seed_postgres"]

REGION_INFO = {
    "us-east": ("US East", "USD", "US"),
    "us-west": ("US West", "USD", "US"),
    "eu-central": ("EU Central", "EUR", "DE"),
    "eu-west": ("EU West", "EUR", "IE"),
    "ap-south": ("Asia Pacific South", "INR", "IN"),
    "ap-northeast": ("Asia Pacific Northeast", "JPY", "JP"),
}
CATEGORIES = ["apparel", "footwear", "outdoor", "kitchen", "electronics", "books", "toys", "garden"]
_NOUNS = ["jacket", "boot", "tent", "kettle", "lamp", "novel", "kite", "trowel", "scarf", "headset"]
_ADJECTIVES = ["Alpine", "Coastal", "Nordic", "Urban", "Solar", "Velvet", "Granite", "Maple", "Żywy", "Ōkami"]

CATALOGUE_DDL = [
    "CREATE TABLE customers (customer_id varchar(16) PRIMARY KEY, name text NOT NULL, "
    "email varchar(320) NOT NULL, segment varchar(32) NOT NULL, country char(2) NOT NULL, "
    "created_at timestamptz NOT NULL)",
    "CREATE TABLE products (sku varchar(16) PRIMARY KEY, name text NOT NULL, category varchar(64) NOT NULL, "
    "list_price numeric(10,2) NOT NULL)",
    "CREATE TABLE regions (region_code varchar(16) PRIMARY KEY, name text NOT NULL, currency char(3) NOT NULL)",
]
# The warehouse declares these (exports do not record keys): ExportIngestFunction's PRIMARY_KEYS.
PRIMARY_KEYS = "customers=customer_id;products=sku;regions=region_code"


@dataclass(frozen=True)
class CatalogueTable:
    name: str
    columns: tuple[SourceColumn, ...]
    rows: list[tuple[Any, ...]]


def _pick(options: list[str], key: str) -> str:
    return options[int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % len(options)]


def _customers(workload: Workload) -> list[tuple[Any, ...]]:
    # A copy of the workload replays its user phase: same seed, same time, so the same users.
    replay = Workload(orders=workload.orders, seed=workload.seed, now=workload.now)
    rows: dict[str, list[Any]] = {}
    for item in replay.user_items():
        uid = item["user_id"]["S"]
        if item["sk"]["S"] == "USER":
            tags = set(item.get("tags", {}).get("SS", []))
            segment = "wholesale" if "wholesale" in tags else "vip" if "vip" in tags else "consumer"
            created = dt.datetime.fromisoformat(item["created_at"]["S"].replace("Z", "+00:00"))
            rows[uid] = [uid, item["name"]["S"], item["email"]["S"], segment, None, created]
        else:
            rows[uid][4] = REGION_INFO[item["region"]["S"]][2]
    return [tuple(r) for r in rows.values()]


def _products() -> list[tuple[Any, ...]]:
    rows = []
    for sku in SKUS:
        cents = 199 + int(hashlib.sha256(sku.encode()).hexdigest()[:6], 16) % 24800
        rows.append(
            (
                sku,
                f"{_pick(_ADJECTIVES, sku + 'a')} {_pick(_NOUNS, sku)}",
                _pick(CATEGORIES, sku + "c"),
                Decimal(cents) / 100,
            )
        )
    return rows


def catalogue(workload: Workload) -> list[CatalogueTable]:
    """The three tables with their PostgreSQL column types and rows (Python values)."""
    return [
        CatalogueTable(
            "customers",
            (
                SourceColumn("customer_id", "character varying", "binary (UTF8)", 16),
                SourceColumn("name", "text", "binary (UTF8)"),
                SourceColumn("email", "character varying", "binary (UTF8)", 320),
                SourceColumn("segment", "character varying", "binary (UTF8)", 32),
                SourceColumn("country", "character", "binary (UTF8)", 2),
                SourceColumn("created_at", "timestamp with time zone", "binary (UTF8)", 0, 0, 6),
            ),
            _customers(workload),
        ),
        CatalogueTable(
            "products",
            (
                SourceColumn("sku", "character varying", "binary (UTF8)", 16),
                SourceColumn("name", "text", "binary (UTF8)"),
                SourceColumn("category", "character varying", "binary (UTF8)", 64),
                SourceColumn("list_price", "numeric", "binary (UTF8)", 0, 10),
            ),
            _products(),
        ),
        CatalogueTable(
            "regions",
            (
                SourceColumn("region_code", "character varying", "binary (UTF8)", 16),
                SourceColumn("name", "text", "binary (UTF8)"),
                SourceColumn("currency", "character", "binary (UTF8)", 3),
            ),
            [(code, REGION_INFO[code][0], REGION_INFO[code][1]) for code in REGIONS],
        ),
    ]


def seed_postgres(conn: Any, tables: list[CatalogueTable]) -> dict[str, int]:
    """Create the catalogue in a PostgreSQL database (replacing it) and load its rows with COPY."""
    counts = {}
    with conn.cursor() as cur:
        for table in tables:
            cur.execute(f"DROP TABLE IF EXISTS {table.name}")
        for ddl in CATALOGUE_DDL:
            cur.execute(ddl)
        for table in tables:
            names = ", ".join(c.name for c in table.columns)
            with cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for row in table.rows:
                    copy.write_row(row)
            counts[table.name] = len(table.rows)
    conn.commit()
    return counts


def pg_text(value: Any) -> str | None:
    """A Python value as PostgreSQL prints it (DateStyle ISO, TimeZone UTC): what an export writes."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        text = value.astimezone(dt.UTC).isoformat(sep=" ")
        return text.replace("+00:00", "+00")
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)
