"""Invoke a function's handler in-process, the way Lambda would: its own environment, a context object.

This is the local stand-in for ``sam local invoke`` on machines without a container runtime. Each
function's ``app.py`` is imported once per process under its own module name, with the environment the
template gives it, so module-level settings and clients are created exactly as at a Lambda cold start.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any


class InvokeError(RuntimeError):
    """The handler raised: Lambda would report a function error and retry per the event source."""


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    timeout_seconds: int = 60
    region: str = "us-east-1"
    account: str = "123456789012"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _started: float = field(default_factory=time.monotonic)

    @property
    def function_version(self) -> str:
        return "$LATEST"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, restoring the previous values after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


class FunctionRuntime:
    """One function's handler, loaded once (its cold start) and invoked any number of times."""

    def __init__(
        self,
        name: str,
        code_dir: os.PathLike[str] | str,
        handler: str,
        environment_vars: Mapping[str, str],
        timeout: int = 60,
        memory_size: int = 512,
    ) -> None:
        self.name = name
        self.code_dir = os.fspath(code_dir)
        self.module_name, _, self.function_attr = handler.rpartition(".")
        self.env = dict(environment_vars)
        self.timeout = timeout
        self.memory_size = memory_size
        self._handler: Callable[[dict[str, Any], Any], Any] | None = None

    def _load(self) -> Callable[[dict[str, Any], Any], Any]:
        if self._handler is None:
            path = os.path.join(self.code_dir, *self.module_name.split(".")) + ".py"
            unique = f"thermocline_function_{self.name}"
            spec = importlib.util.spec_from_file_location(unique, path)
            if spec is None or spec.loader is None:
                raise InvokeError(f"{self.name}: cannot load handler module {path}")
            module: ModuleType = importlib.util.module_from_spec(spec)
            sys.modules[unique] = module
            spec.loader.exec_module(module)
            self._handler = getattr(module, self.function_attr)
        return self._handler

    def invoke(self, event: dict[str, Any]) -> Any:
        env = {
            "POWERTOOLS_TRACE_DISABLED": "true",
            **self.env,
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_size),
        }
        with environment(env):
            handler = self._load()
            context = LambdaContext(
                self.name, self.memory_size, self.timeout, os.environ.get("AWS_REGION", "us-east-1")
            )
            return handler(event, context)
