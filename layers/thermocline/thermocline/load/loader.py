"""Lake files → warehouse, exactly once: CDC files merged (:func:`load_files`), snapshot files swapped in
whole (:func:`full_refresh`).

A load plans files by table and file schema, skips files the ledger already holds, and loads each group
in one transaction (``load.sql.load_sql``): COPY into staging, newest version per key, drop versions the
warehouse already has, deletes, rows replaced, ledger. Transient errors are retried (``LoadPolicy.attempts``) and
then left for redelivery; a file whose data cannot be loaded is quarantined and the others go on. The
engine's limits come from ``warehouse.capabilities``.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from thermocline.conform import conflicts
from thermocline.lake import keys as lake_keys
from thermocline.lake.manifest import ManifestEntry, build_manifest, s3_url, split_s3_url
from thermocline.lake.metadata import UnreadableLakeFileError, super_bytes_of_files
from thermocline.lake.quarantine import Quarantine
from thermocline.lake.reader import LakeFile, read_lake_file
from thermocline.lake.types import ColumnType
from thermocline.load.policy import LoadPolicy
from thermocline.load.sql import (
    LedgerEntry,
    ensure_bookkeeping_sql,
    full_refresh_sql,
    ledger_insert_sql,
    ledger_lookup_sql,
    load_sql,
    table_columns_sql,
)
from thermocline.load.table_setup import conformed, ensure_table
from thermocline.observability import logger
from thermocline.runtime import Runtime
from thermocline.warehouse.errors import (
    BadDataError,
    LoadErrorDetail,
    TerminalLoadError,
    TransientLoadError,
    WarehouseError,
)
from thermocline.warehouse.port import Warehouse

__all__ = ["LoadReport", "Loader", "full_refresh", "load_files"]

T = TypeVar("T")


@dataclass
class LoadReport:
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    max_lag_seconds: float = 0.0

    def merge(self, other: LoadReport) -> None:
        self.loaded += other.loaded
        self.skipped += other.skipped
        self.quarantined += other.quarantined
        self.failed += other.failed
        self.missing += other.missing
        self.max_lag_seconds = max(self.max_lag_seconds, other.max_lag_seconds)
        for table, n in other.rows.items():
            self.rows[table] = self.rows.get(table, 0) + n

    def summary(self) -> dict[str, Any]:
        return {
            "files_loaded": len(self.loaded),
            "files_skipped": len(self.skipped),
            "files_quarantined": len(self.quarantined),
            "files_failed": len(self.failed),
            "files_missing": len(self.missing),
            "rows": dict(self.rows),
            "max_lag_seconds": round(self.max_lag_seconds, 3),
        }


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class Loader:
    """Loads lake files of ``policy.lake_bucket`` into ``warehouse``."""

    def __init__(
        self, policy: LoadPolicy, warehouse: Warehouse, s3_client: Any, runtime: Runtime | None = None
    ):
        self.policy = policy
        self.warehouse = warehouse
        self.s3 = s3_client
        self.runtime = runtime or Runtime()

    # --- helpers ---------------------------------------------------------------------------------------

    def _load_id(self) -> str:
        return self.runtime.clock().strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:12]

    def _retrying(self, what: str, fn: Callable[[], T]) -> T:
        attempts = self.policy.attempts
        for attempt in range(1, attempts + 1):
            try:
                return fn()
            except TransientLoadError as exc:
                if attempt == attempts:
                    raise
                logger.warning(
                    "transient warehouse error, retrying", step=what, attempt=attempt, error=str(exc)
                )
                self.runtime.sleep(self.policy.retry_base_seconds * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    def _ledger_status(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        step = self.policy.ledger_lookup_keys
        for start in range(0, len(keys), step):
            result = self.warehouse.query(ledger_lookup_sql(keys[start : start + step]))
            found.update({str(row[0]): str(row[1]) for row in result.rows})
        return found

    def _manifest_url(self, table: str, load_id: str) -> str:
        bucket = self.policy.lake_bucket
        return s3_url(bucket, lake_keys.manifest_key(self.policy.manifest_prefix, table, load_id))

    def _write_manifest(self, manifest_url: str, files: Sequence[LakeFile]) -> None:
        bucket = self.policy.lake_bucket
        body = build_manifest([ManifestEntry(s3_url(bucket, f.key), f.size) for f in files])
        manifest_bucket, key = split_s3_url(manifest_url)
        self.s3.put_object(
            Bucket=manifest_bucket, Key=key, Body=body.encode(), ContentType="application/json"
        )

    def _quarantine(
        self, table: str, key: str, size: int, reason: str, details: Sequence[LoadErrorDetail] = ()
    ) -> None:
        """Keep a copy of the file and the reason under the quarantine prefix, and mark it in the ledger."""
        Quarantine(self.s3, self.policy.lake_bucket, self.policy.quarantine_prefix).lake_file(
            key, table, reason, [asdict(d) for d in details]
        )
        entry = LedgerEntry(key=key, content_length=size, status="quarantined", reason=reason)
        self._retrying(
            "ledger",
            lambda: self.warehouse.execute(ledger_insert_sql(table, [entry], self._load_id())),
        )
        logger.error("file quarantined", key=key, table=table, reason=reason)
        self.runtime.metrics.add_metric(name="FilesQuarantined", unit="Count", value=1)

    # --- CDC loads ---------------------------------------------------------------------------------------

    def _load_chunk(self, files: list[LakeFile], report: LoadReport) -> None:
        policy = self.policy
        spec = files[0].spec
        pending = list(files)
        while pending:
            load_id = self._load_id()
            manifest = self._manifest_url(spec.table, load_id)
            limit = self.warehouse.capabilities.max_statement_bytes
            statements = load_sql(
                spec,
                manifest_url=manifest,
                files=[LedgerEntry(f.lake_key, f.size, f.rows) for f in pending],
                load_id=load_id,
                iam_role=policy.copy_iam_role,
                delete_mode=policy.delete_mode,
                max_statement_bytes=limit,
                super_bytes=super_bytes_of_files(f.super_bytes for f in pending),
            )
            if len(pending) > 1 and max(len(sql.encode()) for sql in statements) > limit:
                # Very long keys or very many files: two smaller loads instead of one the engine refuses.
                half = len(pending) // 2
                self._load_chunk(pending[:half], report)
                self._load_chunk(pending[half:], report)
                return
            self._write_manifest(manifest, pending)
            try:
                self._retrying(f"load {spec.table}", functools.partial(self.warehouse.execute, statements))
            except TransientLoadError as exc:
                logger.error("load failed, leaving files for redelivery", table=spec.table, error=str(exc))
                report.failed += [f.lake_key for f in pending]
                return
            except BadDataError as exc:
                urls = {s3_url(policy.lake_bucket, f.key): f for f in pending}
                bad = [urls[u] for u in exc.files if u in urls]
                if not bad and len(pending) > 1:
                    # The error names no file: load one at a time to find the bad ones.
                    for single in pending:
                        self._load_chunk([single], report)
                    return
                bad = bad or pending
                for f in bad:
                    url = s3_url(policy.lake_bucket, f.key)
                    details = [d for d in exc.details if d.file in (url, None)]
                    self._quarantine(spec.table, f.lake_key, f.size, str(exc), details)
                    report.quarantined.append(f.lake_key)
                pending = [f for f in pending if f not in bad]
                continue
            except TerminalLoadError as exc:
                logger.error("load failed and will not succeed on retry", table=spec.table, error=str(exc))
                report.failed += [f.lake_key for f in pending]
                return
            report.loaded += [f.lake_key for f in pending]
            report.rows[spec.table] = report.rows.get(spec.table, 0) + sum(f.rows for f in pending)
            landed = [f.landed_at for f in pending if f.landed_at is not None]
            if landed:
                # Freshness: how long the oldest of these files waited between landing and being loaded.
                lag = (self.runtime.clock() - min(landed)).total_seconds()
                report.max_lag_seconds = max(report.max_lag_seconds, lag)
                self.runtime.metrics.add_metric(name="LoadLagSeconds", unit="Seconds", value=lag)
            logger.info(
                "loaded files", table=spec.table, files=len(pending), rows=sum(f.rows for f in pending)
            )
            self.runtime.metrics.add_metric(name="FilesLoaded", unit="Count", value=len(pending))
            return

    def _plan(self, wanted: list[str], report: LoadReport) -> dict[tuple[Any, ...], list[LakeFile]]:
        """The files to load, grouped by table, schema and kind; what cannot be read is reported."""
        from botocore.exceptions import BotoCoreError, ClientError

        # Export rows (a table's state at a point in time) never share a load with change rows: the seam
        # between them is decided against the warehouse (load.sql.load_sql).
        groups: dict[tuple[str, tuple[tuple[str, ColumnType], ...], str], list[LakeFile]] = {}
        for key in wanted:
            try:
                lake_file = read_lake_file(self.s3, self.policy.lake_bucket, key)
            except UnreadableLakeFileError as exc:
                self._quarantine("unknown", key, 0, str(exc))
                report.quarantined.append(key)
                continue
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code in {"NoSuchKey", "404"}:
                    # Deleted since its notification: nothing to load, and nothing recorded, so a file
                    # written again under the same key later still loads.
                    logger.warning("lake object no longer exists", key=key)
                    report.missing.append(key)
                elif code == "InvalidRange":
                    self._quarantine("unknown", key, 0, "empty object")
                    report.quarantined.append(key)
                else:
                    report.failed.append(key)
                continue
            except BotoCoreError:
                report.failed.append(key)
                continue
            spec = lake_file.spec
            folder = lake_keys.table_folder(key, self.policy.lake_prefix)
            if folder != spec.table:
                # The metadata may not pick the table to load into: a file loads only into the table of its folder.
                reason = f"metadata names table {spec.table!r} but the file is under {folder!r}"
                self._quarantine("unknown", key, lake_file.size, reason)
                report.quarantined.append(key)
                continue
            groups.setdefault((spec.table, spec.columns, spec.kind or ""), []).append(lake_file)
        return groups

    def load_files(self, keys: Iterable[str]) -> LoadReport:
        """Load lake objects (keys in ``policy.lake_bucket``) into the warehouse, exactly once."""
        report = LoadReport()
        wanted = []
        for key in dict.fromkeys(keys):
            if "\x00" in key or _unencodable(key):
                # No engine's text type holds it, so the ledger cannot record it: left for redelivery and,
                # in AWS, the dead-letter queue and its alarm.
                logger.error("lake key cannot be recorded in the warehouse", key=repr(key))
                report.failed.append(key)
            else:
                wanted.append(key)
        if not wanted:
            return report
        try:
            self._retrying("bookkeeping", lambda: self.warehouse.execute(ensure_bookkeeping_sql()))
            done = self._retrying("ledger", lambda: self._ledger_status(wanted))
        except WarehouseError as exc:
            logger.error("warehouse unavailable", error=str(exc))
            report.failed += wanted
            return report
        report.skipped += [k for k in wanted if k in done]
        groups = self._plan([k for k in wanted if k not in done], report)
        step = self.policy.max_files_per_load
        for (table, _, _), files in sorted(groups.items(), key=lambda item: (item[0][0], item[0][2])):
            spec = files[0].spec
            if not spec.is_cdc:
                logger.error("snapshot files arrived on the CDC path; use full_refresh", table=table)
                report.failed += [f.key for f in files]
                continue
            try:
                target_types = self._retrying("schema", lambda spec=spec: ensure_table(self.warehouse, spec))
            except WarehouseError as exc:
                logger.error("cannot prepare table", table=table, error=str(exc))
                report.failed += [f.key for f in files]
                continue
            staged = conflicts({name: ctype.sql for name, ctype in spec.data_columns}, target_types)
            if staged:
                # Type conflicts never stop a table: the values move to _overflow (conform.py).
                logger.warning(
                    "file types conflict with the table; values kept in _overflow",
                    table=table,
                    columns=staged,
                )
                self.runtime.metrics.add_metric(name="TypeConflicts", unit="Count", value=len(files))
                files = conformed(self.s3, self.policy.lake_bucket, files, staged)
                self._retrying("schema", lambda spec=files[0].spec: ensure_table(self.warehouse, spec))
            for start in range(0, len(files), step):
                self._load_chunk(files[start : start + step], report)
        return report

    # --- snapshots -----------------------------------------------------------------------------------

    def full_refresh(self, keys: Sequence[str]) -> LoadReport:
        """Replace one table's contents with the snapshot files ``keys`` (in ``policy.lake_bucket``).

        One transaction: readers see the old contents until it commits and the snapshot after it, never an
        empty or half-loaded table. All files must describe the same table with the same columns.
        """
        report = LoadReport()
        if not keys:
            raise ValueError("full_refresh needs at least one snapshot file")
        files = [read_lake_file(self.s3, self.policy.lake_bucket, k) for k in dict.fromkeys(keys)]
        specs = {(f.spec.table, f.spec.columns) for f in files}
        if len(specs) != 1:
            raise ValueError(f"snapshot files describe {len(specs)} different tables or schemas")
        spec = files[0].spec
        self._retrying("bookkeeping", lambda: self.warehouse.execute(ensure_bookkeeping_sql()))
        self._retrying("schema", lambda: ensure_table(self.warehouse, spec))

        load_id = self._load_id()
        manifest = self._manifest_url(spec.table, load_id)
        self._write_manifest(manifest, files)
        limit = self.warehouse.capabilities.max_statement_bytes
        refresh = functools.partial(
            full_refresh_sql,
            spec,
            manifest_url=manifest,
            files=[LedgerEntry(f.key, f.size, f.rows) for f in files],
            load_id=load_id,
            iam_role=self.policy.copy_iam_role,
            max_statement_bytes=limit,
            super_bytes=super_bytes_of_files(f.super_bytes for f in files),
        )
        statements = refresh()
        if max(len(sql.encode()) for sql in statements) > limit:
            # Too wide to name the target's columns: its INSERT fills them in their order instead.
            rows = self._retrying("schema", lambda: self.warehouse.query(table_columns_sql(spec.table)).rows)
            statements = refresh(target_columns=[str(r[0]) for r in rows])
        self._retrying("full refresh", functools.partial(self.warehouse.execute, statements))
        report.loaded += [f.key for f in files]
        report.rows[spec.table] = sum(f.rows for f in files)
        logger.info("full refresh", table=spec.table, files=len(files), rows=report.rows[spec.table])
        return report


def load_files(
    keys: Iterable[str],
    *,
    settings: Any,
    warehouse: Warehouse,
    s3_client: Any,
    runtime: Runtime | None = None,
) -> LoadReport:
    """Load CDC lake files into the warehouse, exactly once (``settings``: ``WarehouseLoadSettings``)."""
    return Loader(LoadPolicy.from_settings(settings), warehouse, s3_client, runtime).load_files(keys)


def full_refresh(
    keys: Sequence[str],
    *,
    settings: Any,
    warehouse: Warehouse,
    s3_client: Any,
    runtime: Runtime | None = None,
) -> LoadReport:
    """Replace one table with snapshot lake files in one transaction (the atomic swap a source's full
    export uses). ``settings``: ``WarehouseLoadSettings``."""
    return Loader(LoadPolicy.from_settings(settings), warehouse, s3_client, runtime).full_refresh(keys)
