"""Redshift's error texts sorted into bad data (isolate the file), transient (retry) and terminal."""

from __future__ import annotations

import pytest

from thermocline.warehouse.redshift_errors import files_named_in, kind_of


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("ERROR: JSON parsing error\n  DETAIL: error: JSON parsing error code: 8001", "data"),
        ("ERROR: Numeric data overflow (result precision)", "data"),
        ("ERROR: Overflow for NUMERIC(38,2)", "data"),
        ("ERROR: value too long for type character varying(64)", "data"),
        (
            "ERROR: Spectrum Scan Error DETAIL: File 'https://b.s3.amazonaws.com/k' has an invalid version",
            "data",
        ),
        ("ERROR: 1023 DETAIL: Serializable isolation violation on table - 123", "transient"),
        ("ERROR: deadlock detected", "transient"),
        ("ERROR: could not obtain lock on relation", "transient"),
        # A COPY the role may not read names the file too, and is never the file's fault.
        (
            "ERROR: Spectrum Scan Error: S3ServiceException:Access Denied,Status 403, File 's3://b/k'",
            "terminal",
        ),
        ("ERROR: permission denied for relation orders", "terminal"),
        ('ERROR: syntax error at or near "MERGE"', "terminal"),
        # A number in a message is not error 1023.
        ("ERROR: relation 1023 does not exist", "terminal"),
    ],
)
def test_kind_of_each_documented_message(text: str, kind: str) -> None:
    assert kind_of(text) == kind


def test_files_are_named_by_s3_url_or_https_address() -> None:
    text = (
        "context: File 'https://lake.s3.us-east-1.amazonaws.com/cdc/orders/dt%3D2026-11-01/a.parquet' has an "
        "invalid version number. Also s3://lake/cdc/orders/b.parquet, and "
        "https://s3.eu-west-1.amazonaws.com/other-bucket/x/c.parquet."
    )
    assert files_named_in(text) == [
        "s3://lake/cdc/orders/b.parquet",
        "s3://lake/cdc/orders/dt=2026-11-01/a.parquet",
        "s3://other-bucket/x/c.parquet",
    ]
