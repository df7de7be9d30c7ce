"""Issue 10 #12 and #13: one-line errors, never tracebacks, for a malformed key file, an
unknown task kind, control bytes in a message and pypdf's chatter; private file modes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import OWNER_PASSWORD

ROOT = Path(__file__).resolve().parents[2]


def _cli(args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFHOLD_")}
    env["OFFHOLD_PASSWORD"] = OWNER_PASSWORD
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], cwd=ROOT, env=env,
                          input=stdin, capture_output=True, text=True, timeout=600)


def _one_line_refusal(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


@pytest.mark.parametrize("damage", ["bad_base64", "missing_field", "wrong_type", "bad_kdf",
                                    "not_an_object", "users_list"])
def test_malformed_key_file_is_one_line(owner_session, vault_dir: Path, damage: str) -> None:
    owner_session.vault.close()
    path = vault_dir / "vault.keys"
    data = json.loads(path.read_text())
    entry = data["users"]["owner"]
    if damage == "bad_base64":
        entry["salt"] = "!!not base64!!"
    elif damage == "missing_field":
        del entry["nonce"]
    elif damage == "wrong_type":
        entry["wrapped"] = 12345
    elif damage == "bad_kdf":
        entry["kdf"]["memory_cost"] = "lots"
    elif damage == "users_list":
        data["users"] = ["owner"]
    else:
        data = [data]  # type: ignore[assignment]
    path.write_text(json.dumps(data))
    line = _one_line_refusal(_cli(["login-check", "owner", "--vault", str(vault_dir)]))
    assert "vault.keys" in line


def test_unknown_kind_in_mode_set_is_one_line(owner_session, vault_dir: Path) -> None:
    owner_session.vault.close()
    line = _one_line_refusal(_cli(["mode", "set", "no_such_kind", "approve_each",
                                   "--vault", str(vault_dir), "--user", "owner"]))
    assert "unknown task kind 'no_such_kind'" in line


def test_control_bytes_in_a_message_are_escaped(tmp_path: Path) -> None:
    hostile = tmp_path / "evil\x1b[2J\rname"
    done = _cli(["login-check", "owner", "--vault", str(hostile)])
    line = _one_line_refusal(done)
    assert "\x1b" not in done.stderr and "\r" not in done.stderr
    assert "\\x1b[2J\\rname" in line


def test_pypdf_warnings_stay_off_the_terminal(practice, vault_dir: Path, tmp_path: Path) -> None:
    from io import BytesIO

    from pypdf import PdfWriter
    buf = BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.write(buf)
    # a wrong startxref offset: pypdf recovers and warns about it
    raw = buf.getvalue()
    head, _, tail = raw.rpartition(b"startxref")
    pdf = tmp_path / "form.pdf"
    pdf.write_bytes(head + b"startxref\n99999\n%%EOF\n")
    practice.vault.close()
    done = _cli(["intake", "import", str(pdf), "--no-model", "--vault", str(vault_dir),
                 "--user", "owner"])
    assert "pypdf" not in done.stderr and "startxref" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 1, done.stderr
    assert tail  # (the original xref tail is dropped on purpose)


def test_vault_files_are_private(owner_session, vault_dir: Path, tmp_path: Path) -> None:
    from app.vault.backup import create_backup
    assert stat.S_IMODE(vault_dir.stat().st_mode) == 0o700
    for name in ("vault.db", "vault.keys"):
        assert stat.S_IMODE((vault_dir / name).stat().st_mode) == 0o600, name
    backup = tmp_path / "b" / "backup.db"
    create_backup(owner_session, backup)
    for path in (backup, backup.with_name("backup.db.keys")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    owner_session.vault.close()
    out = tmp_path / "audit.csv"
    done = _cli(["audit", "export", "--out", str(out), "--vault", str(vault_dir),
                 "--user", "owner"])
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_open_makes_a_loosened_vault_private_again(owner_session, vault_dir: Path) -> None:
    from app.identity import unlock
    owner_session.vault.close()
    os.chmod(vault_dir, 0o755)
    os.chmod(vault_dir / "vault.db", 0o644)
    unlock(vault_dir, "owner", OWNER_PASSWORD).vault.close()
    assert stat.S_IMODE(vault_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((vault_dir / "vault.db").stat().st_mode) == 0o600
