"""Portal log-ins in the vault: role checks, audit without secrets, TOTP seed checks, the
per-portal switch."""

from __future__ import annotations

import json

import pytest

from app.errors import NotFound, PermissionDenied, ValidationError
from app.identity import Role, Session
from app.services import patients
from app.services import portal_credentials as pc

SECRET = "s3cret-portal-pw"
SEED = "JBSWY3DPEHPK3PXP"


def as_role(session: Session, role: Role) -> Session:
    return Session(session.vault, f"user-{role.value}", frozenset({role}))


@pytest.fixture
def payer(owner_session: Session) -> int:
    return patients.add_payer(owner_session, "Northwind National Health", "commercial",
                              portal_recipe="northwind").id


def audit_details(session: Session, action: str) -> list[str]:
    return [r[0] for r in session.vault.query(
        "SELECT details FROM audit_log WHERE action = ? ORDER BY id", (action,))]


def test_store_list_and_read_for_a_visit(owner_session: Session, payer: int) -> None:
    account = pc.set_credentials(owner_session, payer, url="http://127.0.0.1:9/northwind/",
                                 username="maplefm", password=SECRET,
                                 totp_seed="jbsw y3dp ehpk 3pxp")
    assert account.has_password and account.has_totp and account.username == "maplefm"
    assert SECRET not in repr(account)
    creds = pc.credentials_for_visit(owner_session, payer)
    assert (creds.password, creds.totp_seed) == (SECRET, SEED)
    assert SECRET not in repr(creds) and SEED not in repr(creds)
    [listed] = [a for a in pc.list_accounts(owner_session) if a.payer_id == payer]
    assert listed.has_totp and not listed.enabled
    [details] = audit_details(owner_session, "portal.credentials.set")
    assert SECRET not in details and SEED not in details
    assert json.loads(details) == {"replaced": False, "has_totp": True, "url_set": True,
                                   "origin": "http://127.0.0.1:9"}


def test_totp_seed_kept_replaced_or_removed(owner_session: Session, payer: int) -> None:
    pc.set_credentials(owner_session, payer, url="", username="u", password="p",
                       totp_seed=SEED)
    pc.set_credentials(owner_session, payer, url="", username="u", password="p2")
    assert pc.credentials_for_visit(owner_session, payer).totp_seed == SEED
    pc.set_credentials(owner_session, payer, url="", username="u", password="p2",
                       totp_seed="")
    assert pc.credentials_for_visit(owner_session, payer).totp_seed == ""


@pytest.mark.parametrize("kwargs, message", [
    ({"url": "javascript:alert(1)"}, "must be https://host"),
    ({"username": " "}, "user name is required"),
    ({"password": ""}, "password is required"),
    ({"totp_seed": "not base32 at all!"}, "not valid base32"),
])
def test_bad_input_is_refused(owner_session: Session, payer: int, kwargs: dict[str, str],
                              message: str) -> None:
    args = {"url": "https://portal.example.org/", "username": "u", "password": "p"} | kwargs
    with pytest.raises(ValidationError, match=message):
        pc.set_credentials(owner_session, payer, **args)


@pytest.mark.parametrize("role, allowed", [(Role.OWNER, True), (Role.OFFICE_MANAGER, True),
                                           (Role.FRONT_DESK, False), (Role.BILLER, False)])
def test_only_owner_and_manager_configure_portals(owner_session: Session, payer: int,
                                                  role: Role, allowed: bool) -> None:
    session = as_role(owner_session, role)
    if allowed:
        pc.set_credentials(session, payer, url="", username="u", password="p")
        pc.set_enabled(session, payer, True)
    else:
        with pytest.raises(PermissionDenied):
            pc.set_credentials(session, payer, url="", username="u", password="p")
        with pytest.raises(PermissionDenied):
            pc.set_enabled(session, payer, True)
        assert audit_details(owner_session, "permission.denied")


def test_biller_reads_secrets_for_claim_status_but_not_for_pa(owner_session: Session,
                                                              payer: int) -> None:
    pc.set_credentials(owner_session, payer, url="", username="u", password="p")
    biller = as_role(owner_session, Role.BILLER)
    assert pc.credentials_for_visit(biller, payer, "claim.manage").password == "p"
    with pytest.raises(PermissionDenied):
        pc.credentials_for_visit(biller, payer)


def test_switch_is_audited_and_needs_a_recipe(owner_session: Session, payer: int) -> None:
    assert pc.set_enabled(owner_session, payer, True).portal_enabled
    assert not pc.set_enabled(owner_session, payer, False).portal_enabled
    assert [json.loads(d)["after"] for d in audit_details(owner_session, "portal.enable")
            + audit_details(owner_session, "portal.disable")] == [True, False]
    bare = patients.add_payer(owner_session, "No Portal Plan", "commercial")
    with pytest.raises(ValidationError, match="no portal recipe"):
        pc.set_enabled(owner_session, bare.id, True)


def test_delete_and_missing(owner_session: Session, payer: int) -> None:
    with pytest.raises(NotFound):
        pc.credentials_for_visit(owner_session, payer)
    pc.set_credentials(owner_session, payer, url="", username="u", password="p")
    pc.delete_credentials(owner_session, payer)
    with pytest.raises(NotFound):
        pc.delete_credentials(owner_session, payer)
