"""Captured DynamoDB Streams batches, as people have them, → the Lambda event ``StreamIngestFunction`` takes.

Two shapes arrive besides Lambda's own event:

* the output of ``aws dynamodbstreams get-records`` (``{"Records": [...], "NextShardIterator": ...}``),
  whose records do not name their table: Lambda adds ``eventSourceARN``, the Streams API does not
  (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetRecords.html). The table
  is then given by the user and the ARN made up from it;
* AttributeValues written by serializers that emit every type tag and leave all but one null
  (``{"S": "x", "N": null, "BOOL": null, ...}``, the AWS SDK for Java's object mapping among them), with
  the tags in any case. One non-null tag is what the value is; anything else is left for the decoder to
  quarantine with its reason.

Pure: rewrites JSON documents, nothing else.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CaptureError", "lambda_event", "normalise_attribute_value"]

_TAGS = frozenset(("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"))
_IMAGES = ("Keys", "NewImage", "OldImage")


class CaptureError(ValueError):
    """A captured batch cannot be turned into a Streams event (the message says why, in one line)."""


def normalise_attribute_value(av: Any) -> Any:
    """``{"S": "x", "N": null, ...}`` → ``{"S": "x"}``, recursively through maps and lists."""
    if type(av) is not dict or not av:
        return av
    if len(av) > 1 or next(iter(av)) not in _TAGS:
        tags = {str(tag).upper(): value for tag, value in av.items()}
        if len(tags) != len(av) or not set(tags) <= _TAGS:
            return av
        present = [(tag, value) for tag, value in tags.items() if value is not None]
        if len(present) != 1:
            return av
        av = dict(present)
    ((tag, value),) = av.items()
    if tag == "M" and type(value) is dict:
        return {"M": {name: normalise_attribute_value(item) for name, item in value.items()}}
    if tag == "L" and type(value) is list:
        return {"L": [normalise_attribute_value(item) for item in value]}
    return av


def _normalise_image(image: Any) -> Any:
    if type(image) is not dict:
        return image
    try:
        return {name: normalise_attribute_value(av) for name, av in image.items()}
    except RecursionError:
        return image  # nested deeper than any DynamoDB item: the decoder quarantines it


def lambda_event(document: Any, *, table: str | None = None) -> dict[str, Any]:
    """A Lambda DynamoDB Streams event from a captured batch (either shape above).

    ``table`` names the source table of records without ``eventSourceARN``; without it such a record is
    a :class:`CaptureError`. Records that are not objects are passed on as they are (the decoder
    quarantines them).
    """
    if not isinstance(document, dict) or not isinstance(document.get("Records"), list):
        raise CaptureError('not a DynamoDB Streams event (expected an object with a "Records" list)')
    records = []
    for i, record in enumerate(document["Records"]):
        if type(record) is not dict:
            records.append(record)
            continue
        record = dict(record)
        arn = record.get("eventSourceARN")
        if not isinstance(arn, str) or not arn.strip():
            if table is None:
                raise CaptureError(
                    f"record {i} has no eventSourceARN, which names its table "
                    "(output of `aws dynamodbstreams get-records` does not): pass --table NAME"
                )
            region = record.get("awsRegion") if isinstance(record.get("awsRegion"), str) else "us-east-1"
            record["eventSourceARN"] = f"arn:aws:dynamodb:{region}:000000000000:table/{table}/stream/captured"
        body = record.get("dynamodb")
        if type(body) is dict:
            record["dynamodb"] = {
                key: _normalise_image(value) if key in _IMAGES else value for key, value in body.items()
            }
        records.append(record)
    return {"Records": records}
