"""Files written at the user's request that may hold PHI or a vault secret (the recovery
key PDF, an audit export, a portal page) are owner-only, an existing file included."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from ui.private_files import write_private

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def test_write_private_creates_and_narrows(tmp_path: Path) -> None:
    new = write_private(tmp_path / "new.pdf", b"%PDF-synthetic")
    assert new.read_bytes() == b"%PDF-synthetic"
    assert stat.S_IMODE(new.stat().st_mode) == 0o600
    old = tmp_path / "old.csv"
    old.write_bytes(b"a much longer earlier content")
    old.chmod(0o644)
    write_private(old, b"short")
    assert old.read_bytes() == b"short" and stat.S_IMODE(old.stat().st_mode) == 0o600


def test_the_wizard_writes_the_recovery_key_pdf_owner_only(qtbot: Any, worker: Any,
                                                           bridge: Any,
                                                           tmp_path: Path) -> None:
    from ui.desktop.first_run import FirstRunWizard
    wizard = FirstRunWizard(tmp_path / "vault", worker, bridge)
    qtbot.addWidget(wizard)
    wizard.practice_page.edits["name"].setText("Synthetic Practice")
    wizard.recovery = "SYNTH-RECOVERY-KEY"
    pdf = tmp_path / "recovery-key.pdf"
    wizard.recovery_page.choose_pdf_path = lambda: str(pdf)
    wizard.recovery_page.save_pdf()
    worker.wait()
    assert pdf.read_bytes().startswith(b"%PDF")
    assert stat.S_IMODE(pdf.stat().st_mode) == 0o600
