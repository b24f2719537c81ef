"""Recorded table schemas as JSON objects in the lake bucket, written with S3 conditional writes.

A schema is recorded *before* any lake file that uses it. ``If-Match`` on the ETag read (``If-None-Match:
*`` for a new table) makes two writers that raced on one table find out: the loser re-reads and decodes
again on top of the winner's schema, so a column name, once recorded, never changes.
https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-requests.html
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from botocore.exceptions import ClientError

from thermocline.lake.keys import schema_key
from thermocline.lake.table_schema import TableSchema
from thermocline.names import Taken, unique_identifier

__all__ = ["SchemaStore"]

# 412 PreconditionFailed: the object changed since it was read; 409 ConditionalRequestConflict: a
# concurrent conditional write to the same key.
_LOST_RACE = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")
# Each lost race means another writer recorded a name; this many in a row means S3 keeps refusing.
_CLAIM_ATTEMPTS = 20


class SchemaStore:
    """The recorded schemas under ``prefix`` in ``bucket``; remembers the ETag of every schema it read."""

    def __init__(self, s3_client: Any, bucket: str, prefix: str) -> None:
        self.s3 = s3_client
        self.bucket = bucket
        self.prefix = prefix
        self.etags: dict[str, str | None] = {}

    def key(self, table: str) -> str:
        return schema_key(self.prefix, table)

    def load(self, table: str) -> TableSchema | None:
        """The recorded schema of ``table``, or None when it has none yet."""
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=self.key(table))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                self.etags[table] = None
                return None
            raise
        self.etags[table] = response["ETag"]
        return TableSchema.from_json(json.loads(response["Body"].read()))

    def save(self, schema: TableSchema) -> bool:
        """Write ``schema`` if nobody else changed it since we read it. False on a lost race."""
        etag = self.etags.get(schema.table)
        schema.revision += 1
        body = json.dumps(schema.to_json(), indent=1, ensure_ascii=True).encode()
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            response = self.s3.put_object(
                Bucket=self.bucket,
                Key=self.key(schema.table),
                Body=body,
                ContentType="application/json",
                **condition,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _LOST_RACE:
                return False
            raise
        self.etags[schema.table] = response.get("ETag")
        return True

    def claim(self, base: str, owner: str, reserved: Collection[str] = ()) -> str:
        """The warehouse table ``owner`` writes: ``base``, or ``base_2``, ``base_3``... — the first whose
        recorded schema is ``owner``'s, or that has none yet and is not ``reserved`` (a contract's target
        tables, which belong to the stream), which is then recorded as ``owner``'s (a schema without
        columns). For sources outside the stream decoder (Aurora/RDS exports): a table one source
        refreshes whole must never hold another source's rows, and the stream ingest routes around a
        table another owner has recorded, as it does for two DynamoDB tables of one name."""

        def taken(name: str) -> bool:
            schema = self.load(name)
            if schema is None:
                return name in reserved
            return schema.source != owner

        for _ in range(_CLAIM_ATTEMPTS):
            name = unique_identifier(base, Taken(taken))
            if self.etags.get(name) is not None or self.save(TableSchema(table=name, source=owner)):
                return name
            # Lost a race for the name to another writer: look again.
        raise RuntimeError(
            f"could not record a warehouse table for {owner} (from {base!r}): {_CLAIM_ATTEMPTS} conditional "
            f"writes to s3://{self.bucket}/{self.prefix} lost their race"
        )
