"""The Today view's rules (pure) and the board the service builds: a visit of each state."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

from app import clock
from app.identity import Session
from app.services import today
from app.today import Cell, IntakeFact, PAFact, eligibility_cell, intake_cell, pa_cell
from tests.unit.today_visits import make_visits

VISIT = datetime(2027, 1, 4, 15, 0, tzinfo=timezone.utc)
DAY = date(2027, 1, 4)


def test_eligibility_rules() -> None:
    checked = VISIT - timedelta(days=3)
    assert eligibility_cell(1, VISIT, checked, True, 30) == Cell("active", "ok",
                                                                 ("patients", 1))
    assert eligibility_cell(1, VISIT, checked, False, 30).label == "gap: inactive"
    assert eligibility_cell(1, VISIT, VISIT - timedelta(days=40), True, 30).label == \
        "not checked"
    assert eligibility_cell(1, VISIT, None, None, 30).state == "missing"
    assert eligibility_cell(1, VISIT, checked, True, 30, gap_task_id=9) == Cell(
        "gap", "attention", ("queue", 9))


def test_pa_rules() -> None:
    approved = PAFact(1, "approved", DAY, DAY, DAY + timedelta(days=30), None)
    assert pa_cell(5, DAY, [approved], True).label == "approved"
    # an approval whose dates cover the visit counts, though its service date differs
    later = PAFact(2, "approved", DAY - timedelta(days=9), DAY - timedelta(days=9),
                   DAY + timedelta(days=2))
    assert pa_cell(5, DAY, [later], True).label == "approved"
    pending = PAFact(3, "pending", DAY, task_id=77)
    assert pa_cell(5, DAY, [pending], True) == Cell("pending", "attention", ("queue", 77))
    assert pa_cell(5, DAY, [PAFact(4, "denied", DAY)], True).label == "missing (denied)"
    assert pa_cell(5, DAY, [], True).label == "missing"
    assert pa_cell(5, DAY, [], False) == Cell("none needed", "none", None)


def test_intake_rules() -> None:
    assert intake_cell(1, VISIT, []).label == "missing"
    old = IntakeFact("applied", VISIT - timedelta(days=200))
    assert intake_cell(1, VISIT, [old]).label == "missing"
    assert intake_cell(1, VISIT, [IntakeFact("review", VISIT - timedelta(days=2), 8)]) == \
        Cell("received", "attention", ("queue", 8))
    assert intake_cell(1, VISIT, [IntakeFact("applied", VISIT - timedelta(days=2))]).label \
        == "reviewed"


def test_board_with_a_visit_of_each_state(practice: Session) -> None:
    clock.set_clock(lambda: datetime(2027, 1, 4, 12, 0, tzinfo=timezone.utc))
    v = make_visits(practice, "Acme Health", DAY)
    rows = {r.appointment_id: r for r in today.today_board(practice)}
    assert list(rows) == [v.ready, v.waiting, v.unchecked, v.plain]  # by time, two days
    ready, waiting, unchecked, plain = (rows[i] for i in (v.ready, v.waiting, v.unchecked,
                                                          v.plain))
    assert [c.label for c in ready.cells()] == ["active", "approved", "reviewed", "$25.00"]
    assert [c.label for c in waiting.cells()][:3] == ["gap", "pending", "received"]
    assert (waiting.eligibility.target, waiting.pa.target, waiting.intake.target) == (
        ("queue", v.gap_task), ("queue", v.pa_task), ("queue", v.intake_task))
    assert waiting.estimate.label == "$140.00"  # inactive: the whole expected amount
    assert [c.label for c in unchecked.cells()][:3] == ["not checked", "missing", "missing"]
    assert plain.pa.label == "none needed"
    assert ready.patient_name == "Readyford, Ada" and ready.provider == "Dr. Ames"
    assert ready.eligibility.target == ("patients", v.patient_ready)
    row = practice.vault.query_one("SELECT details FROM audit_log WHERE action = "
                                   "'today.view'")
    assert json.loads(row[0])["visits"] == 4
