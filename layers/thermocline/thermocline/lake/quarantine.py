"""The one quarantine writer: what can never be decoded or loaded is kept in S3 with its reason.

Two kinds of object, one writer (their keys: ``lake.keys``):

* an undecodable source record: ``{"reason": ..., "record": <the full record>}``;
* a lake file the loader cannot load: a copy of the file and ``<copy>.error.json`` holding
  ``{"file", "table", "reason", "details"}``.

Nothing quarantined is ever dropped silently: the writer raises when S3 refuses, and the caller retries.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from thermocline.lake.columns import SEQ_WIDTH
from thermocline.lake.keys import file_quarantine_error_key, file_quarantine_key, record_quarantine_key
from thermocline.lake.manifest import s3_url
from thermocline.observability import logger

__all__ = ["Quarantine"]


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _deep_json(value: Any) -> str:
    """JSON of a document nested deeper than ``json.dumps`` recurses (a record quarantined for its
    nesting), written with an explicit stack: the quarantine keeps the whole record all the same."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Raw):
            out.append(item.text)
        elif isinstance(item, dict):
            parts: list[Any] = [_Raw("{")]
            for i, (key, child) in enumerate(item.items()):
                parts += [_Raw(("," if i else "") + json.dumps(str(key)) + ":"), child]
            stack.extend(reversed([*parts, _Raw("}")]))
        elif isinstance(item, list):
            parts = [_Raw("[")]
            for i, child in enumerate(item):
                parts += [*([_Raw(",")] if i else []), child]
            stack.extend(reversed([*parts, _Raw("]")]))
        else:
            out.append(json.dumps(item, default=_json_default))
    return "".join(out)


class _Raw:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class Quarantine:
    """Writes quarantined records and files under ``prefix`` in ``bucket``."""

    def __init__(self, s3_client: Any, bucket: str, prefix: str) -> None:
        self.s3 = s3_client
        self.bucket = bucket
        self.prefix = prefix

    def _put_json(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    def record(
        self,
        record: Any,
        reason: str,
        *,
        table: str | None,
        date: str,
        shard: str,
        sequence_number: str | None,
    ) -> str:
        """Keep one undecodable record whole, with its reason; returns the key written.

        The key is deterministic (a retried batch overwrites its own object): the record's sequence number,
        or, when it has no usable one, a digest of the content.
        """
        document = {"reason": reason, "record": record}
        try:
            payload = json.dumps(document, default=_json_default, ensure_ascii=True, indent=1).encode()
        except RecursionError:
            payload = _deep_json(document).encode()
        seq = sequence_number
        if not (seq and seq.isascii() and seq.isdigit() and len(seq) <= SEQ_WIDTH):
            seq = "record-" + hashlib.sha256(payload).hexdigest()[:16]
        else:
            seq = seq.rjust(SEQ_WIDTH, "0")
        key = record_quarantine_key(self.prefix, table, date, shard, seq)
        self._put_json(key, payload)
        return key

    def lake_file(self, key: str, table: str, reason: str, details: Sequence[Mapping[str, Any]] = ()) -> str:
        """Keep a copy of an unloadable lake file and the reason beside it; returns the error object's key.

        The copy is best effort (the file may be gone, which is itself a reason to quarantine it); the
        reason is always written.
        """
        try:
            self.s3.copy_object(
                Bucket=self.bucket,
                Key=file_quarantine_key(self.prefix, key),
                CopySource={"Bucket": self.bucket, "Key": key},
            )
        except Exception as exc:  # noqa: BLE001 - a missing object is itself a reason to quarantine
            logger.warning("could not copy quarantined file", key=key, error=str(exc))
        error_key = file_quarantine_error_key(self.prefix, key)
        body = {"file": s3_url(self.bucket, key), "table": table, "reason": reason, "details": list(details)}
        self._put_json(error_key, json.dumps(body).encode())
        return error_key
