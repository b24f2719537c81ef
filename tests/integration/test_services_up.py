"""The suite's servers really run: moto answers S3 over HTTP, PostgreSQL answers SQL."""

from __future__ import annotations

import pytest

from thermocline import aws


@pytest.mark.moto
def test_moto_serves_s3_over_http(aws_env: str) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="probe")
    s3.put_object(Bucket="probe", Key="a/b.txt", Body=b"hello")
    assert s3.get_object(Bucket="probe", Key="a/b.txt")["Body"].read() == b"hello"
    assert s3.meta.endpoint_url == aws_env


@pytest.mark.postgres
def test_postgres_answers(postgres_dsn: str) -> None:
    import psycopg

    with psycopg.connect(postgres_dsn) as conn:
        assert conn.execute("select 1 + 1").fetchone() == (2,)
