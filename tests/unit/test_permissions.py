"""Every role x action cell of the permission matrix, and refusals are audited."""

from __future__ import annotations

import itertools

import pytest

from app.errors import PermissionDenied
from app.identity import Session, require
from app.identity.permissions import PERMISSIONS, Role, allowed, parse_roles

# The matrix as the practice agreed it, written out independently of the code's table.
EXPECTED_DENIED = {
    Role.OWNER: set(),
    Role.OFFICE_MANAGER: {"user.manage", "user.recover", "settings.manage", "audit.verify",
                          "audit.export", "audit.rebaseline", "backup.create",
                          "backup.restore", "remit.import", "claim.manage", "model.manage",
                          "report.monthly", "report.phi_appendix"},
    Role.FRONT_DESK: {"user.manage", "user.recover", "settings.manage", "mode.set",
                      "payer.manage", "audit.verify", "audit.export", "audit.rebaseline",
                      "vault.check", "backup.create", "backup.restore", "task.reassign",
                      "task.bulk_approve", "portal.configure", "remit.import",
                      "claim.manage", "model.manage", "report.export", "report.monthly",
                      "report.phi_appendix", "outbox.send"},
    Role.BILLER: {"user.manage", "user.recover", "settings.manage", "mode.set",
                  "patient.create", "patient.update", "appointment.manage", "audit.verify",
                  "audit.export", "audit.rebaseline", "vault.check", "backup.create",
                  "backup.restore", "task.reassign", "task.bulk_approve", "pa.manage",
                  "pa.check", "portal.configure", "intake.import", "outreach.draft",
                  "model.manage", "report.export", "report.monthly",
                  "report.phi_appendix", "outbox.send"},
}
# Imports (issue 12): 837 claims are the biller's; bulk EHR records (FHIR, CSV) the manager's.
EXPECTED_DENIED[Role.OFFICE_MANAGER] |= {"claim.import"}
EXPECTED_DENIED[Role.FRONT_DESK] |= {"claim.import", "records.import"}
EXPECTED_DENIED[Role.BILLER] |= {"records.import"}
# Merging duplicate patients moves a whole history: owners and office managers.
EXPECTED_DENIED[Role.FRONT_DESK] |= {"patient.merge"}
EXPECTED_DENIED[Role.BILLER] |= {"patient.merge"}
# Referrals (issue 13): the front desk and managers import, send and track them.
EXPECTED_DENIED[Role.BILLER] |= {"referral.manage"}


@pytest.mark.parametrize("role,action", list(itertools.product(Role, sorted(PERMISSIONS))))
def test_matrix_cell(role: Role, action: str) -> None:
    assert allowed({role}, action) is (action not in EXPECTED_DENIED[role])


def test_expected_table_names_only_declared_actions() -> None:
    for denied in EXPECTED_DENIED.values():
        assert denied <= set(PERMISSIONS)


def test_undeclared_action_is_a_bug() -> None:
    with pytest.raises(KeyError, match="undeclared"):
        allowed({Role.OWNER}, "launch.rockets")


def test_multiple_roles_union() -> None:
    assert allowed({Role.FRONT_DESK, Role.BILLER}, "remit.import")
    assert allowed({Role.FRONT_DESK, Role.BILLER}, "intake.import")


def test_parse_roles_rejects_unknown() -> None:
    assert parse_roles("owner, biller") == {Role.OWNER, Role.BILLER}
    with pytest.raises(ValueError, match="unknown role"):
        parse_roles("janitor")


@pytest.mark.parametrize("role", [r for r in Role if EXPECTED_DENIED[r]])
def test_every_refusal_leaves_an_audit_row(owner_session, role: Role) -> None:
    session = Session(owner_session.vault, f"u_{role.value}", frozenset({role}))
    for action in sorted(EXPECTED_DENIED[role]):
        before = owner_session.vault.query_one("SELECT count(*) FROM audit_log")[0]
        with pytest.raises(PermissionDenied):
            require(session, action)
        row = owner_session.vault.query_one(
            "SELECT actor, action, details FROM audit_log ORDER BY id DESC LIMIT 1")
        assert owner_session.vault.query_one("SELECT count(*) FROM audit_log")[0] == before + 1
        assert row[0] == session.username and row[1] == "permission.denied"
        assert action in row[2]


def test_services_enforce_the_matrix(practice) -> None:
    """A service call, not only the UI, refuses: the biller cannot add a patient."""
    from app.services import patients, users
    users.add_user(practice, "bill", "biller-pass-1", ["biller"])
    biller = Session(practice.vault, "bill", frozenset({Role.BILLER}))
    with pytest.raises(PermissionDenied):
        patients.add_patient(biller, "A", "B", "1990-01-01")
    with pytest.raises(PermissionDenied):
        users.add_user(biller, "x", "password-x", ["owner"])
