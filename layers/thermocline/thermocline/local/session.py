"""The local stack: moto's server, the template deployed into it, a DuckDB warehouse, in-process handlers.

``LocalStack`` is what the CLI's ``demo``, ``invoke`` and ``replay`` run on. Its state directory holds the
DuckDB warehouse (``warehouse.duckdb``) and moto's log; AWS resources live in moto's server for as long as
the stack is open (or in an already running server given by ``endpoint``).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from pathlib import Path
from types import TracebackType
from typing import Any

from thermocline import aws
from thermocline.local import moto_server, stack
from thermocline.local.poller import QueueDrainer, StreamPoller
from thermocline.local.runtime import FunctionRuntime, environment
from thermocline.observability import logger

INGEST = "StreamIngestFunction"
LOAD = "WarehouseLoadFunction"
REPORT = "AnalyticsReportFunction"

_LOCAL_AWS = {
    "AWS_ACCESS_KEY_ID": "thermocline-local",
    "AWS_SECRET_ACCESS_KEY": "thermocline-local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


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
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.endpoint = endpoint
        self.warehouse_url = warehouse_url or f"duckdb:///{self.state_dir / 'warehouse.duckdb'}"
        self.log_level = log_level
        self.function_env = function_env or {}
        # Quiet runs (demo, replay) keep handler logs and metric lines off the terminal; `invoke` shows them.
        self.quiet = logging.getLevelName(log_level) > logging.INFO
        self._open = contextlib.ExitStack()
        self.info: stack.StackInfo | None = None
        self._runtimes: dict[str, FunctionRuntime] = {}

    # ---- lifecycle ----------------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self._open as opened:
            if self.endpoint is None:
                server = moto_server.start(log_path=self.state_dir / "moto.log")
                opened.callback(server.stop)
                self.endpoint = server.endpoint
            # Handlers share this process's one Powertools logger: its level is the stack's.
            logger.setLevel(self.log_level)
            for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
                os.environ.pop(name, None)
            opened.enter_context(environment({**_LOCAL_AWS, "AWS_ENDPOINT_URL": self.endpoint}))
            self.info = stack.deploy(self.endpoint, region=_LOCAL_AWS["AWS_REGION"])
            # Up: from here the stack stays open until __exit__.
            self._open = opened.pop_all()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._open.close()

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

    def stream_poller(self, *, redeliver: bool = False) -> StreamPoller:
        """The DynamoDB stream → StreamIngestFunction mapping, with the template's batch size; batches
        that exhaust their retries are described on the on-failure queue, as Lambda does."""
        mapping = self._mapping(INGEST, "dynamodb")
        failure_queue = self.stack.resources.get("StreamFailureQueue")
        sqs = self.client("sqs")

        def on_failure(info: dict[str, Any]) -> None:
            if failure_queue:
                sqs.send_message(QueueUrl=failure_queue, MessageBody=json.dumps(info))

        return StreamPoller(
            self.client("dynamodbstreams"),
            mapping.source_arn,
            lambda event: self.invoke(INGEST, event),
            batch_size=mapping.batch_size,
            region=self.stack.region,
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
