"""A Redis client for the views: a URL, and for ElastiCache an IAM authentication token as the password.

``redis://127.0.0.1:6379/0`` locally; ``rediss://<user>@<endpoint>:6379`` (TLS) in AWS, where the password
is a short-lived IAM token signed with the function's own credentials: no secret to store or fetch, so no
Secrets Manager endpoint in the VPC.
https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-iam.html
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode, urlparse, urlunparse

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

__all__ = ["IamTokenProvider", "connect"]

# Tokens are valid for 15 minutes; a new connection takes a fresh one well before that.
_TOKEN_SECONDS = 900
_REUSE_SECONDS = 600


class IamTokenProvider(redis.CredentialProvider):
    """(user, token) for a new connection to an ElastiCache cache with IAM authentication."""

    def __init__(self, user: str, cache_name: str, region: str, *, serverless: bool = True) -> None:
        import botocore.session
        from botocore.model import ServiceId
        from botocore.signers import RequestSigner

        session = botocore.session.get_session()
        self.user, self.cache_name, self.region, self.serverless = user, cache_name, region, serverless
        self._signer = RequestSigner(
            ServiceId("elasticache"),
            region,
            "elasticache",
            "v4",
            session.get_credentials(),
            session.get_component("event_emitter"),
        )
        self._token: tuple[float, str] | None = None

    def token(self) -> str:
        if self._token and time.monotonic() - self._token[0] < _REUSE_SECONDS:
            return self._token[1]
        query = {"Action": "connect", "User": self.user}
        if self.serverless:
            query["ResourceType"] = "ServerlessCache"
        url = urlunparse(("https", self.cache_name, "/", "", urlencode(query), ""))
        signed = self._signer.generate_presigned_url(
            {"method": "GET", "url": url, "body": {}, "headers": {}, "context": {}},
            operation_name="connect",
            expires_in=_TOKEN_SECONDS,
            region_name=self.region,
        )
        # ElastiCache takes the signed URL without its scheme as the password.
        self._token = (time.monotonic(), signed.removeprefix("https://"))
        return self._token[1]

    def get_credentials(self) -> tuple[str, str]:
        return self.user, self.token()


def connect(url: str, *, iam_cache: str | None = None, region: str | None = None) -> Any:
    """A client for ``url``; with ``iam_cache`` (the cache's name) it authenticates with IAM tokens."""
    kwargs: dict[str, Any] = {
        "socket_timeout": 5,
        "socket_connect_timeout": 5,
        "health_check_interval": 30,
        # Connection errors and timeouts are retried; a script's own error is not (it is not transient).
        "retry": Retry(ExponentialBackoff(cap=2, base=0.1), 3),
    }
    if iam_cache:
        parts = urlparse(url)
        if not parts.username or not region:
            raise ValueError(
                "IAM authentication needs the user in the URL (rediss://user@host:port) and a region"
            )
        kwargs["credential_provider"] = IamTokenProvider(parts.username, iam_cache, region)
        # The user goes to the provider: redis-py refuses a user name beside a credential provider.
        url = urlunparse(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return redis.Redis.from_url(url, **kwargs)
