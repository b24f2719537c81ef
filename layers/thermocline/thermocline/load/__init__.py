"""The load leg: lake files → warehouse, exactly once.

* ``policy`` — :class:`LoadPolicy`: where the lake is and how hard a load tries (one object);
* ``loader`` — :func:`load_files` (CDC files, merged) and :func:`full_refresh` (snapshot files, atomic
  swap);
* ``sql`` — the SQL they run (pure builders returning ``list[str]``: DDL, staging, the CDC merge, the
  full refresh, the ledger);
* ``table_setup`` — creating and widening target tables, conforming files to the table's types;
* ``notifications`` — S3 notifications through SQS (or SNS), and draining the queue on a schedule.

The loader's names are imported on first use, so that importing the pure ``load.sql`` does not load the
loader's runtime (Powertools, botocore).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from thermocline.load.loader import LoadReport, full_refresh, load_files
    from thermocline.load.policy import LoadPolicy

__all__ = ["LoadPolicy", "LoadReport", "full_refresh", "load_files"]


def __getattr__(name: str) -> Any:
    if name == "LoadPolicy":
        from thermocline.load.policy import LoadPolicy

        return LoadPolicy
    if name in ("LoadReport", "full_refresh", "load_files"):
        from thermocline.load import loader

        return getattr(loader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
