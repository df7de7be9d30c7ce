"""Replies the outbox records: each patient reply is matched to the message it answers,
kept in the vault, audited, and acted on.

Matching: the reference the reply carries (the vendor's echo of our `reference`, an
email's In-Reply-To with the message's reply token) first, and only when the sender is
the message's recipient; else the sender's number or address and the most recent message
sent to it in the REPLY_WINDOW before the reply came. Never a guess between two patients:
a number or address that recent messages to several patients share goes to a person.

What a reply does:
  * to a waitlist slot offer (by text, or by an email replying to the offer's email: a
    new email matched by its From alone could be forged): YES books the visit (the hold
    task is approved, as a person would: the booking goes through the same effect) when
    the hold has not ended and the slot is still free; NO declines it (the hold task is
    rejected; the next candidate is offered by the schedule run);
  * STOP / UNSUBSCRIBE (any message): the patient is opted out of that channel;
  * anything else, or a YES that cannot be honoured: a `patient_reply` task for a person
    with the reply as evidence and the reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from app import audit, clock, queue
from app.errors import KnownError, NotFound
from app.identity import Session, require
from app.replies.parse import InboundReply, Intent, e164, normal_address
from app.schedule.rules import offer_expired
from app.services import outbox

log = logging.getLogger(__name__)

REPLY_WINDOW = timedelta(days=30)  # a reply to a message older than this is for a person
TASK_KIND = "patient_reply"
HOLD_KEY = "waitlist:hold:offer{}"  # automations.workflows.no_show.hold_key
# Who answers a hold task for a patient's YES or NO: not the person (or job) who pressed
# 'Read replies now', who decided nothing; the audit trail and the task history say so.
REPLY_ACTOR = "patient-reply"
NO_MESSAGE = "no message went to this"


@dataclass
class RepliesReport:
    """PHI-free counts and ids of one recording run."""

    recorded: list[int] = field(default_factory=list)  # reply ids
    duplicates: int = 0  # already recorded (a source read twice)
    strangers: int = 0  # mail that answers none of our messages (skip_strangers)
    booked: list[int] = field(default_factory=list)  # appointment ids
    declined: list[int] = field(default_factory=list)  # waitlist offer ids
    opted_out: list[int] = field(default_factory=list)  # patient ids
    tasks: list[int] = field(default_factory=list)  # patient_reply task ids

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


def _contact(channel: str, recipient: str) -> str | None:
    return e164(recipient) if channel == "sms" else normal_address(recipient)


def _same_contact(channel: str, sender: str, recipient: str) -> bool:
    return _contact(channel, recipient) == sender


_COLS = ("id", "task_id", "patient_id", "kind", "channel", "recipient", "sent_at")
Recent = dict[tuple[str, str | None], list[dict[str, Any]]]


def _recent(conn: Any, replies: list[InboundReply]) -> Recent:
    """The messages sent in the window of any of these replies, by channel and contact
    (each recipient normalised once), newest first. Matching each reply of a 50k-reply
    export against every message of its window, normalising each recipient each time,
    held the vault's writer for many minutes."""
    found: Recent = {}
    for channel in sorted({r.channel for r in replies}):
        times = [r.received_at for r in replies if r.channel == channel]
        for row in conn.execute(
                f"SELECT {', '.join(_COLS)} FROM outbox WHERE channel = ? AND "
                "state = 'sent' AND sent_at >= ? AND sent_at <= ? ORDER BY sent_at DESC, "
                "id DESC", (channel, clock.iso(min(times) - REPLY_WINDOW),
                            clock.iso(max(times)))):
            sent = dict(zip(_COLS, row))
            found.setdefault((channel, _contact(channel, sent["recipient"])), []).append(sent)
    return found


def _named(reply: InboundReply, outbox_id: int, token_key: bytes | None) -> bool:
    """Whether the reply's reference names this message: an email's must carry the
    message's reply token (anyone can write `offhold-outbox-<n>` in an In-Reply-To)."""
    if reply.channel != "email":
        return True
    return token_key is not None and \
        f"{outbox.reference(outbox_id)}-{outbox.reply_token(token_key, outbox_id)}" in reply.ref


def _match(conn: Any, reply: InboundReply, token_key: bytes | None, recent: Recent
           ) -> tuple[dict[str, Any] | None, str, str]:
    """(the outbox row, how it matched, why not): see the module doc."""
    cols = _COLS
    contact = "number" if reply.channel == "sms" else "address"
    for outbox_id in reply.outbox_ids:
        if not _named(reply, outbox_id, token_key):
            continue  # a reference without its token proves nothing: matched by sender
        row = conn.execute(f"SELECT {', '.join(cols)} FROM outbox WHERE id = ? AND "
                           "channel = ? AND state = 'sent'",
                           (outbox_id, reply.channel)).fetchone()
        if row is None:
            continue
        found = dict(zip(cols, row))
        if _same_contact(reply.channel, reply.sender, found["recipient"]):
            return found, "reference", ""
        return None, "", (f"it names outbox message {outbox_id}, but came from another "
                          f"{contact} than the one it went to")
    # Only messages sent before the reply came: a "yes" to last week's reminder, read
    # after a slot offer went to the same number, answers the reminder, not the offer.
    since, until = clock.iso(reply.received_at - REPLY_WINDOW), clock.iso(reply.received_at)
    mine = [r for r in recent.get((reply.channel, reply.sender), [])
            if since <= r["sent_at"] <= until]
    patients = {r["patient_id"] for r in mine}
    if len(patients) > 1:
        return None, "", (f"recent messages to this {contact} went to {len(patients)} "
                          "patients; OffHold does not guess which one answered")
    if mine:
        return mine[0], "contact", ""
    return None, "", f"{NO_MESSAGE} {contact} in the last {REPLY_WINDOW.days} days"


def record_replies(session: Session, replies: list[InboundReply], source: str = "",
                   source_key: str = "", skip_strangers: bool = False) -> RepliesReport:
    """Record and act on these replies (one source: a vendor export, a mailbox message).
    `source_key` (a file's SHA-256, a Maildir key) marks the source read; a source read
    before, and any reply recorded before, records nothing again. `skip_strangers`
    leaves out mail that names no message and comes from no recent recipient (a mailbox
    also gets other mail); it is counted, not recorded."""
    require(session, "outbox.send")
    report = RepliesReport()
    vault = session.vault
    stored: list[tuple[int, InboundReply, dict[str, Any] | None, str, str]] = []
    token_key = outbox.reply_token_key(session)
    with vault.write() as conn:  # all of a source's replies, or none of them
        # Checked inside the transaction: two runs at once (the scheduled job and 'Read
        # replies now') both passed a check before it, and the second's insert of the
        # source below failed on its primary key, ending that run.
        if source_key and conn.execute("SELECT 1 FROM reply_sources WHERE source_key = ?",
                                       (source_key,)).fetchone():
            report.duplicates = len(replies)
            return report
        recent = _recent(conn, replies)
        for reply in replies:
            if conn.execute("SELECT 1 FROM outbox_replies WHERE reply_key = ?",
                            (reply.key,)).fetchone():
                report.duplicates += 1
                continue
            row, how, why = _match(conn, reply, token_key, recent)
            if skip_strangers and row is None and why.startswith(NO_MESSAGE) \
                    and not reply.outbox_ids:
                report.strangers += 1
                continue
            cur = conn.execute(
                "INSERT INTO outbox_replies (reply_key, outbox_id, patient_id, channel, "
                "sender, body, received_at, reference, source, matched_by, intent, "
                "recorded_at, recorded_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (reply.key, row["id"] if row else None, row["patient_id"] if row else None,
                 reply.channel, reply.sender, reply.text, clock.iso(reply.received_at),
                 reply.ref, f"{source} {reply.position}".strip()[:300], how,
                 reply.intent.value, clock.iso(clock.now()), session.username))
            reply_id = int(cur.lastrowid)
            audit.record(vault, conn, session, "outbox.reply", "outbox_reply", reply_id,
                         patient_id=row["patient_id"] if row else None,
                         details={"outbox_id": row["id"] if row else None,
                                  "channel": reply.channel, "intent": reply.intent.value,
                                  "matched_by": how, "chars": len(reply.text)})
            stored.append((reply_id, reply, row, how, why))
            report.recorded.append(reply_id)
        if source_key:
            conn.execute("INSERT INTO reply_sources (source_key, read_at, replies) "
                         "VALUES (?,?,?)", (source_key, clock.iso(clock.now()),
                                            len(report.recorded)))
    for reply_id, reply, row, how, why in stored:
        _act(session, reply_id, reply, row, how, why, report)
    if report.recorded:
        log.info("replies: %d recorded, %d booked, %d declined, %d opted out, %d tasks",
                 len(report.recorded), len(report.booked), len(report.declined),
                 len(report.opted_out), len(report.tasks))
    return report


UNACTED_AFTER = timedelta(minutes=10)  # a run acts on what it recorded within seconds


def act_on_unacted(session: Session) -> RepliesReport:
    """Replies recorded but never acted on, acted on now: record_replies commits a
    source's replies, then acts on each, so a run killed (or ended by an error) between
    the two left a patient's YES or STOP kept but never done, with no task, and a source
    read again records nothing. Those recorded in the last UNACTED_AFTER are left to the
    run that recorded them; each is claimed before it is acted on."""
    require(session, "outbox.send")
    report = RepliesReport()
    vault = session.vault
    rows = vault.query(
        "SELECT id, outbox_id, channel, sender, body, received_at, reference, reply_key, "
        "source, matched_by FROM outbox_replies WHERE outcome = '' AND recorded_at <= ? "
        "ORDER BY id", (clock.iso(clock.now() - UNACTED_AFTER),))
    for reply_id, outbox_id, channel, sender, body, received, ref, key, source, how in rows:
        with vault.write() as conn:
            if conn.execute("UPDATE outbox_replies SET outcome = 'acting (resumed)' WHERE "
                            "id = ? AND outcome = ''", (reply_id,)).rowcount != 1:
                continue  # another run took it
            found = conn.execute(f"SELECT {', '.join(_COLS)} FROM outbox WHERE id = ?",
                                 (outbox_id,)).fetchone() if outbox_id is not None else None
        reply = InboundReply(channel, sender, body, clock.parse_iso(received), ref, key,
                             source)
        _act(session, reply_id, reply, dict(zip(_COLS, found)) if found else None, how,
             "it was not matched when it was recorded (and the run that recorded it ended "
             "before acting on it)", report)
    return report


def _act(session: Session, reply_id: int, reply: InboundReply, row: dict[str, Any] | None,
         how: str, why: str, report: RepliesReport) -> None:
    """Do what the reply says; whatever cannot be done is a task saying why."""
    intent = reply.intent
    if intent is Intent.STOP:
        # STOP is about the number (or address), not a guess at the patient: every patient
        # reached there is opted out, also when several share it (a family phone) and the
        # reply matched none. A forged STOP can only mean fewer messages.
        reached = _patients_at(session, reply.channel, reply.sender)
        if row is not None and row["patient_id"] is not None:
            reached.add(int(row["patient_id"]))
        if reached:
            for patient_id in sorted(reached):
                _opt_out(session, reply_id, patient_id, reply.channel)
                report.opted_out.append(patient_id)
            return
    if row is None:
        _task(session, reply_id, reply, None, f"This reply was not matched to a message: "
              f"{why}. Find the patient and act on it by hand.", report)
        return
    if row["kind"] == "waitlist_offer" and intent in (Intent.YES, Intent.NO):
        if reply.channel == "email" and how != "reference":
            # Anyone can put a patient's address in From: a new email matched by its
            # sender alone books nothing; a reply to the offer's own email names it.
            _task(session, reply_id, reply, row, f"The patient answered "
                  f"{intent.value.upper()} to the slot offer in a new email, not in a reply "
                  "to the offer's email; an email's sender can be forged, so OffHold did "
                  "not act on it. Call the patient.", report)
            return
        try:
            _answer_offer(session, reply_id, reply, row, how, report)
        except KnownError as exc:  # e.g. the booking refused: a person decides
            _task(session, reply_id, reply, row, f"The patient answered {intent.value.upper()}"
                  f" to the slot offer, but OffHold could not act on it: {exc}", report)
        return
    what = row["kind"].replace("_", " ")
    _task(session, reply_id, reply, row, f"The patient replied to a {what} message "
          f"(outbox {row['id']}). Read the reply and follow up.", report)


def _answer_offer(session: Session, reply_id: int, reply: InboundReply,
                  row: dict[str, Any], how: str, report: RepliesReport) -> None:
    offer = session.vault.query_one(
        "SELECT o.id, o.state, o.hold_until, a.provider, a.start_at FROM waitlist_offers o "
        "JOIN appointments a ON a.id = o.slot_appointment_id WHERE o.task_id = ?",
        (row["task_id"],))
    if offer is None:
        raise NotFound(f"no waitlist offer was recorded for outbox message {row['id']}")
    offer_id, state, hold_until, provider, start_at = offer
    hold = session.vault.query_one("SELECT id, state FROM tasks WHERE natural_key = ?",
                                   (HOLD_KEY.format(offer_id),))
    answer = reply.intent.value.upper()
    # Matched by the sender alone, a YES or NO names no offer: with two slots offered to
    # the patient at once, it took (or passed on) the latest one by guess.
    others = session.vault.query_one(
        "SELECT count(*) FROM waitlist_offers o JOIN waitlist_entries e ON e.id = "
        "o.entry_id WHERE o.state = 'offered' AND o.id != ? AND e.patient_id = ?",
        (offer_id, row["patient_id"]))[0] if how != "reference" else 0
    problem = ""
    if state != "offered":
        problem = f"the offer is already {state}"
    elif others:
        problem = (f"{others + 1} slot offers to the patient are open and the reply does "
                   "not say which it answers")
    elif hold is None or hold[1] not in ("pending", "snoozed"):
        problem = ("its hold task is " + (hold[1] if hold else "missing") +
                   " (a person may have acted on it already)")
    elif reply.intent is Intent.YES:
        if hold_until and offer_expired(clock.parse_iso(hold_until), reply.received_at):
            problem = "the reply came after the hold ended " + hold_until
        else:
            taken = session.vault.query_one(
                "SELECT id FROM appointments WHERE provider = ? AND start_at = ? AND "
                "status = 'scheduled'", (provider, start_at))
            if taken is not None:
                problem = f"the slot was booked meanwhile (appointment {taken[0]})"
    if problem:
        _task(session, reply_id, reply, row, f"The patient answered {answer} to the slot "
              f"offer (waitlist offer {offer_id}), but {problem}. Call the patient.", report)
        return
    if reply.intent is Intent.YES:
        done = queue.approve(Session.system(session.vault, REPLY_ACTOR), int(hold[0]))
        booked = session.vault.query_one("SELECT booked_appointment_id FROM waitlist_offers "
                                         "WHERE id = ?", (offer_id,))
        if done.state.value != "done" or booked is None or booked[0] is None:
            note = done.history[-1].note if done.history else done.state.value
            _task(session, reply_id, reply, row, f"The patient answered YES to the slot "
                  f"offer (waitlist offer {offer_id}); booking it failed: {note}", report)
            return
        report.booked.append(int(booked[0]))
        _outcome(session, reply_id, f"booked appointment {booked[0]}")
    else:
        queue.reject(Session.system(session.vault, REPLY_ACTOR), int(hold[0]),
                     f"the patient replied NO (reply {reply_id})")
        report.declined.append(int(offer_id))
        _outcome(session, reply_id, f"declined waitlist offer {offer_id}; the next "
                 "candidate is offered")


def _patients_at(session: Session, channel: str, sender: str | None) -> set[int]:
    """The patients (not merged away) whose phone or email is this sender's."""
    if not sender:
        return set()
    column = "phone" if channel == "sms" else "email"
    return {int(pid) for pid, value in session.vault.query(
        f"SELECT id, {column} FROM patients WHERE {column} != '' AND merged_into IS NULL")
        if _contact(channel, str(value)) == sender}


def _opt_out(session: Session, reply_id: int, patient_id: int, channel: str) -> None:
    column = "sms_opt_out" if channel == "sms" else "email_opt_out"
    vault = session.vault
    with vault.write() as conn:
        conn.execute(f"UPDATE patients SET {column} = 1 WHERE id = ?", (patient_id,))
        conn.execute("UPDATE outbox_replies SET outcome = ? WHERE id = ?",
                     (f"opted out of {channel}", reply_id))
        audit.record(vault, conn, session, "patient.opt_out", "patient", patient_id,
                     patient_id=patient_id, details={"channel": channel,
                                                     "reply_id": reply_id})


def _outcome(session: Session, reply_id: int, outcome: str) -> None:
    with session.vault.write() as conn:
        conn.execute("UPDATE outbox_replies SET outcome = ? WHERE id = ?",
                     (outcome, reply_id))


def _task(session: Session, reply_id: int, reply: InboundReply, row: dict[str, Any] | None,
          why: str, report: RepliesReport) -> None:
    when = reply.received_at
    said = "" if reply.intent is Intent.OTHER else f" {reply.intent.value.upper()}"
    task, _created = queue.create_task(
        session, TASK_KIND, f"reply:{reply_id}",
        f"A patient replied{said} by {'text' if reply.channel == 'sms' else 'email'}"
        + (f" to outbox message {row['id']}" if row else " (not matched)"),
        priority=queue.PRIORITY_HIGH, due_at=clock.now() + timedelta(hours=4),
        subject_type="outbox_reply", subject_id=reply_id,
        patient_id=row["patient_id"] if row else None, draft=why,
        payload={"reply_id": reply_id, "outbox_id": row["id"] if row else None,
                 "channel": reply.channel, "intent": reply.intent.value},
        evidence=[queue.NewEvidence("The reply", excerpt=(
            f"From {reply.sender}, received {clock.iso(when)}:\n{reply.text}"))])
    with session.vault.write() as conn:
        conn.execute("UPDATE outbox_replies SET outcome = ?, task_id = ? WHERE id = ?",
                     (f"task {task.id}: for a person", task.id, reply_id))
    report.tasks.append(task.id)


REPLY_COLUMNS = ("id", "outbox_id", "patient_id", "channel", "sender", "body",
                 "received_at", "matched_by", "intent", "outcome", "task_id", "source")


def list_replies(session: Session, outbox_id: int | None = None,
                 limit: int = 500) -> list[dict[str, Any]]:
    """Recorded replies, newest first (those to one message, with `outbox_id`). Rows carry
    the sender and the words: the roles that draft outreach see them."""
    require(session, "outreach.draft")
    where, params = ("WHERE outbox_id = ?", (outbox_id,)) if outbox_id is not None \
        else ("", ())
    rows = session.vault.query(f"SELECT {', '.join(REPLY_COLUMNS)} FROM outbox_replies "
                               f"{where} ORDER BY received_at DESC, id DESC LIMIT ?",
                               (*params, limit))
    return [dict(zip(REPLY_COLUMNS, r)) for r in rows]


def source_read(session: Session, source_key: str) -> bool:
    """Whether this source (a file's SHA-256, a Maildir key) was read before."""
    require(session, "outbox.send")
    return session.vault.query_one("SELECT 1 FROM reply_sources WHERE source_key = ?",
                                   (source_key,)) is not None


def mark_source_read(session: Session, source_key: str) -> None:
    """A source with nothing to record (e.g. an unreadable email a task was made for) is
    not read again."""
    require(session, "outbox.send")
    with session.vault.write() as conn:
        conn.execute("INSERT OR IGNORE INTO reply_sources (source_key, read_at, replies) "
                     "VALUES (?,?,0)", (source_key, clock.iso(clock.now())))
