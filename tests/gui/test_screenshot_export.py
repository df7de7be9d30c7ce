"""`offhold recipe test --screenshot FILE` writes the portal page (it may show PHI) as an
audited export, owner-only like the letter and audit exports."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ui.commands.portal import _export_screenshot


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_screenshot_export_is_owner_only_and_audited(login_as: Callable[[str], Any],
                                                     tmp_path: Path) -> None:
    session = login_as("olivia")  # the demo owner
    target = tmp_path / "page.png"
    target.write_bytes(b"old")
    target.chmod(0o644)  # a file already there keeps no wider mode
    _export_screenshot(session, target, b"\x89PNG\r\n\x1a\nsynthetic", "northwind")
    assert target.read_bytes().startswith(b"\x89PNG")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    rows = session.vault.query("SELECT object_id, details FROM audit_log WHERE action = "
                               "'portal.screenshot_export'")
    assert rows[-1][0] == "northwind" and "page.png" in rows[-1][1]
