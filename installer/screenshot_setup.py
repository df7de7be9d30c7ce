"""Screenshots of a new practice's first steps: the first-run wizard's pages, the patient
form (checking as the person types, with a look-alike warning) and the Today view with a
visit of each state. Synthetic data only, in a temporary folder.

Runs under Xvfb like installer/screenshot.py. Usage: python installer/screenshot_setup.py OUT
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "installer"))

# after the path set-up
from screenshot import _reexec_under_xvfb, save_shot, settle  # noqa: E402


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "out/screenshots").resolve()
    out.mkdir(parents=True, exist_ok=True)
    code = _reexec_under_xvfb(out, __file__)
    if code is not None:
        return code
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtWidgets import QApplication, QWidget

    from app import clock
    from app.identity import unlock
    from app.services import patients, prior_auth
    from automations.portal import builtin_recipes_dir
    from automations.wiring import wire
    from tests.gui.conftest import build_base_demo
    from tests.unit.today_visits import make_visits
    from ui.desktop.first_run import FirstRunWizard
    from ui.desktop.mainwindow import MainWindow
    from ui.desktop.messages import MessageBridge
    from ui.desktop.style import apply_style, apply_stylesheet
    from ui.desktop.worker import Worker

    wire()
    app = QApplication.instance() or QApplication(argv[:1])
    assert isinstance(app, QApplication)
    apply_style(app)
    apply_stylesheet(app)

    def save(widget: QWidget, name: str) -> None:
        save_shot(out, widget, name, wait_ms=200)

    bridge = MessageBridge()
    worker = Worker(bridge, synchronous=True)
    with tempfile.TemporaryDirectory(prefix="offhold-shot-") as tmp:
        # the wizard, page by page
        wizard = FirstRunWizard(Path(tmp) / "new-vault", worker, bridge)
        wizard.show()
        practice = wizard.practice_page
        save(wizard, "wizard-1-practice-empty.png")
        for key, value in (("name", "Prairie Family Clinic"), ("npi", "1234567890"),
                           ("tin", "12-3456789"), ("address", "4 Prairie Rd | Peoria, IL"),
                           ("phone", "(309) 555-0100")):
            practice.edits[key].setText(value)
        practice.zone.setCurrentText("America/Chicago")
        save(wizard, "wizard-1-practice-bad-npi.png")
        practice.edits["npi"].setText("1234567893")
        wizard.next()
        owner = wizard.owner_page
        owner.user.setText("maria")
        owner.password.setText("maple-street-owner-pass")
        owner.confirm.setText("maple-street-owner-pass")
        owner.totp.setChecked(True)
        save(wizard, "wizard-2-owner.png")
        wizard.next()
        settle(600)
        save(wizard, "wizard-3-totp.png")
        import pyotp
        wizard.totp_page.code.setText(pyotp.parse_uri(wizard.totp_page.uri).now())
        wizard.next()
        save(wizard, "wizard-4-recovery-key.png")
        wizard.recovery_page.stored.setChecked(True)
        wizard.next()
        save(wizard, "wizard-5-keyring.png")
        wizard.next()
        save(wizard, "wizard-6-model.png")
        wizard.next()
        payers = wizard.payers_page
        settle(200)
        payers.name.setText("Prairie State Medicaid")
        payers.plan.setCurrentText("medicaid")
        own = Path(tmp) / "prairie_medicaid.yaml"
        own.write_text((builtin_recipes_dir() / "bluestem_medicaid.yaml").read_text()
                       .replace("name: bluestem_medicaid", "name: prairie_medicaid"))
        payers.choose_recipe_file = lambda: str(own)  # type: ignore[method-assign]
        payers.recipe_file.click()
        payers.add.click()
        payers.name.setText("Heartland Commercial")
        payers.days.setText("15")
        save(wizard, "wizard-7-payers.png")
        wizard.next()
        save(wizard, "wizard-8-modes.png")
        wizard.close()
        if wizard.session is not None:
            wizard.session.vault.close()

        # the patient form and Today, on the base demo vault
        vault_dir = Path(tmp) / "demo-vault"
        build_base_demo(vault_dir)
        owner_session = unlock(vault_dir, "olivia", "demo-owner-pass")
        day = clock.now().astimezone(prior_auth.practice_zone(owner_session)).date()
        make_visits(owner_session, patients.list_payers(owner_session)[0].name, day)
        owner_session.vault.close()
        session = unlock(vault_dir, "frida", "demo-frontdesk-pass")
        window = MainWindow(session, worker, bridge, vault_dir)
        window.resize(1500, 900)
        window.show()
        window.start()
        window.show_page("today")
        save(window, "today.png")
        window.show_page("patients")
        page = window.pages["patients"]
        page.new_button.click()
        form = page.form
        existing = patients.list_patients(session)[0]
        form.fields["first_name"].setText(existing.first_name)
        form.fields["last_name"].setText(existing.last_name)
        form.fields["dob"].setText((existing.dob + timedelta(days=3)).isoformat())
        form.fields["phone"].setText("555-01")
        form.primary.payer.setCurrentIndex(1)
        settle(700)  # the look-alike search runs after a pause in typing
        save(form, "patient-form-new.png")
        form.fields["phone"].setText("(555) 010-0142")
        form.primary.member_id.setText("NEW-4410")
        form.coverage_tabs.setCurrentIndex(1)
        form.secondary.payer.setCurrentIndex(2)
        form.secondary.relationship.setCurrentText("spouse")
        save(form, "patient-form-secondary.png")
        form.reject()
        window.close()
        worker.wait()
        session.vault.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
