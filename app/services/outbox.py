"""The outbox sends what a person approved: claims each ready message once, enforces
quiet hours and opt-outs at send time, hands batches to channels, and records the result.

Channels (email, the texting vendor's CSV, printed letters) live in automations/outbox.py
and are passed in, so the core never dials out by itself. A message is claimed in one
transaction before any channel sees it: a retry, a second scheduler or a crash mid-send
can never send it twice (an interrupted claim stays visible as 'sending' for a person).
Everything sent is audited; the exact text sent is kept in the vault as a blob.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from app import audit, clock, queue
from app.domain import Patient
from app.domain.outreach import Channel
from app.errors import NotFound, ValidationError
from app.identity import Session, require
from app.services import patients
from app.services.outreach import recipient_for
from app.services.practice import get_setting
from app.services.prior_auth import practice_zone

log = logging.getLogger(__name__)

QUIET_CHANNELS = ("email", "sms")  # a letter in the mail wakes nobody


@dataclass(frozen=True)
class OutgoingMessage:
    """One claimed message, as a channel needs it. Holds PHI: never log it."""
    id: int
    task_id: int
    patient_id: int | None
    kind: str
    channel: str
    recipient: str
    subject: str
    body: str
    name: str = ""  # the patient's name, for a letter's address block
    token: str = ""  # an email's reply token (reply_token), in its Message-ID


@dataclass(frozen=True)
class Outcome:
    """What a channel did with one message: `sent` bytes are kept in the vault."""
    message_id: int
    ok: bool
    ref: str = ""
    error: str = ""
    sent: bytes = b""
    mime: str = "text/plain"
    # The channel itself could not be used (server down, TLS refused, folder missing):
    # every message of the batch fails for one reason, and one task tells a person.
    outage: bool = False


class SendChannel(Protocol):
    """A way out of the practice. `send` gets a batch and returns one outcome per message;
    it raises only for a bug (a refused send is an outcome with the reason)."""
    name: str

    def send(self, messages: list[OutgoingMessage]) -> list[Outcome]: ...


@dataclass
class SendReport:
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    held: dict[int, str] = field(default_factory=dict)  # id -> why it waits
    outages: dict[str, int] = field(default_factory=dict)  # channel -> its one task's id

    def to_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed, "cancelled": self.cancelled,
                "held": {str(k): v for k, v in self.held.items()},
                "outages": self.outages}


def quiet_reason(session: Session, now: datetime, zone: str = "") -> str | None:
    """Why an email or text may not go now, or None: quiet hours in the patient's time
    zone (`zone`, an IANA name) when the record has one, else in the practice's."""
    start = int(get_setting(session, "quiet_hours_start"))
    end = int(get_setting(session, "quiet_hours_end"))
    local = now.astimezone(ZoneInfo(zone) if zone else practice_zone(session))
    if start <= local.hour < end:
        return None
    whose = f"the patient's time ({zone})" if zone else "practice time"
    return (f"quiet hours: email and texts go out between {start:02d}:00 and {end:02d}:00 "
            f"{whose}")


def _opt_out_reason(patient: Patient | None, channel: str) -> str | None:
    if patient is None or channel == "letter":
        return None
    try:
        recipient_for(patient, Channel(channel))
    except ValidationError as exc:
        return str(exc)
    return None


def reference(outbox_id: int) -> str:
    """The reference a message carries out (the SMS CSV's `reference`, the email's
    Message-ID) and a reply carries back (app.replies.parse.OUTBOX_REF reads it)."""
    return f"offhold-outbox-{outbox_id}"


REPLY_TOKEN_KEY = "reply_token_key"  # practice_secrets: made on the first email send


def reply_token_key(session: Session, create: bool = False) -> bytes | None:
    """The vault's key for emails' reply tokens (made when `create` and none is kept)."""
    require(session, "outbox.send")
    vault = session.vault
    if create:
        with vault.write() as conn:
            conn.execute("INSERT OR IGNORE INTO practice_secrets (name, value, updated_at, "
                         "updated_by) VALUES (?,?,?,?)",
                         (REPLY_TOKEN_KEY, secrets.token_hex(32), clock.iso(clock.now()),
                          session.username))
    row = vault.query_one("SELECT value FROM practice_secrets WHERE name = ?",
                          (REPLY_TOKEN_KEY,))
    return bytes.fromhex(str(row[0])) if row else None


def reply_token(key: bytes, outbox_id: int) -> str:
    """What an email's Message-ID carries after its reference, so a reply's In-Reply-To
    proves it answers that email: outbox ids count up, and anyone can write a patient's
    address in From and `offhold-outbox-<n>` in In-Reply-To; no one outside can make
    this."""
    return hmac.new(key, reference(outbox_id).encode(), hashlib.sha256).hexdigest()[:24]


COLUMNS = ("id", "task_id", "patient_id", "kind", "channel", "recipient", "subject", "body",
           "state", "created_at", "sent_at", "claimed_at", "attempts", "last_error",
           "sent_ref", "sent_blob_id", "failure_task_id")


def _rows(session: Session, where: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [dict(zip(COLUMNS, r)) for r in session.vault.query(
        f"SELECT {', '.join(COLUMNS)} FROM outbox {where} ORDER BY id", params)]


def send_ready(session: Session, channels: Mapping[str, SendChannel],
               now: datetime | None = None) -> SendReport:
    """Send every ready message whose channel is configured (`channels`, by name: email,
    sms, letter). Held (left ready): no channel, or quiet hours for email and texts.
    Cancelled: the patient has opted out since approval. Failed: a task for the office
    manager with the reason; `retry_message` queues it again."""
    require(session, "outbox.send")
    now = now or clock.now()
    report = SendReport()
    claimed: dict[str, list[OutgoingMessage]] = {}
    token_key: bytes | None = None
    for row in _rows(session, "WHERE state = 'ready'", ()):
        if row["claimed_at"] is not None:
            report.held[row["id"]] = ("a send was interrupted: check whether it went out, "
                                      f"then 'offhold outbox resolve {row['id']}'")
            continue
        channel = channels.get(row["channel"])
        if channel is None:
            report.held[row["id"]] = f"no {row['channel']} channel is configured"
            continue
        # Read once: its time zone, its opt-outs and a letter's name all come from it.
        patient = None if row["patient_id"] is None else \
            patients._load_patient(session, int(row["patient_id"]))
        quiet = quiet_reason(session, now, patient.timezone if patient else "") \
            if row["channel"] in QUIET_CHANNELS else None
        if quiet:
            report.held[row["id"]] = quiet
            continue
        opted_out = _opt_out_reason(patient, row["channel"])
        if opted_out:
            _cancel(session, row, opted_out)
            report.cancelled.append(row["id"])
            continue
        if not _claim(session, row["id"], now):
            continue  # another sender took it first
        name = ""
        if row["channel"] == "email" and token_key is None:
            token_key = reply_token_key(session, create=True)
        if row["channel"] == "letter" and patient is not None:
            name = f"{patient.first_name} {patient.last_name}"
        claimed.setdefault(row["channel"], []).append(OutgoingMessage(
            id=row["id"], task_id=row["task_id"], patient_id=row["patient_id"],
            kind=row["kind"], channel=row["channel"], recipient=row["recipient"],
            subject=row["subject"], body=row["body"], name=name,
            token=reply_token(token_key, row["id"]) if token_key and row["channel"] ==
            "email" else ""))
    for name, batch in claimed.items():
        outcomes = {o.message_id: o for o in channels[name].send(batch)}
        down: list[OutgoingMessage] = []
        reason = ""
        for message in batch:
            outcome = outcomes.get(message.id) or Outcome(
                message.id, False, error=f"the {name} channel gave no result for it")
            if outcome.ok:
                _record_sent(session, message, outcome)
                report.sent.append(message.id)
            elif outcome.outage:
                down.append(message)
                reason = outcome.error
            else:
                _record_failed(session, message, outcome.error)
                report.failed.append(message.id)
        if down:
            report.outages[name] = _record_outage(session, name, down, reason)
            report.failed += [m.id for m in down]
    if report.sent or report.failed or report.cancelled:
        log.info("outbox: %d sent, %d failed, %d cancelled, %d held", len(report.sent),
                 len(report.failed), len(report.cancelled), len(report.held))
    return report


def _claim(session: Session, outbox_id: int, now: datetime) -> bool:
    with session.vault.write() as conn:
        cur = conn.execute("UPDATE outbox SET claimed_at = ?, claimed_by = ? WHERE id = ? AND "
                           "state = 'ready' AND claimed_at IS NULL",
                           (clock.iso(now), session.username, outbox_id))
        return bool(cur.rowcount == 1)


def _cancel(session: Session, row: dict[str, Any], reason: str) -> None:
    vault = session.vault
    with vault.write() as conn:
        conn.execute("UPDATE outbox SET state = 'cancelled', last_error = ? WHERE id = ? AND "
                     "state = 'ready'", (reason, row["id"]))
        audit.record(vault, conn, session, "outbox.cancelled", "outbox", row["id"],
                     patient_id=row["patient_id"],
                     details={"channel": row["channel"], "reason": "opted out"})


def _record_sent(session: Session, message: OutgoingMessage, outcome: Outcome) -> None:
    vault = session.vault
    with vault.write() as conn:
        blob_id = queue.store_blob(session, conn, outcome.sent or message.body.encode(),
                                   outcome.mime)
        conn.execute("UPDATE outbox SET state = 'sent', sent_at = ?, sent_ref = ?, "
                     "sent_blob_id = ?, attempts = attempts + 1, last_error = '' WHERE id = ?",
                     (clock.iso(clock.now()), outcome.ref, blob_id, message.id))
        audit.record(vault, conn, session, "outbox.sent", "outbox", message.id,
                     patient_id=message.patient_id,
                     details={"task_id": message.task_id, "channel": message.channel,
                              "kind": message.kind, "blob_id": blob_id, "ref": outcome.ref,
                              "chars": len(message.body)})


def _record_failed(session: Session, message: OutgoingMessage, error: str) -> None:
    vault = session.vault
    attempts = int(vault.query_one("SELECT attempts FROM outbox WHERE id = ?",
                                   (message.id,))[0]) + 1
    # The reason can name the recipient (a server's refusal): it stays in the vault's task
    # and outbox row, never in a log line.
    task, _created = queue.create_task(
        session, "automation_failure", f"outbox:{message.id}:failed:{attempts}",
        f"A {message.channel} message was not sent (outbox {message.id})",
        priority=queue.PRIORITY_HIGH, subject_type="outbox", subject_id=message.id,
        patient_id=message.patient_id,
        draft=(f"Outbox message {message.id} ({message.kind}, {message.channel}) was not "
               f"sent: {error}. Fix the cause, then retry it with 'offhold outbox retry "
               f"{message.id}' (it is never sent twice)."),
        payload={"outbox_id": message.id, "channel": message.channel, "attempt": attempts})
    with vault.write() as conn:
        conn.execute("UPDATE outbox SET state = 'failed', claimed_at = NULL, claimed_by = NULL,"
                     " attempts = ?, last_error = ?, failure_task_id = ? WHERE id = ?",
                     (attempts, error[:500], task.id, message.id))
        audit.record(vault, conn, session, "outbox.failed", "outbox", message.id,
                     patient_id=message.patient_id,
                     details={"task_id": message.task_id, "channel": message.channel,
                              "attempt": attempts, "failure_task_id": task.id})
    log.warning("outbox message %s (%s) failed on attempt %s", message.id, message.channel,
                attempts)


def _record_outage(session: Session, channel: str, messages: list[OutgoingMessage],
                   error: str) -> int:
    """The channel is down: each message is failed (retryable one by one), and one task
    for the whole outage names how many wait. A later run while that task is still open
    adds to it instead of making another. Returns the task's id."""
    vault = session.vault
    marks = ",".join("?" * len(queue.OPEN_STATES))
    open_task = vault.query_one(
        f"SELECT id, natural_key FROM tasks WHERE kind = 'automation_failure' AND "
        f"natural_key LIKE ? AND state IN ({marks}) ORDER BY id DESC LIMIT 1",
        (f"outbox:{channel}:outage:%", *(st.value for st in queue.OPEN_STATES)))
    if open_task:
        key = str(open_task[1])
    else:
        # A new key for each outage: the first message's id and this attempt (a closed
        # outage's key reused would hand back that closed task, and no one would be told).
        first = messages[0].id
        attempt = int(vault.query_one("SELECT attempts FROM outbox WHERE id = ?",
                                      (first,))[0]) + 1
        key = f"outbox:{channel}:outage:{first}:{attempt}"
    waiting = {int(r[0]) for r in vault.query(
        "SELECT id FROM outbox WHERE state = 'failed' AND failure_task_id = ?",
        (open_task[0],))} if open_task else set()
    ids = sorted(waiting | {m.id for m in messages})
    listed = " ".join(str(i) for i in ids)
    with vault.write() as conn:
        # The reason can name the server; it stays in the vault's task, never in a log.
        task, _created = queue.create_task(
            session, "automation_failure", key,
            f"The {channel} channel is down: {len(ids)} message{'s' * (len(ids) != 1)} "
            "wait in the outbox", priority=queue.PRIORITY_HIGH, subject_type="outbox",
            subject_id=channel,
            draft=(f"The {channel} channel could not be used: {error}. {len(ids)} "
                   f"message{'s' * (len(ids) != 1)} wait (outbox {listed}); nothing was "
                   f"sent. Fix the cause, then retry them with 'offhold outbox retry "
                   f"{listed}' (each is sent once)."),
            payload={"channel": channel, "outbox_ids": ids})
        for message in messages:
            attempts = int(conn.execute("SELECT attempts FROM outbox WHERE id = ?",
                                        (message.id,)).fetchone()[0]) + 1
            conn.execute("UPDATE outbox SET state = 'failed', claimed_at = NULL, "
                         "claimed_by = NULL, attempts = ?, last_error = ?, "
                         "failure_task_id = ? WHERE id = ?",
                         (attempts, error[:500], task.id, message.id))
            audit.record(vault, conn, session, "outbox.failed", "outbox", message.id,
                         patient_id=message.patient_id,
                         details={"task_id": message.task_id, "channel": channel,
                                  "attempt": attempts, "failure_task_id": task.id,
                                  "outage": True})
    log.warning("outbox: the %s channel is down, %d messages wait (task %s)", channel,
                len(ids), task.id)
    return task.id


def retry_message(session: Session, outbox_id: int) -> dict[str, Any]:
    """A failed message goes back to ready for the next send. A sent one never does."""
    require(session, "outbox.send")
    vault = session.vault
    with vault.write() as conn:
        row = conn.execute("SELECT state, patient_id FROM outbox WHERE id = ?",
                           (outbox_id,)).fetchone()
        if row is None:
            raise NotFound(f"no outbox message {outbox_id}")
        if row[0] != "failed":
            raise ValidationError(f"outbox message {outbox_id} is {row[0]}; only a failed "
                                  "message can be retried")
        conn.execute("UPDATE outbox SET state = 'ready' WHERE id = ?", (outbox_id,))
        audit.record(vault, conn, session, "outbox.retry", "outbox", outbox_id,
                     patient_id=row[1])
    return get_message(session, outbox_id)


def retry_messages(session: Session, outbox_ids: list[int]) -> list[dict[str, Any]]:
    """Several failed messages (an outage's) back to ready, all or none: one that is not
    failed (sent, or already retried) refuses the lot, naming it, and nothing changes."""
    require(session, "outbox.send")
    with session.vault.write():
        return [retry_message(session, outbox_id) for outbox_id in outbox_ids]


def resolve_interrupted(session: Session, outbox_id: int, went_out: bool) -> dict[str, Any]:
    """A send interrupted mid-way (still claimed) after a person checked the far side:
    it went out (recorded as sent, text kept) or it did not (ready for the next send)."""
    require(session, "outbox.send")
    vault = session.vault
    with vault.write() as conn:
        row = conn.execute("SELECT state, claimed_at, patient_id, body, channel FROM outbox "
                           "WHERE id = ?", (outbox_id,)).fetchone()
        if row is None:
            raise NotFound(f"no outbox message {outbox_id}")
        if row[0] != "ready" or row[1] is None:
            raise ValidationError(f"outbox message {outbox_id} is not an interrupted send")
        if went_out:
            blob_id = queue.store_blob(session, conn, str(row[3]).encode(), "text/plain")
            conn.execute("UPDATE outbox SET state = 'sent', sent_at = ?, sent_blob_id = ?, "
                         "sent_ref = 'confirmed by a person', attempts = attempts + 1 "
                         "WHERE id = ?", (clock.iso(clock.now()), blob_id, outbox_id))
        else:
            conn.execute("UPDATE outbox SET claimed_at = NULL, claimed_by = NULL WHERE id = ?",
                         (outbox_id,))
        audit.record(vault, conn, session, "outbox.resolve", "outbox", outbox_id,
                     patient_id=row[2], details={"went_out": went_out, "channel": row[4]})
    return get_message(session, outbox_id)


def get_message(session: Session, outbox_id: int) -> dict[str, Any]:
    require(session, "outreach.draft")
    rows = _rows(session, "WHERE id = ?", (outbox_id,))
    if not rows:
        raise NotFound(f"no outbox message {outbox_id}")
    return _shown(rows[0])


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["status"] = "sending" if row["state"] == "ready" and row["claimed_at"] else row["state"]
    return row


def list_messages(session: Session, state: str | None = None,
                  limit: int = 500) -> list[dict[str, Any]]:
    """The outbox, newest first: queued, sending, sent, failed (with the reason), cancelled.
    Rows carry the recipient and text: the roles that draft outreach see them."""
    require(session, "outreach.draft")
    where, params = ("WHERE state = ?", (state,)) if state else ("", ())
    rows = _rows(session, where, params)
    return [_shown(r) for r in reversed(rows)][:limit]


SMTP_PASSWORD = "smtp_password"
IMAP_PASSWORD = "imap_password"
SECRETS = (SMTP_PASSWORD, IMAP_PASSWORD)


def set_secret(session: Session, name: str, value: str) -> None:
    """Keep a mail password in the vault (practice secrets); audited without the value."""
    require(session, "settings.manage", key=name)
    if name not in SECRETS:
        raise ValidationError(f"unknown secret {name!r}; known: {', '.join(SECRETS)}")
    vault = session.vault
    with vault.write() as conn:
        conn.execute("INSERT INTO practice_secrets (name, value, updated_at, updated_by) "
                     "VALUES (?,?,?,?) ON CONFLICT(name) DO UPDATE SET value = excluded.value,"
                     " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                     (name, value, clock.iso(clock.now()), session.username))
        audit.record(vault, conn, session, "secret.update", "secret", name,
                     details={"set": bool(value)})


def secret(session: Session, name: str) -> str:
    """A mail password, for a sender or reader of the outbox ('' when none is kept)."""
    require(session, "outbox.send")
    row = session.vault.query_one("SELECT value FROM practice_secrets WHERE name = ?",
                                  (name,))
    return str(row[0]) if row else ""


def set_smtp_password(session: Session, password: str) -> None:
    """Keep the SMTP password in the vault (practice secrets); audited without the value."""
    set_secret(session, SMTP_PASSWORD, password)


def smtp_password(session: Session) -> str:
    """The SMTP password, for the email channel of a sender that may send."""
    return secret(session, SMTP_PASSWORD)
