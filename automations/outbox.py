"""The outbox's ways out of the practice, and the send run the CLI and the scheduler use.

- Email through the practice's own SMTP server, TLS required (STARTTLS on 587 or implicit
  TLS on 465) with the server's certificate verified; plain SMTP is never spoken.
- Text messages as the CSV texting vendors import (phone in E.164, message, send-after),
  written to a chosen folder. A vendor API can later be another `SendChannel`.
- Printed letters as one PDF batch with address blocks, ready to mail.
The files hold approved messages on their way out; they are written owner-read-only.

Replies come back the way the practice's vendors deliver them (`read_replies`): the
texting vendor's replies export saved to a folder, the practice's mailbox over IMAP
(TLS, read only), or a Maildir a mail client fills. app.services.replies matches, keeps
and acts on them.
"""

from __future__ import annotations

import csv
import hashlib
import imaplib
import io
import mailbox
import os
import re
import smtplib
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

from app import clock, queue
from app.errors import ImportRejected, KnownError, ValidationError
from app.identity import Session, require
from app.imports.common import Deadline, check_size
from app.imports.files import read_capped
from app.reports.appeal_letter import long_date
from app.replies.parse import LIMITS as REPLY_LIMITS
from app.replies.parse import ReplyLimits, e164, parse_email, parse_sms_csv
from app.services import outbox
from app.services import replies as replies_service
from app.services.outbox import OutgoingMessage, Outcome, SendChannel, SendReport
from app.services.practice import all_settings, practice_info
from app.services.prior_auth import practice_zone
from app.services.replies import RepliesReport
from automations.workflows.watched_folder import SETTLE_SECONDS, _aside

SMTP_TIMEOUT_S = 30


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """For the mail servers (SMTP, IMAP): verification on (CERT_REQUIRED, host name
    checked), the defaults never relaxed; TLS 1.2 at least."""
    context = ssl.create_default_context(cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class EmailChannel:
    name = "email"

    def __init__(self, host: str, port: int, security: str, sender: str, *, user: str = "",
                 password: str = "", ca_file: str = "", practice: str = "") -> None:
        if security not in ("starttls", "tls"):
            raise ValidationError(f"smtp_security must be starttls or tls, not {security!r}")
        self.host, self.port, self.security, self.sender = host, port, security, sender
        self.user, self.password, self.ca_file, self.practice = user, password, ca_file, \
            practice

    def tls_context(self) -> ssl.SSLContext:
        return tls_context(self.ca_file)

    @contextmanager
    def _connect(self) -> Iterator[smtplib.SMTP]:
        context = self.tls_context()
        server: smtplib.SMTP
        if self.security == "tls":
            server = smtplib.SMTP_SSL(self.host, self.port, timeout=SMTP_TIMEOUT_S,
                                      context=context)
        else:
            server = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_S)
        try:
            server.ehlo()
            if self.security == "starttls":
                if not server.has_extn("starttls"):
                    raise smtplib.SMTPNotSupportedError(
                        "the SMTP server does not offer STARTTLS; OffHold sends email only "
                        "over TLS")
                server.starttls(context=context)
                server.ehlo()
            if self.user:
                server.login(self.user, self.password)
            yield server
        finally:
            try:
                server.quit()
            except (smtplib.SMTPException, OSError):
                server.close()

    def message(self, m: OutgoingMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = m.recipient
        mail["Subject"] = m.subject or f"A message from {self.practice or 'your practice'}"
        mail["Date"] = formatdate(clock.now().timestamp())
        # Stable per outbox row: a recipient's mail system can spot a duplicate.
        # Replies name it in In-Reply-To/References: that is how a reply finds its message
        # (the token proves the reply answers this email; app.services.replies checks it).
        token = f"-{m.token}" if m.token else ""
        mail["Message-ID"] = (f"<{outbox.reference(m.id)}{token}-task-{m.task_id}"
                              "@offhold.invalid>")
        mail.set_content(m.body)
        return mail

    def send(self, messages: list[OutgoingMessage]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        try:
            with self._connect() as server:
                for m in messages:
                    mail = self.message(m)
                    try:
                        server.send_message(mail)
                    except smtplib.SMTPRecipientsRefused as exc:
                        outcomes.append(Outcome(m.id, False, error="the SMTP server refused "
                                                f"the recipient: {_reason(exc)}"))
                    except smtplib.SMTPResponseException as exc:
                        outcomes.append(Outcome(m.id, False, error="the SMTP server refused "
                                                f"the message: {_reason(exc)}"))
                    else:
                        outcomes.append(Outcome(m.id, True, ref=str(mail["Message-ID"]),
                                                sent=mail.as_bytes(), mime="message/rfc822"))
                return outcomes
        except ssl.SSLCertVerificationError as exc:
            error = (f"the SMTP server's certificate failed verification "
                     f"({exc.verify_message or exc.reason}); nothing was sent")
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            error = f"could not send through {self.host}:{self.port}: {_reason(exc)}"
        # The connection failed midway: the server took those before it (sent: retried,
        # they would reach the patient twice); the rest wait as one outage.
        done = {o.message_id for o in outcomes}
        return outcomes + [Outcome(m.id, False, error=error, outage=True) for m in messages
                           if m.id not in done]


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:300]


def _write_private(path: Path, data: bytes) -> None:
    """Create the file readable by this user only, all at once (a partial file never
    reaches a vendor's import or a printer)."""
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(partial, path)


def _batch_name(prefix: str, messages: list[OutgoingMessage], ext: str) -> str:
    return f"{prefix}-{clock.now():%Y%m%d-%H%M%S}-{messages[0].id}.{ext}"


class SmsCsvChannel:
    """The vendor-import CSV: phone (E.164), message, send_after (practice time, ISO), and
    reference (`offhold-outbox-<id>`, a custom field the vendor echoes in its replies
    export, so a reply finds its message)."""
    name = "sms"
    HEADER = ("phone", "message", "send_after", "reference")

    def __init__(self, folder: Path, zone: ZoneInfo) -> None:
        self.folder, self.zone = Path(folder), zone

    def send(self, messages: list[OutgoingMessage]) -> list[Outcome]:
        if not self.folder.is_dir():
            return [Outcome(m.id, False, error=f"the text-message folder {self.folder} does "
                            "not exist", outage=True) for m in messages]
        send_after = clock.now().astimezone(self.zone).isoformat(timespec="seconds")
        rows: list[tuple[OutgoingMessage, tuple[str, str, str, str]]] = []
        outcomes: list[Outcome] = []
        for m in messages:
            phone = e164(m.recipient)
            if phone is None:
                outcomes.append(Outcome(m.id, False, error="the phone number on file is not "
                                        "a valid US number (E.164 needs the area code)"))
            else:
                rows.append((m, (phone, m.body, send_after, outbox.reference(m.id))))
        if not rows:
            return outcomes
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(self.HEADER)
        writer.writerows(r for _m, r in rows)
        name = _batch_name("sms", [m for m, _r in rows], "csv")
        try:
            _write_private(self.folder / name, buffer.getvalue().encode("utf-8"))
        except OSError as exc:
            return outcomes + [Outcome(m.id, False, error=f"could not write {name}: "
                                       f"{exc.strerror or exc}", outage=True)
                               for m, _r in rows]
        for m, row in rows:
            line = io.StringIO()
            csv.writer(line, lineterminator="\r\n").writerow(row)
            outcomes.append(Outcome(m.id, True, ref=name, sent=line.getvalue().encode(),
                                    mime="text/csv"))
        return outcomes


class LetterChannel:
    """One PDF per batch, a page per letter with the address block; ready to print."""
    name = "letter"

    def __init__(self, folder: Path, practice: str, zone: ZoneInfo) -> None:
        self.folder, self.practice = Path(folder), practice
        self.zone = zone  # the letter's date is the practice's calendar date, not UTC's

    def render(self, messages: list[OutgoingMessage]) -> bytes:
        styles = getSampleStyleSheet()
        buffer = io.BytesIO()
        doc = SimpleDocTemplate(buffer, pagesize=LETTER, leftMargin=inch, rightMargin=inch,
                                topMargin=0.8 * inch, bottomMargin=0.8 * inch,
                                title=f"{self.practice} letters")
        story = []
        for i, m in enumerate(messages):
            if i:
                story.append(PageBreak())
            story += [Paragraph(escape(self.practice), styles["Title"]),
                      Paragraph(long_date(clock.now().astimezone(self.zone).date()),
                                styles["Normal"]),
                      Spacer(1, 0.5 * inch)]
            address = [m.name] + [part.strip() for part in m.recipient.split("\n")]
            story.append(Paragraph("<br/>".join(escape(a) for a in address if a),
                                   styles["Normal"]))
            story.append(Spacer(1, 0.5 * inch))
            story += [Paragraph(escape(p).replace("\n", "<br/>"), styles["BodyText"])
                      for p in m.body.split("\n\n")]
        doc.build(story)
        return buffer.getvalue()

    def send(self, messages: list[OutgoingMessage]) -> list[Outcome]:
        missing = [m for m in messages if not m.recipient.strip()]
        ready = [m for m in messages if m.recipient.strip()]
        outcomes = [Outcome(m.id, False, error="no mailing address on file") for m in missing]
        if not ready:
            return outcomes
        if not self.folder.is_dir():
            return outcomes + [Outcome(m.id, False, error=f"the letters folder {self.folder} "
                                       "does not exist", outage=True) for m in ready]
        name = _batch_name("letters", ready, "pdf")
        try:
            _write_private(self.folder / name, self.render(ready))
        except OSError as exc:
            return outcomes + [Outcome(m.id, False, error=f"could not write {name}: "
                                       f"{exc.strerror or exc}", outage=True) for m in ready]
        return outcomes + [Outcome(m.id, True, ref=name, sent=self.render([m]),
                                   mime="application/pdf") for m in ready]


def configured_channels(session: Session) -> dict[str, SendChannel]:
    """The channels the practice has set up (settings; the SMTP password from the vault).
    A channel left unset is absent, and its messages wait in the outbox."""
    settings = all_settings(session)
    practice = str(practice_info(session)["name"])
    zone = practice_zone(session)
    channels: dict[str, SendChannel] = {}
    if settings["smtp_host"]:
        channels["email"] = EmailChannel(
            settings["smtp_host"], int(settings["smtp_port"]), settings["smtp_security"],
            settings["smtp_from"] or settings["smtp_user"], user=settings["smtp_user"],
            password=outbox.smtp_password(session) if settings["smtp_user"] else "",
            ca_file=settings["smtp_ca_file"], practice=practice)
    if settings["sms_export_dir"]:
        channels["sms"] = SmsCsvChannel(Path(settings["sms_export_dir"]), zone)
    if settings["letters_export_dir"]:
        channels["letter"] = LetterChannel(Path(settings["letters_export_dir"]), practice,
                                           zone)
    return channels


def send_outbox(session: Session, now: datetime | None = None) -> SendReport:
    """One send run over the configured channels (the CLI's `outbox send`, the job)."""
    return outbox.send_ready(session, configured_channels(session), now=now)


# -- replies ---------------------------------------------------------------------------------

@dataclass
class RepliesRun:
    """PHI-free counts of one reading of the reply sources."""

    report: RepliesReport = field(default_factory=RepliesReport)
    files: int = 0  # vendor exports read
    emails: int = 0  # mailbox messages read
    failed: int = 0  # sources refused (a task each)
    recovery_run: bool = False  # a declined offer moved on to the next candidate now

    def to_json(self) -> dict[str, Any]:
        return {**self.report.to_json(), "files": self.files, "emails": self.emails,
                "failed": self.failed, "recovery_run": self.recovery_run}


def _merge(run: RepliesRun, part: RepliesReport) -> None:
    for name, value in vars(part).items():
        mine = getattr(run.report, name)
        setattr(run.report, name, mine + value)


def read_reply_file(session: Session, path: Path, limits: ReplyLimits = REPLY_LIMITS
                    ) -> RepliesReport:
    """One vendor replies export (CSV) or one saved email (.eml), all or nothing; raises
    ImportRejected with the position of the first problem."""
    email_file = path.suffix.lower() in (".eml", ".msg")
    cap = limits.max_email_bytes if email_file else limits.max_csv_bytes
    # The imports' one capped reader: the size checked before and on what was read (a
    # file that grew since), an unreadable file a refusal naming it, not a traceback.
    data = read_capped(path, cap, lambda size: check_size(size, cap, "replies file"))
    key = "sha256:" + hashlib.sha256(data).hexdigest()
    if email_file:
        replies = [parse_email(data, path.name, limits)]
    else:
        replies = parse_sms_csv(data, practice_zone(session), limits)
    return replies_service.record_replies(session, replies, source=path.name, source_key=key)


def _reply_failure(session: Session, key: str, draft: str) -> int:
    task, _created = queue.create_task(
        session, "automation_failure", f"outbox-replies:{key}:{clock.now().date()}",
        "A patient reply could not be read", draft=draft, priority=queue.PRIORITY_HIGH,
        subject_type="job", subject_id="outbox-replies", payload={"job_id": "outbox-replies"})
    return task.id


def _read_vendor_folder(session: Session, root: Path, run: RepliesRun) -> None:
    if not root.is_dir():
        run.failed += 1
        run.report.tasks.append(_reply_failure(
            session, "folder", f"The replies folder {root} does not exist or is not a "
            "folder. Fix the setting sms_replies_dir."))
        return
    now = time.time()
    for path in sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() ==
                       ".csv" and not p.name.startswith((".", "~"))):
        try:
            changed = path.stat().st_mtime
        except FileNotFoundError:
            continue  # another run (the job, 'Read replies now') read and moved it
        if now - changed < SETTLE_SECONDS:
            # Still being written (a sync tool, a download): read in full next run, not
            # its first rows now and the rest never (it moves to imported/).
            continue
        try:
            _merge(run, read_reply_file(session, path))
        except (KnownError, OSError) as exc:
            if not path.exists():
                continue  # moved by another run while this one read it: nothing to fix
            # An unreadable file (permissions) left in place ended every run here, before
            # the mailbox was read. The reason names a line and a column, never a
            # patient's values.
            reason = str(exc) if isinstance(exc, KnownError) else \
                f"it cannot be read ({exc.strerror or type(exc).__name__})"
            moved = _aside(path, "failed")
            run.failed += 1
            run.report.tasks.append(_reply_failure(
                session, hashlib.sha256(str(moved).encode()).hexdigest()[:16],
                f"{moved} could not be read: {reason}\nNothing from it was recorded. Fix the "
                "file (or ask the vendor for a new export), then move it back into the "
                "replies folder."))
            continue
        try:
            _aside(path, "imported")
        except FileNotFoundError:
            continue  # both runs read it (the other recorded it): the other moved it
        run.files += 1


def _email_failure(session: Session, run: RepliesRun, source_key: str, reason: str) -> None:
    run.failed += 1
    run.report.tasks.append(_reply_failure(
        session, source_key[:100], f"An email in the replies mailbox could not be read: "
        f"{reason}. Read it in the mail client and act on it by hand."))
    replies_service.mark_source_read(session, source_key)


def _record_email(session: Session, run: RepliesRun, source_key: str, data: bytes,
                  position: str, limits: ReplyLimits) -> None:
    """One mailbox message: recorded once (its key), a stranger's mail left out, an
    unreadable one a task."""
    try:
        reply = parse_email(data, position, limits)
    except KnownError as exc:
        _email_failure(session, run, source_key, str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - never marked read, it would end every run
        _email_failure(session, run, source_key, f"an unexpected error "
                       f"({type(exc).__name__})")
        return
    _merge(run, replies_service.record_replies(session, [reply], source="mailbox",
                                               source_key=source_key, skip_strangers=True))
    run.emails += 1


def _unread(session: Session, keys: list[str], limits: ReplyLimits) -> Iterator[str]:
    """The source keys not read before, up to the per-run bounds (the rest wait)."""
    deadline = Deadline(limits.seconds)
    done = 0
    for key in keys:
        if replies_service.source_read(session, key):
            continue
        if done >= limits.max_emails or time.monotonic() > deadline.end:
            return
        done += 1
        yield key


def _read_maildir(session: Session, root: Path, run: RepliesRun,
                  limits: ReplyLimits = REPLY_LIMITS) -> None:
    """New messages in a Maildir the mail client fills (read only: the mailbox is the
    mail client's; each message's key is recorded once read)."""
    try:
        box = mailbox.Maildir(root, factory=None, create=False)
        keys = sorted(box.keys())
    except (OSError, mailbox.Error) as exc:  # NoSuchMailboxError is a mailbox.Error
        run.failed += 1
        run.report.tasks.append(_reply_failure(
            session, "maildir", f"The replies mailbox {root} cannot be read "
            f"({getattr(exc, 'strerror', None) or type(exc).__name__}). Fix the setting "
            "email_replies_maildir (a Maildir: a folder with cur/, new/ and tmp/)."))
        return
    for source_key in _unread(session, [f"maildir:{k}" for k in keys], limits):
        key = source_key.removeprefix("maildir:")
        try:
            with box.get_file(key) as handle:
                data = handle.read(limits.max_email_bytes + 1)
        except KeyError:
            continue  # the mail client moved it meanwhile; read under its new key later
        _record_email(session, run, source_key, data, f"message {key}", limits)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
           "Dec")
IMAP_TIMEOUT_S = 30


class ImapMailbox:
    """The practice's mailbox over IMAP, TLS required (implicit TLS on 993 or STARTTLS on
    143) with the server's certificate verified, like the SMTP channel. Read only: the
    folder is selected read-only and messages fetched with BODY.PEEK, so nothing is
    marked read, moved or deleted for the people who use the mailbox."""

    def __init__(self, host: str, port: int, security: str, user: str, password: str, *,
                 folder: str = "INBOX", ca_file: str = "") -> None:
        if security not in ("starttls", "tls"):
            raise ValidationError(f"imap_security must be starttls or tls, not {security!r}")
        self.host, self.port, self.security = host, port, security
        self.user, self.password, self.folder, self.ca_file = user, password, folder, ca_file

    @contextmanager
    def session(self) -> Iterator[imaplib.IMAP4]:
        context = tls_context(self.ca_file)
        client: imaplib.IMAP4
        if self.security == "tls":
            client = imaplib.IMAP4_SSL(self.host, self.port, ssl_context=context,
                                       timeout=IMAP_TIMEOUT_S)
        else:
            client = imaplib.IMAP4(self.host, self.port, timeout=IMAP_TIMEOUT_S)
        try:
            if self.security == "starttls":
                client.starttls(ssl_context=context)  # refused: no plain-text log-in
            client.login(self.user, self.password)
            typ, _data = client.select(self.folder, readonly=True)
            if typ != "OK":
                raise imaplib.IMAP4.error(f"the folder {self.folder!r} cannot be opened")
            yield client
        finally:
            try:
                client.logout()
            except (imaplib.IMAP4.error, OSError):
                pass

    def recent(self, client: imaplib.IMAP4, since: datetime) -> list[str]:
        """Source keys (host, folder, UIDVALIDITY, UID) of the messages since that day."""
        # imaplib answers [None] (not []) when the server sent none: "0" then, as meant
        validity = next((v for v in client.response("UIDVALIDITY")[1] or [] if v), b"0")
        day = since.date()
        typ, data = client.uid("SEARCH", "SINCE",
                               f"{day.day:02d}-{_MONTHS[day.month - 1]}-{day.year}")
        if typ != "OK":
            raise imaplib.IMAP4.error("the server refused the search")
        uids = (data[0] or b"").split() if data else []
        return [f"imap:{self.host}:{self.folder}:{validity.decode()}:{uid.decode()}"
                for uid in uids]

    @staticmethod
    def fetch(client: imaplib.IMAP4, uid: str, max_bytes: int) -> bytes | None:
        """The whole message, or None when it is larger than `max_bytes` (its size is
        asked first, so a large one is never downloaded)."""
        typ, data = client.uid("FETCH", uid, "(RFC822.SIZE)")
        sizes = [re.search(rb"RFC822\.SIZE (\d+)", d) for d in data
                 if isinstance(d, bytes)] if typ == "OK" else []
        size = next((int(m.group(1)) for m in sizes if m), None)
        if size is None or size > max_bytes:
            return None
        typ, data = client.uid("FETCH", uid, "(BODY.PEEK[])")
        parts = [d[1] for d in data if isinstance(d, tuple)] if typ == "OK" else []
        return bytes(parts[0]) if parts else None


def _read_imap(session: Session, source: ImapMailbox, run: RepliesRun,
               limits: ReplyLimits = REPLY_LIMITS) -> None:
    try:
        with source.session() as client:
            keys = source.recent(client, clock.now() - replies_service.REPLY_WINDOW)
            for source_key in _unread(session, keys, limits):
                data = source.fetch(client, source_key.rsplit(":", 1)[1],
                                    limits.max_email_bytes)
                if data is None:
                    _email_failure(session, run, source_key, "it is larger than "
                                   f"{limits.max_email_bytes // (1024 * 1024)} MB or its "
                                   "size was not given")
                    continue
                _record_email(session, run, source_key, data,
                              f"message {source_key.rsplit(':', 1)[1]}", limits)
    except ssl.SSLCertVerificationError as exc:
        _imap_down(session, run, f"the IMAP server's certificate failed verification "
                   f"({exc.verify_message or exc.reason})")
    except (imaplib.IMAP4.error, ssl.SSLError, OSError) as exc:
        _imap_down(session, run, f"could not read {source.host}:{source.port}: "
                   f"{_reason(exc)}")


def _imap_down(session: Session, run: RepliesRun, reason: str) -> None:
    run.failed += 1
    run.report.tasks.append(_reply_failure(
        session, "imap", f"The replies mailbox could not be read: {reason}. Nothing was "
        "missed: the next run reads what came in meanwhile. Fix the imap_ settings or the "
        "password ('offhold outbox set-password --imap')."))


def read_replies(session: Session, files: list[Path] | None = None) -> RepliesRun:
    """Record patients' replies: from `files` (the CLI's `outbox replies FILE`), else from
    the configured sources (the vendor's replies folder, the replies Maildir, the IMAP
    mailbox). A declined
    waitlist offer moves to the next candidate at once (the schedule run)."""
    require(session, "outbox.send")
    run = RepliesRun()
    _merge(run, replies_service.act_on_unacted(session))  # a killed run's replies
    if files:
        for done, path in enumerate(files):
            try:
                _merge(run, read_reply_file(session, path))
            except ImportRejected as exc:
                # Given several, the refusal says which file (and that those before it
                # were recorded: a rerun records each reply once).
                before = f"; the {done} file(s) before it were recorded" if done else ""
                raise ImportRejected(exc.reason + before, ", ".join(
                    p for p in (path.name, exc.position) if p)) from exc
            run.files += 1
    else:
        settings = all_settings(session)
        if settings["sms_replies_dir"]:
            _read_vendor_folder(session, Path(settings["sms_replies_dir"]), run)
        if settings["email_replies_maildir"]:
            _read_maildir(session, Path(settings["email_replies_maildir"]), run)
        if settings["imap_host"]:
            _read_imap(session, ImapMailbox(
                settings["imap_host"], int(settings["imap_port"]),
                settings["imap_security"], settings["imap_user"],
                outbox.secret(session, outbox.IMAP_PASSWORD),
                folder=settings["imap_folder"], ca_file=settings["imap_ca_file"]), run)
    if run.report.declined:
        from automations.workflows import no_show
        no_show.run_recovery(Session.system(session.vault, no_show.SYSTEM_ACTOR))
        run.recovery_run = True
    return run
