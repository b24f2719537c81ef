"""The local stack's moto server keeps connections open (``local/moto_http.py``) and answers as moto as
released does: the same status, headers and body for the same request, over one connection or many."""

from __future__ import annotations

import http.client
import io
import logging
import re
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration.test_moto_app import _client

pytestmark = pytest.mark.moto

# Headers that differ between any two answers (the clock, random request ids, the server's banner), and
# the ones that say how the body is framed and whether the connection stays, which is the change.
_VOLATILE = {"date", "x-amzn-requestid", "x-amz-request-id", "x-amz-id-2", "server", "connection"} | {
    "last-modified",
    "x-amz-crc32",  # of a body that holds a creation time
}
# ... and the parts of a body that do (the clock, random ids)
_VOLATILE_BODY = re.compile(
    rb'"(CreationDateTime|TableId)": [^,}]+|<(LastModified|RequestId|RequestID|HostId)>[^<]*</\2>'
)
_FRAMING = {"content-length", "transfer-encoding"}
_SIGNED = "AWS4-HMAC-SHA256 Credential=t/20260101/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=t"


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def _ddb_request(target: str, body: bytes) -> dict[str, Any]:
    headers = {
        "X-Amz-Target": f"DynamoDB_20120810.{target}",
        "Content-Type": "application/x-amz-json-1.0",
        "Authorization": _SIGNED.format("dynamodb"),
    }
    return {"method": "POST", "url": "/", "body": body, "headers": headers}


def _s3_request(method: str, url: str, body: bytes | None = None, **headers: str) -> dict[str, Any]:
    return {
        "method": method,
        "url": url,
        "body": body,
        "headers": {"Authorization": _SIGNED.format("s3"), **headers},
    }


# One conversation: table and bucket made, writes, reads, errors (a body the application never reads among
# them, and one the application fails on), a HEAD whose Content-Length is the object's, an empty answer,
# a chunked request body.
_CONVERSATION = [
    _ddb_request(
        "CreateTable",
        b'{"TableName": "T", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}], '
        b'"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}',
    ),
    _ddb_request("PutItem", b'{"TableName": "T", "Item": {"pk": {"S": "a"}, "n": {"N": "1.50"}}}'),
    _ddb_request("GetItem", b'{"TableName": "T", "Key": {"pk": {"S": "a"}}}'),
    _ddb_request("GetItem", b'{"TableName": "Missing", "Key": {"pk": {"S": "a"}}}'),
    _ddb_request("PutItem", b'{"TableName": "T", "Item": {"pk": {"N": "1"}}}'),
    _ddb_request("NoSuchAction", b'{"ignored": "' + b"x" * 5000 + b'"}'),
    _s3_request("PUT", "/bucket"),
    _s3_request("PUT", "/bucket/key", b"hello world", **{"Content-Type": "text/plain"}),
    _s3_request("HEAD", "/bucket/key"),
    _s3_request("GET", "/bucket/key", Range="bytes=0-4"),
    _s3_request("GET", "/bucket/missing"),
    _s3_request("HEAD", "/bucket/missing"),
    _s3_request("DELETE", "/bucket/key"),
    {**_ddb_request("ListTables", b""), "chunks": [b'{"Lim', b'it": 5}']},
    _s3_request("GET", "/bucket?list-type=2"),
]


def _converse(endpoint: str, *, one_connection: bool) -> list[tuple[int, dict[str, str], bytes]]:
    answers = []
    connection = http.client.HTTPConnection("127.0.0.1", _port(endpoint), timeout=10)
    for request in _CONVERSATION:
        if not one_connection:
            connection.close()
        body = iter(request["chunks"]) if "chunks" in request else request["body"]  # an iterable goes chunked
        connection.request(request["method"], request["url"], body=body, headers=request["headers"])
        response = connection.getresponse()
        data = response.read()
        headers = {name.lower(): value for name, value in response.getheaders()}
        answers.append((response.status, headers, data))
    connection.close()
    return answers


def _comparable(answers: list[tuple[int, dict[str, str], bytes]]) -> list[Any]:
    out = []
    for status, headers, body in answers:
        kept = {k: v for k, v in headers.items() if k not in _VOLATILE | _FRAMING}
        out.append((status, kept, _VOLATILE_BODY.sub(b"", body)))
    return out


def test_a_conversation_answers_as_moto_released_does(servers: dict[str, str]) -> None:
    released = _converse(servers["released"], one_connection=False)
    ours = _converse(servers["thermocline"], one_connection=True)
    assert _comparable(ours) == _comparable(released)
    for (status, headers, body), (_, released_headers, _), request in zip(
        ours, released, _CONVERSATION, strict=True
    ):
        assert "connection" not in headers  # the connection stayed open for the next request
        if request["method"] == "HEAD":  # the size of what a GET would send, as moto says it
            assert headers.get("content-length") == released_headers.get("content-length")
        elif status != 204:
            assert int(headers["content-length"]) == len(body)
    assert all(headers.get("connection") == "close" for _, headers, _ in released)


def test_a_request_that_asks_to_close_is_answered_and_closed(servers: dict[str, str]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", _port(servers["thermocline"]), timeout=10)
    request = _ddb_request("ListTables", b"{}")
    connection.request(
        "POST", "/", body=request["body"], headers={**request["headers"], "Connection": "close"}
    )
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Connection") == "close"
    assert response.read().startswith(b'{"TableNames"')
    assert response.fp is None or connection.sock is None  # closed by the server's answer


def _boto3(endpoint: str, service: str) -> Any:
    # One attempt per call, so the connections counted are the calls'.
    return _client(endpoint, service, config=Config(retries={"max_attempts": 1}))


def test_boto3_reuses_one_connection_where_moto_released_opens_one_per_call(
    servers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    opened = {}
    for name, endpoint in servers.items():
        ddb = _boto3(endpoint, "dynamodb")
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
            for _ in range(20):
                ddb.list_tables()
        # urllib3 says so when it opens a connection, and when it opens one again after the server closed it
        said = ("Starting new HTTP connection", "Resetting dropped connection")
        opened[name] = sum(r.getMessage().startswith(said) for r in caplog.records)
    assert opened == {"released": 20, "thermocline": 1}


def test_s3_through_boto3_over_kept_connections(servers: dict[str, str]) -> None:
    """Uploads of every shape (one request, chunked with a checksum trailer, multipart) and reads after
    them on the same connections, as the lake and the reports use S3."""
    results = {}
    for name, endpoint in servers.items():
        s3 = _boto3(endpoint, "s3")
        s3.create_bucket(Bucket="lake")
        s3.put_object(Bucket="lake", Key="a.txt", Body=b"x" * 1000)
        s3.upload_fileobj(io.BytesIO(b"y" * (9 * 1024 * 1024)), "lake", "big.bin")  # multipart
        s3.put_object(Bucket="lake", Key="sum.txt", Body=b"z" * 10, ChecksumAlgorithm="SHA256")
        with pytest.raises(ClientError) as missing:
            s3.get_object(Bucket="lake", Key="nope")
        listed = s3.list_objects_v2(Bucket="lake")["Contents"]
        results[name] = {
            "keys": [(o["Key"], o["Size"]) for o in listed],
            "a": s3.get_object(Bucket="lake", Key="a.txt")["Body"].read(),
            "big": len(s3.get_object(Bucket="lake", Key="big.bin")["Body"].read()),
            "sum": s3.get_object(Bucket="lake", Key="sum.txt")["Body"].read(),
            "head": s3.head_object(Bucket="lake", Key="big.bin")["ContentLength"],
            "error": missing.value.response["Error"]["Code"],
        }
    assert results["thermocline"] == results["released"]
    assert results["thermocline"]["big"] == 9 * 1024 * 1024
