"""Cancelling the first-run wizard after the vault was made closes the vault only once
the worker is idle (the set-up may still be writing to it), then quits as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def test_cancel_waits_for_the_worker_before_closing_the_vault(
        qtbot: Any, worker: Any, bridge: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ui.desktop.main import AppController
    calls: list[str] = []
    controller = AppController(tmp_path / "vault", bridge, worker)
    wizard = controller.show_first_run()
    qtbot.addWidget(wizard)

    class _Vault:
        def close(self) -> None:
            calls.append("close")

    class _Session:
        vault = _Vault()

    wizard.session = _Session()  # the vault was created on the owner page
    monkeypatch.setattr(worker, "wait", lambda *a: calls.append("wait") or True)
    monkeypatch.setattr(controller, "_login_cancelled", lambda: calls.append("quit"))
    wizard.reject()
    assert calls == ["wait", "close", "quit"]


def test_cancel_before_the_vault_exists_just_quits(
        qtbot: Any, worker: Any, bridge: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ui.desktop.main import AppController
    calls: list[str] = []
    controller = AppController(tmp_path / "vault", bridge, worker)
    wizard = controller.show_first_run()
    qtbot.addWidget(wizard)
    monkeypatch.setattr(controller, "_login_cancelled", lambda: calls.append("quit"))
    wizard.reject()
    assert calls == ["quit"]
