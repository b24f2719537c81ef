"""The one factory for boto3 clients.

boto3 honours ``AWS_ENDPOINT_URL`` (and per-service ``AWS_ENDPOINT_URL_<SERVICE>``) on its own, so the local
stack points every client at moto's server through the environment alone.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
from botocore.config import Config

_RETRIES = Config(retries={"max_attempts": 5, "mode": "adaptive"})
# Credentials are resolved once per botocore session; one session per set of credential variables keeps
# a change of them (tests, the local stack) from reusing stale ones.
_CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")
_sessions: dict[tuple[str | None, ...], boto3.session.Session] = {}
_lock = threading.Lock()


def client(service: str, **kwargs: Any) -> Any:
    """Return a boto3 client for ``service`` with adaptive retries.

    Clients share one botocore session: a new session reads the endpoint and partition data and each
    service model from disk again (tens of milliseconds per client).
    """
    kwargs.setdefault("config", _RETRIES)
    key = tuple(os.environ.get(name) for name in _CREDENTIAL_VARIABLES)
    with _lock:
        session = _sessions.get(key)
        if session is None:
            session = _sessions[key] = boto3.session.Session()
        return session.client(service, **kwargs)  # type: ignore[call-overload]
