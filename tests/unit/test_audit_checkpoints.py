"""Issue 10 #4: the audit log holds against an insider who can unwrap the vault key with
her own password, and against cutting off its end. The probe's tamper cases: middle edit,
tail delete, delete all, insider re-sign, forged checkpoint, dropped triggers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app import audit
from app.audit import checkpoints
from app.errors import AuthError
from app.identity import Session, unlock
from app.identity.permissions import ALL_ROLES
from app.services import patients, users
from app.vault.db import connect_raw, db_path, keys_path
from app.vault.keys import KeyEnvelope, derive_subkey, new_signing_key, public_key_of
from tests.conftest import OWNER_PASSWORD

FRIDA_PASSWORD = "frida-password-1"


@pytest.fixture
def office(practice):  # type: ignore[no-untyped-def]
    """The practice plus a front-desk user, some of her rows, and a fresh checkpoint."""
    users.add_user(practice, "frida", FRIDA_PASSWORD, ["front_desk"])
    frida = unlock(practice.vault.directory, "frida", FRIDA_PASSWORD)
    for i in range(6):
        patients.add_patient(frida, f"Pat{i}", "Rowe", "1980-01-01")
    frida.vault.close()
    audit.checkpoint_now(practice.vault, "owner")
    return practice


def _insider(vault_dir: Path, username: str = "frida", password: str = FRIDA_PASSWORD) -> Any:
    """What the probe did: unwrap the vault key with a non-owner password, open it raw."""
    envelope = KeyEnvelope.load(keys_path(vault_dir))
    key, signing = envelope.unwrap_user(username, password)
    assert signing is None  # a non-owner's copy never carries the owner key
    conn = connect_raw(db_path(vault_dir), key)
    for name in checkpoints.TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    return conn, key


def _resign_chain(conn: Any, key: bytes) -> None:
    """Renumber and re-hash every row with the HMAC key any user can derive."""
    audit_key = derive_subkey(key, "offhold-audit")
    rows = conn.execute("SELECT ts, actor, role, action, object_type, object_id, patient_id, "
                        "details FROM audit_log ORDER BY id").fetchall()
    conn.execute("DELETE FROM audit_log")
    prev = audit.GENESIS
    import hashlib
    import hmac
    for i, r in enumerate(rows, start=1):
        fields = [i, *r, prev]
        h = audit._row_hash(fields)
        mac = hmac.new(audit_key, h.encode(), hashlib.sha256).hexdigest()
        conn.execute("INSERT INTO audit_log VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                     (*fields, h, mac))
        prev = h


def _owner_verify(vault_dir: Path) -> audit.VerifyResult:
    owner = unlock(vault_dir, "owner", OWNER_PASSWORD)
    try:
        return audit.verify(owner.vault)
    finally:
        owner.vault.close()


def test_checkpoint_covers_the_chain(office) -> None:
    result = audit.verify(office.vault)
    assert result.ok, result.problems
    assert result.checkpoint_rows == result.rows


@pytest.mark.expected_logs("audit triggers were missing and have been restored")
def test_middle_edit_resigned_by_insider_is_a_rewritten_range(office, vault_dir: Path) -> None:
    conn, key = _insider(vault_dir)
    conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 5")
    _resign_chain(conn, key)
    conn.close()
    result = _owner_verify(vault_dir)
    assert not result.ok
    assert any("rewritten" in p for p in result.problems), result.problems


def test_tail_delete_is_reported(office, vault_dir: Path) -> None:
    total = office.vault.query_one("SELECT count(*) FROM audit_log")[0]
    conn, _key = _insider(vault_dir)
    conn.execute("DELETE FROM audit_log WHERE id > ?", (total - 10,))
    conn.close()
    result = audit.verify(office.vault)
    assert not result.ok
    assert f"rows {total - 9}-" in result.reason and "missing" in result.reason
    assert result.broken_row == total - 9


def test_delete_all_is_reported(office, vault_dir: Path) -> None:
    conn, _key = _insider(vault_dir)
    conn.execute("DELETE FROM audit_log")
    conn.close()
    result = audit.verify(office.vault)
    assert not result.ok and "rows 1-" in result.reason and "missing" in result.reason


def test_deleting_the_checkpoints_too_is_reported(office, vault_dir: Path) -> None:
    conn, key = _insider(vault_dir)
    conn.execute("DELETE FROM audit_log WHERE actor = 'frida'")
    conn.execute("DELETE FROM audit_checkpoints")
    _resign_chain(conn, key)
    conn.close()
    result = audit.verify(office.vault)
    assert not result.ok
    # the key file keeps a signed copy of the latest checkpoint
    assert any("removed from the vault" in p for p in result.problems), result.problems


@pytest.mark.expected_logs("audit triggers were missing and have been restored")
def test_insider_promotion_and_resign_is_caught(office, vault_dir: Path) -> None:
    """The probe's full insider run: drop the triggers, promote herself to owner, delete
    her rows, re-sign the chain. Her login is refused and the owner's verify fails."""
    conn, key = _insider(vault_dir)
    conn.execute("UPDATE users SET roles = 'front_desk,owner' WHERE username = 'frida'")
    conn.execute("DELETE FROM audit_log WHERE actor = 'frida'")
    _resign_chain(conn, key)
    conn.close()
    with pytest.raises(AuthError, match="differ from what an owner signed"):
        unlock(vault_dir, "frida", FRIDA_PASSWORD)
    owner = unlock(vault_dir, "owner", OWNER_PASSWORD)
    try:
        assert any("does not match its signed checkpoints" in w for w in owner.vault.warnings)
        result = audit.verify(owner.vault)
        assert not result.ok
        assert any("rewritten" in p or "missing" in p for p in result.problems)
        refused = owner.vault.query("SELECT actor FROM audit_log WHERE action = 'login.refused'")
        assert ("frida",) in [tuple(r) for r in refused]
    finally:
        owner.vault.close()


@pytest.mark.expected_logs("audit triggers were missing and have been restored")
def test_insider_checkpoint_signed_with_her_own_key_is_forged(office, vault_dir: Path) -> None:
    conn, key = _insider(vault_dir)
    mine = new_signing_key()
    cp = checkpoints.load_all(conn)[-1]
    conn.execute("UPDATE users SET roles = 'owner' WHERE username = 'frida'")
    forged = checkpoints.sign(mine, office.vault.envelope.vault_id, checkpoints.Checkpoint(
        cp.seq + 1, cp.ts, cp.rows, cp.head, {**cp.roles, "frida": ["owner"]}, "frida"))
    checkpoints.insert(conn, forged)
    conn.close()
    # she also swaps the public key in the key file and re-seals it with the vault key
    envelope = KeyEnvelope.load(keys_path(vault_dir))
    envelope.bind(key)
    envelope.signing_public = public_key_of(mine)
    envelope.checkpoint = forged.to_json()
    envelope.save()
    owner = unlock(vault_dir, "owner", OWNER_PASSWORD)
    try:
        result = audit.verify(owner.vault)
        assert not result.ok
        assert any("public key in the key file was replaced" in p for p in result.problems)
        assert any("not signed by the owner key" in p for p in result.problems)
    finally:
        owner.vault.close()


@pytest.mark.expected_logs("audit triggers were missing and have been restored")
def test_dropped_triggers_are_restored_and_reported_at_open(office, vault_dir: Path) -> None:
    conn, _key = _insider(vault_dir)
    conn.close()
    owner = unlock(vault_dir, "owner", OWNER_PASSWORD)
    try:
        assert any("triggers were missing" in w for w in owner.vault.warnings)
        with owner.vault.read() as c:
            assert checkpoints.missing_triggers(c) == []
        result = audit.verify(owner.vault)
        assert result.ok, result.problems
        assert any("dropped and restored" in n for n in result.notes)
    finally:
        owner.vault.close()


def test_role_changes_need_the_owner_key_and_checkpoint_at_once(office) -> None:
    system = Session.system(office.vault)
    assert ALL_ROLES <= system.roles
    with pytest.raises(AuthError, match="owner's authentication"):
        users.set_roles(system, "frida", ["owner"])
    before = office.vault.query_one("SELECT count(*) FROM audit_checkpoints")[0]
    users.set_roles(office, "frida", ["front_desk", "biller"])
    cps = office.vault.query("SELECT roles FROM audit_checkpoints ORDER BY id")
    assert len(cps) == before + 1
    assert json.loads(cps[-1][0])["frida"] == ["biller", "front_desk"]
    frida = unlock(office.vault.directory, "frida", FRIDA_PASSWORD)
    assert frida.vault.signing_key is None
    frida.vault.close()


def test_promoted_owner_gets_the_owner_key_with_a_new_password(office) -> None:
    users.set_roles(office, "frida", ["owner"])
    users.change_password(office, "frida", "frida-owner-pass")
    frida = unlock(office.vault.directory, "frida", "frida-owner-pass")
    try:
        assert frida.vault.signing_key == office.vault.signing_key
    finally:
        frida.vault.close()


def test_forged_pending_entry_never_becomes_a_trusted_row(office, vault_dir: Path) -> None:
    """Issue 10 #7: a hand-added pending entry is not copied as the action it claims."""
    path = keys_path(vault_dir)
    data = json.loads(path.read_text())
    data["pending_audit"] = [
        {"ts": "2026-11-30T10:00:00.000000Z", "actor": "owner", "action": "patient.delete",
         "details": {"patient": 1}},
        {"ts": "2026-11-30T10:00:00.000000Z", "actor": "frida", "action": "login.failed",
         "details": {"reason": "password", "failures": 1, "note": "I was framed"}},
        "garbage"]
    path.write_text(json.dumps(data))
    owner = unlock(vault_dir, "owner", OWNER_PASSWORD)
    try:
        rows = owner.vault.query("SELECT actor, role, action, details FROM audit_log "
                                 "WHERE ts >= (SELECT max(ts) FROM audit_log "
                                 "WHERE action = 'user.create')")
        actions = [r[2] for r in rows]
        assert "patient.delete" not in actions
        failed = [r for r in rows if r[2] == "login.failed"]
        assert len(failed) == 1 and failed[0][1] == "unauthenticated"
        assert "framed" not in failed[0][3] and "unauthenticated" in failed[0][3]
        rejected = [json.loads(r[3]) for r in rows if r[2] == "keyfile.pending_rejected"]
        assert rejected == [{"entries": 2}]
    finally:
        owner.vault.close()


@pytest.mark.parametrize("edit", ["demo", "recovery", "users", "signing_public"])
def test_hand_edited_key_file_is_refused(office, vault_dir: Path, edit: str) -> None:
    """Issue 10 #7: what only a logged-in process writes is sealed under the vault key."""
    path = keys_path(vault_dir)
    data = json.loads(path.read_text())
    if edit == "demo":
        data["demo"] = True
    elif edit == "recovery":
        data["recovery"] = None
    elif edit == "users":
        del data["users"]["frida"]
    else:
        data["signing_public"] = public_key_of(new_signing_key())
    path.write_text(json.dumps(data))
    from app.errors import VaultError
    with pytest.raises(VaultError, match="changed outside OffHold"):
        unlock(vault_dir, "owner", OWNER_PASSWORD)


def test_every_backup_carries_a_fresh_checkpoint(office, tmp_path: Path) -> None:
    from app.errors import VaultCorrupt
    from app.vault.backup import create_backup, verify_backup
    backup = tmp_path / "b.db"
    create_backup(office, backup)
    copy = json.loads(backup.with_name("b.db.keys").read_text())["checkpoint"]
    rows = office.vault.query_one("SELECT count(*) FROM audit_log WHERE action <> "
                                  "'backup.create' OR id <= (SELECT max(id) FROM audit_log "
                                  "WHERE action = 'backup.create')")[0]
    assert copy["rows"] == rows  # the checkpoint covers the row recording the backup
    # a backup whose tail was cut off by someone holding only a non-owner password
    envelope = KeyEnvelope.load(backup.with_name("b.db.keys"))
    key = envelope.unwrap_for_user("frida", FRIDA_PASSWORD)
    conn = connect_raw(backup, key)
    conn.execute("DROP TRIGGER audit_no_delete")
    conn.execute("DELETE FROM audit_log WHERE id > ?", (rows - 3,))
    conn.close()
    for extra in ("-wal", "-shm"):
        Path(str(backup) + extra).unlink(missing_ok=True)
    with pytest.raises(VaultCorrupt, match="audit log is broken"):
        verify_backup(backup, "owner", OWNER_PASSWORD)


def test_publishing_a_checkpoint_keeps_what_another_process_wrote(office,
                                                                 vault_dir: Path) -> None:
    """The desktop (this session) and `offhold user add` (another) on one vault: the
    desktop's next checkpoint must not write back its stale copy of the key file."""
    other = unlock(vault_dir, "owner", OWNER_PASSWORD)
    users.add_user(other, "newbie", "newbie-password", ["biller"])
    other.vault.close()
    audit.checkpoint_now(office.vault, "owner")  # e.g. a backup from the desktop
    unlock(vault_dir, "newbie", "newbie-password").vault.close()


def test_offhold_audit_verify_reports_a_cut_tail(office, vault_dir: Path) -> None:
    """The probe's case through the command: the last 10 rows deleted, exit 1, and the
    owner is warned at login already."""
    import os
    import subprocess
    import sys
    total = office.vault.query_one("SELECT count(*) FROM audit_log")[0]
    office.vault.close()
    conn, _key = _insider(vault_dir)
    conn.execute("DELETE FROM audit_log WHERE id > ?", (total - 10,))
    conn.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFHOLD_")}
    env["OFFHOLD_PASSWORD"] = OWNER_PASSWORD
    done = subprocess.run([sys.executable, "-m", "ui.cli", "audit", "verify", "--vault",
                           str(vault_dir), "--user", "owner"], env=env, capture_output=True,
                          text=True, timeout=600, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 1
    assert "BROKEN" in done.stdout and "missing" in done.stdout
    assert "warning" in done.stderr and "does not match its signed checkpoints" in done.stderr
    assert "triggers were missing" in done.stderr
    for command, code in ((["audit", "rebaseline"], 0), (["audit", "verify"], 0)):
        done = subprocess.run([sys.executable, "-m", "ui.cli", *command, "--vault",
                               str(vault_dir), "--user", "owner"], env=env,
                              capture_output=True, text=True, timeout=600,
                              cwd=Path(__file__).resolve().parents[2])
        assert done.returncode == code, done.stderr
    assert "re-baselined" in done.stdout


@pytest.mark.expected_logs("audit triggers were missing and have been restored")
def test_stripping_the_public_key_does_not_switch_role_checks_off(office,
                                                                  vault_dir: Path) -> None:
    conn, key = _insider(vault_dir)
    conn.execute("UPDATE users SET roles = 'owner' WHERE username = 'frida'")
    conn.execute("DELETE FROM audit_checkpoints")
    conn.close()
    envelope = KeyEnvelope.load(keys_path(vault_dir))
    envelope.bind(key)
    envelope.signing_public = None
    envelope.checkpoint = None
    envelope.save()
    with pytest.raises(AuthError, match="differ from what an owner signed"):
        unlock(vault_dir, "frida", FRIDA_PASSWORD)


@pytest.mark.expected_logs("audit triggers were missing and have been restored")
def test_owner_rebaseline_after_review_lets_the_practice_go_on(office, vault_dir: Path) -> None:
    """After tampering nothing new is signed (so users cannot be changed) until an owner has
    reviewed the report and re-baselined; the problems stay in the log itself."""
    from app.services.vault_health import rebaseline_audit
    total = office.vault.query_one("SELECT count(*) FROM audit_log")[0]
    conn, _key = _insider(vault_dir)
    conn.execute("DELETE FROM audit_log WHERE id > ?", (total - 4,))
    conn.execute("DELETE FROM audit_checkpoints")
    conn.close()
    owner = unlock(vault_dir, "owner", OWNER_PASSWORD)
    try:
        assert not audit.verify(owner.vault).ok
        with pytest.raises(audit.AuditTampered):
            users.add_user(owner, "late", "late-password-1", ["biller"])
        with pytest.raises(AuthError, match="owner's authentication"):
            rebaseline_audit(Session.system(owner.vault))
        result = rebaseline_audit(owner)
        assert result["rebaselined"] and any("missing" in p or "deleted" in p
                                             for p in result["problems"])
        after = audit.verify(owner.vault)
        assert after.ok, after.problems
        assert any("re-baselined" in n for n in after.notes)
        recorded = owner.vault.query_one("SELECT details FROM audit_log "
                                         "WHERE action = 'audit.rebaseline'")
        assert "missing" in recorded[0] or "deleted" in recorded[0]
        users.add_user(owner, "late", "late-password-1", ["biller"])
    finally:
        owner.vault.close()
    unlock(vault_dir, "frida", FRIDA_PASSWORD).vault.close()
    unlock(vault_dir, "late", "late-password-1").vault.close()
