"""Metrics on a scripted November 2026 (practice in America/New_York: the month is
2026-11-01T04:00Z to 2026-12-01T05:00Z). Every expected value is worked out by hand in the
comments next to the script."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app import audit, clock, queue
from app.errors import PermissionDenied
from app.identity import Role, Session
from app.reports import metrics as m
from app.services import reports


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def _z(text: str) -> str:
    return clock.iso(_at(text))


def _task(conn: Any, tid: int, kind: str, created: str, state: str, *, acted: str | None = None,
          due: str | None = None, key: str = "", history: tuple[tuple[str, str, str], ...] = (),
          original: str = "", draft: str = "") -> None:
    conn.execute("INSERT INTO tasks (id, kind, state, role, title, natural_key, due_at, "
                 "draft, original_draft, created_at, updated_at, acted_at) "
                 "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                 (tid, kind, state, "office_manager", f"t{tid}", key or f"t:{tid}",
                  _z(due) if due else None, draft, original, _z(created),
                  _z(history[-1][0]) if history else _z(created), _z(acted) if acted else None))
    for ts, action, to_state in history:
        conn.execute("INSERT INTO task_history (task_id, ts, actor, action, to_state) "
                     "VALUES (?,?,?,?,?)", (tid, _z(ts), "owner", action, to_state))


def _script(s: Session) -> None:
    vault = s.vault
    clock.set_clock(lambda: _at("2026-11-15T12:00:00"))
    queue.set_mode(s, "outreach", "approve_each")          # one mode change in November
    audit.record_now(vault, s, "portal.visit")              # two portal checks: 2 x 20 min
    audit.record_now(vault, s, "portal.visit")
    clock.set_clock(None)
    with vault.write() as c:
        # Prior auths (payers: 1 Acme Health, 2 Summit MA).
        for pid, payer, cpt, sub, due, status, decided in [
                (1, 1, "97110", "2026-11-02T12:00", "2026-11-17T12:00", "approved",
                 "2026-11-06T12:00"),                               # 4 days, on time
                (2, 1, "97110", "2026-11-03T12:00", "2026-11-18T12:00", "denied",
                 "2026-11-23T12:00"),                               # 20 days, late
                (3, 2, "72148", "2026-11-10T00:00", "2026-11-17T00:00", "approved",
                 "2026-11-12T00:00"),                               # 2 days, on time
                (4, 1, "72148", "2026-10-01T12:00", "2026-10-16T12:00", "pending", None),
                (5, 2, "72148", "2026-11-25T00:00", "2026-12-02T00:00", "pending", None)]:
            c.execute("INSERT INTO prior_auths (id, patient_id, payer_id, plan_type, cpt_code, "
                      "units, service_date, urgency, submitted_at, status, status_changed_at, "
                      "decision_due_at, created_at, updated_at) VALUES "
                      "(?,1,?,'commercial',?,1,'2026-12-15','standard',?,?,?,?,?,?)",
                      (pid, payer, cpt, _z(sub), status, _z(decided or sub), _z(due), _z(sub),
                       _z(sub)))
            if decided:
                c.execute("INSERT INTO pa_status_history (pa_id, ts, status, source, actor) "
                          "VALUES (?,?,?,'portal','system')", (pid, _z(decided), status))
        # Tasks.
        _task(c, 1, "pa_escalation", "2026-11-05T12:00", "pending", due="2026-11-06T12:00",
              key="pa:4:stall:2026-11-05")                  # open 25 d: >14, overdue
        _task(c, 2, "pa_escalation", "2026-11-18T12:00", "done", acted="2026-11-18T18:00",
              key="pa:2:overdue:2026-11-18",
              history=(("2026-11-18T18:00", "approve", "done"),))          # 6 h to action
        _task(c, 3, "denial_review", "2026-11-20T00:00", "failed", acted="2026-11-20T12:00",
              history=(("2026-11-20T12:00", "approve", "approved"),
                       ("2026-11-20T12:00", "execute", "executing"),
                       ("2026-11-20T12:01", "fail", "failed")))  # 12 h; open 11 d: 8-14
        _task(c, 4, "outreach", "2026-11-28T00:00", "done", acted="2026-11-29T00:00",
              original="Hi", draft="Hello",
              history=(("2026-11-29T00:00", "approve", "approved"),
                       ("2026-11-29T00:00", "complete", "done")))           # 24 h, edited
        _task(c, 5, "portal_failure", "2026-11-30T00:00", "pending")   # open 1 d: 0-2
        _task(c, 6, "outreach", "2026-10-20T00:00", "rejected", acted="2026-10-21T00:00",
              history=(("2026-10-21T00:00", "reject", "rejected"),))   # closed in October
        _task(c, 7, "denial_review", "2026-11-10T16:00", "done", acted="2026-11-12T15:00",
              history=(("2026-11-12T15:00", "approve", "approved"),
                       ("2026-11-12T15:00", "complete", "done")))      # 47 h; the appeal
        # Remittances.
        c.execute("INSERT INTO x12_imports (id, kind, sha256, size, actor, imported_at) "
                  "VALUES (1, '835', 'x', 1, 'owner', ?)", (_z("2026-11-10T15:00"),))
        for rid, payer, name, paid_on, received in [
                (1, 1, "Acme Health", "2026-11-10", "2026-11-10T15:00"),
                (2, 2, "Summit MA", "2026-10-15", "2026-10-15T15:00"),
                (3, 1, "Acme Health", "2026-11-25", "2026-11-25T15:00")]:
            c.execute("INSERT INTO remittances (id, import_id, payer_id, payer_name, "
                      "payer_ident, trace_number, payment_amount, payment_date, received_at, "
                      "balanced) VALUES (?,1,?,?,?,?,'0',?,?,1)",
                      (rid, payer, name, f"P{rid}", f"T{rid}", paid_on, _z(received)))
        claims = [  # id, remit, claim, status, charge, paid, denial, category, worked, task
            (1, 1, "C100", "1", "200", "120", 0, "", None, None),
            (2, 1, "C101", "4", "300", "0", 1, "medical_necessity", "2026-11-12T15:00", 7),
            (3, 1, "C102", "4", "100", "0", 1, "authorization", None, None),
            (5, 2, "C103", "4", "80", "0", 1, "coding", None, None),      # October
            (6, 3, "C101", "1", "300", "250", 0, "", None, None),         # appeal paid
            (7, 3, "C104", "22", "-50", "-50", 0, "", None, None)]        # reversal
        for rc, rid, number, status, charge, paid, denial, cat, worked, task in claims:
            c.execute("INSERT INTO remit_claims (id, remittance_id, ordinal, claim_number, "
                      "status_code, charge, paid, is_denial, category, worked_at, task_id) "
                      "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                      (rc, rid, rc, number, status, charge, paid, denial, cat,
                       _z(worked) if worked else None, task))
        for rc, group, carc, amount in [(1, "CO", "45", "50"), (1, "PR", "2", "30"),
                                        (2, "CO", "50", "300"), (3, "CO", "197", "100"),
                                        (5, "CO", "16", "80"), (6, "CO", "45", "50")]:
            c.execute("INSERT INTO remit_adjustments (remit_claim_id, group_code, carc, "
                      "amount) VALUES (?,?,?,?)", (rc, group, carc, amount))
        for number, served, charge in [("C100", "2026-11-01", "200"),   # settled
                                       ("C101", "2026-10-20", "300"),   # settled on appeal
                                       ("C102", "2026-11-03", "100"),   # 27 d: 0-30
                                       ("C103", "2026-08-15", "80"),    # 107 d: 91-120
                                       ("C105", "2026-09-20", "500"),   # 71 d: 61-90
                                       ("C106", "2026-06-01", "40"),    # 182 d: >120
                                       ("C107", "2026-10-25", "150")]:  # 36 d: 31-60
            c.execute("INSERT INTO claims (claim_number, patient_id, payer_id, service_date, "
                      "total_charge, submitted_at, created_at) VALUES (?,1,1,?,?,?,?)",
                      (number, served, charge, _z(served + "T12:00"), _z(served + "T12:00")))
        # Visits and eligibility.
        for start, provider, vtype, status in [
                ("2026-11-10T15:00", "Dr A", "office_visit", "completed"),  # before the 271
                ("2026-11-20T15:00", "Dr A", "office_visit", "no_show"),
                ("2026-11-21T15:00", "Dr B", "new_patient", "completed"),
                ("2026-11-22T15:00", "Dr B", "new_patient", "cancelled")]:
            c.execute("INSERT INTO appointments (patient_id, provider, start_at, visit_type, "
                      "status, created_at) VALUES (1,?,?,?,?,?)",
                      (provider, _z(start), vtype, status, _z(start)))
        c.execute("INSERT INTO eligibility_responses (import_id, natural_key, patient_id, "
                  "received_at) VALUES (1, 'e1', 1, ?)", (_z("2026-11-15T12:00"),))


@pytest.fixture
def november(practice: Session) -> reports.PracticeMetrics:
    _script(practice)
    return reports.month_metrics(practice, 2026, 11)


def test_period_is_the_local_month() -> None:
    from zoneinfo import ZoneInfo
    p = m.Period.month(2026, 11, ZoneInfo("America/New_York"))
    assert (p.start, p.end, p.label) == (_at("2026-11-01T04:00"), _at("2026-12-01T05:00"),
                                         "November 2026")
    assert p.previous_month(ZoneInfo("America/New_York")).label == "October 2026"


def test_prior_auth_cycle_times(november: reports.PracticeMetrics) -> None:
    pa = november.prior_auth
    assert pa.available
    assert pa.submitted_by_status == {"approved": 2, "denied": 1, "pending": 1}
    assert pa.overall == m.CycleStats(3, 4.0, pytest.approx(16.8), pytest.approx(2 / 3))
    # Acme [4, 20]: median 12, p90 4 + 0.9 x 16 = 18.4; Summit [2].
    assert pa.by_payer["Acme Health"] == m.CycleStats(2, 12.0, pytest.approx(18.4), 0.5)
    assert pa.by_payer["Summit MA"] == m.CycleStats(1, 2.0, 2.0, 1.0)
    assert set(pa.by_service) == {"97110", "72148"}
    assert (pa.stalls, pa.escalations) == (1, 1)
    # Open at the end, slower than the payer's own median (Acme 12 d, Summit 2 d).
    assert [(r["pa_id"], r["open_days"], r["payer_median_days"]) for r in pa.delay_risk] \
        == [(4, 60.7, 12.0), (5, 6.2, 2.0)]


def test_revenue_denials_appeals_and_ar(november: reports.PracticeMetrics) -> None:
    rev = november.revenue
    assert rev.available and rev.note == ""
    assert (rev.adjudicated, rev.denied, rev.denial_rate) == (4, 2, 0.5)  # reversal excluded
    assert rev.denied_dollars == Decimal("400")
    assert rev.dollars_by_category == {"medical_necessity": Decimal("300"),
                                       "authorization": Decimal("100")}
    assert rev.dollars_by_payer == {"Acme Health": Decimal("400")}
    assert rev.dollars_by_carc == {"CO-50": Decimal("300"), "CO-197": Decimal("100")}
    assert rev.rework_rate == 0.5
    assert rev.appeals == {"appealed": 1, "overturned": 1, "upheld": 0, "pending": 0}
    assert rev.patient_responsibility == Decimal("30")
    assert rev.ar_buckets == {"0-30": Decimal("100"), "31-60": Decimal("150"),
                              "61-90": Decimal("500"), "91-120": Decimal("80"),
                              ">120": Decimal("40")}
    assert rev.ar_total == Decimal("870")
    # Charges of the last 90 days (services after Sep 1): 1250; 870 / (1250 / 90).
    assert rev.days_in_ar == pytest.approx(62.64)


def test_eligibility_and_schedule(november: reports.PracticeMetrics) -> None:
    el = november.eligibility
    assert (el.visits, el.checked_before, el.gaps_found) == (3, 2, 0)
    assert el.checked_rate == pytest.approx(2 / 3)
    sc = november.schedule
    assert sc.no_show_by_provider == {"Dr A": (1, 2), "Dr B": (0, 1)}
    assert sc.no_show_by_visit_type == {"new_patient": (0, 1), "office_visit": (1, 2)}


def test_queues(november: reports.PracticeMetrics) -> None:
    q = november.queues
    assert q.created_by_kind == {"denial_review": 2, "outreach": 1, "pa_escalation": 2,
                                 "portal_failure": 1}
    assert q.done_by_kind == {"denial_review": 1, "outreach": 1, "pa_escalation": 1}
    assert q.open_aging == {"0-2": 1, "3-7": 0, "8-14": 1, ">14": 1}
    assert q.overdue == 1
    assert q.median_hours_to_action == 18.0  # 6, 12, 24, 47
    assert q.exceptions == {"portal_failure": 1}


def test_trust_counts_a_failed_effect_as_failed(november: reports.PracticeMetrics) -> None:
    denial = november.trust["denial_review"]
    assert (denial.decided, denial.failed, denial.approval_rate) == (2, 1, 0.5)
    outreach = november.trust["outreach"]  # October's rejection is outside the period
    assert (outreach.decided, outreach.approval_rate, outreach.edit_rate) == (1, 1.0, 1.0)
    assert [(c["kind"], c["before"], c["after"]) for c in november.mode_changes] == [
        ("outreach", "shadow", "approve_each")]
    assert november.modes["outreach"] == "approve_each"


def test_hours_saved_uses_the_settings(november: reports.PracticeMetrics,
                                       practice: Session) -> None:
    h = november.hours
    # 2 portal checks x 20 + 1 271 x 8 + 2 denials x 8 + 1 outreach x 5 = 69 min.
    assert h.hours == pytest.approx(69 / 60)
    assert h.items["PA status checks at payer portals"] == (2, 20.0)
    from app.services.practice import set_setting
    set_setting(practice, "minutes_per_pa_check", 30)
    assert reports.month_metrics(practice, 2026, 11).hours.hours == pytest.approx(89 / 60)


def test_every_section_says_when_its_data_is_absent(owner_session: Session) -> None:
    empty = reports.month_metrics(owner_session, 2026, 11)
    for section in (empty.prior_auth, empty.revenue, empty.eligibility, empty.schedule,
                    empty.queues, empty.hours):
        assert not section.available and section.note, section
    assert empty.revenue.ar_note and empty.revenue.days_in_ar is None
    assert empty.prior_auth.overall is None and empty.queues.median_hours_to_action is None


def test_figures_need_report_export_and_are_audited(practice: Session) -> None:
    desk = Session(practice.vault, "desk", frozenset({Role.FRONT_DESK}))
    with pytest.raises(PermissionDenied):
        reports.month_metrics(desk, 2026, 11)
    reports.month_metrics(Session(practice.vault, "mgr", frozenset({Role.OFFICE_MANAGER})),
                          2026, 11)
    row = practice.vault.query_one("SELECT actor, object_id FROM audit_log WHERE action = "
                                   "'report.view' ORDER BY id DESC")
    assert tuple(row) == ("mgr", "2026-11")


def test_parse_month_refuses_in_one_line() -> None:
    assert reports.parse_month("2026-11") == (2026, 11)
    with pytest.raises(Exception, match="YYYY-MM"):
        reports.parse_month("Nov 2026")


def test_the_scheduled_report_goes_to_the_chosen_folder(practice: Session,
                                                        tmp_path: Path) -> None:
    from app.services.practice import set_setting
    from automations.jobs import build_scheduler, install, report_jobs
    folder = tmp_path / "reports"
    folder.mkdir()
    scheduler = build_scheduler(practice.vault, lambda s: None, sweep_seconds=300)
    try:
        job = {j.id: j for j in scheduler.get_jobs()}[report_jobs.MONTHLY_REPORT_ID]
        assert job.args == () and "day='1'" in str(job.trigger)
        clock.set_clock(lambda: _at("2026-12-01T10:00"))
        report_jobs.monthly_report()  # no folder set: nothing written
        assert list(folder.iterdir()) == []
        set_setting(practice, "monthly_report_dir", str(folder))
        report_jobs.monthly_report()
    finally:
        install(None)
        scheduler.remove_all_jobs()
    assert [p.name for p in folder.iterdir()] == ["offhold-report-2026-11.pdf"]
    row = practice.vault.query_one("SELECT actor FROM audit_log WHERE action = "
                                   "'report.monthly'")
    assert row[0] == report_jobs.MONTHLY_REPORT_ID
