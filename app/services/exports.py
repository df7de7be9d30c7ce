"""Exports that may hold PHI (the audit log as CSV, a portal page's screenshot): the role
check and the audit row happen here, before the face (CLI or desktop) writes the bytes
to the file the user chose (owner-only, `ui.private_files.write_private`)."""

from __future__ import annotations

from dataclasses import dataclass

from app import audit
from app.identity import Session, require


@dataclass(frozen=True)
class AuditExport:
    rows: int
    csv: str


def export_audit(session: Session, start: str | None = None, end: str | None = None, *,
                 to_file: bool = False) -> AuditExport:
    """Audit rows with start <= ts < end (ISO dates or times, UTC; None = open) as CSV.
    The export itself is audited, with the range and whether it goes to a file."""
    require(session, "audit.export")
    rows = audit.rows_between(session.vault, start, end)
    audit.record_now(session.vault, session, "audit.export",
                     details={"from": start, "to": end, "rows": len(rows),
                              "to_file": to_file})
    return AuditExport(rows=len(rows), csv=audit.to_csv(rows))


def export_portal_page(session: Session, recipe_name: str, png: bytes, file_name: str
                       ) -> bytes:
    """A recipe test's result page, which may show PHI, asked for on disk: checked with
    the recipe test's own permission and audited (size and file name, never the content).
    Returns the bytes for the caller to write."""
    require(session, "pa.check")
    audit.record_now(session.vault, session, "portal.screenshot_export", object_type="recipe",
                     object_id=recipe_name, details={"bytes": len(png), "file": file_name})
    return png
