"""The import tests' way into the CLI: the owner's vault, closed by the test's session so
the command opens it as a person would."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.identity import Session
from tests.conftest import OWNER_PASSWORD


def use_cli(owner_session: Session, vault_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    owner_session.vault.close()
    monkeypatch.setenv("OFFHOLD_VAULT", str(vault_dir))
    monkeypatch.setenv("OFFHOLD_USER", "owner")
    monkeypatch.setenv("OFFHOLD_PASSWORD", OWNER_PASSWORD)
