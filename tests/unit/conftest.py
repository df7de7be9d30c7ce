"""Pure-logic tests: no Qt. `make test` runs this folder with the Qt plugin disabled and
fails if anything imported the Qt binding."""

from __future__ import annotations

import sys

import pytest


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if session.config.pluginmanager.has_plugin("pytest-qt"):
        return  # a combined run (e.g. an IDE) loads Qt through the plugin itself
    leaked = sorted(m for m in sys.modules if m.startswith(("PySide6", "shiboken6")))
    if leaked:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nQt was imported by a pure-logic test: {leaked[:5]}", file=sys.stderr)
