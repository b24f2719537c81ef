"""The one factory for boto3 clients.

boto3 honours ``AWS_ENDPOINT_URL`` (and per-service ``AWS_ENDPOINT_URL_<SERVICE>``) on its own, so the local
stack points every client at moto's server through the environment alone.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

_RETRIES = Config(retries={"max_attempts": 5, "mode": "adaptive"})


def client(service: str, **kwargs: Any) -> Any:
    """Return a boto3 client for ``service`` with adaptive retries."""
    kwargs.setdefault("config", _RETRIES)
    return boto3.session.Session().client(service, **kwargs)  # type: ignore[call-overload]
