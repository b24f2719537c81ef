"""Decode + Parquet write throughput: Thermocline's decoder vs the naive path most pipelines use.

    naive:       boto3 TypeDeserializer per item → Arrow's type inference over every row → Parquet
    thermocline: thermocline.decode_stream_records → Parquet (thermocline.lake.parquet.to_parquet_bytes)

Two workloads, generated here (seeded), NEW_AND_OLD_IMAGES like the demo's stream, about 70% INSERT / 25%
MODIFY / 5% REMOVE: an orders table (one entity, the same attributes in every item: nested line items, sets,
decimals), and a single-table design (``single_table.py``: six entity types with their own, often sparse,
attributes and numbers of many shapes), decoded with default routing (one warehouse table) and with a
contract that routes each entity to its own table (the naive path groups its rows the same way). Each
measurement runs in a fresh interpreter so peak memory (Python heap via tracemalloc + Arrow's memory pool) is
not polluted by the other path, on one core (Arrow's thread pools set to 1, as a Lambda function of up to
1,769 MB has one vCPU), warm (``WARM_RUNS`` untimed runs of the batch first, as a function that has decoded
batches before); records/s are per CPU-second of that process, the best of ``--repeat`` runs. Run:
``make bench`` or ``python benchmarks/bench_decode.py [--sizes 1000,10000] [--repeat 5] [--strict]``
(``--strict`` exits 1 when a target is missed). With ``--layer`` it measures the built layer (``make build``)
instead of the development install: a CPython 3.12 with only the layer and the runtime's boto3 on its path,
the extension as the layer build compiled it (``make bench`` runs both).
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import io
import json
import multiprocessing as mp
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from queue import Empty
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import single_table  # noqa: E402

TARGET_RATIO = 5.0
WARM_RUNS = 10  # untimed runs of the whole batch before the timed ones, for each path
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/2026-11-01T00:00:00.000"
STATUSES = ["PLACED", "PAID", "PACKED", "SHIPPED", "DELIVERED"]
REGIONS = ["eu-west", "eu-central", "us-east", "us-west", "ap-south"]


def _money(rng: random.Random) -> str:
    # DynamoDB normalises numbers: 150.00 arrives as "150", 12.50 as "12.5".
    cents = rng.randint(100, 99_999)
    return str(Decimal(cents).scaleb(-2).normalize()) if cents % 100 else str(cents // 100)


def _order_image(rng: random.Random, oid: int, status: str) -> dict[str, Any]:
    lines = []
    total = Decimal(0)
    for n in range(rng.randint(1, 6)):
        price = _money(rng)
        qty = rng.randint(1, 4)
        total += Decimal(price) * qty
        lines.append(
            {
                "M": {
                    "line_no": {"N": str(n + 1)},
                    "sku": {"S": f"SKU-{rng.randint(1, 5000):05d}"},
                    "quantity": {"N": str(qty)},
                    "unit_price": {"N": price},
                    "options": {"M": {"gift_wrap": {"BOOL": rng.random() < 0.2}, "colour": {"S": "blue"}}},
                }
            }
        )
    uid = rng.randint(1, 20_000)
    item: dict[str, Any] = {
        "pk": {"S": f"USER#{uid:06d}"},
        "sk": {"S": f"ORDER#{oid:09d}"},
        "order_id": {"S": f"{oid:09d}"},
        "user_id": {"S": f"{uid:06d}"},
        "status": {"S": status},
        "region": {"S": rng.choice(REGIONS)},
        "created_at": {"S": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T12:00:00Z"},
        "total": {"N": str(total.normalize()) if total % 1 else str(int(total))},
        "currency": {"S": "EUR"},
        "item_count": {"N": str(len(lines))},
        "lines": {"L": lines},
        "tags": {"SS": rng.sample(["gift", "express", "b2b", "promo", "first-order"], rng.randint(1, 3))},
        "coupon_values": {"NS": [str(rng.randint(1, 20)), "2.5"]},
        "exchange_rate": {"N": f"1.{rng.randint(0, 99_999):05d}"},
    }
    if rng.random() < 0.3:
        item["note"] = {"S": "Leave at the door, please. " * rng.randint(1, 4)}
    return item


def generate_records(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    live: dict[int, dict[str, Any]] = {}
    seq = 4_200_000_000_000_000_000_000_000
    for i in range(n):
        seq += rng.randint(1, 50)
        roll = rng.random()
        body: dict[str, Any] = {
            "ApproximateCreationDateTime": 1_764_000_000 + i // 10,
            "SequenceNumber": str(seq),
            "SizeBytes": 700,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if roll < 0.70 or len(live) < 10:
            oid = i
            new = _order_image(rng, oid, "PLACED")
            live[oid] = new
            name = "INSERT"
            body["NewImage"] = new
        elif roll < 0.95:
            oid = rng.choice(list(live))
            old = live[oid]
            new = dict(old, status={"S": rng.choice(STATUSES)})
            live[oid] = new
            name = "MODIFY"
            body["NewImage"], body["OldImage"] = new, old
        else:
            oid = rng.choice(list(live))
            old = live.pop(oid)
            name = "REMOVE"
            body["OldImage"] = old
        image = body.get("NewImage") or body["OldImage"]
        body["Keys"] = {"pk": image["pk"], "sk": image["sk"]}
        records.append(single_table.stream_record(i, name, body, ARN))
    # As Lambda hands them over: parsed from JSON text, no shared objects between records.
    return json.loads(json.dumps(records))


def naive(records: list[dict[str, Any]], routes: list[tuple[str, dict[str, str]]] | None = None) -> int:
    """What most pipelines do: deserialize every item to Python objects, let Arrow infer the rest; with
    ``routes`` ((table, {key attribute: glob})), one table per route, as a contract would split them."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from boto3.dynamodb.types import TypeDeserializer

    class LambdaDeserializer(TypeDeserializer):
        # Lambda's events carry binary as base64 text, which TypeDeserializer rejects.
        def _deserialize_b(self, value: str) -> bytes:
            return base64.b64decode(value)

        def _deserialize_bs(self, value: list[str]) -> set[bytes]:
            return {base64.b64decode(v) for v in value}

    deserializer = LambdaDeserializer()

    def plain(value: Any) -> Any:
        # Arrow cannot take Python sets; lists are the usual workaround.
        if isinstance(value, set):
            return sorted(plain(v) for v in value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    ops = {"INSERT": "I", "MODIFY": "U", "REMOVE": "D"}
    rows = []
    for record in records:
        body = record["dynamodb"]
        image = body.get("NewImage") or body.get("OldImage") or body["Keys"]
        row = {k: plain(deserializer.deserialize(v)) for k, v in image.items()}
        row["_op"] = ops[record["eventName"]]
        row["_seq"] = body["SequenceNumber"].rjust(40, "0")
        row["_event_time"] = body["ApproximateCreationDateTime"]
        rows.append(row)
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        target = next(
            (t for t, match in routes or [] if all(fnmatch.fnmatchcase(row[k], g) for k, g in match.items())),
            "",
        )
        groups.setdefault(target, []).append(row)
    written = 0
    for group in groups.values():
        sink = io.BytesIO()
        # Inferred from every row (from_pylist would take the first row's columns and drop the rest).
        pq.write_table(pa.Table.from_struct_array(pa.array(group)), sink, compression="snappy")
        written += len(sink.getvalue())
    return written


def thermocline_path(records: list[dict[str, Any]], contracts: Any = None) -> int:
    from thermocline import decode_stream_records
    from thermocline.lake.parquet import to_parquet_bytes

    return sum(len(to_parquet_bytes(t)) for t in decode_stream_records(records, contracts).values())


def _contracts(contract: str) -> Any:
    """The parsed contract: once per process, as StreamIngestFunction parses it once per cold start (and as
    the naive path's routes are read once)."""
    import yaml

    from thermocline.contracts import parse_contracts

    return parse_contracts(yaml.safe_load(contract))


def _contract_routes(contract: str) -> list[tuple[str, dict[str, str]]]:
    import yaml

    (source,) = yaml.safe_load(contract)["sources"]
    return [(route["target"], route["match"]) for route in source["routes"]]


# workload → (records for a size, the contract that routes it or None for default routing)
WORKLOADS: dict[str, tuple[Callable[[int], list[dict[str, Any]]], str | None]] = {
    "orders/default-routing": (generate_records, None),
    "single-table/default-routing": (single_table.generate_records, None),
    "single-table/contract-routing": (single_table.generate_records, single_table.CONTRACT),
}
PATHS = ("naive", "thermocline")


def _measure(workload: str, path: str, size: int, repeat: int, queue: Any) -> None:
    import pyarrow as pa

    # One core, as a function of up to 1,769 MB has in Lambda; CPU time then equals wall time on an idle
    # host and stays steady on a busy one.
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)

    generate, contract = WORKLOADS[workload]
    records = generate(size)
    if path == "naive":
        routes = _contract_routes(contract) if contract else None
        fn: Callable[[list[dict[str, Any]]], int] = lambda batch: naive(batch, routes)  # noqa: E731
    else:
        contracts = _contracts(contract) if contract else None
        fn = lambda batch: thermocline_path(batch, contracts)  # noqa: E731
    # Warm: a function decoding a stream has decoded batches before, so both paths are measured warm. CPython
    # specializes a function's bytecode only after it has run several times, and code that runs once per
    # batch (a table's Arrow build, the Parquet writer's set-up) would otherwise be timed unspecialized.
    for _ in range(WARM_RUNS):
        fn(records)
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn(records)
        best = min(best, time.process_time() - start)
    pool = pa.default_memory_pool()
    arrow_before = pool.bytes_allocated()
    tracemalloc.start()
    fn(records)
    _, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    arrow_peak = max(0, pool.max_memory() - arrow_before) if pool.max_memory() is not None else 0
    queue.put({"seconds": best, "py_peak": py_peak, "arrow_peak": arrow_peak})


def measure(workload: str, path: str, size: int, repeat: int) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(workload, path, size, repeat, queue))
    proc.start()
    while True:
        try:
            result = queue.get(timeout=1)
            break
        except Empty:
            if not proc.is_alive():
                raise RuntimeError(f"the {path} measurement at {size} records failed (see above)") from None
    proc.join()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS), help="comma-separated, of: " + ", ".join(WORKLOADS)
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--layer",
        action="store_true",
        help="measure the built layer (make build) under the Lambda runtime's CPython 3.12, as it ships",
    )
    args = parser.parse_args(argv)
    if args.layer:
        return _on_layer([a for a in (sys.argv[1:] if argv is None else argv) if a != "--layer"])
    ok = True
    import thermocline
    from thermocline.sources.dynamodb_streams import fastpath

    # A stale or missing extension makes every figure the pure-Python path's; say so before the table.
    print(f"Python {sys.version.split()[0]}, thermocline from {Path(thermocline.__file__).parent}")
    if fastpath.FAST_PATH_UNAVAILABLE:
        print(
            f"WARNING: C fast path not loaded ({fastpath.FAST_PATH_UNAVAILABLE}): thermocline figures are pure Python"
        )
    else:
        print("fast path: C extension loaded")
    print(f"{'workload':<32} {'batch':>7}  {'path':<12} {'records/s':>11}  {'peak MiB (py+arrow)':>20}")
    for workload in args.workloads.split(","):
        for size in [int(s) for s in args.sizes.split(",")]:
            results = {path: measure(workload, path, size, args.repeat) for path in PATHS}
            for path, r in results.items():
                peak = (r["py_peak"] + r["arrow_peak"]) / 2**20
                print(f"{workload:<32} {size:>7}  {path:<12} {size / r['seconds']:>11,.0f}  {peak:>20.1f}")
            ratio = results["naive"]["seconds"] / results["thermocline"]["seconds"]
            mem_ok = (results["thermocline"]["py_peak"] + results["thermocline"]["arrow_peak"]) <= (
                results["naive"]["py_peak"] + results["naive"]["arrow_peak"]
            )
            verdict = "ok" if ratio >= TARGET_RATIO and mem_ok else "BELOW TARGET"
            print(
                f"{workload:<32} {size:>7}  ratio {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x),"
                f" peak memory <= naive: {mem_ok}  {verdict}"
            )
            ok = ok and verdict == "ok"
    return 0 if ok or not args.strict else 1


def _on_layer(argv: list[str]) -> int:
    """This benchmark again, in a CPython 3.12 with only the built layer and the runtime's boto3 on its path
    (as ``bench_coldstart`` runs the handlers): the extension, pyarrow and the code exactly as they ship for
    the template's default platform (x86_64, python3.12)."""
    import os
    import subprocess

    import bench_coldstart

    found = bench_coldstart.target_python(bench_coldstart.Target.of("x86_64", "python3.12"))
    if found is None:
        print("decode on the layer: no CPython 3.12 on this host (pyenv install 3.12, or TARGET_PYTHON=path)")
        return 1
    if not (bench_coldstart.LAYER / "thermocline").is_dir():
        print(f"decode on the layer: no built layer at {bench_coldstart.LAYER}; run `make build` first")
        return 1
    python = found[0]
    runtime = bench_coldstart.runtime_standin(python)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(bench_coldstart.LAYER), str(runtime)])}
    print(
        f"== decode on the built layer ({bench_coldstart.LAYER.relative_to(bench_coldstart.ROOT)}), {python}"
    )
    # -I would drop PYTHONPATH; -s keeps the interpreter's own site-packages (a venv's, an editable install)
    # off the path, so only the layer provides thermocline and pyarrow.
    return subprocess.run([python, "-B", "-s", __file__, *argv], env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
