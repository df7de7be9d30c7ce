"""Shared fixtures. Vaults live in pytest's tmp dirs; keyring uses an in-memory backend."""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

OWNER_PASSWORD = "owner-password-1"


class MemoryKeyring(KeyringBackend):
    """An in-memory keyring for tests (never a plaintext file keyring)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def vault_dir(tmp_path: Path) -> Path:
    return tmp_path / "vault"


@pytest.fixture
def owner_session(vault_dir: Path):  # type: ignore[no-untyped-def]
    from app.identity import init_vault
    session, _recovery = init_vault(vault_dir, "Test Practice", "owner", OWNER_PASSWORD)
    yield session
    session.vault.close()


@pytest.fixture
def practice(owner_session):  # type: ignore[no-untyped-def]
    """An owner session with one payer and one patient (last name 'Zzyzxquell')."""
    from app.services import patients
    patients.add_payer(owner_session, "Acme Health", "commercial", decision_days_standard=15,
                       appeal_window_days=180, timely_filing_days=90)
    patients.add_payer(owner_session, "Summit MA", "medicare_advantage")
    patients.add_patient(owner_session, "Quintessa", "Zzyzxquell", "1975-04-12",
                         member_id="ZQM4455667", payer="Acme Health")
    return owner_session


@pytest.fixture(autouse=True, scope="session")
def wired_effects() -> Any:
    """Tests run the production effects, wired by the same composition root as every face."""
    from automations.wiring import wire
    return wire()


@pytest.fixture
def replace_effects(wired_effects: Any) -> Iterator[Callable[..., None]]:
    """Replace some kinds' effects for one test: replace_effects(kind=KindEffect(...))."""
    from app.queue import effects

    def replace(**changes: Any) -> None:
        effects.install(wired_effects.replace(**changes))

    yield replace
    effects.install(wired_effects)


@pytest.fixture(autouse=True)
def _restore_clock() -> Iterator[None]:
    yield
    from app import clock
    clock.set_clock(None)


def files_containing(root: Path, needle: bytes) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            try:
                if needle in path.read_bytes():
                    hits.append(path)
            except OSError:
                continue
    return hits


@pytest.fixture
def private_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point TMPDIR at a private dir so leak tests can search what the app wrote there."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # Pure-logic runs disable pytest-qt (-p no:pytest-qt); its ini keys are declared here
    # then, so --strict-config still refuses every key nobody declared.
    if pluginmanager.is_blocked("pytest-qt"):
        parser.addini("qt_api", "pytest-qt's binding (unused without the plugin)")
        parser.addini("qt_log_level_fail", "pytest-qt's log level (unused without the plugin)")


class _WarningRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """An unexpected WARNING (or worse) log record fails the test, as qutebrowser's logfail
    does. A test expecting some says so with @pytest.mark.expected_logs("regex", ...) (a
    record is expected when a pattern matches "LEVEL logger: message"), or asks for
    `caplog` and asserts on what it holds."""
    handler = _WarningRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        result = yield
    finally:
        root.removeHandler(handler)
    if "caplog" in getattr(item, "fixturenames", ()):
        return result
    patterns = [re.compile(p) for m in item.iter_markers("expected_logs") for p in m.args]
    lines = [f"{r.levelname} {r.name}: {r.getMessage()}" for r in handler.records]
    unexpected = [line for line in lines if not any(p.search(line) for p in patterns)]
    if unexpected:
        pytest.fail("unexpected log records (mark the test expected_logs, or use caplog):\n"
                    + "\n".join(unexpected[:5]), pytrace=False)
    return result


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No test (nor the code it drove) loaded llama.cpp into the test process: the model
    runs only in its worker process, so a native crash can never end the test run."""
    if "llama_cpp" in sys.modules:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print("\nllama_cpp was imported into the test process; models run only in the "
              "worker (local_models.worker)", file=sys.stderr)
