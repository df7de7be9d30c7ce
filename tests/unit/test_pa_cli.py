"""`offhold pa ...`, `check-now` and `run`: conventions, errors, and how `run` opens the
vault (a logged-in user, or the OS keyring; a clear refusal when there is none)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from app.identity import Session
from tests.conftest import OWNER_PASSWORD, MemoryKeyring
from ui.cli import main


@pytest.fixture
def cli(practice: Session, vault_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    practice.vault.close()
    monkeypatch.setenv("OFFHOLD_VAULT", str(vault_dir))
    monkeypatch.setenv("OFFHOLD_USER", "owner")
    monkeypatch.setenv("OFFHOLD_PASSWORD", OWNER_PASSWORD)
    return vault_dir


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), stdin=io.StringIO())
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_show(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "pa", "add", "--patient", "1", "--payer", "Acme Health",
                         "--cpt", "97110", "--units", "12", "--service-date", "2027-01-20",
                         "--submitted", "2026-11-01T01:30", "--ref", "AC-77", "--urgency",
                         "expedited")
    assert code == 0, err
    # 72 h from 01:30 EDT on the DST-end morning is 00:30 EST three days later.
    assert "decision due 2026-11-04 00:30 EST" in out
    code, out, err = run(capsys, "pa", "list", "--json")
    [row] = json.loads(out)
    assert row["decision_due_at"]["utc"] == "2026-11-04T05:30:00.000000Z"
    assert row["status"] == "submitted" and row["cpt"] == "97110"
    assert "ZQM4455667" not in out and "Zzyzxquell" not in out
    code, out, _ = run(capsys, "pa", "show", str(row["id"]))
    assert json.loads(out)["history"][0]["status"] == "submitted"
    code, out, err = run(capsys, "pa", "list", "--open")
    assert code == 0 and "AC-77" in out


def test_bad_input_exits_1_with_the_reason(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "pa", "add", "--patient", "1", "--payer", "Acme Health",
                       "--cpt", "97110 therapeutic exercise", "--units", "1",
                       "--service-date", "2027-01-20")
    assert code == 1 and "AMA" in err
    code, _, err = run(capsys, "pa", "list", "--status", "bogus")
    assert code == 1 and "unknown status 'bogus'" in err
    code, _, err = run(capsys, "pa", "add", "--patient", "1", "--payer", "Acme Health",
                       "--cpt", "97110", "--units", "1", "--service-date", "2027-01-20",
                       "--submitted", "yesterday")
    assert code == 2 and "--submitted" in err
    code, _, err = run(capsys, "pa", "show", "999")
    assert code == 1 and "no prior authorization 999" in err


def test_check_now_with_no_portal_payers_says_what_it_skipped(
        cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "pa", "add", "--patient", "1", "--payer", "Acme Health", "--cpt", "97110",
        "--units", "1", "--service-date", "2027-01-20")
    code, out, err = run(capsys, "check-now")
    assert code == 0, err
    assert out.strip() == ("checked 0, changed 0, tasks created 0, failures 0, skipped 1 "
                           "(no status source)")


def test_run_without_a_user_or_keyring_refuses_clearly(
        cli: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OFFHOLD_USER")
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        code, _, err = run(capsys, "run")
    finally:
        keyring.set_keyring(previous)
    assert code == 1
    assert "no OS keyring backend" in err and "unattended mode is off" in err
    assert "OFFHOLD_USER" in err


def test_run_opens_the_vault_from_the_keyring_when_unattended_is_on(
        cli: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        memory_keyring: MemoryKeyring) -> None:
    from ui.cli import Context, build_parser
    from ui.commands.pa import _open_for_scheduler
    code, _, err = run(capsys, "unattended", "enable")
    assert code == 0, err
    monkeypatch.delenv("OFFHOLD_USER")
    ctx = Context(build_parser().parse_args(["run"]))
    vault, how = _open_for_scheduler(ctx)
    try:
        assert how.startswith("unattended")
        assert vault.query_one("SELECT count(*) FROM patients")[0] == 1
    finally:
        vault.close()
