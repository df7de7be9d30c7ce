"""A new practice from no vault to its first PA check, in the desktop only (issue 12): the
first-run wizard (with TOTP and the recovery key PDF), a payer the practice added itself
linked to its own recipe file, the portal log-in in Settings, a patient with coverage, a PA,
Check now against the sandbox portal with real Chromium, and the task that results.
No CLI, no seed in the vault."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest

from app.domain.pa import PAStatus
from app.services import patients, prior_auth
from automations.sandbox_portal import (RECIPE_PORTALS, SANDBOX_ACCOUNTS, PaSeedRecord,
                                        SandboxPortal, build_seed)
from tests.e2e.test_first_run_cli import own_recipe
from tests.gui.conftest import OFFSCREEN_ONLY, settings_tab

pytestmark = [pytest.mark.e2e, pytest.mark.gui, pytest.mark.qt_log_ignore(OFFSCREEN_ONLY)]

TODAY = date.today()
MEMBER, REF = "PM7100001", "PRM-4401"
PASSWORD = "maple-street-owner-pass"


@pytest.fixture
def sandbox() -> Iterator[SandboxPortal]:
    seed = build_seed([PaSeedRecord(MEMBER, REF, "bluestem_medicaid",
                                    TODAY - timedelta(days=6), "approved", 3, units=12,
                                    service_code="97110")])
    with SandboxPortal(seed) as portal:
        yield portal


@pytest.fixture
def desk(qapp: Any) -> Iterator[tuple[Any, Any]]:
    from ui.desktop.messages import MessageBridge
    from ui.desktop.worker import Worker
    bridge = MessageBridge()
    bridge.crash_handler = lambda report: None
    worker = Worker(bridge, synchronous=True)
    yield bridge, worker
    worker.shutdown()
    assert not bridge.crashes, bridge.crashes


def _walk_wizard(qtbot: Any, wizard: Any, tmp_path: Path) -> Any:
    from ui.desktop.first_run import P_MODES, P_OWNER, P_PAYERS, P_RECOVERY, P_TOTP
    done: list[Any] = []
    wizard.completed.connect(done.append)
    practice = wizard.practice_page
    assert not practice.isComplete()
    practice.edits["name"].setText("Prairie Family Clinic")
    practice.zone.setCurrentText("America/Chicago")
    practice.edits["npi"].setText("1234567890")
    assert not practice.isComplete() and "npi" in practice.problems.text()
    practice.edits["npi"].setText("1234567893")
    practice.edits["tin"].setText("12-3456789")
    practice.edits["address"].setText("4 Prairie Rd | Peoria, IL 61602")
    practice.edits["phone"].setText("(309) 555-0100")
    assert practice.isComplete()
    wizard.next()
    assert wizard.currentId() == P_OWNER
    owner = wizard.owner_page
    owner.user.setText("maria")
    owner.password.setText("short")
    assert owner.strength.text() == "weak" and not owner.isComplete()
    owner.password.setText(PASSWORD)
    owner.confirm.setText(PASSWORD)
    owner.totp.setChecked(True)
    assert owner.isComplete() and owner.strength.text() == "strong"
    wizard.next()  # creates the vault on the worker, then moves on
    qtbot.waitUntil(lambda: wizard.currentId() == P_TOTP, timeout=10000)
    totp = wizard.totp_page
    qtbot.waitUntil(lambda: bool(totp.uri), timeout=5000)
    assert not totp.qr.pixmap().isNull()
    totp.code.setText("12345")
    assert not totp.isComplete()
    totp.code.setText(pyotp.parse_uri(totp.uri).now())
    assert totp.isComplete()
    wizard.next()
    assert wizard.currentId() == P_RECOVERY
    recovery = wizard.recovery_page
    assert recovery.key.text() == wizard.recovery and not recovery.isComplete()
    pdf = tmp_path / "recovery-key.pdf"
    recovery.choose_pdf_path = lambda: str(pdf)
    recovery.pdf_button.click()
    assert pdf.read_bytes().startswith(b"%PDF")
    recovery.stored.setChecked(True)
    wizard.next()  # keyring: left off
    assert not wizard.keyring_page.use.isChecked()
    wizard.next()  # model: the bundled default
    wizard.next()
    assert wizard.currentId() == P_PAYERS
    payers = wizard.payers_page
    payers.name.setText("Prairie State Medicaid")
    payers.plan.setCurrentText("medicaid")
    payers.choose_recipe_file = lambda: str(own_recipe(tmp_path))
    payers.recipe_file.click()
    payers.add.click()
    assert payers.table.rowCount() == 1
    wizard.next()
    assert wizard.currentId() == P_MODES
    wizard.next()  # Finish: applies the choices on the worker
    qtbot.waitUntil(lambda: bool(done), timeout=10000)
    return done[0]


def test_new_practice_from_no_vault_to_its_first_pa_check(
        qtbot: Any, desk: tuple[Any, Any], sandbox: SandboxPortal, tmp_path: Path) -> None:
    from ui.desktop.first_run import FirstRunWizard
    from ui.desktop.mainwindow import MainWindow
    bridge, worker = desk
    vault_dir = tmp_path / "vault"
    wizard = FirstRunWizard(vault_dir, worker, bridge)
    qtbot.addWidget(wizard)
    wizard.show()
    session = _walk_wizard(qtbot, wizard, tmp_path)
    try:
        payer = patients.find_payer(session, "Prairie State Medicaid")
        assert payer.portal_recipe == "prairie_medicaid" and not payer.portal_enabled

        window = MainWindow(session, worker, bridge, vault_dir, idle_clock=lambda: 1000.0)
        qtbot.addWidget(window)
        window.show()
        window.start()
        # the portal log-in, then the switch (Settings -> Portals)
        tab = settings_tab(window, "Portals")
        row = next(i for i, a in enumerate(tab.accounts) if a.payer_name == payer.name)
        tab.table.setCurrentCell(row, 0)
        account = SANDBOX_ACCOUNTS[RECIPE_PORTALS["bluestem_medicaid"][0]]
        tab.url.setText(sandbox.portal_url("bluestem_medicaid"))
        tab.username.setText(account["username"])
        tab.password.setText(account["password"])
        tab.save_button.click()
        tab.table.setCurrentCell(row, 0)
        tab.toggle_button.click()
        window.settings_dialog.close()
        assert patients.find_payer(session, payer.name).portal_enabled

        # a patient with coverage
        window.show_page("patients")
        page = window.pages["patients"]
        page.new_button.click()
        form = page.form
        form.fields["first_name"].setText("Wilhelmina")
        form.fields["last_name"].setText("Quarterfield")
        form.fields["dob"].setText("1958-09-21")
        form.primary.payer.setCurrentText(payer.name)
        form.primary.member_id.setText(MEMBER)
        assert form.save_button.isEnabled()
        form.save_button.click()
        patient = patients.list_patients(session, "Quarterfield")[0]
        assert page.current_patient_id == patient.id

        # the PA, from the patient's page
        page.pa_button.click()
        pa_form = page.form
        pa_form.set_line(0, "code", "97110")
        pa_form.set_line(0, "units", "12")
        pa_form.edits["service_date"].setText((TODAY + timedelta(days=20)).isoformat())
        pa_form.edits["payer_ref"].setText(REF)
        pa_form.save_button.click()
        pa = next(p for p in prior_auth.list_prior_auths(session) if p.payer_ref == REF)
        assert pa.status is PAStatus.SUBMITTED

        # Check now on the PA board: real Chromium, the practice's own recipe
        window.show_page("pa_board")
        board = window.pages["pa_board"]
        board.check_button.click()
        qtbot.waitUntil(lambda: board.last_summary is not None, timeout=120000)
        assert board.last_summary.failures == 0, board.last_summary.to_json()
        checked = prior_auth.get_prior_auth(session, pa.id)
        assert checked.status is PAStatus.APPROVED
        assert checked.history[-1].source == "portal:prairie_medicaid"
        task = session.vault.query_one(
            "SELECT id, kind, state FROM tasks WHERE subject_type = 'prior_auth' AND "
            "subject_id = ? ORDER BY id DESC", (str(pa.id),))
        assert task is not None and task[2] == "shadow"  # every kind starts in shadow
        window.show_page("queue", task[0])
        assert window.current_page() is window.pages["queue"]
        window.idle.detach()
        window.notifications.stop()
    finally:
        worker.wait()
        session.vault.close()
