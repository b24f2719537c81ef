"""The load leg: lake files → warehouse, exactly once.

* ``policy`` — :class:`LoadPolicy`: where the lake is and how hard a load tries (one object);
* ``loader`` — :func:`load_files` (CDC files, MERGE) and :func:`full_refresh` (snapshot files, atomic
  swap); the SQL they run is built by ``thermocline.merge_sql``;
* ``table_setup`` — creating and widening target tables, conforming files to the table's types;
* ``notifications`` — S3 notifications through SQS (or SNS), and draining the queue on a schedule.
"""

from __future__ import annotations

from thermocline.load.loader import LoadReport, full_refresh, load_files
from thermocline.load.policy import LoadPolicy

__all__ = ["LoadPolicy", "LoadReport", "full_refresh", "load_files"]
