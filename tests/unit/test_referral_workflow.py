"""Referrals end to end: the corpus C-CDA referral note, the corpus PAS ServiceRequest
bundle and a letter through the intake reader become referral_triage tasks with the
suggested action and evidence; approval records the decision (step and audit row); a
re-import creates nothing. Outbound referrals go sent -> scheduled -> seen -> report,
a late step becomes one follow-up task, and `referral show` answers what happened.
Also the CLI, the daily job and the demo seed."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from app import clock, queue
from app.errors import ValidationError
from app.identity import Session
from app.services import patients, referrals
from automations.workflows.referrals import check_referral_loops, import_referral
from tests.unit.imports_cli import use_cli
from tests.unit.planted_model import plant
from ui.cli import main

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
CCDA = CORPUS / "forms" / "hl7_ccda_referral" / "Referral_Note.xml"
PAS = CORPUS / "fhir" / "davinci_pas_2.2.1_examples" / \
    "Bundle-ReferralAuthorizationBundleExample.json"
LETTER = b"""Lakeside Clinic - Referral
Patient: Quintessa Zzyzxquell
DOB: 04/12/1975
Member ID: ZQM4455667
Referred to: Family medicine
Reason for referral: Uncontrolled blood pressure, please see soon.
"""
T0 = datetime(2026, 11, 2, 14, 0, tzinfo=timezone.utc)


def _steps(session: Session, referral_id: int) -> list[str]:
    return [str(s) for (s,) in session.vault.query(
        "SELECT step FROM referral_steps WHERE referral_id = ? ORDER BY id", (referral_id,))]


def test_ccda_referral_to_triage_approval_and_audit(practice: Session) -> None:
    eve = patients.add_patient(practice, "Eve", "Betterhalf", "1975-05-01",
                               member_id="EB1", payer="Acme Health")
    queue.set_mode(practice, "referral_triage", "approve_each")
    clock.set_clock(lambda: T0)
    result = import_referral(practice, CCDA.read_bytes(), "Referral_Note.xml",
                             use_model=False)
    assert result.kind == "ccda" and len(result.tasks) == 1 and result.unmatched == 0
    task = queue.get_task(practice, result.tasks[0])
    assert task.kind == "referral_triage" and task.state.value == "pending"
    assert task.role == "front_desk" and task.patient_id == eve.id
    assert task.title == "Referral (urgent): schedule"
    assert "Schedule within 3 day(s) (by 2026-11-05)" in task.draft
    assert "priority code A" in task.draft and "Betterhalf" not in task.title + task.draft
    labels = {e.label: e for e in task.evidence}
    assert "referral for consultation" in labels["Reason for referral (source text)"].excerpt
    source = labels["Source document"]
    assert source.blob_id is not None
    assert queue.blob_data(practice, source.blob_id, task.id) == (CCDA.read_bytes(), "application/xml")
    referral_id = int(task.payload["referral_id"])

    done = queue.approve(practice, task.id)
    assert done.state.value == "done"
    history = referrals.referral_history(practice, referral_id)
    assert history["status"] == "to_schedule" and history["urgency"] == "urgent"
    assert [s["step"] for s in history["steps"]] == ["received", "to_schedule"]
    assert history["steps"][1]["actor"] == "owner"
    assert [a["action"] for a in history["audit"] if a["object"].startswith("referral")] \
        == ["referral.received", "referral.triaged"]
    # the one view holds the task's own trail and its decision too
    assert {"task.create", "task.approve"} <= {a["action"] for a in history["audit"]}
    [shown] = history["tasks"]
    assert (shown["id"], shown["kind"], shown["state"], shown["title"]) == (
        task.id, "referral_triage", "done", task.title)
    assert any(d["action"] == "approve" and d["actor"] == "owner" for d in shown["decisions"])
    assert history["suggested"]["action"] == "schedule"
    assert history["source_document"]["referrals"] == [referral_id]

    rows = practice.vault.query_one("SELECT count(*) FROM tasks")[0]
    again = import_referral(practice, CCDA.read_bytes(), use_model=False)
    assert again.duplicates == 1 and again.tasks == []
    assert practice.vault.query_one("SELECT count(*) FROM tasks")[0] == rows


def test_pas_service_request_without_reason_asks_for_records(practice: Session) -> None:
    result = import_referral(practice, PAS.read_bytes())
    assert result.kind == "fhir" and result.unmatched == 1
    task = queue.get_task(practice, result.tasks[0])
    assert task.title == "Referral (routine): request records"
    assert task.state.value == "shadow"  # a new practice starts every kind in shadow mode
    assert "No patient on file matches" in task.draft
    assert task.patient_id is None


def test_letter_through_the_intake_reader(practice: Session) -> None:
    result = import_referral(practice, LETTER, "letter.txt", use_model=False)
    task = queue.get_task(practice, result.tasks[0])
    assert result.kind == "letter" and task.patient_id is not None  # member ID + last name
    assert task.title == "Referral (soon): schedule"
    assert task.payload["within_days"] == 14


def test_pdf_letter_through_the_bounded_pdf_reader(practice: Session) -> None:
    import io

    from reportlab.pdfgen import canvas
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf)
    for n, line in enumerate(LETTER.decode().splitlines()):
        pdf.drawString(50, 800 - 18 * n, line)
    pdf.save()
    result = import_referral(practice, buf.getvalue(), "letter.pdf", use_model=False)
    task = queue.get_task(practice, result.tasks[0])
    assert result.kind == "letter" and task.patient_id is not None
    assert task.title == "Referral (soon): schedule"
    source = next(e for e in task.evidence if e.label == "Source document")
    assert source.excerpt == "letter (application/pdf)"


def test_outbound_loop_overdue_followups_and_history(practice: Session) -> None:
    patient_id = practice.vault.query_one("SELECT id FROM patients")[0]
    clock.set_clock(lambda: T0)
    rid = referrals.send_referral(practice, patient_id, "Lakeside Cardiology",
                                  specialty="cardiology", reason="Palpitations")
    assert check_referral_loops(practice) == []
    clock.set_clock(lambda: T0 + timedelta(days=14))  # due, not yet late
    assert check_referral_loops(practice) == []
    clock.set_clock(lambda: T0 + timedelta(days=15))
    [follow_id] = check_referral_loops(practice)
    assert check_referral_loops(practice) == []  # one follow-up per late step
    follow = queue.get_task(practice, follow_id)
    assert follow.kind == "referral_followup" and follow.role == "front_desk"
    assert "scheduled' was due 2026-11-16" in follow.draft.replace("'visit scheduled'",
                                                                   "scheduled'")
    with pytest.raises(ValidationError, match="next step is scheduled"):
        referrals.record_step(practice, rid, "seen")
    visit = T0 + timedelta(days=30)
    state = referrals.record_step(practice, rid, "scheduled", appointment_at=visit)
    assert state["due_at"] == clock.iso(visit + timedelta(days=1))
    clock.set_clock(lambda: visit + timedelta(days=2))
    [seen_follow] = check_referral_loops(practice)
    assert "patient seen" in queue.get_task(practice, seen_follow).title
    assert queue.get_task_unchecked(practice, follow_id).state.value == "rejected"
    assert "step has been recorded" in queue.get_task_unchecked(
        practice, follow_id).history[-1].note
    referrals.record_step(practice, rid, "seen", at=visit)
    state = referrals.record_step(practice, rid, "report_received")
    assert state["due_at"] is None
    clock.set_clock(lambda: visit + timedelta(days=400))
    assert check_referral_loops(practice) == []  # the loop is closed
    history = referrals.referral_history(practice, rid)
    assert [s["step"] for s in history["steps"]] == ["sent", "scheduled", "seen",
                                                     "report_received"]
    assert [a["action"] for a in history["audit"] if a["object"].startswith("referral")] \
        == ["referral.sent", "referral.overdue", "referral.step", "referral.overdue",
            "referral.step", "referral.step"]
    # each step with its due time (from the step before) and whether it came late
    due = {s["step"]: (s["due"], s["late"]) for s in history["steps"]}
    assert due["sent"] == (None, False)
    assert due["scheduled"] == (clock.iso(T0 + timedelta(days=14)), True)
    assert {t["kind"] for t in history["tasks"]} == {"referral_followup"}
    assert all(t["state"] == "rejected" for t in history["tasks"])  # both closed
    assert history["next_step"] is None and not history["overdue"]
    views = practice.vault.query_one("SELECT count(*) FROM audit_log WHERE action = "
                                     "'referral.view'")[0]
    assert views == 1


def test_an_incoming_referral_is_late_like_an_outbound_step(practice: Session) -> None:
    """The letter's triage says 'schedule within 14 days' and answer within 24 hours: its
    task left open past a day is late, and so is a visit not booked 14 days after it came;
    on the list and in the one view, as outbound steps are. Recording the visit ends it."""
    queue.set_mode(practice, "referral_triage", "approve_each")
    clock.set_clock(lambda: T0)
    result = import_referral(practice, LETTER, "letter.txt", use_model=False)
    [rid], [task_id] = result.referrals, result.tasks

    def listed() -> dict[str, Any]:
        return next(r for r in referrals.list_referrals(practice) if r["id"] == rid)

    shown = referrals.referral_history(practice, rid)
    assert (shown["due_for"], shown["due_at"], shown["overdue"]) == (
        "triage", clock.iso(T0 + timedelta(hours=24)), False)
    assert listed()["due_at"] == shown["due_at"] and not listed()["overdue"]
    clock.set_clock(lambda: T0 + timedelta(days=2))  # the triage task is past due
    shown = referrals.referral_history(practice, rid)
    assert shown["overdue"] and shown["days_late"] == 1 and listed()["overdue"]
    queue.approve(practice, task_id)  # schedule: the visit is due 14 days after receipt
    shown = referrals.referral_history(practice, rid)
    assert (shown["status"], shown["due_for"], shown["next_step"]) == (
        "to_schedule", "scheduled", "scheduled")
    assert shown["due_at"] == clock.iso(T0 + timedelta(days=14)) and not shown["overdue"]
    clock.set_clock(lambda: T0 + timedelta(days=17))
    shown = referrals.referral_history(practice, rid)
    assert shown["overdue"] and shown["days_late"] == 3
    assert listed()["overdue"] and listed()["due_at"] == clock.iso(T0 + timedelta(days=14))
    with pytest.raises(ValidationError, match="only its visit"):
        referrals.record_step(practice, rid, "seen")
    referrals.record_step(practice, rid, "scheduled", appointment_at=T0 + timedelta(days=20))
    shown = referrals.referral_history(practice, rid)
    assert shown["due_at"] is None and not shown["overdue"] and not listed()["overdue"]
    assert shown["next_step"] is None
    booked = next(s for s in shown["steps"] if s["step"] == "scheduled")
    assert (booked["due"], booked["late"]) == (clock.iso(T0 + timedelta(days=14)), True)


def test_an_incoming_visit_not_booked_in_time_becomes_one_followup(
        practice: Session) -> None:
    """The letter's triage says 'schedule within 14 days': while the triage task is open
    it is the work; once approved, a visit still not booked past 14 days becomes one
    referral_followup (on the referral's trail), a re-run adds none, and booking the
    visit closes it and takes the referral off the open list."""
    queue.set_mode(practice, "referral_triage", "approve_each")
    clock.set_clock(lambda: T0)
    result = import_referral(practice, LETTER, "letter.txt", use_model=False)
    [rid], [task_id] = result.referrals, result.tasks
    clock.set_clock(lambda: T0 + timedelta(days=15))
    assert check_referral_loops(practice) == []  # the open triage task is the work
    queue.approve(practice, task_id)
    clock.set_clock(lambda: T0 + timedelta(days=14))
    assert check_referral_loops(practice) == []  # due exactly now: not yet late
    clock.set_clock(lambda: T0 + timedelta(days=14, minutes=1))
    [follow_id] = check_referral_loops(practice)
    assert check_referral_loops(practice) == []  # a re-run creates nothing new
    follow = queue.get_task(practice, follow_id)
    assert follow.kind == "referral_followup"
    assert follow.natural_key == f"referral:in:{rid}:overdue:scheduled"
    assert follow.role == "front_desk" and follow.patient_id is not None
    assert "ZQM4455667" not in follow.title + follow.draft
    assert "Zzyzxquell" not in follow.title + follow.draft
    assert "call the patient to book" in follow.draft
    shown = referrals.referral_history(practice, rid)
    assert follow_id in [t["id"] for t in shown["tasks"]]
    assert [a["details"] for a in shown["audit"] if a["action"] == "referral.overdue"] \
        == [{"step": "scheduled", "task_id": follow_id}]
    assert rid in [r["id"] for r in referrals.list_referrals(practice, open_only=True)]
    referrals.record_step(practice, rid, "scheduled", appointment_at=T0 + timedelta(days=20))
    assert check_referral_loops(practice) == []
    closed = queue.get_task_unchecked(practice, follow_id)
    assert closed.state.value == "rejected"
    assert "step has been recorded" in closed.history[-1].note
    # the visit is booked: the loop is closed, so the "open" filter no longer lists it
    assert rid not in [r["id"] for r in referrals.list_referrals(practice, open_only=True)]
    row = next(r for r in referrals.list_referrals(practice) if r["id"] == rid)
    assert not row["open"] and not row["overdue"]


def test_cli_import_send_step_show_check(owner_session: Session, vault_dir: Path,
                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    patients.add_payer(owner_session, "Acme Health", "commercial")
    p = patients.add_patient(owner_session, "Eve", "Betterhalf", "1975-05-01",
                             member_id="EB1", payer="Acme Health")
    use_cli(owner_session, vault_dir, monkeypatch)

    def run(*argv: str) -> Any:
        assert main([*argv, "--json"]) == 0, capsys.readouterr().err
        return json.loads(capsys.readouterr().out)

    imported = run("referral", "import", str(CCDA), "--no-model")
    assert imported["kind"] == "ccda" and len(imported["tasks"]) == 1
    assert run("referral", "import", str(CCDA), "--no-model")["duplicates"] == 1
    sent = run("referral", "send", "--patient", str(p.id), "--to", "Lakeside Cardiology")
    step = run("referral", "step", str(sent["id"]), "scheduled", "--visit", "2030-01-05 09:30")
    assert step["status"] == "scheduled" and step["due_at"].startswith("2030-01")
    shown = run("referral", "show", str(sent["id"]))
    assert [s["step"] for s in shown["steps"]] == ["sent", "scheduled"]
    listed = run("referral", "list", "--direction", "out", "--open")
    assert [r["id"] for r in listed] == [sent["id"]]
    assert run("referral", "check")["tasks"] == []
    assert main(["referral", "show", str(sent["id"])]) == 0
    text = capsys.readouterr().out
    assert "Steps:" in text and "scheduled" in text and "Audit trail:" in text
    assert main(["referral", "step", str(sent["id"]), "report_received"]) == 1
    assert "next step is seen" in capsys.readouterr().err
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<ClinicalDocument xmlns='urn:hl7-org:v3'><a></b>")
    assert main(["referral", "import", str(bad)]) == 1
    assert "not well-formed" in capsys.readouterr().err
    # a file over the cap is refused by its size, before it is read into memory
    from app.referrals import sources
    monkeypatch.setattr(sources, "MAX_REFERRAL_BYTES", 1024)
    big = tmp_path / "big.xml"
    big.write_bytes(b"<x/>" + b" " * 4096)
    assert main(["referral", "import", str(big)]) == 1
    assert "limited to" in capsys.readouterr().err


def test_daily_job_is_registered_and_runs(practice: Session) -> None:
    from automations.jobs import build_scheduler, referral_jobs
    from automations.jobs.runtime import install

    patient_id = practice.vault.query_one("SELECT id FROM patients")[0]
    clock.set_clock(lambda: T0)
    referrals.send_referral(practice, patient_id, "Lakeside Cardiology")
    clock.set_clock(lambda: T0 + timedelta(days=20))

    def no_portal(session: Session) -> Any:
        raise AssertionError("the referral check never visits a portal")

    scheduler = build_scheduler(practice.vault, no_portal)
    try:
        job = {j.id: j for j in scheduler.get_jobs()}[referral_jobs.REFERRAL_LOOPS_ID]
        assert job.args == () and "hour='7'" in str(job.trigger)
        referral_jobs.referral_loops()
        referral_jobs.referral_loops()
        assert practice.vault.query_one("SELECT count(*) FROM tasks WHERE kind = "
                                        "'referral_followup'")[0] == 1
    finally:
        install(None)
        scheduler.remove_all_jobs()


def test_demo_seed_makes_real_referral_tasks(owner_session: Session,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from automations.seeds import s10_practice, s85_referrals
    from automations.workflows import referrals as referral_flow
    asked = plant(monkeypatch, referral_flow, lambda _prompt: None)  # no model process
    s10_practice.seed(owner_session, random.Random(7))
    assert not owner_session.vault.query("SELECT id FROM tasks WHERE kind LIKE 'referral%'")
    s85_referrals.seed(owner_session, random.Random(7))
    titles = sorted(str(t) for (t,) in owner_session.vault.query(
        "SELECT title FROM tasks WHERE kind = 'referral_triage'"))
    assert titles == ["Referral (routine): decline", "Referral (routine): request records",
                      "Referral (soon): schedule", "Referral (urgent): schedule"]
    follow = [str(t) for (t,) in owner_session.vault.query(
        "SELECT title FROM tasks WHERE kind = 'referral_followup' ORDER BY id")]
    assert len(follow) == 2 and "visit scheduled overdue" in follow[0]
    assert "patient seen overdue" in follow[1]
    assert asked == ["referral_summary"]  # the first letter only: the demo's one summary


def test_referral_for_a_family_member_matches_that_person(practice: Session) -> None:
    """Two people on one policy share a member ID and last name: the referral goes to the
    one it names (first name, birth date), as imports match them, never to the first."""
    from app.referrals import IncomingReferral
    parent = patients.add_patient(practice, "Orla", "Quillfeather", "1970-03-03",
                                  member_id="QF100", payer="Acme Health")
    child = patients.add_patient(practice, "Tamsin", "Quillfeather", "2012-08-08",
                                 member_id="QF100", payer="Acme Health")
    ref = IncomingReferral("letter", "x", patient_last="Quillfeather", patient_first="Tamsin",
                           patient_dob=datetime(2012, 8, 8).date(), member_id="QF100")
    assert referrals.match_patient(practice, ref)[0] == child.id
    ref.patient_first, ref.patient_dob = "Orla", datetime(1970, 3, 3).date()
    assert referrals.match_patient(practice, ref)[0] == parent.id
