"""The decoder's one public exception."""

from __future__ import annotations

__all__ = ["RecordDecodeError"]


class RecordDecodeError(Exception):
    """A stream record (or one of its values) that can never be decoded: malformed, an unknown type tag...

    Inside a batch it becomes a :class:`~thermocline.sources.dynamodb_streams.decoder.Reject` (quarantined
    with this message as the reason); :func:`decode_stream_records` raises it for the first one. Not a
    ``ValueError`` on purpose: the decoder tells a record it rejects (this) from a Python error in its own
    handling of a malformed record (reported as ``malformed record: ...``).
    """
