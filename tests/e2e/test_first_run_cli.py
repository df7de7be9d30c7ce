"""The same new practice through the CLI only (issue 12): `offhold init` with a first payer
on the practice's own recipe file, the portal log-in, the switch, a patient with coverage,
a PA, `check-now` against the sandbox portal with real Chromium, and the resulting task."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from automations.portal import builtin_recipes_dir
from automations.sandbox_portal import (RECIPE_PORTALS, SANDBOX_ACCOUNTS, PaSeedRecord,
                                        SandboxPortal, build_seed)
from ui.cli import main

pytestmark = [pytest.mark.e2e]
TODAY = date.today()
MEMBER, REF = "PMC7100002", "PRM-CLI-1"
PAYER = "Prairie State Medicaid"


@pytest.fixture
def sandbox() -> Iterator[SandboxPortal]:
    seed = build_seed([PaSeedRecord(MEMBER, REF, "bluestem_medicaid",
                                    TODAY - timedelta(days=6), "approved", 3)])
    with SandboxPortal(seed) as portal:
        yield portal


def run(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = "") -> tuple[int, str,
                                                                                   str]:
    code = main(list(argv), stdin=io.StringIO(stdin))
    out, err = capsys.readouterr()
    return code, out, err


def own_recipe(folder: Path) -> Path:
    """The practice's own recipe for its Medicaid plan's portal (the same portal software
    as Bluestem's), under its own name."""
    own = folder / "prairie_medicaid.yaml"
    own.write_text((builtin_recipes_dir() / "bluestem_medicaid.yaml").read_text()
                   .replace("name: bluestem_medicaid", "name: prairie_medicaid")
                   .replace("payer: Bluestem State Medicaid", f"payer: {PAYER}"))
    return own


def test_new_practice_to_first_pa_check_by_cli(
        tmp_path: Path, sandbox: SandboxPortal, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    recipe = own_recipe(tmp_path)
    monkeypatch.setenv("OFFHOLD_VAULT", str(tmp_path / "vault"))
    monkeypatch.setenv("OFFHOLD_USER", "maria")
    monkeypatch.setenv("OFFHOLD_PASSWORD", "maple-street-owner-pass")
    code, out, err = run(capsys, "init", "--practice", "Prairie Family Clinic", "--owner",
                         "maria", "--timezone", "America/Chicago", "--npi", "1234567893",
                         "--payer", f"{PAYER}:medicaid:{recipe}", "--json")
    assert code == 0, err
    assert json.loads(out)["payers"] == 1
    account = SANDBOX_ACCOUNTS[RECIPE_PORTALS["bluestem_medicaid"][0]]
    code, out, err = run(capsys, "portal", "set", PAYER, "--url",
                         sandbox.portal_url("bluestem_medicaid"), "--user",
                         account["username"], stdin=f"{account['password']}\n")
    assert code == 0, err
    code, out, err = run(capsys, "payer", "set", PAYER, "--on", "--json")
    assert code == 0 and json.loads(out)["portal_enabled"] is True, err
    code, out, err = run(capsys, "patient", "add", "--first", "Wilhelmina", "--last",
                         "Quarterfield", "--dob", "1958-09-21", "--payer", PAYER,
                         "--member-id", MEMBER, "--json")
    assert code == 0, err
    patient_id = json.loads(out)["id"]
    code, out, err = run(capsys, "pa", "add", "--patient", str(patient_id), "--payer", PAYER,
                         "--cpt", "97110", "--units", "12", "--service-date",
                         (TODAY + timedelta(days=20)).isoformat(), "--ref", REF, "--json")
    assert code == 0, err
    pa_id = json.loads(out)["id"]
    code, out, err = run(capsys, "check-now", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["failures"] == 0 and summary["checked"] == 1, summary
    code, out, err = run(capsys, "pa", "show", str(pa_id), "--json")
    assert json.loads(out)["status"] == "approved"
    code, out, err = run(capsys, "tasks", "list", "--json")
    assert code == 0, err
    mine = [t for t in json.loads(out) if t["subject"] == f"prior_auth:{pa_id}"]
    assert mine and all(t["state"] == "shadow" for t in mine)  # every kind starts in shadow
    assert any(t["natural_key"].startswith(f"pa:{pa_id}:status:approved") for t in mine)
