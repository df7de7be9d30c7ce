"""The portal CLI end to end: log-ins from stdin, the switch, `recipe test` with real
Chromium against the sandbox, and `offhold sandbox-portal` as its own process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from app.identity import init_vault
from app.services import patients
from automations.portal import builtin_recipes_dir
from automations.sandbox_portal import SANDBOX_ACCOUNTS, PaSeedRecord, SandboxPortal, build_seed
from ui.cli import main

pytestmark = [pytest.mark.e2e]
PASSWORD = "owner-password-1"
ROOT = Path(__file__).resolve().parents[2]
# `python -m ui.cli` would load ui.cli twice (as __main__ too); import it like the script does
OFFHOLD = [sys.executable, "-c", "import sys; from ui.cli import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxPortal]:
    seed = build_seed([PaSeedRecord("NWCLI0001", "NW-CLI-1", "northwind",
                                    date.today() - timedelta(days=7), "denied")])
    with SandboxPortal(seed) as portal:
        yield portal


@pytest.fixture
def cli_vault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "vault"
    session, _ = init_vault(directory, "CLI Practice", "owner", PASSWORD)
    patients.add_payer(session, "Northwind National Health", "commercial",
                       portal_recipe="northwind")
    session.vault.close()
    monkeypatch.setenv("OFFHOLD_VAULT", str(directory))
    monkeypatch.setenv("OFFHOLD_USER", "owner")
    monkeypatch.setenv("OFFHOLD_PASSWORD", PASSWORD)
    return directory


def run(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = "") -> tuple[int, str,
                                                                                   str]:
    code = main(list(argv), stdin=io.StringIO(stdin))
    out, err = capsys.readouterr()
    return code, out, err


def test_set_enable_and_recipe_test(cli_vault: Path, sandbox: SandboxPortal,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    acct = SANDBOX_ACCOUNTS["northwind"]
    code, out, err = run(capsys, "portal", "set", "Northwind National Health", "--url",
                         sandbox.portal_url("northwind"), "--user", acct["username"],
                         "--totp-seed-stdin", "--json",
                         stdin=f"{acct['password']}\n{acct['totp_seed']}\n")
    assert code == 0, err
    stored = json.loads(out)
    assert stored["has_totp"] and stored["username"] == acct["username"]
    assert acct["password"] not in out and acct["totp_seed"] not in out

    recipe = str(builtin_recipes_dir() / "northwind.yaml")
    code, out, err = run(capsys, "recipe", "test", recipe, "--member-id", "NWCLI0001",
                         "--reference", "NW-CLI-1")
    assert code == 1 and "FAILED (PortalDisabled)" in out and "switched off" in out

    code, out, err = run(capsys, "portal", "enable", "Northwind National Health")
    assert code == 0 and "portal checks on" in out
    code, out, err = run(capsys, "portal", "list", "--json")
    [row] = json.loads(out)
    assert row["enabled"] and row["has_password"] and "password" not in json.dumps(
        {k: v for k, v in row.items() if k != "has_password"})

    code, out, err = run(capsys, "recipe", "test", recipe, "--member-id", "NWCLI0001",
                         "--reference", "NW-CLI-1", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert (result["status"], result["status_text"]) == ("denied",
                                                         "Denied – not medically necessary")
    assert result["fields"]["reference"] == "NW-CLI-1" and result["screenshot_bytes"] > 1000

    # Saving the page to disk is an explicit export, and it is audited.
    png = cli_vault.parent / "page.png"
    code, out, err = run(capsys, "recipe", "test", recipe, "--member-id", "NWCLI0001",
                         "--reference", "NW-CLI-1", "--screenshot", str(png))
    assert code == 0, err
    assert png.read_bytes().startswith(b"\x89PNG")
    from app.identity import unlock
    session = unlock(cli_vault, "owner", PASSWORD)
    try:
        exports = session.vault.query("SELECT object_id, details FROM audit_log WHERE action = "
                                      "'portal.screenshot_export'")
    finally:
        session.vault.close()
    assert len(exports) == 1 and exports[0][0] == "northwind" and "page.png" in exports[0][1]

    sandbox.set_fault("captcha")
    try:
        code, out, err = run(capsys, "recipe", "test", recipe, "--member-id", "NWCLI0001",
                             "--reference", "NW-CLI-1")
    finally:
        sandbox.reset()
    assert code == 1 and "FAILED (HumanHandoff)" in out

    code, out, err = run(capsys, "portal", "disable", "Northwind National Health")
    assert code == 0 and "portal checks off" in out


def test_recipe_test_rejects_an_invalid_file(cli_vault: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "northwind.yaml"
    bad.write_text((builtin_recipes_dir() / "northwind.yaml").read_text(encoding="utf-8")
                   .replace("{member_id}", "{member}"), encoding="utf-8")
    code, out, err = run(capsys, "recipe", "test", str(bad), "--member-id", "X")
    assert code == 1
    assert str(bad) in err and "kinds.pa_status.steps[2].fill.value" in err
    assert "unknown placeholder {member}" in err


def test_recipe_test_names_the_lookup_value_it_lacks(cli_vault: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A recipe that searches by DOB and NPI: recipe test names what to give, before any
    visit, instead of a "not found" from the portal."""
    path = tmp_path / "northwind.yaml"
    path.write_text((builtin_recipes_dir() / "northwind.yaml").read_text(encoding="utf-8")
                    .replace('      - fill: {selector: "#nw-authnum", value: "{reference}"}',
                             '      - fill: {selector: "#nw-authnum", value: "{reference}"}\n'
                             '      - fill: {selector: "#nw-dob", value: "{dob_us}"}\n'
                             '      - fill: {selector: "#nw-npi", value: "{npi}"}'),
                    encoding="utf-8")
    code, out, err = run(capsys, "recipe", "test", str(path), "--member-id", "X")
    assert code == 2 and out == ""
    assert "looks pa_status up by member_id, reference, dob, npi; give --dob --npi" in err
    code, out, err = run(capsys, "recipe", "test", str(path), "--member-id", "X",
                         "--dob", "04/12/1975")
    assert code == 2 and "--dob takes a date as YYYY-MM-DD" in err


def test_portal_set_refuses_a_non_manager(cli_vault: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    os.environ["OFFHOLD_NEW_PASSWORD"] = "frontdesk-pass-1"
    try:
        assert run(capsys, "user", "add", "fd", "--role", "front_desk")[0] == 0
    finally:
        del os.environ["OFFHOLD_NEW_PASSWORD"]
    code, out, err = run(capsys, "--user", "fd", "--password-stdin", "portal", "set",
                         "Northwind National Health", "--user", "someone",
                         stdin="frontdesk-pass-1\nportal-pw\n")
    assert code == 1 and "may not portal.configure" in err
    code, out, err = run(capsys, "portal", "list", "--json")
    assert json.loads(out)[0]["username"] == ""  # nothing was stored


def test_sandbox_portal_command_runs_a_server(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([*OFFHOLD, "sandbox-portal", "--port", "0",
                             "--fault", "maintenance", "--json"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        with urllib.request.urlopen(info["url"] + "/__admin/state", timeout=10) as r:
            state = json.loads(r.read())
        assert list(state["faults"]) == ["maintenance"]
        with urllib.request.urlopen(info["url"] + "/northwind/signin", timeout=10) as r:
            assert b"maintenance-notice" in r.read()
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    bad = subprocess.run([*OFFHOLD, "sandbox-portal", "--fault", "nope"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown fault 'nope'" in bad.stderr


def test_sandbox_portal_seeded_from_a_vault(cli_vault: Path) -> None:
    from app.identity import unlock
    from app.services import prior_auth as pa_svc
    session = unlock(cli_vault, "owner", PASSWORD)
    try:
        patient = patients.add_patient(session, "Test", "Person", "1970-01-01",
                                       member_id="NWV0001", payer="Northwind National Health")
        pa_svc.add_prior_auth(session, patient_id=patient.id, payer="Northwind National Health",
                              cpt_code="97110", units=4,
                              service_date=date.today() + timedelta(days=5), payer_ref="NW-V-1")
    finally:
        session.vault.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([*OFFHOLD, "sandbox-portal", "--port", "0", "--vault",
                             str(cli_vault), "--json"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["cases"] == 1
        with urllib.request.urlopen(info["url"] + "/__admin/state", timeout=10) as r:
            assert json.loads(r.read())["cases"] == 1
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
