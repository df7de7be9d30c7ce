"""Evidence on tasks: blobs (screenshots, PDFs, letters) stored in the vault, never on
disk, and the evidence rows that attach them to a task. The only writer of task_evidence."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from app import clock
from app.errors import NotFound, ValidationError
from app.identity import Session
from app.vault.db import Connection


@dataclass
class NewEvidence:
    label: str
    excerpt: str = ""
    blob: bytes | None = None
    mime: str = "text/plain"
    # A blob already in the vault (one file several tasks were made from), instead of
    # `blob`: it is referred to, not stored again.
    blob_id: int | None = None


def store_blob(session: Session, conn: Connection, data: bytes, mime: str) -> int:
    cur = conn.execute("INSERT INTO blobs (sha256, mime, size, data, created_at) "
                       "VALUES (?,?,?,?,?)", (hashlib.sha256(data).hexdigest(), mime, len(data),
                                              data, clock.iso(clock.now())))
    return int(cur.lastrowid)


def add_evidence(session: Session, conn: Connection, task_id: int,
                 items: list[NewEvidence]) -> None:
    """Attach evidence (an excerpt, optionally a blob) to a task, in the caller's write
    transaction; the caller writes the audit row for what it did."""
    for item in items:
        blob_id = store_blob(session, conn, item.blob, item.mime) if item.blob else \
            item.blob_id
        conn.execute("INSERT INTO task_evidence (task_id, label, excerpt, blob_id, created_at) "
                     "VALUES (?,?,?,?,?)", (task_id, item.label, item.excerpt, blob_id,
                                            clock.iso(clock.now())))


def unseen_evidence(conn: Connection, task_id: int,
                    items: list[NewEvidence]) -> list[NewEvidence]:
    """The items a refreshed task does not hold yet: a text excerpt already on the task
    (same label and text) is not added again; a blob (a new screenshot) always is."""
    held = set(conn.execute("SELECT label, excerpt FROM task_evidence WHERE task_id = ? AND "
                            "blob_id IS NULL", (task_id,)).fetchall())
    return [i for i in items if i.blob or (i.label, i.excerpt) not in held]


def blob_data(session: Session, blob_id: int, task_id: int) -> tuple[bytes, str]:
    """A file attached to a task (its evidence, or the intake form it was made from), for
    a person who may work that task; audited with the task's patient. Asked by task, not
    by blob id alone: any id would otherwise open any stored file (a front desk user a
    denial letter), with no audit row."""
    from app import audit
    from app.queue.reads import workable_task

    task = workable_task(session, task_id)
    attached = session.vault.query_one(
        "SELECT 1 FROM task_evidence WHERE task_id = ? AND blob_id = ? UNION ALL "
        "SELECT 1 FROM intake_forms WHERE task_id = ? AND blob_id = ? LIMIT 1",
        (task_id, blob_id, task_id, blob_id))
    row = session.vault.query_one("SELECT data, mime FROM blobs WHERE id = ?", (blob_id,)) \
        if attached else None
    if row is None:
        raise NotFound(f"no evidence blob {blob_id} on task {task_id}")
    # A FHIR referral file is stored once for all its referrals (m0023), and one bundle may
    # hold several patients: it is shown one referral's part at a time, audited under that
    # referral's patient (app.services.referrals.source_document), never whole.
    if session.vault.query_one("SELECT 1 FROM referrals WHERE source_blob_id = ? AND "
                               "source = 'fhir' LIMIT 1", (blob_id,)) is not None:
        raise ValidationError(f"evidence blob {blob_id} is a FHIR referral file: open each "
                              "referral's own part of it on the Referrals page")
    audit.record_now(session.vault, session, "evidence.view", object_type="task",
                     object_id=task_id, patient_id=task.patient_id,
                     details={"blob_id": blob_id, "mime": str(row[1])})
    return bytes(row[0]), str(row[1])
