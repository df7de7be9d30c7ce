"""installer/screenshot.py's shared helpers, which screenshot_setup.py also uses: the
Xvfb re-run names the calling script, and save_shot writes a PNG of a widget."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _screenshot_module() -> Any:
    spec = importlib.util.spec_from_file_location("screenshot", ROOT / "installer" /
                                                  "screenshot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reexec_runs_the_script_it_is_given(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    shot = _screenshot_module()
    calls: list[list[str]] = []
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv(shot.CHILD_FLAG, raising=False)
    monkeypatch.setattr(shot.shutil, "which", lambda _name: "/usr/bin/xvfb-run")
    monkeypatch.setattr(shot.subprocess, "call", lambda cmd, env: calls.append(cmd) or 0)
    other = ROOT / "installer" / "screenshot_setup.py"
    assert shot._reexec_under_xvfb(tmp_path, str(other)) == 0
    assert calls[-1][-2:] == [str(other), str(tmp_path)]
    assert calls[-1][-3] == sys.executable
    assert shot._reexec_under_xvfb(tmp_path) == 0
    assert calls[-1][-2] == str((ROOT / "installer" / "screenshot.py").resolve())
    monkeypatch.setenv(shot.CHILD_FLAG, "1")
    assert shot._reexec_under_xvfb(tmp_path) is None  # the child carries on


def test_save_shot_writes_a_png(qtbot: Any, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QLabel
    shot = _screenshot_module()
    label = QLabel("synthetic")
    qtbot.addWidget(label)
    label.resize(120, 40)
    path = shot.save_shot(tmp_path, label, "label.png", wait_ms=10)
    assert path == tmp_path / "label.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
