"""First run without the desktop (`offhold init` takes the wizard's steps): practice
details, TOTP, the recovery key as a PDF, a payer with a recipe file (portal off), every
kind in shadow mode; the same steps refuse bad details before writing anything."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from pathlib import Path

import pyotp
import pytest

from app.identity import unlock
from app.queue import all_modes
from app.services import patients, practice, setup
from automations.portal import builtin_recipes_dir
from tests.conftest import OWNER_PASSWORD
from ui.cli import main


def _recipe(tmp_path: Path) -> Path:
    own = tmp_path / "prairie_portal.yaml"
    own.write_text((builtin_recipes_dir() / "northwind.yaml").read_text().replace(
        "name: northwind", "name: prairie_portal"))
    return own


def test_init_takes_every_first_run_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    vault = tmp_path / "vault"
    monkeypatch.setenv("OFFHOLD_PASSWORD", OWNER_PASSWORD)
    pdf = tmp_path / "recovery.pdf"
    code = main(["init", "--vault", str(vault), "--practice", "Maple Street Family Practice",
                 "--owner", "maria", "--timezone", "America/Chicago", "--npi", "1234567893",
                 "--tin", "12-3456789", "--address", "12 Maple St | Springfield, IL 62701",
                 "--phone", "(217) 555-0100", "--totp", "--payer",
                 f"Prairie Mutual:commercial:{_recipe(tmp_path)}", "--payer",
                 "Summit MA:medicare_advantage", "--recovery-pdf", str(pdf), "--json"],
                stdin=io.StringIO())
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["payers"] == 2 and result["modes"] == "shadow"
    assert result["totp_uri"].startswith("otpauth://totp/")
    assert pdf.read_bytes().startswith(b"%PDF")
    session = unlock(vault, "maria", OWNER_PASSWORD,
                     totp_code=pyotp.parse_uri(result["totp_uri"]).now())
    try:
        assert practice.practice_info(session)["timezone"] == "America/Chicago"
        assert practice.get_setting(session, "practice_npi") == "1234567893"
        assert practice.get_setting(session, "practice_tin") == "12-3456789"
        prairie = patients.find_payer(session, "Prairie Mutual")
        assert prairie.portal_recipe == "prairie_portal" and not prairie.portal_enabled
        assert (vault / "recipes" / "prairie_portal.yaml").exists()
        assert {m.value for m in all_modes(session).values()} == {"shadow"}
        details = json.loads(session.vault.query_one(
            "SELECT details FROM audit_log WHERE action = 'setup.complete'")[0])
        assert details == {"keyring": False, "model": "bundled default", "payers": 2,
                           "modes": "shadow"}
    finally:
        session.vault.close()


def test_init_refuses_bad_details_before_writing(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    vault = tmp_path / "vault"
    monkeypatch.setenv("OFFHOLD_PASSWORD", OWNER_PASSWORD)
    code = main(["init", "--vault", str(vault), "--practice", "P", "--owner", "o",
                 "--npi", "1234567890"], stdin=io.StringIO())
    assert code == 1 and "npi" in capsys.readouterr().err
    assert not vault.exists()
    code = main(["init", "--vault", str(vault), "--practice", "P", "--owner", "o",
                 "--payer", "nameonly"], stdin=io.StringIO())
    assert code == 1 and not vault.exists()


def test_totp_check_and_recovery_pdf() -> None:
    uri = pyotp.TOTP(pyotp.random_base32()).provisioning_uri("o", issuer_name="OffHold")
    assert setup.totp_code_ok(uri, pyotp.parse_uri(uri).now())
    wrong = "000000" if pyotp.parse_uri(uri).now() != "000000" else "111111"
    assert not setup.totp_code_ok(uri, wrong)
    assert not setup.totp_code_ok("not a uri", "123456")
    pdf = setup.recovery_key_pdf("P", "ABCD-EFGH-IJKL", datetime(2027, 1, 4,
                                                                 tzinfo=timezone.utc))
    from pypdf import PdfReader
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "ABCD-EFGH-IJKL" in text and "OffHold recovery key" in text
