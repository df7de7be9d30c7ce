"""The prior-auth service: validation, roles, audit, status history, the board."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from app import audit, clock
from app.domain.pa import PAStatus
from app.errors import NotFound, PermissionDenied, ValidationError
from app.identity import Role, Session
from app.services import prior_auth as pa_svc

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def fixed_now() -> datetime:
    clock.set_clock(lambda: NOW)
    return NOW


def _patient_id(session: Session) -> int:
    return int(session.vault.query_one("SELECT id FROM patients WHERE last_name = 'Zzyzxquell'")[0])


def test_add_starts_the_clock_and_audits(practice: Session, fixed_now: datetime) -> None:
    pid = _patient_id(practice)
    pa = pa_svc.add_prior_auth(practice, patient_id=pid, payer="Acme Health", cpt_code="97110",
                               units=12, service_date="2026-12-10", payer_ref="AC-1",
                               submitted_at=NOW - timedelta(hours=2))
    assert pa.status is PAStatus.SUBMITTED
    assert pa.decision_due_at == NOW - timedelta(hours=2) + timedelta(days=15)
    assert pa.clock_basis.startswith("commercial: payer contract")
    assert pa.coverage_id is not None and len(pa.history) == 1
    row = practice.vault.query_one("SELECT action, patient_id, details FROM audit_log "
                                   "WHERE action = 'pa.create'")
    assert row[1] == pid and "97110" in row[2] and "ZQM4455667" not in row[2]
    assert audit.verify(practice.vault).ok


def test_add_refuses_bad_input_with_reasons(practice: Session, fixed_now: datetime) -> None:
    pid = _patient_id(practice)
    base = dict(patient_id=pid, payer="Acme Health", cpt_code="97110", units=3,
                service_date="2026-12-10")
    bad = [({"cpt_code": "97110 therapeutic exercise"}, "AMA"),
           ({"cpt_code": "9711"}, "CPT"),
           ({"units": 0}, "units"),
           ({"service_date": "12/10/2026"}, "YYYY-MM-DD"),
           ({"urgency": "asap"}, "urgency"),
           ({"payer": "Summit MA"}, "no active coverage"),
           ({"submitted_at": NOW + timedelta(hours=1)}, "future"),
           ({"submitted_at": datetime(2026, 11, 24, 9, 0)}, "time zone")]
    for change, reason in bad:
        with pytest.raises(ValidationError, match=reason):
            pa_svc.add_prior_auth(practice, **{**base, **change})  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        pa_svc.add_prior_auth(practice, **{**base, "patient_id": 999})  # type: ignore[arg-type]
    assert practice.vault.query_one("SELECT count(*) FROM prior_auths")[0] == 0


def test_roles_are_checked_in_the_service(practice: Session, fixed_now: datetime) -> None:
    biller = Session(practice.vault, "bill", frozenset({Role.BILLER}))
    with pytest.raises(PermissionDenied):
        pa_svc.add_prior_auth(biller, patient_id=_patient_id(practice), payer="Acme Health",
                              cpt_code="97110", units=1, service_date="2026-12-10")
    with pytest.raises(PermissionDenied):
        pa_svc.list_prior_auths(biller)
    assert practice.vault.query_one(
        "SELECT count(*) FROM audit_log WHERE action = 'permission.denied'")[0] == 2
    desk = Session(practice.vault, "desk", frozenset({Role.FRONT_DESK}))
    pa = pa_svc.add_prior_auth(desk, patient_id=_patient_id(practice), payer="Acme Health",
                               cpt_code="97110", units=1, service_date="2026-12-10")
    assert [p.id for p in pa_svc.list_prior_auths(desk)] == [pa.id]


def test_record_status_is_idempotent_and_keeps_history(practice: Session,
                                                        fixed_now: datetime) -> None:
    pa = pa_svc.add_prior_auth(practice, patient_id=_patient_id(practice), payer="Acme Health",
                               cpt_code="97110", units=12, service_date="2026-12-10")
    system = Session.system(practice.vault, "pa_followup")
    after, change = pa_svc.record_status(system, pa.id, "pending", source="portal:acme",
                                         wording="Pended for clinical review")
    assert change is not None and after.status is PAStatus.PENDING
    same, none = pa_svc.record_status(system, pa.id, PAStatus.PENDING, source="portal:acme")
    assert none is None and same.status is PAStatus.PENDING
    approved, ch = pa_svc.record_status(system, pa.id, "approved", source="portal:acme",
                                        wording="Approved – 12 units through 03/31",
                                        approved_units=12, approved_through=date(2027, 3, 31))
    assert ch is not None and approved.expires_on == date(2027, 3, 31)
    full = pa_svc.get_prior_auth(practice, pa.id)
    assert [h.status.value for h in full.history] == ["submitted", "pending", "approved"]
    assert full.history[1].payer_wording == "Pended for clinical review"
    assert practice.vault.query_one("SELECT count(*) FROM audit_log WHERE action = "
                                    "'pa.status_change'")[0] == 2
    assert pa_svc.open_pa_ids(practice) == []


def test_board_groups_by_status_and_sorts_by_deadline(practice: Session,
                                                      fixed_now: datetime) -> None:
    pid = _patient_id(practice)
    late = pa_svc.add_prior_auth(practice, patient_id=pid, payer="Acme Health",
                                 cpt_code="97110", units=1, service_date="2026-12-10",
                                 submitted_at=NOW - timedelta(days=1))
    early = pa_svc.add_prior_auth(practice, patient_id=pid, payer="Acme Health",
                                  cpt_code="97112", units=1, service_date="2026-12-10",
                                  urgency="expedited", submitted_at=NOW - timedelta(hours=1))
    board = pa_svc.pa_board(practice)
    submitted = [c for c in board if c.status is PAStatus.SUBMITTED][0]
    assert [p.id for p in submitted.items] == [early.id, late.id]
    assert all(not c.status.is_terminal for c in board)
    data = pa_svc.pa_to_json(early, pa_svc.practice_zone(practice))
    assert data["decision_due_at"]["local"].endswith("-05:00")
    assert "member" not in str(data).lower()


def test_two_open_handles_on_one_vault_both_audit(practice: Session, vault_dir: object) -> None:
    """`offhold run` and the desktop app each hold the vault open; both must keep writing
    audited changes to one unbroken chain."""
    from pathlib import Path

    from app.identity import unlock
    from tests.conftest import OWNER_PASSWORD
    other = unlock(Path(str(vault_dir)), "owner", OWNER_PASSWORD)
    try:
        pid = _patient_id(practice)
        a = pa_svc.add_prior_auth(practice, patient_id=pid, payer="Acme Health",
                                  cpt_code="97110", units=1, service_date="2026-12-10")
        system = Session.system(other.vault, "pa_followup")
        pa_svc.record_status(system, a.id, "pending", source="manual")
        pa_svc.record_status(Session.system(practice.vault, "x"), a.id, "approved",
                             source="manual", approved_units=1)
        assert audit.verify(practice.vault).ok and audit.verify(other.vault).ok
    finally:
        other.vault.close()
