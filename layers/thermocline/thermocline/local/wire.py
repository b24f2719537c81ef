"""boto3 answers kept as the JSON the service sent, for the local stack's bulk reads.

DynamoDB and DynamoDB Streams speak JSON whose attribute values are already what a Lambda event and a
table export carry (binary as base64 text, timestamps as epoch seconds). botocore parses every answer
value by value against the service's shape model (binary to bytes, times to datetimes); for the tens of
thousands of stream records and items the demo reads that parse, and turning the values back, was the
largest share of the demo's own CPU. ``keep_wire_json`` hands the JSON over as sent instead.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["keep_wire_json"]


def _keep(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    # botocore merges customized_response_dict into what it parses; an empty body parses to nothing.
    # Errors are left to botocore, which turns them into exceptions as usual.
    if response_dict["status_code"] < 300 and response_dict["body"]:
        customized_response_dict.update(json.loads(response_dict["body"]))
        response_dict["body"] = b"{}"


def keep_wire_json(client: Any, *operations: str) -> None:
    """Have ``client`` answer ``operations`` (e.g. ``"GetRecords"``) with the service's JSON as sent,
    through botocore's ``before-parse`` event; pagination and errors work as before."""
    service = client.meta.service_model.service_id.hyphenize()
    for operation in operations:
        client.meta.events.register(
            f"before-parse.{service}.{operation}", _keep, unique_id=f"thermocline-wire-{service}-{operation}"
        )
