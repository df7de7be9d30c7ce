"""The no-show and waitlist workflow on a vault: rebook drafts with history, a repeat
no-show flagged, a late cancellation, a freed slot offered to the best candidate, the
hold expiring to the next candidate, acceptance booking the visit; a re-run makes nothing."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from app import clock, queue
from app.identity import Session
from app.services import patients
from app.services import waitlist as waitlist_svc
from automations.workflows import no_show

NOW = datetime(2026, 12, 1, 18, 0, tzinfo=timezone.utc)


def _appt(session: Session, patient_id: int, start: datetime, status: str,
          provider: str = "Dr. Chen") -> int:
    with session.vault.write() as conn:
        cur = conn.execute("INSERT INTO appointments (patient_id, provider, start_at, "
                           "visit_type, status, created_at) VALUES (?,?,?,?,?,?)",
                           (patient_id, provider, clock.iso(start), "office_visit", status,
                            clock.iso(NOW)))
        return int(cur.lastrowid)


@pytest.fixture
def schedule(owner_session: Session) -> dict[str, int]:
    clock.set_clock(lambda: NOW)
    s = owner_session
    for kind in ("outreach", "waitlist_offer", "waitlist_hold"):
        queue.set_mode(s, kind, "approve_each")
    ids = {name: patients.add_patient(s, name, "Testperson", "1980-01-01", phone=phone,
                                      email=email).id
           for name, phone, email in [("Ana", "555-0101", ""), ("Ben", "555-0102", ""),
                                      ("Cal", "", "cal@example.org"), ("Dee", "", ""),
                                      ("Eve", "555-0105", ""), ("Fay", "555-0106", "")]}
    ids["ana_repeat"] = _appt(s, ids["Ana"], NOW - timedelta(days=1), "no_show")
    _appt(s, ids["Ana"], NOW - timedelta(days=40), "no_show")
    ids["ben_never_arrived"] = _appt(s, ids["Ben"], NOW - timedelta(hours=2), "scheduled")
    _appt(s, ids["Dee"], NOW - timedelta(days=2), "no_show")  # no way to reach Dee
    ids["late"] = _appt(s, ids["Cal"], NOW + timedelta(hours=10), "cancelled")
    ids["slot"] = _appt(s, ids["Fay"], NOW + timedelta(days=2), "cancelled")
    # Eve asked for Dr. Chen; Ben has waited longer but any provider will do
    ids["entry_eve"] = waitlist_svc.add_entry(s, ids["Eve"], date(2026, 12, 2),
                                              date(2026, 12, 20), provider="Dr. Chen")
    clock.set_clock(lambda: NOW)
    ids["entry_ben"] = waitlist_svc.add_entry(s, ids["Ben"], date(2026, 12, 2),
                                              date(2026, 12, 20))
    return ids


def _tasks(session: Session, kind: str) -> list[tuple[int, str, str, str]]:
    return [(int(r[0]), r[1], r[2], r[3]) for r in session.vault.query(
        "SELECT id, natural_key, title, state FROM tasks WHERE kind = ? ORDER BY id", (kind,))]


def _evidence(session: Session, task_id: int) -> str:
    return "\n".join(r[0] for r in session.vault.query(
        "SELECT excerpt FROM task_evidence WHERE task_id = ?", (task_id,)))


def test_rebooks_offers_expiry_and_acceptance(owner_session: Session,
                                              schedule: dict[str, int]) -> None:
    s, ids = owner_session, schedule
    system = Session.system(s.vault, no_show.SYSTEM_ACTOR)
    summary = no_show.run_recovery(system)
    assert (summary.rebooks_created, summary.repeat_flagged, summary.unreachable) == (3, 1, 1)
    rebooks = {key: (tid, title) for tid, key, title, _ in _tasks(s, "outreach")}
    ana = rebooks[f"outreach:no_show:{ids['Ana']}:sms:appt{ids['ana_repeat']}"]
    assert ana[1].startswith("Repeat no-show:")
    assert "Earlier no-shows in the last 180 days: 1 (repeat no-show)" in _evidence(s, ana[0])
    assert f"outreach:no_show:{ids['Ben']}:sms:appt{ids['ben_never_arrived']}" in rebooks
    assert (f"outreach:cancellation_rebook:{ids['Cal']}:email:appt{ids['late']}"
            in rebooks)
    # the late slot is on Dec 1 in the practice's zone, before both windows open; the
    # other goes to Eve, who asked for the slot's provider
    offers = _tasks(s, "waitlist_offer")
    assert [k for _, k, _, _ in offers] == [
        f"waitlist:slot{ids['slot']}:entry{ids['entry_eve']}"]
    evidence = _evidence(s, offers[0][0])
    assert "1. waitlist entry" in evidence and "same provider (Dr. Chen)" in evidence
    assert "2. waitlist entry" in evidence

    # a re-run makes nothing new
    again = no_show.run_recovery(system)
    assert (again.rebooks_created, again.offers_created) == (0, 0)
    assert len(_tasks(s, "outreach")) == 3 and len(_tasks(s, "waitlist_offer")) == 1

    # approval sends the offer and holds the slot
    task = queue.approve(s, offers[0][0])
    assert task.state.value == "done", task.history
    held = waitlist_svc.slot_offers(s, ids["slot"])[0]
    assert held["state"] == "offered"
    assert held["hold_until"] == clock.iso(NOW + timedelta(hours=4))
    assert s.vault.query_one("SELECT kind, state FROM outbox WHERE task_id = ?",
                             (task.id,)) == ("waitlist_offer", "ready")
    [(hold_id, hold_key, hold_title, hold_state)] = _tasks(s, "waitlist_hold")
    assert hold_key == f"waitlist:hold:offer{held['id']}" and hold_state == "pending"
    assert "did the patient take it?" in hold_title
    assert queue.get_task_unchecked(s, hold_id).due_at == NOW + timedelta(hours=4)

    # unanswered: at the end of the hold the next candidate is offered
    clock.set_clock(lambda: NOW + timedelta(hours=4))
    moved = no_show.run_recovery(system)
    assert moved.offers_created == 1 and moved.offers_closed == 1
    assert waitlist_svc.slot_offers(s, ids["slot"])[0]["state"] == "expired"
    closed = queue.get_task_unchecked(s, hold_id)
    assert closed.state.value == "rejected" and "no answer" in closed.history[-1].note
    next_key = f"waitlist:slot{ids['slot']}:entry{ids['entry_ben']}"
    nxt = [t for t in _tasks(s, "waitlist_offer") if t[1] == next_key]
    assert nxt and "rank 2 of 2" in nxt[0][2]

    # Ben says yes: approving his hold task books the visit, he leaves the waitlist
    queue.approve(s, nxt[0][0])
    offer = next(o for o in waitlist_svc.slot_offers(s, ids["slot"])
                 if o["entry_id"] == ids["entry_ben"])
    ben_hold = [t for t in _tasks(s, "waitlist_hold") if t[3] == "pending"]
    assert [t[1] for t in ben_hold] == [f"waitlist:hold:offer{offer['id']}"]
    done = queue.approve(s, ben_hold[0][0])
    assert done.state.value == "done", done.history
    appt_id = int(s.vault.query_one("SELECT booked_appointment_id FROM waitlist_offers "
                                    "WHERE id = ?", (offer["id"],))[0])
    assert s.vault.query_one("SELECT patient_id, provider, status FROM appointments WHERE "
                             "id = ?", (appt_id,)) == (ids["Ben"], "Dr. Chen", "scheduled")
    assert s.vault.query_one("SELECT state FROM waitlist_entries WHERE id = ?",
                             (ids["entry_ben"],)) == ("booked",)
    assert s.vault.query_one("SELECT count(*) FROM audit_log WHERE action = 'waitlist.accept'"
                             " AND object_id = ?", (str(offer["id"]),))[0] == 1
    with pytest.raises(Exception, match="is accepted"):
        waitlist_svc.accept_offer(s, int(offer["id"]))
    final = no_show.run_recovery(system)
    assert (final.rebooks_created, final.offers_created) == (0, 0)
    # the report counts the refilled slot beside the no-show rates
    from zoneinfo import ZoneInfo

    from app.reports.metrics import Period, schedule_metrics
    sc = schedule_metrics(s.vault, Period.month(2026, 12, ZoneInfo("America/New_York")))
    assert sc.refilled_note == "slots refilled from the waitlist: 1 of 1 offered"
    november = schedule_metrics(s.vault, Period.month(2026, 11, ZoneInfo("America/New_York")))
    assert november.no_show_by_provider == {"Dr. Chen": (2, 2)}  # Ana's and Dee's


@pytest.mark.parametrize("when", ["draft rejected", "patient declined"])
def test_a_refused_offer_moves_to_the_next_candidate(
        owner_session: Session, schedule: dict[str, int], when: str) -> None:
    s, ids = owner_session, schedule
    system = Session.system(s.vault, no_show.SYSTEM_ACTOR)
    no_show.run_recovery(system)
    first = [t for t in _tasks(s, "waitlist_offer") if f"slot{ids['slot']}:" in t[1]][0]
    if when == "draft rejected":
        queue.reject(s, first[0], "patient moved away")
    else:  # the offer went out; the patient said no to its hold
        queue.approve(s, first[0])
        [hold] = _tasks(s, "waitlist_hold")
        queue.reject(s, hold[0], "patient cannot come then")
    assert no_show.run_recovery(system).offers_created == 1
    states = {o["entry_id"]: o["state"] for o in waitlist_svc.slot_offers(s, ids["slot"])}
    assert states == {ids["entry_eve"]: "withdrawn", ids["entry_ben"]: "drafted"}


def test_waitlist_entries_are_checked(owner_session: Session,
                                      schedule: dict[str, int]) -> None:
    with pytest.raises(Exception, match="ends before it starts"):
        waitlist_svc.add_entry(owner_session, schedule["Ana"], date(2026, 12, 5),
                               date(2026, 12, 4))
    with pytest.raises(Exception, match="unknown day 'funday'"):
        waitlist_svc.add_entry(owner_session, schedule["Ana"], date(2026, 12, 5),
                               date(2026, 12, 6), preferred_days=["funday"])


def _no_portal(session: Session) -> None:
    raise AssertionError("the schedule job never visits a portal")


def test_the_job_is_registered_and_runs_the_workflow(
        owner_session: Session, schedule: dict[str, int]) -> None:
    from automations.jobs import build_scheduler, patient_jobs
    from automations.jobs.runtime import install
    scheduler = build_scheduler(owner_session.vault, _no_portal)  # type: ignore[arg-type]
    try:
        job = {j.id: j for j in scheduler.get_jobs()}[patient_jobs.SCHEDULE_RECOVERY_ID]
        assert job.args == () and "0:15:00" in str(job.trigger)
        patient_jobs.schedule_recovery()
        assert len(_tasks(owner_session, "outreach")) == 3
        assert owner_session.vault.query_one(
            "SELECT actor FROM audit_log WHERE action = 'schedule.recovery_run'")[0] == \
            no_show.SYSTEM_ACTOR
    finally:
        install(None)
        scheduler.remove_all_jobs()


def test_cli_waitlist_add_list_and_run(owner_session: Session, schedule: dict[str, int],
                                       capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from ui.cli import Context, main
    monkeypatch.setattr(Context, "session", lambda self: owner_session)
    monkeypatch.setattr(Context, "close", lambda self: None)
    assert main(["waitlist", "add", "--patient", str(schedule["Ana"]), "--from", "2026-12-02",
                 "--to", "2026-12-09", "--days", "mon,tue", "--times", "morning", "--json"],
                stdin=io.StringIO("")) == 0
    assert main(["waitlist", "list", "--json"], stdin=io.StringIO("")) == 0
    assert main(["waitlist", "run", "--json"], stdin=io.StringIO("")) == 0
    out = capsys.readouterr().out
    assert '"rebooks_created": 3' in out and '"days": [' in out


def test_demo_seed_makes_real_rebook_and_offer_drafts(owner_session: Session) -> None:
    import random

    from automations.seeds import s10_practice, s70_schedule_recovery
    s10_practice.seed(owner_session, random.Random(7))
    assert _tasks(owner_session, "outreach") == []  # no placeholder left
    s70_schedule_recovery.seed(owner_session, random.Random(7))
    rebooks = _tasks(owner_session, "outreach")
    offers = _tasks(owner_session, "waitlist_offer")
    assert rebooks and all(k.startswith("outreach:no_show:") for _, k, _, _ in rebooks)
    assert len(offers) == 1 and offers[0][3] == "pending"
    assert "Ranking:" in _evidence(owner_session, offers[0][0])


def test_grace_zero_chases_only_visits_marked_no_show(owner_session: Session,
                                                       schedule: dict[str, int]) -> None:
    from app.services import practice
    practice.set_setting(owner_session, "no_show_grace_minutes", 0)
    no_show.run_recovery(Session.system(owner_session.vault, no_show.SYSTEM_ACTOR))
    keys = [k for _, k, _, _ in _tasks(owner_session, "outreach")]
    assert not any(k.endswith(f"appt{schedule['ben_never_arrived']}") for k in keys)
    assert any(k.endswith(f"appt{schedule['ana_repeat']}") for k in keys)


def _audit(session: Session, action: str) -> list[tuple[str, int | None]]:
    return [(r[0], r[1]) for r in session.vault.query(
        "SELECT object_id, patient_id FROM audit_log WHERE action = ? ORDER BY id", (action,))]


def _first_offer_sent(session: Session, slot_id: int) -> tuple[Session, dict[str, Any]]:
    """Run the workflow, approve the first offer (it goes out); the system session and
    the offer as recorded."""
    system = Session.system(session.vault, no_show.SYSTEM_ACTOR)
    no_show.run_recovery(system)
    [offer_task] = _tasks(session, "waitlist_offer")
    queue.approve(session, offer_task[0])
    return system, waitlist_svc.slot_offers(session, slot_id)[0]


def test_a_booked_offer_goes_through_the_appointments_service(
        owner_session: Session, schedule: dict[str, int]) -> None:
    """accept_offer wrote its own INSERT: no 'appointment.create' audit row, no merged-
    patient check. Every waitlist audit row names its patient."""
    s, ids = owner_session, schedule
    system, eve = _first_offer_sent(s, ids["slot"])
    assert _audit(s, "waitlist.offer") == [(str(eve["id"]), ids["Eve"])]
    clock.set_clock(lambda: NOW + timedelta(hours=4))  # Eve does not answer
    no_show.run_recovery(system)
    assert _audit(s, "waitlist.expired") == [(str(eve["id"]), ids["Eve"])]
    ben_task = [t for t in _tasks(s, "waitlist_offer") if t[3] == "pending"][0]
    queue.reject(s, ben_task[0], "Ben moved away")
    no_show.run_recovery(system)
    ben = next(o for o in waitlist_svc.slot_offers(s, ids["slot"])
               if o["entry_id"] == ids["entry_ben"])
    assert _audit(s, "waitlist.withdrawn") == [(str(ben["id"]), ids["Ben"])]

    # A fresh slot for Eve, offered and accepted: booked by add_appointment, audited.
    slot2 = _appt(s, ids["Fay"], NOW + timedelta(days=3), "cancelled")
    no_show.run_recovery(system)
    offer2 = waitlist_svc.slot_offers(s, slot2)[0]
    queue.approve(s, int(offer2["task_id"]))
    appt_id = waitlist_svc.accept_offer(s, int(offer2["id"]))
    assert (str(appt_id), ids["Eve"]) in _audit(s, "appointment.create")
    assert _audit(s, "waitlist.accept")[-1] == (str(offer2["id"]), ids["Eve"])


def test_a_merged_patients_offer_is_not_booked(owner_session: Session,
                                               schedule: dict[str, int]) -> None:
    s, ids = owner_session, schedule
    _system, offer = _first_offer_sent(s, ids["slot"])
    # A record marked merged while its offer was out (merge_patients moves the entry; a
    # record merged elsewhere, e.g. by an EHR import, can still be named by it).
    with s.vault.write() as conn:
        conn.execute("UPDATE patients SET merged_into = ? WHERE id = ?",
                     (ids["Ana"], ids["Eve"]))
    appointments_before = s.vault.query_one("SELECT count(*) FROM appointments")[0]
    with pytest.raises(Exception, match="was merged into"):
        waitlist_svc.accept_offer(s, int(offer["id"]))
    assert s.vault.query_one("SELECT count(*) FROM appointments")[0] == appointments_before
    assert waitlist_svc.slot_offers(s, ids["slot"])[0]["state"] == "offered"


def test_an_opt_out_mid_run_is_unreachable_other_errors_are_a_task(
        owner_session: Session, schedule: dict[str, int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Only an opt-out between the read and the draft counts as 'unreachable'; any other
    refusal while drafting is a visible task, not a log line."""
    from app.domain import Patient
    from app.errors import ValidationError
    from automations.workflows import outreach
    s, ids = owner_session, schedule
    draft, choose = outreach.draft_outreach, no_show.channel_for
    opted: list[int] = []

    def ana_opts_out_after_the_read(patient: Patient) -> object:
        channel = choose(patient)
        if patient.id == ids["Ana"] and not opted:  # committed by another desk meanwhile
            opted.append(patient.id)
            patients.update_patient(s, ids["Ana"], sms_opt_out=True)
        return channel

    def ben_fails(session: Session, patient_id: int, *a: object, **kw: object) -> object:
        if patient_id == ids["Ben"]:
            raise ValidationError("the practice's no_show template has no opt-out line")
        return draft(session, patient_id, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(no_show, "channel_for", ana_opts_out_after_the_read)
    monkeypatch.setattr(outreach, "draft_outreach", ben_fails)
    system = Session.system(s.vault, no_show.SYSTEM_ACTOR)
    summary = no_show.run_recovery(system)
    # Ana (opted out mid-run) and Dee (no contact) are unreachable; Cal gets his draft.
    assert (summary.rebooks_created, summary.unreachable, summary.draft_failures) == (1, 2, 1)
    [failure] = _tasks(s, "automation_failure")
    assert failure[1] == f"schedule:rebook:appt{ids['ben_never_arrived']}:failed"
    task = queue.get_task_unchecked(s, failure[0])
    assert task.state.value == "pending" and "no opt-out line" in task.draft
    assert no_show.run_recovery(system).draft_failures == 0  # one task, not one per run
    assert len(_tasks(s, "automation_failure")) == 1
    # Closed by a person who thought it fixed, and still failing: a new task says so.
    queue.reject(s, failure[0], "template fixed")
    assert no_show.run_recovery(system).draft_failures == 1
    assert [t[1] for t in _tasks(s, "automation_failure")][1:] == [f"{failure[1]}:1"]
