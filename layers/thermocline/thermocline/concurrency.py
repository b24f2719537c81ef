"""AWS requests that do not depend on each other, sent side by side.

A small S3 request spends tens of milliseconds waiting on the service
(https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/timeouts-and-retries-for-latency-sensitive-applications.html),
and a Lambda function is billed for that wait: a batch that reads six recorded schemas and writes six lake
files one after another waits twelve times. Low-level boto3 clients are thread safe
(https://boto3.amazonaws.com/v1/documentation/api/latest/guide/clients.html#multithreading-or-multiprocessing-with-clients),
so the requests share the caller's client from a few threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

__all__ = ["concurrently"]

T = TypeVar("T")
R = TypeVar("R")

# Below botocore's default pool of 10 connections per client, so no request waits for a connection.
MAX_CONCURRENT_REQUESTS = 8
_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(MAX_CONCURRENT_REQUESTS, thread_name_prefix="thermocline-aws")
        return _pool


def concurrently(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(item) for item in items]`` with the calls side by side. Every call ends before this returns;
    then the first exception in ``items`` order, if any, is raised."""
    if len(items) <= 1 or MAX_CONCURRENT_REQUESTS <= 1:
        return [fn(item) for item in items]
    futures = [_executor().submit(fn, item) for item in items]
    wait(futures)
    return [future.result() for future in futures]
