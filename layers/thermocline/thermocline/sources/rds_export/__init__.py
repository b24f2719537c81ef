"""Aurora and RDS snapshot exports → lake snapshot files (a full refresh of each exported table).

``layout`` (AWS's export layout, read and written), ``types`` and ``values`` (source types → warehouse
types, pure), ``restore`` (exported parts → lake rows, pure), ``reader`` and ``source`` (S3 adapters).
"""
