"""A PA requests several services (issue 12): lines with code, units, modifier and dates;
their checks, the CLI's --service, the Today cell, and m0020 on an existing vault."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from app import clock
from app.domain.pa import PAStatus, ServiceLine
from app.errors import ValidationError
from app.identity import Session
from app.services import prior_auth as pa_svc
from app.today import PAFact, pa_cell
from app.vault import migrations
from tests.conftest import OWNER_PASSWORD
from ui.cli import main

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def fixed_now() -> datetime:
    clock.set_clock(lambda: NOW)
    return NOW


def _pid(session: Session) -> int:
    return int(session.vault.query_one("SELECT id FROM patients WHERE last_name = "
                                       "'Zzyzxquell'")[0])


def _add(session: Session, services: list[dict[str, object]], **more: object) -> object:
    return pa_svc.add_prior_auth(session, patient_id=_pid(session), payer="Acme Health",
                                 services=services, **more)  # type: ignore[arg-type]


def test_a_pa_keeps_several_lines_and_a_summary(practice: Session, fixed_now: datetime
                                                ) -> None:
    pa = pa_svc.add_prior_auth(
        practice, patient_id=_pid(practice), payer="Acme Health", services=[
            {"code": "97110", "units": "12", "modifier": "gp", "service_from": "2026-12-10",
             "service_to": "2027-01-31"},
            ServiceLine("97140", 4, date(2026, 12, 12), date(2026, 12, 12))])
    assert pa.services == [ServiceLine("97110", 12, date(2026, 12, 10), date(2027, 1, 31), "GP"),
                           ServiceLine("97140", 4, date(2026, 12, 12), date(2026, 12, 12))]
    # the first date of service defaults to the earliest line; the summary follows the lines
    assert (pa.service_date, pa.cpt_code, pa.units) == (date(2026, 12, 10), "97110", 16)
    [listed] = pa_svc.list_prior_auths(practice)
    assert listed.services == pa.services
    data = pa_svc.pa_to_json(listed, pa_svc.practice_zone(practice))
    assert [s["code"] for s in data["services"]] == ["97110", "97140"]
    row = practice.vault.query_one("SELECT details FROM audit_log WHERE action = 'pa.create'")
    assert json.loads(row[0])["cpt"] == ["97110", "97140"]


@pytest.mark.parametrize(("line", "message"), [
    ({"code": "97110 therapeutic exercise", "units": 1}, "service line 2: .*AMA"),
    ({"code": "97140", "units": 0}, "service line 2: units"),
    ({"code": "97140", "units": "two"}, "service line 2: units"),
    ({"code": "97140", "units": "\u00b2"}, "service line 2: units"),  # isdigit, no int
    ({"code": "97140", "units": "9" * 5000}, "service line 2: units"),  # past int()'s limit
    ({"code": "97140", "units": 1, "modifier": "GPX"}, "service line 2: a modifier"),
    ({"code": "97140", "units": 1, "service_from": "2026-12-20",
      "service_to": "2026-12-19"}, "service line 2: the dates end"),
    ({"code": "97140", "units": 1, "service_from": "2026-12-01"},
     "service line 2: starts 2026-12-01, before the PA's date of service 2026-12-10"),
    ({"code": "97140", "units": 1, "service_from": "12/20/2026"}, "YYYY-MM-DD"),
])
def test_each_bad_line_is_refused_naming_the_line(
        practice: Session, fixed_now: datetime, line: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _add(practice, [{"code": "97110", "units": 2}, line], service_date="2026-12-10")
    assert practice.vault.query_one("SELECT count(*) FROM prior_auths")[0] == 0
    assert practice.vault.query_one("SELECT count(*) FROM pa_service_lines")[0] == 0


def test_the_forms_line_check_names_the_cell() -> None:
    from app.forms import pa_request_errors
    ok = {"code": "97110", "units": "12", "modifier": "", "service_from": "",
          "service_to": ""}
    assert pa_request_errors({"service_date": "2027-01-04"}, [ok]) == {}
    found = pa_request_errors({"service_date": "2027-01-04"}, [ok, {
        "code": "97110 exercise", "units": "0", "modifier": "GPX",
        "service_from": "2027-01-03", "service_to": "2027-01-02"}])
    assert set(found) == {"line_2_code", "line_2_units", "line_2_modifier",
                          "line_2_service_from", "line_2_service_to"}
    assert pa_request_errors({"service_date": "x"}, []) == {
        "service_date": "date of service as YYYY-MM-DD",
        "line_1_code": "add at least one service line"}


def test_the_forms_refuse_digits_int_cannot_read() -> None:
    """'²' is a digit to str.isdigit but not to int(), and int() refuses 4300+ digits:
    the checks run as typed, so either raised in the form instead of marking the cell."""
    from app.forms import pa_request_errors, payer_errors
    for text in ("\u00b2", "9" * 5000):
        assert "line_1_units" in pa_request_errors({"service_date": "2027-01-04"}, [
            {"code": "97110", "units": text}])
        assert "appeal_window_days" in payer_errors({"appeal_window_days": text})


def test_no_lines_is_refused(practice: Session, fixed_now: datetime) -> None:
    with pytest.raises(ValidationError, match="service lines"):
        _add(practice, [], service_date="2026-12-10")


def test_edit_replaces_the_lines_within_the_pas_dates(practice: Session,
                                                      fixed_now: datetime) -> None:
    pa = _add(practice, [{"code": "97110", "units": 2}], service_date="2026-12-10")
    pa_id = pa.id  # type: ignore[attr-defined]
    edited = pa_svc.update_prior_auth(practice, pa_id, services=[
        {"code": "97110", "units": 6, "service_to": "2026-12-31"},
        {"code": "G0283", "units": 6, "service_from": "2026-12-11"}])
    assert [(s.code, s.units, s.service_from, s.service_to) for s in edited.services] == [
        ("97110", 6, date(2026, 12, 10), date(2026, 12, 31)),
        ("G0283", 6, date(2026, 12, 11), date(2026, 12, 11))]
    assert edited.units == 12
    # an empty date of service is refused, not read as the year 1
    with pytest.raises(ValidationError, match="date of service must be YYYY-MM-DD"):
        pa_svc.update_prior_auth(practice, pa_id, service_date="")
    # one code and units no longer say which line they mean
    with pytest.raises(ValidationError, match="has 2 service lines"):
        pa_svc.update_prior_auth(practice, pa_id, units=3)
    # an approved span bounds the lines: nothing may fall after it
    pa_svc.update_prior_auth(practice, pa_id, services=[{"code": "97110", "units": 1}])
    with practice.vault.write() as conn:
        conn.execute("UPDATE prior_auths SET approved_through = '2026-12-20' WHERE id = ?",
                     (pa_id,))
    with pytest.raises(ValidationError, match="after the PA's last day 2026-12-20"):
        pa_svc.update_prior_auth(practice, pa_id, services=[
            {"code": "97110", "units": 1, "service_to": "2026-12-21"}])
    # a one-line PA's line moves with its date of service; cancelling keeps its lines
    moved = pa_svc.update_prior_auth(practice, pa_id, service_date="2026-12-15")
    assert moved.services[0].service_from == date(2026, 12, 15)
    cancelled = pa_svc.cancel_prior_auth(practice, pa_id, "duplicate")
    assert cancelled.status is PAStatus.CANCELLED and len(cancelled.services) == 1


def test_today_a_pa_covers_a_visit_when_any_line_does() -> None:
    day = date(2027, 1, 20)
    # the PA's first date of service is earlier; its second line runs through the visit
    lines = [PAFact(1, "approved", date(2027, 1, 4)),
             PAFact(1, "approved", date(2027, 1, 11), service_to=date(2027, 1, 29))]
    assert pa_cell(5, day, lines, True).label == "approved"
    assert pa_cell(5, day, lines[:1], True).label == "missing"
    assert pa_cell(5, day + timedelta(days=10), lines, True).label == "missing"


def test_today_board_reads_every_line(practice: Session, fixed_now: datetime) -> None:
    from app.services import appointments, today
    pa = _add(practice, [{"code": "97110", "units": 1},
                         {"code": "97140", "units": 8, "service_from": "2026-12-12",
                          "service_to": "2026-12-31"}], service_date="2026-12-10")
    pa_svc.record_status(practice, pa.id, "pending", source="manual")  # type: ignore[attr-defined]
    appointments.add_appointment(practice, _pid(practice), "2026-12-18 09:00",
                                 visit_type="therapy")
    from app.services.practice import set_setting
    set_setting(practice, "pa_visit_types", "therapy")
    [row] = today.today_board(practice, date(2026, 12, 18), days=1)
    assert row.pa.label == "pending"


@pytest.fixture
def cli(practice: Session, vault_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    practice.vault.close()
    monkeypatch.setenv("OFFHOLD_VAULT", str(vault_dir))
    monkeypatch.setenv("OFFHOLD_USER", "owner")
    monkeypatch.setenv("OFFHOLD_PASSWORD", OWNER_PASSWORD)
    return vault_dir


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), stdin=io.StringIO())
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_add_and_edit_with_service_lines(cli: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "pa", "add", "--patient", "1", "--payer", "Acme Health",
                          "--service", "97110-GP:12:2027-01-04:2027-02-26",
                          "--service", "97140:4:2027-01-06", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["service_date"] == "2027-01-04" and data["units"] == 16
    assert data["services"][0] == {"code": "97110", "units": 12, "modifier": "GP",
                                   "from": "2027-01-04", "to": "2027-02-26"}
    code, out, err = _run(capsys, "pa", "list")
    assert code == 0 and "97110-GP x12, 97140 x4" in out
    code, out, err = _run(capsys, "pa", "edit", str(data["id"]), "--service", "97110:8",
                          "--json")
    assert code == 0, err
    assert [s["code"] for s in json.loads(out)["services"]] == ["97110"]
    # malformed: a usage error naming which --service; a bad value: the service's reason
    code, _, err = _run(capsys, "pa", "edit", str(data["id"]), "--service", "97110:1",
                        "--service", "97140")
    assert code == 2 and "--service #2" in err
    code, _, err = _run(capsys, "pa", "edit", str(data["id"]), "--service",
                        "97110:1:2027-01-09:2027-01-08")
    assert code == 1 and "service line 1: the dates end" in err
    code, _, err = _run(capsys, "pa", "add", "--patient", "1", "--payer", "Acme Health",
                        "--service", "97110:1", "--cpt", "97110", "--units", "1",
                        "--service-date", "2027-01-04")
    assert code == 2 and "not both" in err


def test_m0020_turns_each_existing_pa_into_one_line_and_moves_the_portal_url() -> None:
    """An existing vault at m0019 (plain SQLite: the steps are SQL only) upgrades."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for step in migrations.steps():
        if int(step.VERSION) < 20:
            step.apply(conn)
    conn.execute("INSERT INTO payers (id, name, plan_type, created_at) VALUES "
                 "(1, 'Acme', 'commercial', 'x'), (2, 'Other', 'commercial', 'x')")
    conn.execute("INSERT INTO portal_credentials (payer_id, url, username, password, "
                 "updated_at, updated_by) VALUES (1, 'https://portal.acme.example/', 'u', "
                 "'p', 'x', 'o')")
    conn.execute("INSERT INTO patients (id, first_name, last_name, dob, created_at, "
                 "updated_at) VALUES (1, 'A', 'B', '1970-01-01', 'x', 'x')")
    for pa_id, code, units, day in ((1, "97110", 12, "2027-01-04"),
                                    (2, "G0283", 3, "2027-02-01")):
        conn.execute(
            "INSERT INTO prior_auths (id, patient_id, payer_id, plan_type, cpt_code, units, "
            "service_date, urgency, submitted_at, status, status_changed_at, "
            "decision_due_at, created_at, updated_at) VALUES (?,1,1,'commercial',?,?,?,"
            "'standard','x','submitted','x','x','x','x')", (pa_id, code, units, day))
    next(s for s in migrations.steps() if int(s.VERSION) == 20).apply(conn)
    assert conn.execute("SELECT pa_id, line_no, code, units, modifier, service_from, "
                        "service_to FROM pa_service_lines ORDER BY pa_id").fetchall() == [
        (1, 1, "97110", 12, "", "2027-01-04", "2027-01-04"),
        (2, 1, "G0283", 3, "", "2027-02-01", "2027-02-01")]
    assert conn.execute("SELECT id, portal_url FROM payers ORDER BY id").fetchall() == [
        (1, "https://portal.acme.example/"), (2, "")]
    assert conn.execute("SELECT subscriber_dob FROM coverages").fetchall() == []


def test_the_monthly_figures_count_a_decision_for_each_service(practice: Session,
                                                               fixed_now: datetime) -> None:
    from app.services import reports
    pa = _add(practice, [{"code": "97110", "units": 6}, {"code": "97140", "units": 4},
                         {"code": "97110", "units": 2, "service_from": "2026-12-20"}],
              service_date="2026-12-10", submitted_at=NOW - timedelta(days=3))
    pa_svc.record_status(practice, pa.id, "approved", source="manual",  # type: ignore[attr-defined]
                         at=NOW - timedelta(days=1), approved_units=12)
    figures = reports.month_metrics(practice, 2026, 11).prior_auth
    assert set(figures.by_service) == {"97110", "97140"}
    assert figures.by_service["97140"].decisions == 1
    # the dashboard's drill-down names every line's code
    [item] = reports.figure_items(practice, "pa", [pa.id])  # type: ignore[attr-defined]
    assert item["title"] == "PA %d: Acme Health 97110, 97140, 97110" % pa.id  # type: ignore[attr-defined]
