"""The typed X12 parse error: a rejected import naming the segment and its position."""

from __future__ import annotations

from app.errors import ImportRejected


class X12Error(ImportRejected):
    """Malformed X12. `position` reads 'segment N (ID) at byte B'; nothing was imported."""

    def __init__(self, reason: str, position: str = "", *, segment_index: int | None = None,
                 byte_offset: int | None = None, segment_id: str = "") -> None:
        super().__init__(reason, position)
        self.segment_index = segment_index
        self.byte_offset = byte_offset
        self.segment_id = segment_id
