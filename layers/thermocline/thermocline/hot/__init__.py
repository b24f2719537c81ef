"""The hot end of the stack: real-time views in Redis (ElastiCache) kept from the table's stream.

* ``views``: view definitions, shipped as YAML files in ``views/`` (pure)
* ``changes``: a stream record's old/new images → per-view changes (pure)
* ``store``: the views in Redis, applied exactly once by ``apply.lua`` (adapter)
* ``connection``: a Redis client, with IAM authentication for ElastiCache (adapter)
"""
