"""A freed slot filled by the patients' own replies, end to end on the production path:
the offer approved, sent as the texting vendor's CSV, a NO in the vendor's replies export
moving the slot to the next candidate; that offer approved, sent by email through a real
SMTP server on loopback, and a YES read from the practice's mailbox on a real IMAP
server (Dovecot) on loopback booking the visit, with its audit rows."""

from __future__ import annotations

import csv
import email
import io
import os
import time
from datetime import date, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from app import clock, queue
from app.identity import Session
from app.services import outbox, patients
from app.services import waitlist as waitlist_svc
from app.services.outbox import IMAP_PASSWORD, set_secret
from app.services.practice import set_setting
from app.services.replies import list_replies
from automations.outbox import read_replies, send_outbox
from automations.workflows import no_show
from automations.workflows.watched_folder import SETTLE_SECONDS
from tests.unit.imap_server import PASSWORD, USER, DovecotServer
from tests.unit.smtp_server import StartTlsServer, make_certs
from tests.unit.test_replies import freed_slot

pytestmark = [pytest.mark.e2e]

NOW = datetime(2026, 12, 1, 18, 0, tzinfo=timezone.utc)  # 13:00 in New York


def _tasks(session: Session, kind: str) -> list[tuple[int, str]]:
    return [(int(r[0]), r[1]) for r in session.vault.query(
        "SELECT id, state FROM tasks WHERE kind = ? ORDER BY id", (kind,))]


def test_a_no_by_text_moves_on_and_a_yes_by_email_books_the_visit(
        owner_session: Session, tmp_path: Path) -> None:
    s = owner_session
    clock.set_clock(lambda: NOW)
    for kind in ("waitlist_offer", "waitlist_hold"):
        queue.set_mode(s, kind, "approve_each")
    eve = patients.add_patient(s, "Eve", "Replyton", "1980-01-01", phone="(617) 253-1000").id
    ben = patients.add_patient(s, "Ben", "Answerby", "1979-05-06",
                               email="ben.answerby@example.org").id
    fay = patients.add_patient(s, "Fay", "Gonebefore", "1970-03-04", phone="617-253-1001").id
    slot = freed_slot(s, fay, NOW + timedelta(days=2))
    entry_eve = waitlist_svc.add_entry(s, eve, date(2026, 12, 2), date(2026, 12, 20),
                                       provider="Dr. Chen")
    entry_ben = waitlist_svc.add_entry(s, ben, date(2026, 12, 2), date(2026, 12, 20))
    folders = {k: tmp_path / k for k in ("sms_export_dir", "sms_replies_dir")}
    for key in ("sms_export_dir", "sms_replies_dir"):
        folders[key].mkdir()
        set_setting(s, key, str(folders[key]))
    system = Session.system(s.vault, no_show.SYSTEM_ACTOR)

    # 1. Eve is offered the slot by text; the vendor's CSV carries the reference.
    no_show.run_recovery(system)
    [(offer_task, _state)] = _tasks(s, "waitlist_offer")
    assert queue.approve(s, offer_task).state.value == "done"
    assert send_outbox(s).sent
    [batch] = list(folders["sms_export_dir"].iterdir())
    [sent] = list(csv.DictReader(io.StringIO(batch.read_text(encoding="utf-8"))))
    assert sent["phone"] == "+16172531000" and sent["reference"].startswith("offhold-outbox-")

    # 2. She answers NO: the vendor's replies export, saved to the replies folder.
    export = folders["sms_replies_dir"] / "replies-2026-12-01.csv"
    export.write_text("From,Message,Received At,Reference,Id\r\n"
                      f"{sent['phone']},\"No, thank you\",2026-12-01 13:20,"
                      f"{sent['reference']},SM-8812\r\n", encoding="utf-8")
    settled = time.time() - 2 * SETTLE_SECONDS  # saved a while ago: the folder reads it
    os.utime(export, (settled, settled))
    run = read_replies(s)
    assert len(run.report.recorded) == 1 and run.report.declined and run.recovery_run
    assert (folders["sms_replies_dir"] / "imported" / export.name).is_file()
    offers = {o["entry_id"]: o for o in waitlist_svc.slot_offers(s, slot)}
    assert offers[entry_eve]["state"] == "withdrawn"
    assert offers[entry_ben]["state"] == "drafted"  # the next candidate, offered at once
    [eve_hold] = _tasks(s, "waitlist_hold")
    assert eve_hold[1] == "rejected"

    # 3. Ben's offer goes by email through a real STARTTLS server on loopback.
    certs = make_certs(tmp_path)
    queue.approve(s, int(offers[entry_ben]["task_id"]))
    with StartTlsServer(certs.server_cert, certs.server_key) as server:
        for key, value in (("smtp_host", "127.0.0.1"), ("smtp_port", server.port),
                           ("smtp_ca_file", str(certs.ca_file)),
                           ("smtp_from", "frontdesk@maple.example")):
            set_setting(s, key, value)
        assert send_outbox(s).sent
    [(_from, _to, content)] = server.inbox.messages
    offer_mail = email.message_from_bytes(content, policy=policy.default)

    # 4. He answers YES from his mail client; it lands in the practice's IMAP mailbox.
    answer = EmailMessage()
    answer["From"] = "Ben Answerby <Ben.Answerby@example.org>"
    answer["To"] = "frontdesk@maple.example"
    answer["Subject"] = "Re: " + str(offer_mail["Subject"])
    answer["Date"] = "Tue, 01 Dec 2026 13:40:00 -0500"
    answer["Message-ID"] = "<reply-1@example.org>"
    answer["In-Reply-To"] = str(offer_mail["Message-ID"])
    answer.set_content("Yes please!\n\nSent from my phone\n\nOn Tue, Dec 1, 2026 at 1:30 PM "
                       "Maple Street wrote:\n> " + offer_mail.get_content().splitlines()[0])
    clock.set_clock(lambda: NOW + timedelta(minutes=45))
    with DovecotServer(certs) as mail_server:
        for key, value in (("imap_host", "127.0.0.1"), ("imap_port", mail_server.port),
                           ("imap_security", "starttls"), ("imap_user", USER),
                           ("imap_ca_file", str(certs.ca_file))):
            set_setting(s, key, value)
        set_secret(s, IMAP_PASSWORD, PASSWORD)
        mail_server.deliver(answer.as_bytes())
        run = read_replies(s)
    [appointment_id] = run.report.booked
    assert s.vault.query_one("SELECT patient_id, provider, start_at, status FROM appointments "
                             "WHERE id = ?", (appointment_id,)) == \
        (ben, "Dr. Chen", clock.iso(NOW + timedelta(days=2)), "scheduled")
    ben_offer = next(o for o in waitlist_svc.slot_offers(s, slot)
                     if o["entry_id"] == entry_ben)
    assert ben_offer["state"] == "accepted"
    assert ben_offer["booked_appointment_id"] == appointment_id

    # The audit trail: each reply, the hold approved, the visit created, the offer taken.
    trail = {(r[0], r[1]) for r in s.vault.query(
        "SELECT action, patient_id FROM audit_log WHERE action IN ('outbox.reply', "
        "'appointment.create', 'waitlist.accept', 'waitlist.withdrawn')")}
    assert trail == {("outbox.reply", eve), ("outbox.reply", ben),
                     ("appointment.create", ben), ("waitlist.accept", ben),
                     ("waitlist.withdrawn", eve)}
    replies = {r["intent"]: r for r in list_replies(s)}
    assert replies["yes"]["body"] == "Yes please!" and replies["yes"]["matched_by"] == \
        "reference"
    assert replies["no"]["outcome"].startswith("declined waitlist offer")
    assert outbox.get_message(s, int(replies["yes"]["outbox_id"]))["patient_id"] == ben

    # Read again: nothing is recorded twice; the slot is filled, no new offer.
    again = read_replies(s)
    assert again.report.recorded == [] and no_show.run_recovery(system).offers_created == 0
