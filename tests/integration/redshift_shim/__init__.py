"""A wire-level stand-in for Amazon Redshift: PostgreSQL behind a shim that speaks the PostgreSQL protocol
to ``redshift_connector`` and does what Redshift does that PostgreSQL does not (``redshift``).

The production engine (``warehouse/redshift_connector.py``) has no test mode: it sends exactly the SQL it
sends to Redshift, and this shim receives it. A stand-in in the house's sense: no Redshift is reachable
here, and the driver's real protocol, transactions and errors are exercised end to end.
"""

from tests.integration.redshift_shim.server import RedshiftShim

__all__ = ["RedshiftShim"]
