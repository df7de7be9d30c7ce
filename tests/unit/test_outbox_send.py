"""The outbox sends approved messages: email over STARTTLS to a real SMTP server on
loopback (aiosmtpd) with certificates made here; the texting vendor's CSV; a letter PDF
batch. Quiet hours, opt-outs, failures as tasks, and never sending twice."""

from __future__ import annotations

import csv
import email
import io
import stat
from datetime import datetime, timedelta, timezone
from email import policy
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from app import clock
from app.errors import PermissionDenied, ValidationError
from app.identity import Role, Session
from app.queue import create_task
from app.replies.parse import e164
from app.services import outbox, patients
from app.services.outreach import add_to_outbox
from app.services.practice import set_setting
from automations.outbox import send_outbox
from tests.unit.smtp_server import Certs, StartTlsServer, make_certs

BODY = ("Hello Ana, this is Maple Street Family Medicine. You missed your visit today; "
        "reply or call 555-0100 to book again.\nReply STOP to opt out.")
DAY = datetime(2026, 11, 16, 15, 0, tzinfo=timezone.utc)     # 10:00 in New York
NIGHT = datetime(2026, 11, 17, 3, 30, tzinfo=timezone.utc)   # 22:30 in New York
MORNING = datetime(2026, 11, 17, 13, 0, tzinfo=timezone.utc)  # 08:00 in New York


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return make_certs(tmp_path)


@pytest.fixture
def outdir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture
def owner(practice: Session) -> Session:
    clock.set_clock(lambda: DAY)
    return practice


@pytest.fixture
def patient_id(owner: Session) -> int:
    return patients.add_patient(owner, "Ana", "Quillfeather", "1980-02-03",
                                phone="(617) 253-1000", email="ana.q@example.org",
                                address="12 Elm St\nSpringfield, MA 01101").id


def _queue(session: Session, patient_id: int, channel: str = "email", n: int = 1,
           phone: str = "(617) 253-1000") -> int:
    task, _ = create_task(session, "outreach", f"test:{channel}:{n}", "outreach")
    if channel == "letter":
        with session.vault.write() as conn:
            cur = conn.execute(
                "INSERT INTO outbox (task_id, patient_id, kind, channel, recipient, body, "
                "state, created_at, created_by) VALUES (?,?,?,?,?,?,'ready',?,?)",
                (task.id, patient_id, "no_show", "letter", "12 Elm St\nSpringfield, MA 01101",
                 BODY, clock.iso(clock.now()), session.username))
            return int(cur.lastrowid)
    from app.domain.outreach import Channel
    recipient = "ana.q@example.org" if channel == "email" else phone
    return add_to_outbox(session, task.id, patient_id, "no_show", Channel(channel), recipient,
                         BODY, subject="Your visit today" if channel == "email" else "")


def _smtp(session: Session, port: int, certs: Certs) -> None:
    for key, value in (("smtp_host", "127.0.0.1"), ("smtp_port", port),
                       ("smtp_ca_file", str(certs.ca_file)),
                       ("smtp_from", "frontdesk@maple.example")):
        set_setting(session, key, value)


def _row(session: Session, outbox_id: int) -> dict[str, Any]:
    return outbox.get_message(session, outbox_id)


def test_email_arrives_intact_over_starttls(owner: Session, patient_id: int,
                                            certs: Certs) -> None:
    oid = _queue(owner, patient_id)
    with StartTlsServer(certs.server_cert, certs.server_key) as server:
        _smtp(owner, server.port, certs)
        report = send_outbox(owner)
    assert report.sent == [oid] and not report.failed
    [(sender, rcpts, content)] = server.inbox.messages
    assert (sender, rcpts) == ("frontdesk@maple.example", ["ana.q@example.org"])
    mail = email.message_from_bytes(content, policy=policy.default)
    assert mail["Subject"] == "Your visit today"
    # Every character arrives; SMTP carries line ends as CRLF.
    assert mail.get_content().replace("\r\n", "\n") == BODY + "\n"
    row = _row(owner, oid)
    assert row["state"] == "sent" and row["attempts"] == 1
    assert row["sent_ref"] == mail["Message-ID"]
    kept = owner.vault.query_one("SELECT data, mime FROM blobs WHERE id = ?",
                                 (row["sent_blob_id"],))
    assert kept[1] == "message/rfc822"
    assert email.message_from_bytes(bytes(kept[0]), policy=policy.default).get_content() \
        == BODY + "\n"
    audit = owner.vault.query_one("SELECT details FROM audit_log WHERE action = "
                                  "'outbox.sent' AND object_id = ?", (str(oid),))
    assert f'"blob_id": {row["sent_blob_id"]}' in audit[0] and "Quillfeather" not in audit[0]


@pytest.mark.expected_logs("the email channel is down", "SMTP session exception")
def test_a_certificate_failing_verification_is_refused_and_becomes_a_task(
        owner: Session, patient_id: int, certs: Certs) -> None:
    oid = _queue(owner, patient_id)
    with StartTlsServer(certs.rogue_cert, certs.rogue_key) as rogue:
        _smtp(owner, rogue.port, certs)
        report = send_outbox(owner)
    assert report.failed == [oid] and rogue.inbox.messages == []
    row = _row(owner, oid)
    assert row["state"] == "failed" and "certificate failed verification" in row["last_error"]
    task = owner.vault.query_one("SELECT kind, state, draft FROM tasks WHERE id = ?",
                                 (row["failure_task_id"],))
    assert task[0] == "automation_failure" and task[1] == "pending"
    assert "certificate failed verification" in task[2] and f"retry {oid}" in task[2]
    # Fixed (the real server), retried: sent exactly once.
    outbox.retry_message(owner, oid)
    with StartTlsServer(certs.server_cert, certs.server_key) as server:
        _smtp(owner, server.port, certs)
        assert send_outbox(owner).sent == [oid]
        assert send_outbox(owner).sent == []
    assert len(server.inbox.messages) == 1 and _row(owner, oid)["attempts"] == 2


@pytest.mark.expected_logs("the email channel is down")
def test_plain_smtp_without_starttls_is_never_used(owner: Session, patient_id: int,
                                                   certs: Certs) -> None:
    from aiosmtpd.controller import Controller

    from tests.unit.smtp_server import Inbox, free_port
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    oid = _queue(owner, patient_id)
    controller.start()
    try:
        set_setting(owner, "smtp_host", "127.0.0.1")
        set_setting(owner, "smtp_port", port)
        assert send_outbox(owner).failed == [oid]
    finally:
        controller.stop()
    assert inbox.messages == [] and "STARTTLS" in _row(owner, oid)["last_error"]


def test_quiet_hours_hold_email_and_texts_not_letters(owner: Session, patient_id: int,
                                                      certs: Certs, tmp_path: Path) -> None:
    mail_id = _queue(owner, patient_id)
    sms_id = _queue(owner, patient_id, "sms")
    letter_id = _queue(owner, patient_id, "letter")
    for key in ("sms_export_dir", "letters_export_dir"):
        (tmp_path / key).mkdir()
        set_setting(owner, key, str(tmp_path / key))
    with StartTlsServer(certs.server_cert, certs.server_key) as server:
        _smtp(owner, server.port, certs)
        clock.set_clock(lambda: NIGHT)
        night = send_outbox(owner)
        assert night.sent == [letter_id] and set(night.held) == {mail_id, sms_id}
        assert "quiet hours" in night.held[mail_id]
        assert server.inbox.messages == [] and not list((tmp_path / "sms_export_dir").iterdir())
        clock.set_clock(lambda: MORNING)
        assert sorted(send_outbox(owner).sent) == [mail_id, sms_id]
    assert len(server.inbox.messages) == 1


def test_quiet_hours_follow_the_patients_own_time_zone(owner: Session, patient_id: int,
                                                       certs: Certs) -> None:
    """At 08:00 in New York (the practice) it is 05:00 for a patient in Los Angeles: her
    email waits until 08:00 her time; a patient without a zone follows the practice."""
    west = patients.add_patient(owner, "Bea", "Westcott", "1975-06-07",
                                email="bea.w@example.org").id
    patients.update_patient(owner, west, timezone="America/Los_Angeles")
    east_mail = _queue(owner, patient_id)
    west_mail = _queue(owner, west, n=2)
    with StartTlsServer(certs.server_cert, certs.server_key) as server:
        _smtp(owner, server.port, certs)
        clock.set_clock(lambda: MORNING)
        morning = send_outbox(owner)
        assert morning.sent == [east_mail] and set(morning.held) == {west_mail}
        assert "the patient's time (America/Los_Angeles)" in morning.held[west_mail]
        clock.set_clock(lambda: MORNING + timedelta(hours=3))  # 08:00 in Los Angeles
        assert send_outbox(owner).sent == [west_mail]
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Base'"):
        patients.update_patient(owner, west, timezone="Mars/Base")


def test_an_opt_out_after_approval_cancels_the_send(owner: Session, patient_id: int,
                                                    outdir: Path) -> None:
    sms_id = _queue(owner, patient_id, "sms")
    set_setting(owner, "sms_export_dir", str(outdir))
    patients.update_patient(owner, patient_id, sms_opt_out=True)
    report = send_outbox(owner)
    assert report.cancelled == [sms_id] and report.sent == []
    assert list(outdir.iterdir()) == []
    row = _row(owner, sms_id)
    assert row["state"] == "cancelled" and "opted out" in row["last_error"]
    with pytest.raises(ValidationError, match="only a failed message"):
        outbox.retry_message(owner, sms_id)


def test_never_sends_twice(owner: Session, patient_id: int, outdir: Path) -> None:
    first = _queue(owner, patient_id, "sms", 1)
    second = _queue(owner, patient_id, "sms", 2)
    set_setting(owner, "sms_export_dir", str(outdir))
    # Another sender claimed the second one and died before recording the result.
    with owner.vault.write() as conn:
        conn.execute("UPDATE outbox SET claimed_at = ?, claimed_by = 'crashed' WHERE id = ?",
                     (clock.iso(DAY), second))
    report = send_outbox(owner)
    assert report.sent == [first] and "interrupted" in report.held[second]
    assert send_outbox(owner).sent == []
    with pytest.raises(ValidationError, match="is sent"):
        outbox.retry_message(owner, first)
    rows = [r for f in outdir.iterdir() for r in csv.DictReader(io.StringIO(f.read_text()))]
    assert len(rows) == 1
    assert _row(owner, second)["status"] == "sending"
    # A person checked the vendor's upload: it never went out. Sent with the next run, once.
    assert outbox.resolve_interrupted(owner, second, went_out=False)["status"] == "ready"
    assert send_outbox(owner).sent == [second] and send_outbox(owner).sent == []
    with pytest.raises(ValidationError, match="not an interrupted send"):
        outbox.resolve_interrupted(owner, second, went_out=True)


@pytest.mark.expected_logs("outbox message .* failed")
def test_sms_csv_for_the_vendor(owner: Session, patient_id: int, outdir: Path) -> None:
    good = _queue(owner, patient_id, "sms", 1)
    other = patients.add_patient(owner, "Bo", "Ng", "1990-01-01", phone="555-0100").id
    bad = _queue(owner, other, "sms", 2, phone="555-0100")
    set_setting(owner, "sms_export_dir", str(outdir))
    report = send_outbox(owner)
    assert (report.sent, report.failed) == ([good], [bad])
    [batch] = list(outdir.iterdir())
    assert stat.S_IMODE(batch.stat().st_mode) == 0o600
    rows = list(csv.DictReader(io.StringIO(batch.read_text(encoding="utf-8"))))
    assert rows == [{"phone": "+16172531000", "message": BODY,
                     "send_after": "2026-11-16T10:00:00-05:00",
                     "reference": f"offhold-outbox-{good}"}]
    assert "area code" in _row(owner, bad)["last_error"]
    assert e164("617.253.1000") == "+16172531000" and e164("12") is None


def test_letters_as_a_pdf_batch(owner: Session, patient_id: int, outdir: Path) -> None:
    oid = _queue(owner, patient_id, "letter")
    set_setting(owner, "letters_export_dir", str(outdir))
    assert send_outbox(owner).sent == [oid]
    [batch] = list(outdir.iterdir())
    text = PdfReader(batch).pages[0].extract_text()
    assert "Ana Quillfeather" in text and "Springfield, MA 01101" in text
    assert "Reply STOP to opt out." in text


def test_a_letter_is_dated_on_the_practices_calendar(owner: Session, patient_id: int,
                                                     outdir: Path) -> None:
    """22:30 in New York is already the next day in UTC: the letter carries the
    practice's date, the day it was sent."""
    oid = _queue(owner, patient_id, "letter")
    set_setting(owner, "letters_export_dir", str(outdir))
    clock.set_clock(lambda: NIGHT)
    assert send_outbox(owner).sent == [oid]
    [batch] = list(outdir.iterdir())
    text = PdfReader(batch).pages[0].extract_text()
    assert "November 16, 2026" in text and "November 17" not in text


def test_no_channel_configured_holds_the_message(owner: Session, patient_id: int) -> None:
    oid = _queue(owner, patient_id)
    report = send_outbox(owner)
    assert report.held == {oid: "no email channel is configured"}
    assert _row(owner, oid)["state"] == "ready"


def test_sending_and_the_password_need_their_roles(owner: Session) -> None:
    desk = Session(owner.vault, "desk", frozenset({Role.FRONT_DESK}))
    with pytest.raises(PermissionDenied):
        outbox.send_ready(desk, {})
    manager = Session(owner.vault, "mgr", frozenset({Role.OFFICE_MANAGER}))
    with pytest.raises(PermissionDenied):
        outbox.set_smtp_password(manager, "secret")
    outbox.set_smtp_password(owner, "s3cret-pass")
    assert outbox.smtp_password(manager) == "s3cret-pass"
    row = owner.vault.query_one("SELECT details FROM audit_log WHERE action = "
                                "'secret.update'")
    assert "s3cret" not in row[0]


def test_the_scheduler_sends_as_its_own_identity(owner: Session, patient_id: int,
                                                 outdir: Path) -> None:
    from automations.jobs import build_scheduler, install, outbox_jobs
    oid = _queue(owner, patient_id, "sms")
    set_setting(owner, "sms_export_dir", str(outdir))
    scheduler = build_scheduler(owner.vault, lambda s: None, sweep_seconds=300)
    try:
        job = {j.id: j for j in scheduler.get_jobs()}[outbox_jobs.OUTBOX_ID]
        assert job.args == () and "0:10:00" in str(job.trigger)
        outbox_jobs.outbox_send()
    finally:
        install(None)
        scheduler.remove_all_jobs()
    assert _row(owner, oid)["state"] == "sent"
    actor = owner.vault.query_one("SELECT actor FROM audit_log WHERE action = 'outbox.sent'")
    assert actor[0] == outbox_jobs.OUTBOX_ID


def test_cli_send_and_list(owner: Session, patient_id: int, outdir: Path,
                           monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from ui.cli import Context, main
    oid = _queue(owner, patient_id, "sms")
    set_setting(owner, "sms_export_dir", str(outdir))
    monkeypatch.setattr(Context, "session", lambda self: owner)
    monkeypatch.setattr(Context, "close", lambda self: None)
    assert main(["outbox", "send", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sent"] == [oid]
    assert main(["outbox", "list", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["status"] == "sent" and "body" not in row
    assert main(["outbox", "retry", str(oid)]) == 1
    assert "only a failed message" in capsys.readouterr().err


def test_implicit_tls_on_465_style_servers(owner: Session, patient_id: int,
                                           certs: Certs) -> None:
    import ssl

    from aiosmtpd.controller import Controller

    from tests.unit.smtp_server import Inbox, free_port
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    inbox, port = Inbox(), free_port()
    # The readiness probe is plain TCP; with TLS wrapping the socket it needs the hostname.
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=context,
                            server_hostname="localhost")
    oid = _queue(owner, patient_id)
    controller.start()
    try:
        _smtp(owner, port, certs)
        set_setting(owner, "smtp_security", "tls")
        assert send_outbox(owner).sent == [oid]
    finally:
        controller.stop()
    assert len(inbox.messages) == 1


@pytest.mark.expected_logs("the email channel is down")
def test_an_smtp_outage_is_one_task_and_every_message_stays_retryable(
        owner: Session, patient_id: int, certs: Certs,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The real server, stopped: three messages fail as one outage (one task naming how
    many wait); a message failing while that task is open joins it; once the server is
    back, retrying them sends each exactly once."""
    from ui.cli import Context, main
    ids = [_queue(owner, patient_id, n=n) for n in range(3)]
    with StartTlsServer(certs.server_cert, certs.server_key) as server:
        _smtp(owner, server.port, certs)
    report = send_outbox(owner)  # the server is down now
    assert sorted(report.failed) == ids and report.sent == []
    outage_task = report.outages["email"]
    tasks = owner.vault.query("SELECT id, kind, state, title, draft FROM tasks WHERE kind = "
                              "'automation_failure'")
    assert [t[0] for t in tasks] == [outage_task]
    assert tasks[0][2] == "pending" and "3 messages wait" in tasks[0][3]
    assert f"offhold outbox retry {' '.join(map(str, ids))}" in tasks[0][4]
    assert all(_row(owner, i)["state"] == "failed" and _row(owner, i)["failure_task_id"]
               == outage_task for i in ids)
    later = _queue(owner, patient_id, n=9)
    assert send_outbox(owner).outages == {"email": outage_task}
    [(title,)] = owner.vault.query("SELECT title FROM tasks WHERE kind = "
                                   "'automation_failure'")
    assert "4 messages wait" in title
    with StartTlsServer(certs.server_cert, certs.server_key) as server:
        _smtp(owner, server.port, certs)
        monkeypatch.setattr(Context, "session", lambda self: owner)
        monkeypatch.setattr(Context, "close", lambda self: None)
        assert main(["outbox", "retry", *map(str, ids + [later])]) == 0
        assert sorted(send_outbox(owner).sent) == ids + [later]
        assert send_outbox(owner).sent == []
    assert len(server.inbox.messages) == 4
    assert all(_row(owner, i)["attempts"] == 2 for i in ids)
    capsys.readouterr()


@pytest.mark.expected_logs("the sms channel is down")
def test_an_outage_after_its_task_was_closed_is_a_new_task(
        owner: Session, patient_id: int, tmp_path: Path) -> None:
    """The first outage's task is closed (the folder was 'fixed'), the message retried,
    and the folder is missing again: a new open task says so, not the closed one."""
    from app import queue
    set_setting(owner, "sms_export_dir", str(tmp_path / "no-such-folder"))
    oid = _queue(owner, patient_id, "sms")
    first = send_outbox(owner).outages["sms"]
    queue.reject(owner, first, "the folder is back")
    outbox.retry_message(owner, oid)
    second = send_outbox(owner).outages["sms"]
    assert second != first
    task = queue.get_task_unchecked(owner, second)
    assert task.state.value == "pending" and f"outbox {oid}" in task.draft
    assert _row(owner, oid)["failure_task_id"] == second


@pytest.mark.expected_logs("the sms channel is down")
def test_retrying_several_is_all_or_none(owner: Session, patient_id: int, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """'offhold outbox retry 1 2 3' where 2 was already retried: nothing is queued (1 was,
    silently, before the refusal named 2), so the same command can be fixed and rerun."""
    from ui.cli import Context, main
    set_setting(owner, "sms_export_dir", str(tmp_path / "no-such-folder"))
    ids = [_queue(owner, patient_id, "sms", n=n) for n in range(3)]
    assert sorted(send_outbox(owner).failed) == ids
    outbox.retry_message(owner, ids[1])
    monkeypatch.setattr(Context, "session", lambda self: owner)
    monkeypatch.setattr(Context, "close", lambda self: None)
    assert main(["outbox", "retry", *map(str, ids)]) != 0
    assert f"outbox message {ids[1]} is ready" in capsys.readouterr().err
    assert [_row(owner, i)["state"] for i in ids] == ["failed", "ready", "failed"]
    assert main(["outbox", "retry", str(ids[0]), str(ids[2])]) == 0
    assert all(_row(owner, i)["state"] == "ready" for i in ids)


@pytest.mark.expected_logs("the email channel is down")
def test_a_connection_lost_midway_keeps_what_the_server_took(
        owner: Session, patient_id: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SMTP connection drops after the server accepted two of three: those two are
    sent; only the third fails (an outage), so retrying the outage sends no one twice."""
    import smtplib
    from contextlib import contextmanager

    from automations.outbox import EmailChannel
    ids = [_queue(owner, patient_id, n=n) for n in range(3)]
    accepted: list[str] = []

    class Dropping:
        def send_message(self, mail: Any) -> None:
            if len(accepted) == 2:
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            accepted.append(str(mail["Message-ID"]))

    @contextmanager
    def connect(self: EmailChannel) -> Any:
        yield Dropping()

    monkeypatch.setattr(EmailChannel, "_connect", connect)
    channel = EmailChannel("127.0.0.1", 587, "starttls", "frontdesk@maple.example")
    report = outbox.send_ready(owner, {"email": channel})
    assert report.sent == ids[:2] and report.failed == ids[2:]
    assert [_row(owner, i)["state"] for i in ids] == ["sent", "sent", "failed"]
    assert [_row(owner, i)["sent_ref"] for i in ids[:2]] == accepted
