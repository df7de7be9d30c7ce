"""Outreach: who may be contacted on which channel, and the outbox an approved outreach
task writes to (state 'ready'; the channels that send come later)."""

from __future__ import annotations

from typing import Any

from app import audit, clock
from app.domain import Appointment, Patient
from app.domain.outreach import Channel
from app.errors import NotFound, ValidationError
from app.identity import Session, require
from app.services import patients


def recipient_for(patient: Patient, channel: Channel) -> str:
    """The address for this channel, refusing opted-out patients and missing contacts."""
    if channel is Channel.SMS:
        if patient.sms_opt_out:
            raise ValidationError(f"patient {patient.id} has opted out of text messages; "
                                  "no SMS draft was made")
        if not patient.phone.strip():
            raise ValidationError(f"patient {patient.id} has no phone number on file")
        return patient.phone.strip()
    if patient.email_opt_out:
        raise ValidationError(f"patient {patient.id} has opted out of email; no email draft "
                              "was made")
    if not patient.email.strip():
        raise ValidationError(f"patient {patient.id} has no email address on file")
    return patient.email.strip()


def add_to_outbox(session: Session, task_id: int, patient_id: int | None, kind: str,
                  channel: Channel, recipient: str, body: str, subject: str = "",
                  tcpa_exempt: bool = True) -> int:
    """Queue an approved message as 'ready'. Opt-outs are checked again at this moment."""
    require(session, "task.act")
    if patient_id is not None:
        recipient_for(patients._load_patient(session, patient_id), channel)
    if not body.strip():
        raise ValidationError("the message is empty")
    vault = session.vault
    with vault.write() as conn:
        if conn.execute("SELECT 1 FROM outbox WHERE task_id = ?", (task_id,)).fetchone():
            raise ValidationError(f"task {task_id} is already in the outbox")
        cur = conn.execute(
            "INSERT INTO outbox (task_id, patient_id, kind, channel, recipient, subject, body, "
            "tcpa_exempt, state, created_at, created_by) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (task_id, patient_id, kind, channel.value, recipient, subject, body,
             int(tcpa_exempt), "ready", clock.iso(clock.now()), session.username))
        outbox_id = int(cur.lastrowid)
        audit.record(vault, conn, session, "outbox.ready", "outbox", outbox_id,
                     patient_id=patient_id, details={"task_id": task_id, "kind": kind,
                                                     "channel": channel.value,
                                                     "tcpa_exempt": tcpa_exempt,
                                                     "chars": len(body)})
    return outbox_id


OUTBOX_COLUMNS = ["id", "task_id", "patient_id", "kind", "channel", "recipient", "subject",
                  "body", "tcpa_exempt", "state", "created_at", "created_by"]


def list_outbox(session: Session, state: str | None = "ready",
                limit: int = 200) -> list[dict[str, Any]]:
    require(session, "outreach.draft")
    where, params = ("WHERE state = ?", (state,)) if state else ("", ())
    rows = session.vault.query(f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM outbox {where} "
                               "ORDER BY id DESC LIMIT ?", (*params, limit))
    return [dict(zip(OUTBOX_COLUMNS, r)) for r in rows]


def get_outbox_for_task(session: Session, task_id: int) -> dict[str, Any]:
    require(session, "outreach.draft")
    row = session.vault.query_one(f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM outbox "
                                  "WHERE task_id = ?", (task_id,))
    if row is None:
        raise NotFound(f"task {task_id} has no outbox message")
    return dict(zip(OUTBOX_COLUMNS, row))


def last_appointment(session: Session, patient_id: int,
                     status: str | None = None) -> Appointment | None:
    """The patient's most recent appointment (optionally with this status)."""
    require(session, "patient.view")
    where, params = ("AND status = ?", (status,)) if status else ("", ())
    row = session.vault.query_one(
        "SELECT id, patient_id, start_at, provider, visit_type, status FROM appointments "
        f"WHERE patient_id = ? {where} ORDER BY start_at DESC LIMIT 1", (patient_id, *params))
    if row is None:
        return None
    return Appointment(id=row[0], patient_id=row[1], start_at=clock.parse_iso(row[2]),
                       provider=row[3], visit_type=row[4], status=row[5])
