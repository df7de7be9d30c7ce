"""Issue 10 #5: the recovery key is usable. From a lost owner password to a working vault,
through the service and through `offhold recover`; the key rotates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import audit
from app.errors import AuthError, WrongPassword
from app.identity import init_vault, recover, unlock
from app.services import users
from tests.conftest import OWNER_PASSWORD

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lost(vault_dir: Path) -> str:
    """A vault whose owner forgot the password; returns the recovery key from init."""
    session, recovery = init_vault(vault_dir, "Lost Practice", "owner", OWNER_PASSWORD)
    users.add_user(session, "frida", "frida-password-1", ["front_desk"])
    session.vault.close()
    return recovery


def test_lost_owner_password_to_a_working_vault(lost: str, vault_dir: Path) -> None:
    session, new_key = recover(vault_dir, "owner", lost, "brand-new-pass-1")
    try:
        assert new_key != lost
        assert session.vault.signing_key is not None  # the owner key came back too
        users.set_roles(session, "frida", ["front_desk", "biller"])  # owner work works
        assert audit.verify(session.vault).ok
        rows = session.vault.query("SELECT actor, action FROM audit_log "
                                   "WHERE action = 'user.recover'")
        assert [tuple(r) for r in rows] == [("owner", "user.recover")]
    finally:
        session.vault.close()
    unlock(vault_dir, "owner", "brand-new-pass-1").vault.close()
    with pytest.raises(WrongPassword):
        unlock(vault_dir, "owner", OWNER_PASSWORD)
    with pytest.raises(WrongPassword, match="recovery key"):
        recover(vault_dir, "owner", lost, "another-pass-1")  # the old key is rotated out
    recover(vault_dir, "owner", new_key, "another-pass-1")[0].vault.close()


def test_recovery_key_resets_owners_only(lost: str, vault_dir: Path) -> None:
    with pytest.raises(AuthError, match="owner"):
        recover(vault_dir, "frida", lost, "frida-new-pass")
    unlock(vault_dir, "frida", "frida-password-1").vault.close()


def test_wrong_recovery_key_counts_as_a_failure(lost: str, vault_dir: Path) -> None:
    bad = "AAAA-" * 7 + "AAAA"
    with pytest.raises(WrongPassword, match="recovery key"):
        recover(vault_dir, "owner", bad, "brand-new-pass-1")
    data = json.loads((vault_dir / "vault.keys").read_text())
    assert data["login_state"]["owner"]["failures"] == 1


def _cli(args: list[str], stdin: str = "", **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFHOLD_")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], cwd=ROOT, env=env,
                          input=stdin, capture_output=True, text=True, timeout=600)


def test_offhold_recover_from_file_and_stdin(lost: str, vault_dir: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "recovery.txt"
    key_file.write_text(lost + "\n")
    done = _cli(["recover", "--vault", str(vault_dir), "--user", "owner",
                 "--recovery-key-file", str(key_file), "--json"],
                OFFHOLD_NEW_PASSWORD="cli-new-pass-1")
    assert done.returncode == 0, done.stderr
    second = json.loads(done.stdout)["recovery_key"]
    check = _cli(["login-check", "owner", "--vault", str(vault_dir)],
                 OFFHOLD_PASSWORD="cli-new-pass-1")
    assert check.returncode == 0, check.stderr
    # the key on standard input; the old one is refused in one line
    old = _cli(["recover", "--vault", str(vault_dir), "--user", "owner"], stdin=lost + "\n",
               OFFHOLD_NEW_PASSWORD="cli-new-pass-2")
    assert old.returncode == 1 and old.stderr.strip() == "offhold: wrong recovery key"
    again = _cli(["recover", "--vault", str(vault_dir), "--user", "owner"], stdin=second + "\n",
                 OFFHOLD_NEW_PASSWORD="cli-new-pass-2")
    assert again.returncode == 0, again.stderr
    assert "New recovery key" in again.stdout
    missing = _cli(["recover", "--vault", str(vault_dir), "--user", "owner"], stdin="")
    assert missing.returncode == 2 and "no recovery key" in missing.stderr
