"""GUI test fixtures: one demo vault built per session and copied per test, a message
bridge that records, a worker running jobs synchronously (the fake pool), and a main
window factory with a fake idle clock. Every test here is marked `gui`."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from automations.demo import DEMO_PRACTICE, DEMO_USERS, SEED

GUI_DIR = Path(__file__).parent


# The offscreen QPA plugin cannot resize native windows and says so when a top-level's
# minimum size changes; that is the test platform's limit, not an app warning. Nothing
# else is ignored: any other Qt warning fails the test (qt_log_level_fail = WARNING).
OFFSCREEN_ONLY = r"^This plugin does not support propagateSizeHints\(\)$"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if GUI_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.gui)
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_ONLY))


def build_base_demo(directory: Path) -> None:
    """A demo vault (flagged demo, the demo users) with the full demo's quick seeds: payers,
    30 patients and appointments, then real workflows over them: the intake forms on the
    deterministic path, the watched-folder import, schedule recovery, care gaps, and
    charge capture, whose tasks stay in shadow mode (the shadow-mode tests need some).
    Every task comes from a workflow, as in the full `build_demo`. Left out: the seeds
    that start Chromium (s45) or call the model (s50's outreach, s85), the outbox (s90),
    and the ones whose records other tests count on being absent: the PAs (s40, s42; the
    PA board's test has the only one) and the claims (s60; the practice figures count
    their own). Tests that need PA escalations or denials run `add_pa_escalations` or
    `import_denials` first."""
    import random

    from app.identity import Session, init_vault
    from app.services import users
    from automations.seeds import (s10_practice, s50_intake_outreach, s65_watched_folder,
                                   s70_schedule_recovery, s72_care_gaps, s80_charges)
    owner = DEMO_USERS[0]
    session, _ = init_vault(directory, DEMO_PRACTICE, owner["user"], owner["password"],
                            demo=True)
    try:
        for entry in DEMO_USERS[1:]:
            users.add_user(session, entry["user"], entry["password"], entry["roles"])
        rng = random.Random(SEED)
        s10_practice.seed(session, rng)
        s50_intake_outreach.import_intake_forms(Session.system(session.vault, "demo-seed"))
        for module in (s65_watched_folder, s70_schedule_recovery, s72_care_gaps):
            module.seed(session, rng)
        s80_charges.seed(session, random.Random(SEED))
    finally:
        session.vault.close()


def add_pa_escalations(session: Any) -> None:
    """The demo's overdue expedited PA and the PA time rules over it (seed s42): two
    pa_escalation tasks, a stall and a missed decision deadline."""
    import random

    from automations.seeds import s42_pa_time_rules
    s42_pa_time_rules.seed(session, random.Random(SEED))


def import_denials(session: Any) -> None:
    """Two denied claims of a demo patient through the real 835 workflow (the base demo
    leaves the revenue seed out; tests that need denial work bring their own)."""
    from datetime import date, timedelta
    from decimal import Decimal

    from app.x12.synth import SynthClaim, SynthLine, build_835
    from automations.workflows import denials
    first, last, member_id = session.vault.query_one(
        "SELECT p.first_name, p.last_name, c.member_id FROM patients p JOIN coverages c ON "
        "c.patient_id = p.id JOIN payers y ON y.id = c.payer_id WHERE y.name = "
        "'Northwind National Health' ORDER BY p.id LIMIT 1")
    paid = date.today() - timedelta(days=3)
    claims = [SynthClaim(number, "4", last.upper(), first.upper(), member_id,
                         paid - timedelta(days=30),
                         [SynthLine(code, Decimal(charge), Decimal("0.00"),
                                    [("CO", carc, Decimal(charge))], remarks)],
                         payer_claim_number=f"NW{number}")
              for number, code, charge, carc, remarks in [
                  ("GUI1", "99214", "210.00", "16", ["N290"]),
                  ("GUI2", "93000", "60.00", "50", ["N115"])]]
    denials.import_835_file(session, build_835(claims, payer_name="Northwind National Health",
                                               payer_id="NORTHW", trace="GUI-T1",
                                               paid_on=paid))


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo-template") / "vault"
    build_base_demo(directory)
    return directory


@pytest.fixture
def demo_vault(demo_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "demo-vault"
    shutil.copytree(demo_template, target)
    return target


def password_of(user: str) -> str:
    return next(str(u["password"]) for u in DEMO_USERS if u["user"] == user)


@pytest.fixture
def login_as(demo_vault: Path) -> Iterator[Callable[[str], Any]]:
    from app.identity import unlock
    opened: list[Any] = []

    def _login(user: str) -> Any:
        session = unlock(demo_vault, user, password_of(user))
        opened.append(session)
        return session

    yield _login
    for session in opened:
        session.vault.close()


@pytest.fixture
def bridge(qapp: Any) -> Iterator[Any]:
    from ui.desktop.messages import MessageBridge
    b = MessageBridge()
    b.crash_handler = lambda report: None  # recorded in b.crashes; no dialog in tests
    yield b
    assert not b.crashes, f"unexpected crash reports: {b.crashes}"


@pytest.fixture
def worker(bridge: Any) -> Iterator[Any]:
    from ui.desktop.worker import Worker
    w = Worker(bridge, synchronous=True)
    yield w
    w.shutdown()


@pytest.fixture(autouse=True)
def _workers_stopped(qapp: Any) -> Iterator[None]:
    """Whatever a test did (failed, timed out with a job still running), no result of its
    workers is delivered into the next test: each one left is shut down, its
    undelivered results dropped."""
    yield
    from ui.desktop.worker import Worker
    for w in list(Worker.instances):
        w.shutdown(5000)


class FakeClock:
    """Monotonic seconds under the test's control (for the idle lock)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def open_window(qtbot: Any, login_as: Callable[[str], Any], worker: Any, bridge: Any,
                demo_vault: Path, fake_clock: FakeClock) -> Iterator[Callable[..., Any]]:
    from ui.desktop.mainwindow import MainWindow
    windows: list[Any] = []

    def _open(user: str = "manny", **kwargs: Any) -> Any:
        session = login_as(user)
        window = MainWindow(session, worker, bridge, demo_vault, idle_clock=fake_clock,
                            **kwargs)
        qtbot.addWidget(window)
        window.resize(1400, 850)
        window.show()
        with qtbot.waitActive(window):  # shortcuts need the active window
            window.activateWindow()
        window.start()
        windows.append(window)
        return window

    yield _open
    for window in windows:
        window.idle.detach()
        window.notifications.stop()


def visible_texts(root: Any = None) -> list[str]:
    """Every piece of text a person could see: labels, fields, buttons, window titles,
    combo items and every cell of every visible item view."""
    from PySide6.QtCore import QModelIndex, Qt
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractItemView,
        QApplication,
        QComboBox,
        QLabel,
        QLineEdit,
        QPlainTextEdit,
        QTextEdit,
    )
    texts: list[str] = []

    def walk_model(model: Any, parent: Any = QModelIndex()) -> None:
        try:
            columns = max(1, model.columnCount(parent))
        except TypeError:  # list models keep columnCount private
            columns = 1
        for row in range(model.rowCount(parent)):
            for col in range(columns):
                index = model.index(row, col, parent)
                for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                    value = index.data(role)
                    if value is not None:
                        texts.append(str(value))
                if col == 0 and columns > 1 and model.rowCount(index):
                    walk_model(model, index)

    for widget in QApplication.allWidgets():
        if not widget.isVisible():
            continue
        texts.append(widget.windowTitle())
        texts.append(widget.toolTip())
        if isinstance(widget, QLabel):
            texts.append(widget.text())
        elif isinstance(widget, QLineEdit):
            texts.append(widget.text())
            texts.append(widget.placeholderText())
        elif isinstance(widget, QAbstractButton):
            texts.append(widget.text())
        elif isinstance(widget, (QPlainTextEdit, QTextEdit)):
            texts.append(widget.toPlainText())
        elif isinstance(widget, QComboBox):
            texts.extend(widget.itemText(i) for i in range(widget.count()))
        if isinstance(widget, QAbstractItemView) and widget.model() is not None:
            walk_model(widget.model())
    return [t for t in texts if t]


def settings_tab(window: Any, title: str) -> Any:
    """Open the window's settings dialog on the tab with this title; returns the tab."""
    window.open_settings()
    dialog = window.settings_dialog
    titles = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    dialog.tabs.setCurrentIndex(titles.index(title))
    return dialog.tabs.currentWidget()
