"""Referrals: storage, the loop's steps and the one view of what happened to a referral.

Incoming referrals are stored by the workflow (automations.workflows.referrals) inside its
write transaction (`store_incoming`), keyed by source and the source's own id; approving
the referral_triage task records the decision (`apply_triage`). Outbound referrals are
sent (`send_referral`) and moved along sent -> scheduled -> seen -> report_received
(`record_step`); each step is a row with its time and actor and an audit row.
`referral_history` answers "what happened to this referral": the steps, what is due
next, its tasks and its audit trail.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Any

from app import audit, clock
from app.domain import Task
from app.errors import ImportRejected, NotFound, ValidationError
from app.identity import Session, require
from app.queue.machine import actionable_sql
from app.referrals import IncomingReferral
from app.referrals.loop import (
    INCOMING_TO_SCHEDULE,
    STEPS,
    Incoming,
    LoopDays,
    Outbound,
    check_order,
    due_at,
    followup_done,
    incoming_due,
    loop_open,
    step_dues,
)
from app.referrals.sources import service_request_part
from app.referrals.triage import Decision
from app.services import practice
from app.services.imports import _find_patient as find_patient
from app.vault.db import Connection

TRIAGE_STATUS = {"schedule": "to_schedule", "request_records": "records_requested",
                 "decline": "declined"}


def loop_days(session: Session) -> LoopDays:
    return LoopDays(scheduled=int(practice.get_setting(session, "referral_schedule_days")),
                    seen=int(practice.get_setting(session, "referral_seen_days")),
                    report_received=int(practice.get_setting(session,
                                                             "referral_report_days")))


# -- incoming ------------------------------------------------------------------------------

def match_patient(session: Session, ref: IncomingReferral) -> tuple[int | None, str, str]:
    """(patient id, payer plan type, payer name): the practice's patient with the
    referral's member ID and name (as imports match: services.imports._find_patient), else
    its name and birth date; and their active coverage's payer (else the referral's own
    payer name)."""
    require(session, "patient.view")
    with session.vault.read() as conn:
        dob = ref.patient_dob.isoformat() if ref.patient_dob else ""
        patient_id = (find_patient(conn, ref.patient_last, ref.patient_first, dob,
                                   ref.member_id) if ref.patient_last else None)
        if patient_id is None:
            return None, "", ref.payer_name
        row = conn.execute(
            "SELECT y.plan_type, y.name FROM coverages c JOIN payers y ON y.id = c.payer_id "
            "WHERE c.patient_id = ? ORDER BY c.active DESC, c.priority, c.id LIMIT 1",
            (patient_id,)).fetchone()
    return patient_id, (str(row[0]) if row else ""), (str(row[1]) if row else ref.payer_name)


def find_incoming(session: Session, source: str, source_id: str) -> int | None:
    """The id of an incoming referral already stored from this source document."""
    require(session, "referral.manage")
    row = session.vault.query_one(
        "SELECT id FROM referrals WHERE direction = 'in' AND source = ? AND source_id = ?",
        (source, source_id))
    return int(row[0]) if row else None


def store_incoming(session: Session, conn: Connection, ref: IncomingReferral,
                   patient_id: int | None, decision: Decision) -> tuple[int, bool]:
    """Store an incoming referral inside the caller's transaction; (id, created). One
    already stored from the same source document is returned as it is."""
    require(session, "referral.manage")
    row = conn.execute("SELECT id FROM referrals WHERE direction = 'in' AND source = ? AND "
                       "source_id = ?", (ref.source, ref.source_id)).fetchone()
    if row is not None:
        return int(row[0]), False
    now = clock.iso(clock.now())
    details = {"priority": ref.priority, "service": asdict(ref.service) if ref.service
               else None, "diagnoses": [asdict(d) for d in ref.diagnoses[:20]],
               "authorization": ref.authorization, "payer": ref.payer_name,
               "requested_on": ref.requested_on.isoformat() if ref.requested_on else None,
               "suggested": {"action": decision.action, "within_days": decision.within_days,
                             "reason": decision.reason}}
    cur = conn.execute(
        "INSERT INTO referrals (direction, patient_id, source, source_id, counterpart, "
        "specialty, reason, urgency, status, details, created_by, created_at, updated_at) "
        "VALUES ('in',?,?,?,?,?,?,?,'received',?,?,?,?)",
        (patient_id, ref.source, ref.source_id, ref.referring, ref.specialty,
         ref.reason[:2000], decision.urgency, json.dumps(details), session.username, now,
         now))
    referral_id = int(cur.lastrowid)
    _step(conn, referral_id, "received", clock.now(), session.username,
          f"{ref.source}; triage suggests {decision.action}")
    audit.record(session.vault, conn, session, "referral.received", "referral", referral_id,
                 patient_id=patient_id, details={"source": ref.source,
                                                 "urgency": decision.urgency,
                                                 "suggested": decision.action})
    return referral_id, True


def source_blob(session: Session, conn: Connection, sha256: str) -> int | None:
    """The blob a referral's source file with this SHA-256 (hex) is already stored as, so
    a file is kept once however many referrals and tasks come from it (caller's
    transaction)."""
    require(session, "referral.manage")
    row = conn.execute("SELECT b.id FROM referrals r JOIN blobs b ON b.id = r.source_blob_id "
                       "WHERE b.sha256 = ? ORDER BY b.id LIMIT 1", (sha256,)).fetchone()
    return int(row[0]) if row else None


def link_source(session: Session, conn: Connection, referral_id: int, blob_id: int) -> None:
    """Point the referral at its stored source file (inside the caller's transaction)."""
    require(session, "referral.manage")
    conn.execute("UPDATE referrals SET source_blob_id = ? WHERE id = ?", (blob_id, referral_id))


def link_task(session: Session, conn: Connection, referral_id: int, task_id: int) -> None:
    """Record the referral's triage task (inside the caller's transaction)."""
    require(session, "referral.manage")
    conn.execute("UPDATE referrals SET task_id = ? WHERE id = ?", (task_id, referral_id))


def apply_triage(session: Session, task: Task) -> str:
    """The referral_triage effect (declared in app/queue/kinds.py): the approved action
    becomes the referral's status, as a step with the approver, audited."""
    payload = task.payload
    referral_id = int(payload["referral_id"])
    action = str(payload.get("action", "schedule"))
    status = TRIAGE_STATUS.get(action, "to_schedule")
    with session.vault.write() as conn:
        conn.execute("UPDATE referrals SET status = ?, updated_at = ? WHERE id = ?",
                     (status, clock.iso(clock.now()), referral_id))
        _step(conn, referral_id, status, clock.now(), session.username,
              f"triage approved (task {task.id})")
        audit.record(session.vault, conn, session, "referral.triaged", "referral", referral_id,
                     patient_id=task.patient_id,
                     details={"action": action, "task_id": task.id,
                              "within_days": payload.get("within_days")})
    return f"referral {referral_id}: {status.replace('_', ' ')}"


# -- outbound --------------------------------------------------------------------------------

def send_referral(session: Session, patient_id: int, to: str, *, specialty: str = "",
                  reason: str = "", urgency: str = "routine",
                  sent_at: datetime | None = None) -> int:
    """Record an outbound referral as sent (now, or `sent_at`, aware); returns its id."""
    require(session, "referral.manage")
    if not to.strip():
        raise ValidationError("say who the patient is referred to")
    at = sent_at or clock.now()
    with session.vault.write() as conn:
        if conn.execute("SELECT 1 FROM patients WHERE id = ?", (patient_id,)).fetchone() is None:
            raise NotFound(f"no patient {patient_id}")
        now = clock.iso(clock.now())
        cur = conn.execute(
            "INSERT INTO referrals (direction, patient_id, source, source_id, counterpart, "
            "specialty, reason, urgency, status, created_by, created_at, updated_at) VALUES "
            "('out',?,'manual',?,?,?,?,?,'sent',?,?,?)",
            (patient_id, uuid.uuid4().hex, to.strip()[:200], specialty[:120], reason[:2000],
             urgency, session.username, now, now))
        referral_id = int(cur.lastrowid)
        _step(conn, referral_id, "sent", at, session.username, "")
        due = due_at(Outbound(referral_id, patient_id, to, specialty, "sent", at),
                     loop_days(session))
        conn.execute("UPDATE referrals SET due_at = ? WHERE id = ?",
                     (clock.iso(due) if due else None, referral_id))
        audit.record(session.vault, conn, session, "referral.sent", "referral", referral_id,
                     patient_id=patient_id, details={"urgency": urgency})
    return referral_id


def record_step(session: Session, referral_id: int, step: str, *,
                at: datetime | None = None, appointment_at: datetime | None = None,
                note: str = "") -> dict[str, Any]:
    """Move an outbound referral to its next step (in order), or an incoming one whose
    triage approved scheduling to 'scheduled', with its time (now, or `at`) and, for
    'scheduled', the booked visit's time; returns the referral's state."""
    require(session, "referral.manage")
    when = at or clock.now()
    with session.vault.write() as conn:
        row = conn.execute("SELECT status, patient_id, counterpart, specialty, direction "
                           "FROM referrals WHERE id = ?", (referral_id,)).fetchone()
        if row is None:
            raise NotFound(f"no referral {referral_id}")
        if row[4] == "in" and (step, row[0]) != ("scheduled", "to_schedule"):
            raise ValidationError(f"the incoming referral is at '{row[0]}'; only its visit "
                                  "('scheduled') is recorded, once triage approved "
                                  "scheduling it")
        if row[4] == "out":
            try:
                check_order(str(row[0]), step)
            except ValueError as exc:
                raise ValidationError(str(exc)) from None
        appointment = appointment_at if step == "scheduled" else None
        _step(conn, referral_id, step, when, session.username, note[:500])
        state = Outbound(referral_id, row[1], str(row[2]), str(row[3]), step, when,
                         appointment)
        # an incoming referral's loop ends with the booked visit: nothing is due after it
        due = due_at(state, loop_days(session)) if row[4] == "out" else None
        conn.execute("UPDATE referrals SET status = ?, due_at = ?, appointment_at = "
                     "COALESCE(?, appointment_at), updated_at = ? WHERE id = ?",
                     (step, clock.iso(due) if due else None,
                      clock.iso(appointment) if appointment else None,
                      clock.iso(clock.now()), referral_id))
        audit.record(session.vault, conn, session, "referral.step", "referral", referral_id,
                     patient_id=row[1], details={"step": step, "at": clock.iso(when)})
    return {"id": referral_id, "status": step, "due_at": clock.iso(due) if due else None}


def open_outbound(session: Session) -> list[Outbound]:
    """Outbound referrals whose loop is not closed, with their last step."""
    require(session, "referral.manage")
    out: list[Outbound] = []
    with session.vault.read() as conn:
        for rid, pid, to, specialty, status, appt, urgency in conn.execute(
                "SELECT id, patient_id, counterpart, specialty, status, appointment_at, "
                "urgency FROM referrals WHERE direction = 'out' AND status != "
                "'report_received' ORDER BY id").fetchall():
            last = conn.execute("SELECT at FROM referral_steps WHERE referral_id = ? AND "
                                "step = ? ORDER BY id DESC LIMIT 1", (rid, status)).fetchone()
            if last is None:
                continue
            out.append(Outbound(int(rid), pid, str(to), str(specialty), str(status),
                                datetime.fromisoformat(str(last[0])),
                                datetime.fromisoformat(str(appt)) if appt else None,
                                str(urgency)))
    return out


def open_incoming(session: Session) -> list[Incoming]:
    """Incoming referrals whose visit is still to be booked (received, to schedule), with
    the triage's "schedule within N days" and whether their triage task is still open."""
    require(session, "referral.manage")
    marks = ",".join("?" * len(INCOMING_TO_SCHEDULE))
    rows = session.vault.query(
        "SELECT r.id, r.patient_id, r.counterpart, r.specialty, r.status, r.created_at, "
        f"r.details, r.urgency, t.state IN {actionable_sql()} FROM referrals r LEFT JOIN "
        f"tasks t ON t.id = r.task_id WHERE r.direction = 'in' AND r.status IN ({marks}) "
        "ORDER BY r.id", INCOMING_TO_SCHEDULE)
    return [Incoming(int(rid), pid, str(who or ""), str(specialty or ""), str(status),
                     datetime.fromisoformat(str(created)), _schedule_days(str(details)),
                     bool(triage_open), str(urgency or ""))
            for rid, pid, who, specialty, status, created, details, urgency, triage_open
            in rows]


def stale_followups(session: Session) -> list[int]:
    """Open referral_followup tasks no longer needed: an outbound referral's step has
    since been recorded; an incoming referral's visit has been booked (or it was
    declined)."""
    require(session, "referral.manage")
    rows = session.vault.query(
        "SELECT t.id, json_extract(t.payload, '$.step'), r.status, r.direction FROM tasks t "
        "JOIN referrals r ON r.id = json_extract(t.payload, '$.referral_id') WHERE t.kind = "
        f"'referral_followup' AND t.state IN {actionable_sql()} ORDER BY t.id")
    return [int(task_id) for task_id, step, status, direction in rows
            if followup_done(str(direction), str(step), str(status))]


def note_overdue(session: Session, conn: Connection, referral_id: int, step: str,
                 task_id: int) -> None:
    """Put a late step's follow-up task on the referral's trail (caller's transaction)."""
    require(session, "referral.manage")
    row = conn.execute("SELECT patient_id FROM referrals WHERE id = ?",
                       (referral_id,)).fetchone()
    audit.record(session.vault, conn, session, "referral.overdue", "referral", referral_id,
                 patient_id=row[0] if row else None,
                 details={"step": step, "task_id": task_id})


def _step(conn: Connection, referral_id: int, step: str, at: datetime, actor: str,
          note: str) -> None:
    conn.execute("INSERT INTO referral_steps (referral_id, step, at, actor, note, "
                 "recorded_at) VALUES (?,?,?,?,?,?)",
                 (referral_id, step, clock.iso(at), actor, note, clock.iso(clock.now())))


# -- reads -----------------------------------------------------------------------------------

def list_referrals(session: Session, *, direction: str | None = None,
                   open_only: bool = False) -> list[dict[str, Any]]:
    """Referrals newest first (no patient names: ids, counterpart, status, due)."""
    require(session, "patient.view")
    where, args = [], []
    if direction:
        where.append("r.direction = ?")
        args.append(direction)
    if open_only:  # as loop.loop_open: an incoming referral's loop ends with its visit
        where.append("NOT (r.status IN ('report_received','declined') OR (r.direction = "
                     "'in' AND r.status = 'scheduled'))")
    sql = ("SELECT r.id, r.direction, r.patient_id, r.counterpart, r.specialty, r.urgency, "
           "r.status, r.due_at, r.created_at, r.details, t.due_at, t.state IN "
           f"{actionable_sql()} FROM referrals r LEFT JOIN tasks t ON t.id = r.task_id"
           + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY r.id DESC LIMIT 500")
    now = clock.now()
    out = []
    for r in session.vault.query(sql, tuple(args)):
        due = r[7]
        if r[1] == "in":
            due = _incoming_due(str(r[6]), str(r[8]), str(r[9]), r[10] if r[11] else None)[0]
        out.append({"id": r[0], "direction": r[1], "patient_id": r[2], "counterpart": r[3],
                    "specialty": r[4], "urgency": r[5], "status": r[6], "due_at": due,
                    "overdue": bool(due) and datetime.fromisoformat(str(due)) < now,
                    "open": loop_open(str(r[1]), str(r[6]))})
    return out


def _incoming_due(status: str, created_at: str, details: str,
                  triage_due: str | None) -> tuple[str | None, str]:
    """(due time as stored, ISO UTC; what is due) of an incoming referral (loop.incoming_due):
    received when it was stored, within the days its triage suggested for scheduling,
    and the triage task's due time while the task is open."""
    found = incoming_due(status, datetime.fromisoformat(created_at), _schedule_days(details),
                         datetime.fromisoformat(triage_due) if triage_due else None)
    return (clock.iso(found[1]), found[0]) if found else (None, "")


def _schedule_days(details: str) -> int | None:
    """The triage's "schedule within N days" stored with an incoming referral, else None."""
    suggested = json.loads(details or "{}").get("suggested") or {}
    days = suggested.get("within_days") if suggested.get("action") == "schedule" else None
    return days if isinstance(days, int) and not isinstance(days, bool) else None


def referral_history(session: Session, referral_id: int) -> dict[str, Any]:
    """What happened to this referral, in one view: its facts; the source document (stored
    once, with the other referrals read from the same file); the triage suggestion and the
    summary shown with it; every step (time, actor, note, when it was due and whether it
    came late; times aware UTC, ISO); what is due next (`due_for`: the outbound loop's
    next step; for an incoming referral its triage decision while the task is open, or its
    visit, 'scheduled', within the triage's days of receipt) and whether it is late; its tasks
    with their decisions (who approved or rejected, when, why); and the audit rows of the
    referral and of its tasks. The view is audited."""
    require(session, "patient.view")
    with session.vault.read() as conn:
        row = conn.execute(
            "SELECT id, direction, patient_id, source, source_id, counterpart, specialty, "
            "reason, urgency, status, due_at, appointment_at, task_id, details, created_at, "
            "source_blob_id FROM referrals WHERE id = ?", (referral_id,)).fetchone()
        if row is None:
            raise NotFound(f"no referral {referral_id}")
        steps = [{"step": s, "at": a, "actor": who, "note": n} for s, a, who, n in conn.execute(
            "SELECT step, at, actor, note FROM referral_steps WHERE referral_id = ? ORDER BY "
            "id", (referral_id,))]
        key_in, key_out = f"referral:in:{referral_id}", f"referral:out:{referral_id}:%"
        tasks = [{"id": t, "kind": k, "state": s, "title": ti, "payload": json.loads(p or "{}"),
                  "decisions": []} for t, k, s, ti, p in conn.execute(
            "SELECT id, kind, state, title, payload FROM tasks WHERE natural_key = ? OR "
            "natural_key LIKE ? OR natural_key LIKE ? ORDER BY id",
            (key_in, key_in + ":%", key_out))]
        for task in tasks:
            task["decisions"] = [
                {"ts": ts, "actor": a, "action": ac, "from": f, "to": t, "note": n}
                for ts, a, ac, f, t, n in conn.execute(
                    "SELECT ts, actor, action, from_state, to_state, note FROM task_history "
                    "WHERE task_id = ? ORDER BY id", (task["id"],))]
        task_ids = [str(t["id"]) for t in tasks]
        marks = ",".join("?" * len(task_ids))
        trail = [{"ts": ts, "actor": a, "action": ac, "object": f"{ot} {oi}",
                  "details": json.loads(d)} for ts, a, ac, ot, oi, d in conn.execute(
            "SELECT ts, actor, action, object_type, object_id, details FROM audit_log WHERE "
            "(object_type = 'referral' AND object_id = ?)"
            + (f" OR (object_type = 'task' AND object_id IN ({marks}))" if task_ids else "")
            + " ORDER BY id", (str(referral_id), *task_ids))]
        triage_due = None
        if row[1] == "in" and row[12] is not None:  # while the triage task is open
            task_row = conn.execute(f"SELECT due_at, state IN {actionable_sql()} FROM tasks "
                                    "WHERE id = ?", (row[12],)).fetchone()
            triage_due = task_row[0] if task_row and task_row[1] else None
        document = None
        if row[15] is not None:
            blob = conn.execute("SELECT mime, size, sha256 FROM blobs WHERE id = ?",
                                (row[15],)).fetchone()
            shared = [int(r[0]) for r in conn.execute(
                "SELECT id FROM referrals WHERE source_blob_id = ? ORDER BY id", (row[15],))]
            if blob is not None:
                document = {"blob_id": row[15], "mime": blob[0], "size": blob[1],
                            "sha256": blob[2], "referrals": shared}
    audit.record_now(session.vault, session, "referral.view", object_type="referral",
                     object_id=referral_id, patient_id=row[2])
    appointment = datetime.fromisoformat(str(row[11])) if row[11] else None
    dues = step_dues([(s["step"], datetime.fromisoformat(s["at"])) for s in steps],
                     appointment, loop_days(session))
    if row[1] == "in":  # its visit was due within the triage's days of receipt
        by = _incoming_due("to_schedule", str(row[14]), str(row[13]), None)[0]
        dues = [datetime.fromisoformat(by) if by and s["step"] == "scheduled" else d
                for s, d in zip(steps, dues)]
    for step, due in zip(steps, dues):
        step["due"] = clock.iso(due) if due else None
        step["late"] = due is not None and datetime.fromisoformat(step["at"]) > due
    next_due: str | None = row[10]
    next_step = None
    if row[1] == "out" and row[9] in STEPS[:-1]:
        next_step = STEPS[STEPS.index(row[9]) + 1]
    due_for = next_step or ""
    if row[1] == "in":
        next_due, due_for = _incoming_due(str(row[9]), str(row[14]), str(row[13]), triage_due)
        next_step = "scheduled" if row[9] == INCOMING_TO_SCHEDULE[1] else None
    late = bool(next_due) and datetime.fromisoformat(str(next_due)) < clock.now()
    details = json.loads(row[13])
    triage_task = next((t for t in tasks if t["kind"] == "referral_triage"), None)
    # the person's name, as the queue shows it (this view is audited with the patient)
    named = session.vault.query_one("SELECT last_name || ', ' || first_name FROM patients "
                                    "WHERE id = ?", (row[2],)) if row[2] is not None else None
    return {"id": row[0], "direction": row[1], "patient_id": row[2],
            "patient_name": str(named[0]) if named else "", "source": row[3],
            "source_id": row[4], "counterpart": row[5], "specialty": row[6], "reason": row[7],
            "urgency": row[8], "status": row[9], "next_step": next_step, "due_at": next_due,
            "due_for": due_for,
            "overdue": late, "days_late": (clock.now() - datetime.fromisoformat(str(next_due)))
            .days if late else 0, "appointment_at": row[11], "task_id": row[12],
            "details": details, "created_at": row[14], "steps": steps,
            "source_document": document, "suggested": details.get("suggested"),
            "summary": triage_task["payload"].get("summary") if triage_task else None,
            "tasks": tasks, "audit": trail}


def source_document(session: Session, referral_id: int) -> tuple[bytes, str]:
    """The referral's own part of its stored source file (bytes, mime), for the one view;
    audited under the referral's patient. A FHIR file may hold several patients'
    referrals (stored once, m0023): only this referral's ServiceRequest and what it
    refers to for its patient are shown (app.referrals.sources.service_request_part). A
    C-CDA note or a letter is one referral's document, shown as it is."""
    require(session, "patient.view")
    row = session.vault.query_one(
        "SELECT r.patient_id, b.data, b.mime, r.source, r.source_id FROM referrals r JOIN "
        "blobs b ON b.id = r.source_blob_id WHERE r.id = ?", (referral_id,))
    if row is None:
        raise NotFound(f"referral {referral_id} has no stored source document")
    data = bytes(row[1])
    if row[3] == "fhir":
        try:
            data = service_request_part(data, str(row[4]))
        except ImportRejected:
            raise NotFound(f"referral {referral_id}'s part of its stored source document "
                           "could not be found") from None
    audit.record_now(session.vault, session, "referral.source_view", object_type="referral",
                     object_id=referral_id, patient_id=row[0],
                     details={"source": str(row[3]), "bytes": len(data)})
    return data, str(row[2])
