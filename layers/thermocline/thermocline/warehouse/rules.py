"""Redshift's rules for a batch, checked by every engine before it sends one.

A batch is one transaction. Every engine declares the Data API's limits as its capabilities
(``port.DATA_API_LIMITS``), so a batch that passes here is one the Data API, a driver connection and the
local engines all accept; and Redshift refuses ``ALTER TABLE ... ALTER COLUMN ... TYPE`` inside a
transaction block, so such a statement must come alone. The rules the local engines add while translating
(backslashes in literals, identifier lengths) are in ``emulation``.

Pure: no driver, no sqlglot.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from thermocline.warehouse.errors import TerminalLoadError
from thermocline.warehouse.port import Capabilities

__all__ = ["check_batch", "is_alter_column_type"]

# ALTER TABLE ... ALTER COLUMN ... TYPE "can't run within a transaction block"
# (https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html).
_ALTER_COLUMN_TYPE = re.compile(r"^\s*ALTER\s+TABLE\s+.+\s+ALTER\s+COLUMN\s+.+\s+TYPE\s", re.I | re.S)


def is_alter_column_type(sql: str) -> bool:
    """Whether ``sql`` is an ``ALTER COLUMN ... TYPE``, which Redshift runs only outside a transaction block."""
    return _ALTER_COLUMN_TYPE.match(sql) is not None


def check_batch(statements: Sequence[str], limits: Capabilities) -> None:
    """Refuse a transaction Redshift (through the Data API, ``limits``) would refuse, before running it.

    The Data API takes at most ``limits.max_statements`` statements per batch and
    ``limits.max_statement_bytes`` per statement
    (https://docs.aws.amazon.com/redshift/latest/mgmt/data-api.html, "Considerations").
    """
    if len(statements) > limits.max_statements:
        raise TerminalLoadError(
            f"{len(statements)} statements in one transaction; the Data API allows {limits.max_statements}"
        )
    for sql in statements:
        size = len(sql.encode())
        if size > limits.max_statement_bytes:
            raise TerminalLoadError(
                f"statement of {size} bytes exceeds the Data API's {limits.max_statement_bytes}: {sql[:80]}..."
            )
        if len(statements) > 1 and is_alter_column_type(sql):
            raise TerminalLoadError(
                f"ALTER TABLE ALTER COLUMN cannot run inside a transaction block: {sql[:120]}"
            )
