"""The schedule and the waitlist: reads for the no-show workflow, waitlist entries, slot
offers and their holds, and booking an accepted offer. Every entry point checks its role;
changes are audited (ids and dates only, never names)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from app import audit, clock
from app.errors import NotFound, ValidationError
from app.identity import Session, require
from app.schedule.rules import TIMES_OF_DAY, WEEKDAYS, Visit, WaitlistEntry
from app.services import appointments

_VISIT = "id, patient_id, start_at, provider, visit_type, status"


def _visit(row: Any) -> Visit:
    return Visit(int(row[0]), int(row[1]), clock.parse_iso(row[2]), row[3] or "",
                 row[4] or "", row[5])


def schedule_window(session: Session, since: datetime, until: datetime) -> list[Visit]:
    """Every appointment starting in [since, until), any status."""
    require(session, "patient.view")
    rows = session.vault.query(f"SELECT {_VISIT} FROM appointments WHERE start_at >= ? AND "
                               "start_at < ? ORDER BY start_at, id",
                               (clock.iso(since), clock.iso(until)))
    return [_visit(r) for r in rows]


def no_shows_since(session: Session, patient_ids: list[int], since: datetime) -> list[Visit]:
    """These patients' no-shows from `since` on (the repeat no-show history)."""
    require(session, "patient.view")
    if not patient_ids:
        return []
    marks = ",".join("?" * len(patient_ids))
    rows = session.vault.query(f"SELECT {_VISIT} FROM appointments WHERE status = 'no_show' "
                               f"AND start_at >= ? AND patient_id IN ({marks})",
                               (clock.iso(since), *patient_ids))
    return [_visit(r) for r in rows]


def observe_cancellations(session: Session, appointment_ids: list[int]) -> dict[int, datetime]:
    """When each of these cancelled appointments was first seen cancelled; the ones not
    seen before are recorded as seen now."""
    require(session, "appointment.manage")
    now = clock.iso(clock.now())
    with session.vault.write() as conn:
        for appt_id in appointment_ids:
            conn.execute("INSERT OR IGNORE INTO schedule_seen (appointment_id, "
                         "cancelled_seen_at) VALUES (?, ?)", (appt_id, now))
        wanted = set(appointment_ids)  # the table keeps every cancellation ever seen
        return {int(a): clock.parse_iso(t) for a, t in conn.execute(
            "SELECT appointment_id, cancelled_seen_at FROM schedule_seen") if int(a) in wanted}


def add_entry(session: Session, patient_id: int, earliest: date, latest: date, *,
              provider: str = "", visit_type: str = "", preferred_days: list[str] | None = None,
              preferred_times: list[str] | None = None) -> int:
    """Put a patient on the waitlist; returns the entry id. Dates are local dates."""
    require(session, "appointment.manage")
    days, times = list(preferred_days or []), list(preferred_times or [])
    if latest < earliest:
        raise ValidationError("the waitlist window ends before it starts")
    if bad := [d for d in days if d not in WEEKDAYS]:
        raise ValidationError(f"unknown day {bad[0]!r}; days: {', '.join(WEEKDAYS)}")
    if bad := [t for t in times if t not in TIMES_OF_DAY]:
        raise ValidationError(f"unknown time {bad[0]!r}; times: {', '.join(TIMES_OF_DAY)}")
    vault = session.vault
    with vault.write() as conn:
        if conn.execute("SELECT 1 FROM patients WHERE id = ?", (patient_id,)).fetchone() is None:
            raise NotFound(f"no patient {patient_id}")
        cur = conn.execute(
            "INSERT INTO waitlist_entries (patient_id, provider, visit_type, earliest, latest, "
            "preferred_days, preferred_times, created_by, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (patient_id, provider, visit_type, earliest.isoformat(), latest.isoformat(),
             json.dumps(days), json.dumps(times), session.username, clock.iso(clock.now())))
        entry_id = int(cur.lastrowid)
        audit.record(vault, conn, session, "waitlist.add", "waitlist_entry", entry_id,
                     patient_id=patient_id, details={"earliest": earliest.isoformat(),
                                                     "latest": latest.isoformat()})
    return entry_id


def list_entries(session: Session, state: str = "waiting") -> list[WaitlistEntry]:
    """Waitlist entries in this state, oldest first."""
    require(session, "patient.view")
    rows = session.vault.query(
        "SELECT id, patient_id, earliest, latest, created_at, provider, visit_type, "
        "preferred_days, preferred_times FROM waitlist_entries WHERE state = ? "
        "ORDER BY created_at, id", (state,))
    return [WaitlistEntry(int(r[0]), int(r[1]), date.fromisoformat(r[2]),
                          date.fromisoformat(r[3]), clock.parse_iso(r[4]), r[5], r[6],
                          tuple(json.loads(r[7])), tuple(json.loads(r[8]))) for r in rows]


_OFFER = ("id", "entry_id", "slot_appointment_id", "rank", "reasons", "state", "task_id",
          "offered_at", "hold_until", "decided_at", "booked_appointment_id")


def slot_offers(session: Session, slot_appointment_id: int) -> list[dict[str, Any]]:
    """The offers made for one freed slot, first rank first."""
    require(session, "patient.view")
    rows = session.vault.query(f"SELECT {', '.join(_OFFER)} FROM waitlist_offers WHERE "
                               "slot_appointment_id = ? ORDER BY id", (slot_appointment_id,))
    return [dict(zip(_OFFER, r)) for r in rows]


def record_offer(session: Session, entry_id: int, slot_appointment_id: int, rank: int,
                 reasons: list[str], task_id: int) -> int:
    """A drafted offer (its task awaits the office manager); once per slot and entry."""
    require(session, "appointment.manage")
    vault = session.vault
    with vault.write() as conn:
        conn.execute("INSERT OR IGNORE INTO waitlist_offers (entry_id, slot_appointment_id, "
                     "rank, reasons, task_id, created_at) VALUES (?,?,?,?,?,?)",
                     (entry_id, slot_appointment_id, rank, json.dumps(reasons), task_id,
                      clock.iso(clock.now())))
        offer_id = int(conn.execute("SELECT id FROM waitlist_offers WHERE entry_id = ? AND "
                                    "slot_appointment_id = ?",
                                    (entry_id, slot_appointment_id)).fetchone()[0])
    return offer_id


def mark_offered(session: Session, offer_id: int, hold_until: datetime) -> None:
    """The offer went to the outbox: the slot is held for this patient until `hold_until`."""
    require(session, "appointment.manage")
    vault = session.vault
    with vault.write() as conn:
        row = conn.execute("SELECT o.state, e.patient_id FROM waitlist_offers o JOIN "
                           "waitlist_entries e ON e.id = o.entry_id WHERE o.id = ?",
                           (offer_id,)).fetchone()
        if row is None:
            raise NotFound(f"no waitlist offer {offer_id}")
        if row[0] != "drafted":
            raise ValidationError(f"waitlist offer {offer_id} is {row[0]}, not drafted")
        conn.execute("UPDATE waitlist_offers SET state = 'offered', offered_at = ?, "
                     "hold_until = ? WHERE id = ?",
                     (clock.iso(clock.now()), clock.iso(hold_until), offer_id))
        audit.record(vault, conn, session, "waitlist.offer", "waitlist_offer", offer_id,
                     patient_id=int(row[1]), details={"hold_until": clock.iso(hold_until)})


def close_stale_offers(session: Session, now: datetime) -> tuple[int, list[int]]:
    """Offers whose hold ran out become 'expired'; drafts whose task a person rejected,
    and offers the patient declined (their hold task rejected), become 'withdrawn'.
    Returns how many closed, and the still-open hold tasks of the expired ones (the
    caller closes them through the queue)."""
    require(session, "appointment.manage")
    vault = session.vault
    with vault.write() as conn:
        expired = conn.execute("SELECT o.id, e.patient_id FROM waitlist_offers o JOIN "
                               "waitlist_entries e ON e.id = o.entry_id WHERE "
                               "o.state = 'offered' AND o.hold_until <= ?",
                               (clock.iso(now),)).fetchall()
        withdrawn = conn.execute(
            "SELECT o.id, e.patient_id FROM waitlist_offers o JOIN waitlist_entries e ON "
            "e.id = o.entry_id JOIN tasks t ON t.id = o.task_id WHERE o.state = 'drafted' "
            "AND t.state IN ('rejected','failed') UNION SELECT o.id, e.patient_id FROM "
            "waitlist_offers o JOIN waitlist_entries e ON e.id = o.entry_id JOIN tasks t ON "
            "t.natural_key = 'waitlist:hold:offer' || o.id WHERE o.state = 'offered' AND "
            "t.state = 'rejected'").fetchall()
        for state, rows in (("expired", expired), ("withdrawn", withdrawn)):
            for offer_id, patient_id in rows:
                conn.execute("UPDATE waitlist_offers SET state = ?, decided_at = ? WHERE id = ?",
                             (state, clock.iso(now), offer_id))
                audit.record(vault, conn, session, f"waitlist.{state}", "waitlist_offer",
                             offer_id, patient_id=int(patient_id))
        holds = [int(r[0]) for r in conn.execute(
            "SELECT t.id FROM tasks t JOIN waitlist_offers o ON t.natural_key = "
            "'waitlist:hold:offer' || o.id WHERE o.state = 'expired' AND o.decided_at = ? "
            "AND t.state IN ('pending','shadow')", (clock.iso(now),))]
    return len(expired) + len(withdrawn), holds


def accept_offer(session: Session, offer_id: int) -> int:
    """The patient said yes: book the slot for them (same provider, time and visit type),
    take them off the waitlist. Returns the new appointment's id."""
    require(session, "appointment.manage")
    vault = session.vault
    with vault.write() as conn:
        row = conn.execute(
            "SELECT o.state, o.entry_id, e.patient_id, a.provider, a.start_at, a.visit_type, "
            "a.id, e.state, e.booked_appointment_id FROM waitlist_offers o JOIN "
            "waitlist_entries e ON e.id = o.entry_id JOIN appointments a ON "
            "a.id = o.slot_appointment_id WHERE o.id = ?", (offer_id,)).fetchone()
        if row is None:
            raise NotFound(f"no waitlist offer {offer_id}")
        state, entry_id, patient_id, provider, start_at, visit_type, slot_id, entry_state, \
            booked = row
        if state != "offered":
            raise ValidationError(f"waitlist offer {offer_id} is {state}; only an offer "
                                  "that went out and is still held can be booked")
        if entry_state != "waiting":
            # Two slots offered to one entry at once: the first YES booked it; a second
            # would book the patient twice for the one visit they waited for.
            raise ValidationError(
                f"the patient's waitlist entry is {entry_state}" +
                (f" (appointment {booked})" if booked else "") + "; this offer cannot book "
                "another visit")
        taken = conn.execute("SELECT id FROM appointments WHERE provider = ? AND start_at = ? "
                             "AND status = 'scheduled'", (provider, start_at)).fetchone()
        if taken is not None:
            raise ValidationError(f"the slot is already booked (appointment {taken[0]})")
        now = clock.iso(clock.now())
        # Through the appointments service, inside this transaction: its merged-patient
        # check and its 'appointment.create' audit row apply to a booked offer too.
        appt_id = appointments.add_appointment(
            session, int(patient_id), clock.parse_iso(start_at), provider=provider or "",
            visit_type=visit_type or "office_visit").id
        conn.execute("UPDATE waitlist_offers SET state = 'accepted', decided_at = ?, "
                     "booked_appointment_id = ? WHERE id = ?", (now, appt_id, offer_id))
        conn.execute("UPDATE waitlist_entries SET state = 'booked', booked_appointment_id = ? "
                     "WHERE id = ?", (appt_id, entry_id))
        audit.record(vault, conn, session, "waitlist.accept", "waitlist_offer", offer_id,
                     patient_id=int(patient_id), details={"appointment_id": appt_id,
                                                          "slot_appointment_id": int(slot_id)})
    return appt_id


def existing_task_keys(session: Session, natural_keys: list[str]) -> set[str]:
    """Which of these natural keys already have a task (any state): a workflow re-run
    skips them instead of refreshing them with a second copy of their evidence."""
    require(session, "task.view")
    found: set[str] = set()
    for i in range(0, len(natural_keys), 500):
        chunk = natural_keys[i:i + 500]
        found |= {r[0] for r in session.vault.query(
            f"SELECT natural_key FROM tasks WHERE natural_key IN ({','.join('?' * len(chunk))})",
            tuple(chunk))}
    return found
