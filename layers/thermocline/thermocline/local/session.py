# ruff: noqa: S608 -- the ledger queries quote every value with sql_literal and every name with quote_ident
"""The local stack: moto's server, the template deployed into it, a DuckDB warehouse, in-process handlers.

``LocalStack`` is what the CLI's ``demo``, ``invoke`` and ``replay`` run on. Its state directory holds the
DuckDB warehouse (``warehouse.duckdb``), moto's log and, with ``keep_lake``, the lake bucket (``lake/``,
see ``lake_state``); other AWS resources live in moto's server for as long as the stack is open (or in an
already running server given by ``endpoint``). One command at a time uses a state directory: a second
waits for the first (``on_busy`` is told once).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import io
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from thermocline import aws
from thermocline.local import lake_state, moto_server, redis_server, stack, stack_snapshot
from thermocline.local.cache import cache_load, cache_store
from thermocline.local.poller import QueueDrainer, StreamPoller, StreamReader
from thermocline.local.runtime import FunctionRuntime, environment
from thermocline.local.template import default_template
from thermocline.local.wire import keep_wire_json
from thermocline.observability import logger

INGEST = "StreamIngestFunction"
LOAD = "WarehouseLoadFunction"
REPORT = "AnalyticsReportFunction"
HOT = "HotViewsFunction"

_LOCAL_AWS = {
    "AWS_ACCESS_KEY_ID": "thermocline-local",
    "AWS_SECRET_ACCESS_KEY": "thermocline-local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


# What the functions' handlers import at their cold start (loaded early, see LocalStack.__enter__).
_HANDLER_MODULES = (
    "thermocline.services.stream_ingest",
    "thermocline.services.warehouse_load",
    "thermocline.warehouse.duckdb",
    "pyarrow.parquet",
)


def _preload_handlers() -> None:
    for name in _HANDLER_MODULES:
        importlib.import_module(name)


class LocalStackError(RuntimeError):
    """The local stack could not be brought up or lacks a resource the command needs."""


class LocalStack:
    def __init__(
        self,
        state_dir: Path,
        *,
        endpoint: str | None = None,
        warehouse_url: str | None = None,
        log_level: str = "WARNING",
        function_env: dict[str, str] | None = None,
        keep_lake: bool = False,
        on_busy: Callable[[Path], None] | None = None,
        recreate: bool = False,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.keep_lake = keep_lake
        self.on_busy = on_busy
        # Create the resources a stack deployed earlier held directly, without CloudFormation (see
        # stack_snapshot); only in a server of our own.
        self.recreate = recreate
        self.endpoint = endpoint
        self.warehouse_url = warehouse_url or f"duckdb:///{self.state_dir / 'warehouse.duckdb'}"
        self.log_level = log_level
        self.function_env = function_env or {}
        # Quiet runs (demo, replay) keep handler logs and metric lines off the terminal; `invoke` shows them.
        self.quiet = logging.getLevelName(log_level) > logging.INFO
        self._open = contextlib.ExitStack()
        self.info: stack.StackInfo | None = None
        self._runtimes: dict[str, FunctionRuntime] = {}
        # moto's server when this stack started it (its CPU time is part of a command's cost).
        self.server_pid: int | None = None
        # The hot views' Redis: a real server started with the stack (None: redis-server is not installed).
        self.redis_url: str | None = None
        self.redis_missing = ""

    # ---- lifecycle ----------------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self._open as opened:
            opened.enter_context(self._state_lock())
            own_server = self.endpoint is None
            server = None
            if self.endpoint is None:
                # The server imports moto for a second or more: this process imports the handlers'
                # code meanwhile (_preload_handlers below), and waits for it only then.
                server = moto_server.start(log_path=self.state_dir / "moto.log", wait=False)
                opened.callback(server.stop)
                self.endpoint = server.endpoint
                self.server_pid = server.process.pid if server.process else None
            # Handlers share this process's one Powertools logger: its level is the stack's.
            logger.setLevel(self.log_level)
            for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
                os.environ.pop(name, None)
            opened.enter_context(environment({**_LOCAL_AWS, "AWS_ENDPOINT_URL": self.endpoint}))
            parameters = self._hot_views(opened)
            region = _LOCAL_AWS["AWS_REGION"]
            remembered = None
            if self.recreate and own_server:
                key = stack_snapshot.key(default_template(), "thermocline", region, parameters)
                remembered = cache_load("stack", key)
            if remembered is not None:
                _preload_handlers()
                if server is not None:
                    server.wait_up()
                self.info = stack_snapshot.recreate(remembered, self.endpoint)
            else:
                # moto's server loads its CloudFormation engine (every service's models) on the first
                # stack request, a second or more; let it do that while this process imports the
                # handlers' code.
                if server is not None:
                    server.wait_up()
                warming = threading.Thread(target=stack.warm, args=(self.endpoint, region))
                warming.start()
                _preload_handlers()
                warming.join()
                self.info = stack.deploy(self.endpoint, region=region, parameters=parameters)
                if self.recreate and own_server:
                    cache_store("stack", key, stack_snapshot.capture(self.info))
            if self.keep_lake and own_server:
                # A server of our own starts empty: give it the lake of earlier runs, and keep the lake
                # (saved before the server stops: ExitStack unwinds in reverse).
                lake = self.state_dir / "lake"
                bucket = self.resource("LakeBucket")
                lake_state.restore(
                    self.client("s3"), bucket, lake, loaded=lambda keys: set(self.ledger(keys))
                )
                opened.callback(lambda: lake_state.save(self.client("s3"), bucket, lake))
            # Up: from here the stack stays open until __exit__.
            self._open = opened.pop_all()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._open.close()

    @contextlib.contextmanager
    def _state_lock(self) -> Any:
        with open(self.state_dir / ".lock", "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if self.on_busy is not None:
                    self.on_busy(self.state_dir)
                fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def ledger(self, keys: Iterable[str]) -> dict[str, tuple[str, str]]:
        """``file key → (status, reason)`` for those of ``keys`` the warehouse's load ledger holds."""
        from thermocline import warehouse
        from thermocline.load.sql import BOOKKEEPING_SCHEMA, LEDGER_TABLE, sql_literal
        from thermocline.names import qualified_name

        wanted = list(keys)
        path = self.warehouse_url.removeprefix("duckdb://")
        if not wanted or path == self.warehouse_url or not Path(path).exists():
            return {}
        ledger = qualified_name(BOOKKEEPING_SCHEMA, LEDGER_TABLE)
        found: dict[str, tuple[str, str]] = {}
        with contextlib.closing(warehouse.connect(self.warehouse_url)) as wh:
            exists = wh.query(
                "SELECT COUNT(*) FROM information_schema.tables WHERE "
                f"table_schema = {sql_literal(BOOKKEEPING_SCHEMA)} AND table_name = {sql_literal(LEDGER_TABLE)}"
            ).rows[0][0]
            for start in range(0, len(wanted), 200) if exists else ():
                listed = ", ".join(sql_literal(k) for k in wanted[start : start + 200])
                rows = wh.query(
                    f"SELECT file_key, status, reason FROM {ledger} WHERE file_key IN ({listed})"
                ).rows
                found.update({str(r[0]): (str(r[1]), str(r[2] or "")) for r in rows})
        return found

    def _hot_views(self, opened: contextlib.ExitStack) -> dict[str, str]:
        """Start Redis for the hot views and deploy them as with an existing cache outside a VPC (moto's
        VPC ids change with every server, and stable parameters keep the translated template cached);
        the functions get this server's URL (``environment_for``). ``REDIS_URL`` in the environment (what
        ``thermocline up`` prints) reuses that server instead. Without redis-server the stack goes without
        them (the template's default)."""
        if os.environ.get("REDIS_URL"):
            self.redis_url = os.environ["REDIS_URL"]
            return {"HotViewsCache": "existing", "ExistingCacheEndpoint": "127.0.0.1:6379"}
        try:
            server = redis_server.start()
        except redis_server.RedisServerError as exc:
            self.redis_missing = str(exc)
            logger.warning("hot views left out of the local stack", reason=self.redis_missing)
            return {}
        opened.callback(server.stop)
        self.redis_url = server.url
        return {"HotViewsCache": "existing", "ExistingCacheEndpoint": "127.0.0.1:6379"}

    # ---- resources ----------------------------------------------------------------------------------
    @property
    def stack(self) -> stack.StackInfo:
        if self.info is None:
            raise LocalStackError("the local stack is not up")
        return self.info

    def client(self, service: str) -> Any:
        return aws.client(service, endpoint_url=self.endpoint)

    def resource(self, logical_id: str) -> str:
        try:
            return self.stack.resources[logical_id]
        except KeyError:
            raise LocalStackError(f"the template has no resource {logical_id!r}") from None

    def environment_for(self, logical_id: str) -> dict[str, str]:
        spec = self.stack.functions[logical_id]
        env = {
            **spec.environment,
            **_LOCAL_AWS,
            "AWS_ENDPOINT_URL": str(self.endpoint),
            "POWERTOOLS_LOG_LEVEL": self.log_level,
        }
        if self.quiet:
            env["POWERTOOLS_METRICS_DISABLED"] = "true"
        if "WAREHOUSE_URL" in env:
            env["WAREHOUSE_URL"] = self.warehouse_url
        if "REDIS_URL" in env and self.redis_url:
            # The template's rediss:// URL and IAM cache name are ElastiCache's; locally, plain Redis.
            env["REDIS_URL"] = self.redis_url
            env.pop("REDIS_IAM_CACHE", None)
        env.update(self.function_env)
        return env

    def runtime(self, logical_id: str) -> FunctionRuntime:
        if logical_id not in self.stack.functions:
            known = ", ".join(sorted(self.stack.functions))
            raise LocalStackError(f"no function {logical_id!r} in template.yaml (functions: {known})")
        if logical_id not in self._runtimes:
            spec = self.stack.functions[logical_id]
            self._runtimes[logical_id] = FunctionRuntime(
                logical_id,
                spec.code_dir,
                spec.handler,
                self.environment_for(logical_id),
                spec.timeout,
                spec.memory_size,
            )
        return self._runtimes[logical_id]

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        if self.quiet:
            # Powertools prints the cold-start metric even with metrics disabled; quiet runs drop it.
            with contextlib.redirect_stdout(io.StringIO()):
                return self.runtime(logical_id).invoke(event)
        return self.runtime(logical_id).invoke(event)

    def _mapping(self, function: str, kind: str) -> stack.EventSourceMapping:
        for mapping in self.stack.event_source_mappings:
            if mapping.function == function and mapping.kind == kind:
                return mapping
        raise LocalStackError(f"template.yaml has no {kind} event source for {function}")

    def stream_reader(self, function: str = INGEST) -> StreamReader:
        """A reader of the DynamoDB stream that feeds ``function`` (the table's stream by default), to be
        shared by the mappings on that stream (``stream_poller(reader=...)``)."""
        mapping = self._mapping(function, "dynamodb")
        streams = self.client("dynamodbstreams")
        keep_wire_json(streams, "GetRecords")
        return StreamReader(streams, mapping.source_arn, self.stack.region)

    def stream_poller(
        self,
        *,
        redeliver: bool = False,
        function: str = INGEST,
        invoke: Any = None,
        reader: StreamReader | None = None,
    ) -> StreamPoller:
        """A DynamoDB stream → function mapping (StreamIngestFunction's by default), with the template's
        batch size; batches that exhaust their retries are described on the on-failure queue, as Lambda
        does. ``invoke`` stands between the poller and the function (the demo's reordering); ``reader``
        is shared with other mappings on the same stream (a reader of its own otherwise)."""
        mapping = self._mapping(function, "dynamodb")
        reader = reader or self.stream_reader(function)
        if reader.stream_arn != mapping.source_arn:
            raise LocalStackError(f"{function} reads {mapping.source_arn}, not {reader.stream_arn}")
        failure_queue = self.stack.resources.get("StreamFailureQueue")
        sqs = self.client("sqs")

        def on_failure(info: dict[str, Any]) -> None:
            if failure_queue:
                sqs.send_message(QueueUrl=failure_queue, MessageBody=json.dumps(info))

        return StreamPoller(
            reader,
            invoke or (lambda event: self.invoke(function, event)),
            batch_size=mapping.batch_size,
            on_failure=on_failure,
            redeliver=redeliver,
        )

    def load_drainer(self) -> QueueDrainer:
        """The LoadQueue → WarehouseLoadFunction mapping, with the template's batch size."""
        mapping = self._mapping(LOAD, "sqs")
        sqs = self.client("sqs")
        queue_url = sqs.get_queue_url(QueueName=mapping.source_arn.rsplit(":", 1)[-1])["QueueUrl"]
        return QueueDrainer(
            sqs,
            queue_url,
            mapping.source_arn,
            lambda event: self.invoke(LOAD, event),
            batch_size=mapping.batch_size,
            region=self.stack.region,
        )
