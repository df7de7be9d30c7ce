"""The `offhold` command: conventions (vault/user/password sources, --json, exit codes)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ui.cli import main

ROOT = Path(__file__).resolve().parents[2]
PW = "cli-owner-password"


def run(args: list[str], password: str | None = PW, stdin: str | None = None,
        env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFHOLD_")}
    if password is not None:
        env["OFFHOLD_PASSWORD"] = password
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], cwd=ROOT, env=env,
                          input=stdin, capture_output=True, text=True, timeout=600)


@pytest.fixture
def cli_vault(tmp_path: Path) -> Path:
    vault = tmp_path / "v"
    result = run(["init", "--vault", str(vault), "--practice", "CLI Practice", "--owner", "boss",
                  "--json"])
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["recovery_key"].replace("-", "")) == 32
    return vault


def call(argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
         password: str = PW, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setenv("OFFHOLD_PASSWORD", password)
    code = main(argv, stdin=io.StringIO(stdin))
    out, err = capsys.readouterr()
    return code, out, err


def test_end_to_end_commands(cli_vault: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    v = ["--vault", str(cli_vault), "--user", "boss"]
    code, out, _ = call(["login-check", "boss", "--vault", str(cli_vault), "--json"],
                        monkeypatch, capsys)
    assert code == 0 and json.loads(out) == {"user": "boss", "roles": ["owner"]}
    assert call([*v, "payer", "add", "Acme", "--plan-type", "commercial"],
                monkeypatch, capsys)[0] == 0
    code, out, _ = call([*v, "patient", "add", "--first", "Ada", "--last", "Clitest",
                         "--dob", "1980-01-02", "--member-id", "M1", "--payer", "Acme", "--json"],
                        monkeypatch, capsys)
    assert code == 0 and json.loads(out)["coverages"][0]["member_id"] == "M1"
    code, out, _ = call(["patient", "list", "--json", *v], monkeypatch, capsys)
    assert [p["last"] for p in json.loads(out)] == ["Clitest"]
    monkeypatch.setenv("OFFHOLD_NEW_PASSWORD", "desk-password-1")
    code, out, _ = call([*v, "user", "add", "desk", "--role", "front_desk", "--json"],
                        monkeypatch, capsys)
    assert code == 0 and json.loads(out)["roles"] == ["front_desk"]
    code, out, _ = call(["login-check", "desk", "--vault", str(cli_vault)], monkeypatch, capsys,
                        password="desk-password-1")
    assert code == 0 and "front_desk" in out
    code, out, _ = call([*v, "audit", "verify", "--json"], monkeypatch, capsys)
    assert code == 0 and json.loads(out)["ok"] is True
    code, out, _ = call([*v, "audit", "export", "--from", "2000-01-01", "--to", "2999-01-01",
                         "--csv"], monkeypatch, capsys)
    assert code == 0 and out.startswith("id,ts,actor") and "patient.create" in out


def test_refusal_exits_one_with_reason(cli_vault: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    v = ["--vault", str(cli_vault)]
    monkeypatch.setenv("OFFHOLD_NEW_PASSWORD", "biller-password")
    call([*v, "--user", "boss", "user", "add", "bill", "--role", "biller"], monkeypatch, capsys)
    code, out, err = call([*v, "--user", "bill", "patient", "add", "--first", "A", "--last",
                           "B", "--dob", "1990-01-01"], monkeypatch, capsys,
                          password="biller-password")
    assert code == 1 and "may not patient.create" in err and out == ""
    assert len(err.strip().splitlines()) == 1


def test_usage_errors_exit_two(cli_vault: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exc:
        main(["patient", "add", "--first", "x"])
    assert exc.value.code == 2
    monkeypatch.delenv("OFFHOLD_USER", raising=False)
    code, _, err = call(["patient", "list", "--vault", str(cli_vault)], monkeypatch, capsys)
    assert code == 2 and "--user" in err


def test_password_from_stdin(cli_vault: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("OFFHOLD_PASSWORD", raising=False)
    code = main(["login-check", "boss", "--vault", str(cli_vault), "--password-stdin"],
                stdin=io.StringIO(PW + "\n"))
    assert code == 0 and "owner" in capsys.readouterr().out


def test_wrong_password_subprocess_leaves_vault(cli_vault: Path) -> None:
    db = cli_vault / "vault.db"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    result = run(["login-check", "boss", "--vault", str(cli_vault)], password="wrong-password")
    assert result.returncode == 1
    assert "wrong user name or password" in result.stderr
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_vault_from_environment(cli_vault: Path) -> None:
    result = run(["login-check", "boss", "--json"], env_extra={"OFFHOLD_VAULT": str(cli_vault)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["roles"] == ["owner"]


def test_missing_vault_is_clear(tmp_path: Path) -> None:
    result = run(["login-check", "boss", "--vault", str(tmp_path / "nothing")])
    assert result.returncode == 1 and "offhold init" in result.stderr


def test_backup_and_restore_commands(cli_vault: Path, tmp_path: Path) -> None:
    backup = tmp_path / "b" / "backup.db"
    r = run(["backup", str(backup), "--vault", str(cli_vault), "--user", "boss", "--json"])
    assert r.returncode == 0, r.stderr
    fresh = tmp_path / "fresh"
    r = run(["restore", str(backup), "--vault", str(fresh), "--user", "boss"])
    assert r.returncode == 0, r.stderr
    r = run(["audit", "verify", "--vault", str(fresh), "--user", "boss", "--json"])
    assert r.returncode == 0 and json.loads(r.stdout)["ok"]


def test_demo_json_and_reuse(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    first = run(["demo", "--vault", str(demo), "--json"], password=None)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["vault"] == str(demo) and data["created"] is True
    roles = {r for u in data["users"] for r in u["roles"]}
    assert roles == {"owner", "office_manager", "front_desk", "biller"}
    second = run(["demo", "--vault", str(demo), "--json"], password=None)
    assert second.returncode == 0 and json.loads(second.stdout)["created"] is False
    desk = next(u for u in data["users"] if "front_desk" in u["roles"])
    tasks = run(["tasks", "list", "--vault", str(demo), "--user", desk["user"], "--json"],
                password=desk["password"])
    kinds = {t["kind"] for t in json.loads(tasks.stdout)}
    assert kinds and "denial_review" not in kinds


def test_tasks_commands(cli_vault: Path) -> None:
    from app.identity import unlock
    from app import queue
    session = unlock(cli_vault, "boss", PW)
    queue.set_mode(session, "portal_failure", "approve_each")
    task, _ = queue.create_task(session, "portal_failure", "cli:1", "Retry", draft="hi")
    other, _ = queue.create_task(session, "portal_failure", "cli:2", "Retry", draft="bye")
    session.vault.close()
    v = ["--vault", str(cli_vault), "--user", "boss"]
    r = run(["tasks", "list", "--kind", "portal_failure", "--json", *v])
    assert {t["id"] for t in json.loads(r.stdout)} == {task.id, other.id}
    r = run(["tasks", "show", str(task.id), "--json", *v])
    assert json.loads(r.stdout)["draft"] == "hi"
    r = run(["tasks", "approve", str(task.id), *v])
    assert r.returncode == 0 and "done" in r.stdout
    r = run(["tasks", "reject", str(other.id), "--reason", "duplicate", *v])
    assert r.returncode == 0 and "rejected" in r.stdout
    r = run(["tasks", "approve", str(other.id), *v])
    assert r.returncode == 1 and "cannot go from rejected" in r.stderr
    r = run(["mode", "set", "intake_review", "automatic", *v])
    assert r.returncode == 1 and "clinical" in r.stderr
