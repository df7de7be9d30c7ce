"""The portal URL belongs to the payer (issue 12): set with the payer (service, CLI),
validated (https, or http on this machine only), and it is the origin the engine pins the
payer's log-in to, as the stored log-in's URL was."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from app.errors import PermissionDenied, ValidationError
from app.identity import Session
from app.identity.permissions import Role
from app.services import patients
from app.services import portal_credentials as pc
from tests.conftest import OWNER_PASSWORD
from ui.cli import main


@pytest.mark.parametrize("url", ["https://portal.acme.example/hub/",
                                 "http://127.0.0.1:8765/northwind/", "http://localhost:9/",
                                 "http://[::1]:8080/x", "http://127.3.4.5/", ""])
def test_accepted_addresses(url: str) -> None:
    assert patients.validate_portal_url(f"  {url} ") == url


@pytest.mark.parametrize(("url", "message"), [
    ("http://portal.acme.example/", "must use https"),
    ("http://10.0.0.8/", "must use https"),
    ("ftp://portal.acme.example/", "must be https://host"),
    ("javascript:alert(1)", "must be https://host"),
    ("https:///nohost", "must be https://host"),
    ("https://u:p@portal.acme.example/", "user name or password"),
    ("https://portal.acme.example:99999/", "not a valid address"),
])
def test_refused_addresses(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        patients.validate_portal_url(url)


def test_only_portal_configure_sets_it_and_the_log_in_reads_it(practice: Session) -> None:
    acme = patients.find_payer(practice, "Acme Health")
    biller = Session(practice.vault, "bill", frozenset({Role.BILLER}))  # payer.manage only
    with pytest.raises(PermissionDenied, match="portal.configure"):
        patients.update_payer(biller, acme.id, portal_url="https://evil.example/")
    with pytest.raises(PermissionDenied, match="portal.configure"):
        patients.add_payer(biller, "Evil Co", "commercial", portal_url="https://evil.example/")
    payer = patients.update_payer(practice, acme.id, portal_url="https://portal.acme.example/")
    assert payer.portal_url == "https://portal.acme.example/"
    # a log-in stored without --url keeps the payer's address; the visit reads it from there
    pc.set_credentials(practice, acme.id, username="u", password="secret-pw")
    assert pc.credentials_for_visit(practice, acme.id).url == "https://portal.acme.example/"
    assert pc.get_account(practice, acme.id).url == "https://portal.acme.example/"
    assert practice.vault.query_one("SELECT url FROM portal_credentials")[0] == ""
    # given with the log-in, it is still the payer's
    pc.set_credentials(practice, acme.id, username="u", password="pw",
                       url="https://portal2.acme.example/")
    assert patients.get_payer(practice, acme.id).portal_url == "https://portal2.acme.example/"
    row = practice.vault.query_one("SELECT details FROM audit_log WHERE action = "
                                   "'payer.update' ORDER BY id DESC LIMIT 1")
    assert "portal.acme.example" in row[0]


def test_the_visit_uses_the_payers_own_address(practice: Session) -> None:
    """The log-in is typed only at the payer's address (the engine pins its origin; a file
    for another host is refused in test_portal_origin); with none, no address is given."""
    acme = patients.find_payer(practice, "Acme Health")
    pc.set_recipe(practice, acme.id, "northwind")
    patients.update_payer(practice, acme.id, portal_url="https://portal.acme.example/nw/")
    pc.set_credentials(practice, acme.id, username="u", password="secret-pw")
    assert pc.credentials_for_visit(practice, acme.id).url == "https://portal.acme.example/nw/"


def test_cli_payer_add_and_set_portal_url(practice: Session, vault_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OFFHOLD_VAULT", str(vault_dir))
    monkeypatch.setenv("OFFHOLD_USER", "owner")
    monkeypatch.setenv("OFFHOLD_PASSWORD", OWNER_PASSWORD)
    assert main(["payer", "add", "Prairie", "--plan-type", "commercial", "--portal-url",
                 "https://portal.prairie.example/", "--json"], stdin=io.StringIO()) == 0
    assert json.loads(capsys.readouterr().out)["portal_url"] == "https://portal.prairie.example/"
    assert main(["payer", "set", "Prairie", "--portal-url", "http://portal.prairie.example/"],
                stdin=io.StringIO()) == 1
    assert "must use https" in capsys.readouterr().err
    assert main(["payer", "set", "Prairie", "--portal-url", "http://127.0.0.1:8765/nw/",
                 "--json"], stdin=io.StringIO()) == 0
    assert json.loads(capsys.readouterr().out)["portal_url"] == "http://127.0.0.1:8765/nw/"


@pytest.mark.parametrize("stored", ["http://portal.acme.example/nw/",
                                    "https://u:p@portal.acme.example/nw/"])
def test_an_address_from_before_the_check_is_refused_at_the_visit(practice: Session,
                                                                  stored: str) -> None:
    """m0020 moved each log-in's URL onto its payer as it was, and the old check let plain
    http to any host (and a user:password@ part) through: the log-in is not typed there."""
    from automations.portal import OffSiteRefused, PortalEngine, PortalQuery
    acme = patients.find_payer(practice, "Acme Health")
    pc.set_recipe(practice, acme.id, "northwind")
    pc.set_enabled(practice, acme.id, True)
    pc.set_credentials(practice, acme.id, username="u", password="secret-pw")
    with practice.vault.write() as conn:  # as m0020 left it
        conn.execute("UPDATE payers SET portal_url = ? WHERE id = ?", (stored, acme.id))
    with PortalEngine(min_interval_seconds=0) as engine:
        with pytest.raises(OffSiteRefused, match="portal URL must"):
            engine.check(practice, acme.id, "pa_status", PortalQuery("M1", "R1"))
    assert engine.launches == 0


def test_a_stored_log_in_does_not_follow_the_address_to_another_site(
        practice: Session) -> None:
    """Before m0020 the address was given with the password; as a payer field it could be
    changed alone, and the stored password would be typed on the new site."""
    acme = patients.find_payer(practice, "Acme Health")
    pc.set_credentials(practice, acme.id, username="u", password="secret-pw",
                       url="https://portal.acme.example/hub/")
    with pytest.raises(ValidationError, match="log-in stored for https://portal.acme.example"):
        patients.update_payer(practice, acme.id, portal_url="https://portal.evil.example/")
    assert patients.get_payer(practice, acme.id).portal_url == "https://portal.acme.example/hub/"
    # the same site, another page: still the site the log-in was given for
    patients.update_payer(practice, acme.id, portal_url="https://portal.acme.example/new/")
    # clearing the address is a move too: the visit would fall back to the recipe's own
    # address, which may be another site
    with pytest.raises(ValidationError, match="log-in stored for https://portal.acme.example"):
        patients.update_payer(practice, acme.id, portal_url="")
    assert patients.get_payer(practice, acme.id).portal_url == "https://portal.acme.example/new/"
    # a new site with its log-in
    pc.set_credentials(practice, acme.id, username="u", password="new-pw",
                       url="https://portal2.acme.example/")
    assert pc.credentials_for_visit(practice, acme.id).url == "https://portal2.acme.example/"
