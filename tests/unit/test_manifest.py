from __future__ import annotations

import json

import pytest

from thermocline.lake.keys import manifest_key
from thermocline.lake.manifest import (
    ManifestEntry,
    ManifestError,
    build_manifest,
    parse_manifest,
    split_s3_url,
)


def test_every_entry_is_mandatory_with_its_content_length():
    text = build_manifest(
        [ManifestEntry("s3://lake/cdc/a.parquet", 10), ManifestEntry("s3://lake/cdc/b.parquet", 0)]
    )
    assert json.loads(text) == {
        "entries": [
            {"url": "s3://lake/cdc/a.parquet", "mandatory": True, "meta": {"content_length": 10}},
            {"url": "s3://lake/cdc/b.parquet", "mandatory": True, "meta": {"content_length": 0}},
        ]
    }
    assert parse_manifest(text) == [
        ManifestEntry("s3://lake/cdc/a.parquet", 10),
        ManifestEntry("s3://lake/cdc/b.parquet", 0),
    ]


def test_a_file_listed_twice_is_read_once():
    entry = ManifestEntry("s3://lake/cdc/a.parquet", 10)
    assert len(json.loads(build_manifest([entry, entry]))["entries"]) == 1


@pytest.mark.parametrize(
    "entries",
    [[], [ManifestEntry("/local/file", 1)], [ManifestEntry("s3://b/k", -1)]],
)
def test_invalid_manifests_are_refused(entries):
    with pytest.raises(ManifestError):
        build_manifest(entries)


def test_parse_refuses_entries_without_content_length():
    with pytest.raises(ManifestError):
        parse_manifest('{"entries": [{"url": "s3://b/k", "mandatory": true}]}')


def test_manifests_live_outside_the_lake_prefix():
    key = manifest_key("_manifests/", "orders", "20261101T000000-abc")
    assert key == "_manifests/orders/20261101T000000-abc.manifest"
    assert not key.startswith("cdc/")
    assert split_s3_url("s3://lake/a/b c.parquet") == ("lake", "a/b c.parquet")
    with pytest.raises(ManifestError):
        split_s3_url("s3://lake")
