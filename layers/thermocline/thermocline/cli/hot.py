"""``thermocline hot get``: read a real-time view from Redis."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from thermocline.cli.usage import UsageError


def cmd_hot_get(args: argparse.Namespace) -> int:
    from thermocline.hot.views import ViewError, load_view

    url = args.redis_url or os.environ.get("REDIS_URL")
    if not url:
        raise UsageError("no Redis to read: pass --redis-url or set REDIS_URL (`thermocline up` prints it)")
    try:
        view = load_view(args.view)
    except ViewError as exc:
        raise UsageError(str(exc)) from None
    import redis

    from thermocline.hot.store import HotStore
    from thermocline.local.hot import current_bucket, view_table

    store = HotStore(redis.Redis.from_url(url))
    bucket = args.bucket or current_bucket(store, view)
    try:
        if args.json:
            print(json.dumps(store.read(view, bucket).as_dict(), indent=2))
            return 0
        from rich.console import Console

        Console().print(view_table(store, view, bucket, limit=args.limit))
        others = [b for b in store.buckets(view) if b != bucket]
        if others:
            print(f"other windows in Redis: {', '.join(others)} (--bucket)")
    except redis.RedisError as exc:
        raise UsageError(f"Redis at {url}: {exc}") from None
    return 0


def register(sub: Any) -> None:
    hot = sub.add_parser("hot", help="the real-time views in Redis")
    hot_sub = hot.add_subparsers(dest="hot_command", required=True)
    get = hot_sub.add_parser("get", help="print a view (the current window unless --bucket)")
    get.add_argument("view", help="a view name, e.g. revenue_by_region_today")
    get.add_argument("--bucket", help="the window to read, e.g. 2026-11-27, 2026-W48, 2026-11, all")
    get.add_argument("--redis-url", help="default: $REDIS_URL")
    get.add_argument("--limit", type=int, default=20, help="rows to print (default 20)")
    get.add_argument("--json", action="store_true", help="print the view as JSON")
    get.set_defaults(func=cmd_hot_get)
