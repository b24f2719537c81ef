"""Reading a whole table with Scan on the local stack's moto server, as the reconcile export does.

The demo's items (users, profiles, orders, order lines; ``--orders 4500`` gives about 20,000) are written
to two servers: the local stack's moto server (thermocline/local/moto_app.py), and as baseline, in the
same run, the same server with moto's own ``Table.scan`` (which sorts the table and walks it from the
first item on every page, and copies every item it returns). Then the table is read page by page
(ConsistentRead, 1 MB pages, the JSON kept as sent, as ``thermocline reconcile`` reads it), and the
wall time and the server's CPU are printed for each; both must answer the same pages.

    python benchmarks/bench_scan.py [--orders 4500] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import Any

import boto3

from thermocline.local.moto_server import MotoServer, cpu_seconds, dying_with, free_port
from thermocline.local.wire import keep_wire_json
from thermocline.local.workload import Workload, batch_write

# The local stack's server with moto's released Table.scan put back (everything else as it runs).
BASELINE = (
    "from moto.dynamodb.models.table import Table\n"
    "from thermocline.local import moto_app\n"
    "released = Table.scan\n"
    "moto_app.install()\n"
    "Table.scan = released\n"
    "moto_app.serve()\n"
)
SERVERS = {
    "moto's Table.scan (before)": ["-c", BASELINE],
    "moto_app": ["-m", "thermocline.local.moto_app"],
}


def _start(args: list[str]) -> MotoServer:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, *args, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
        start_new_session=True,
        preexec_fn=dying_with(os.getpid()),  # noqa: PLW1509 - set before exec, no threads yet
    )
    server = MotoServer(f"http://127.0.0.1:{port}", process)
    server.wait_up()
    return server


def _client(endpoint: str) -> Any:
    credentials = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", **credentials)
    keep_wire_json(ddb, "Scan")
    return ddb


def _load(ddb: Any, orders: int) -> int:
    keys = {"pk": "HASH", "sk": "RANGE"}  # the demo table's, both strings
    ddb.create_table(
        TableName="Bench",
        KeySchema=[{"AttributeName": name, "KeyType": kind} for name, kind in keys.items()],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in keys],
        BillingMode="PAY_PER_REQUEST",
    )
    workload = Workload(orders=orders, seed=11)
    puts = [{"PutRequest": {"Item": item}} for item in workload.user_items()]
    puts += [{"PutRequest": {"Item": item}} for item in workload.order_items()]
    return batch_write(ddb, "Bench", puts, writers=4)


def _scan(ddb: Any) -> list[tuple[int, Any]]:
    pages = ddb.get_paginator("scan").paginate(TableName="Bench", ConsistentRead=True)
    return [(len(page["Items"]), page.get("LastEvaluatedKey")) for page in pages]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=4500, help="the demo workload's orders (default 4500)")
    parser.add_argument("--repeat", type=int, default=2, help="full scans per server; the best is shown")
    args = parser.parse_args()
    servers = {name: _start(command) for name, command in SERVERS.items()}
    try:
        clients = {name: _client(server.endpoint) for name, server in servers.items()}
        written = {name: _load(ddb, args.orders) for name, ddb in clients.items()}
        results: dict[str, tuple[float, float, list[tuple[int, Any]]]] = {}
        for _ in range(args.repeat):
            for name, ddb in clients.items():
                pid = servers[name].process.pid  # type: ignore[union-attr]
                cpu, start = cpu_seconds(pid) or 0.0, time.perf_counter()
                pages = _scan(ddb)
                wall, cpu = time.perf_counter() - start, (cpu_seconds(pid) or 0.0) - cpu
                if name not in results or wall < results[name][0]:
                    results[name] = (wall, cpu, pages)
    finally:
        for server in servers.values():
            server.stop()
    answers = {repr(pages) for _, _, pages in results.values()}
    print(
        f"items: {set(written.values())}, pages: {len(next(iter(results.values()))[2])}, load {os.getloadavg()[0]:.1f}"
    )
    print(f"{'server':<28} {'scan wall s':>12} {'server CPU s':>13}")
    for name, (wall, cpu, _) in results.items():
        print(f"{name:<28} {wall:>12.2f} {cpu:>13.2f}")
    before, after = results[next(iter(SERVERS))][0], results["moto_app"][0]
    print(f"speed-up (wall): {before / after:.1f}x; same pages and LastEvaluatedKeys: {len(answers) == 1}")
    return 0 if len(answers) == 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
