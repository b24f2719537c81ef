"""Sources: one package per kind of input, each turning its input into lake rows through ``thermocline.lake``.

* ``dynamodb_streams`` — Lambda DynamoDB Streams records → CDC lake rows.

A new source is a package here beside it (see docs/architecture.md, "Adding a source").
"""
