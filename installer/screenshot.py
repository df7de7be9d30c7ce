"""`make screenshot`: build a demo vault in a temporary folder, open the app on it and
save PNGs of the login dialog, the main window (queue, a shadow task, patients,
dashboard), the settings dialog and the lock screen.

Runs itself under Xvfb (`xvfb-run -a`, the xcb platform) when there is no display and
xvfb-run is installed; otherwise offscreen. Only the synthetic demo vault is shown.
Usage: python installer/screenshot.py OUT_DIR
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD_FLAG = "OFFHOLD_SCREENSHOT_CHILD"


def _reexec_under_xvfb(out: Path, script: str = __file__) -> int | None:
    """Re-run `script` OUT under xvfb-run when there is no display; None = carry on here."""
    if os.environ.get(CHILD_FLAG) or os.environ.get("DISPLAY"):
        return None
    if shutil.which("xvfb-run") is None:
        return None
    env = dict(os.environ, **{CHILD_FLAG: "1", "QT_QPA_PLATFORM": "xcb"})
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable,
           str(Path(script).resolve()), str(out)]
    return subprocess.call(cmd, env=env)


def settle(ms: int = 150) -> None:
    """Let the event loop run for `ms` (worker results, repaints) without a sleep."""
    from PySide6.QtCore import QEventLoop, QTimer
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def save_shot(out: Path, widget: Any, name: str, wait_ms: int = 150) -> Path:
    """Settle, then grab `widget` into out/name; says which file was written or failed."""
    settle(wait_ms)
    path = out / name
    pixmap = widget.grab()
    ok = pixmap.save(str(path))
    print(f"screenshot {path}" if ok else f"FAILED {path} ({pixmap.width()}x"
          f"{pixmap.height()})")
    return path


def _remittance_shots(window: Any, tmp: Path, save: Any, settle: Any) -> None:
    """Import a synthetic 835 (a paid line beside a denied one), open its claim and the
    letter of its denial task."""
    from datetime import date, timedelta
    from decimal import Decimal as D

    from app.x12.synth import SynthClaim, SynthLine, build_835
    paid = date.today() - timedelta(days=3)
    era = tmp / "shot.835"
    era.write_bytes(build_835([SynthClaim(
        "SHOT1", "1", "ZZYZXQUELL", "QUINTESSA", "ZQM4455667", paid - timedelta(days=20), [
            SynthLine("99213", D("150.00"), D("90.00"),
                      [("CO", "45", D("40.00")), ("PR", "3", D("20.00"))]),
            SynthLine("36415", D("25.00"), D("0.00"), [("CO", "50", D("25.00"))], ["N115"])],
        payer_claim_number="PCNSHOT1")], payer_name="Screenshot Health", payer_id="SHOT",
        trace="SHOT-T1", paid_on=paid))
    window.show_page("remittances")
    page = window.pages["remittances"]
    page.path.setText(str(era))
    page.import_file()
    for _ in range(100):
        settle(100)
        if any(r["trace_number"] == "SHOT-T1" for r in page.remits):
            break
    else:
        print(f"the 835 was not imported: {window.bridge.history[-1:]}")
        return
    page.list.setCurrentCell(next(i for i, r in enumerate(page.remits)
                                  if r["trace_number"] == "SHOT-T1"), 0)
    settle(400)
    page.claims.setCurrentCell(0, 0)
    settle(400)
    save(window, "remittance-claim.png")
    page.open_letter()
    settle(800)
    save(page.letter_dialog, "letter-preview.png")
    page.letter_dialog.reject()


def _charge_shots(window: Any, save: Any) -> None:
    """The biller's charge review pane: a units finding (each side with its units and
    provider) and an E/M outlier naming the rendering provider."""
    page = window.pages["queue"]
    window.show_page("queue")
    for flag in ("units", "em_outlier"):
        row = window.session.vault.query_one(
            "SELECT id FROM tasks WHERE kind = 'charge_review' AND natural_key LIKE ?",
            (f"%:{flag}:%",))
        if row is None:
            print(f"no charge_review {flag} task in the demo")
            continue
        page.open_item(int(row[0]))
        save(window, f"charge-{flag.replace('_', '-')}.png")


def _referral_shots(window: Any, save: Any) -> None:
    """The Referrals page with a late outbound referral's story, then the urgent letter's
    triage task (its checked summary, spans highlighted) and that referral's story."""
    from PySide6.QtWidgets import QPushButton
    if "referrals" not in window.specs:
        return
    window.show_page("referrals")
    page = window.pages["referrals"]
    late = next((n for n, r in enumerate(page.shown) if r["overdue"]), 0)
    page.table.setCurrentCell(late, 0)
    save(window, "referrals.png")
    row = window.session.vault.query_one(
        "SELECT id FROM tasks WHERE kind = 'referral_triage' AND json_extract(payload, "
        "'$.summary.asked') ORDER BY id LIMIT 1")
    if row is None:
        print("no referral_triage task with a model summary in the demo")
        return
    window.show_page("queue")
    queue_page = window.pages["queue"]
    queue_page.open_item(int(row[0]))
    save(window, "referral-triage-summary.png")
    queue_page.detail.findChild(QPushButton, "openReferral").click()
    save(window, "referral-story.png")


def _front_desk_shots(vault_dir: Path, bridge: Any, save: Any) -> None:
    """The front desk's home page (Today: visits in each state, the date navigator, a
    no-show), booking a visit, the patient form's time zone, and an OCR'd intake form
    with the selected field's box drawn on the scan. All names are synthetic."""
    import hashlib
    from datetime import timedelta

    from app import clock
    from app.domain.intake import IntakeFlag
    from app.identity import unlock
    from app.services import appointments, intake, patients, prior_auth
    from automations.demo import demo_user_for_role
    from automations.jobs.lock import SchedulerLock
    from automations.workflows.intake import import_intake
    from tests.fixtures.intake import pdfs
    from tests.unit.today_visits import make_visits
    from ui.desktop.mainwindow import MainWindow
    from ui.desktop.scheduler_host import SchedulerHost
    from ui.desktop.worker import Worker

    owner_entry, desk_entry = demo_user_for_role("owner"), demo_user_for_role("front_desk")
    owner = unlock(vault_dir, owner_entry["user"], owner_entry["password"])
    zone = prior_auth.practice_zone(owner)
    day = clock.now().astimezone(zone).date()
    make_visits(owner, patients.list_payers(owner)[0].name, day)
    yesterday = day - timedelta(days=1)
    walk_in = patients.add_patient(owner, "Wren", "Latecomb", "1988-02-14").id
    missed = appointments.add_appointment(owner, walk_in, f"{yesterday} 15:30",
                                          provider="Dr. Ames").id
    appointments.mark_no_show(owner, missed)
    appointments.add_appointment(owner, walk_in, f"{yesterday} 09:10", provider="Dr. Bell")
    scan = pdfs.image_only_pdf(["New Patient Form\nName: Latecomb, Wren\n"
                                "Date of Birth: 02/14/1988\nMember ID: WLX4471920\n"
                                "Allergies: NKDA\nMedications: Sertraline 50 mg\n"])
    read = import_intake(owner, scan, "scan.pdf", use_model=False).result
    # tesseract read this clean scan with confidence; for the picture, the same form as if
    # it had been unsure of the medication's name (a smudged fax), as it flags one
    drug = next(v for v in read.values if v.field == "medications")
    read.flags.append(IntakeFlag("ocr_low_confidence", f"OCR was unsure of '{drug.value}' "
                                 "in Medications; check it against the scan.", "medications",
                                 "warning", list(drug.spans), list(drug.boxes)))
    form_task, _ = intake.create_review(owner, read, data=scan, mime="application/pdf",
                                        natural_key="intake:screenshot:unsure",
                                        sha256=hashlib.sha256(b"unsure" + scan).hexdigest(),
                                        title="Intake form: check the scan")

    session = unlock(vault_dir, desk_entry["user"], desk_entry["password"])
    worker = Worker(bridge, synchronous=True)
    window = MainWindow(session, worker, bridge, vault_dir)
    window.resize(1500, 900)
    window.show()
    window.start()  # the front desk opens on Today
    # `offhold run` holds the vault's jobs (its lock, taken here): the status bar says so
    headless = SchedulerLock(vault_dir, "offhold run")
    headless.acquire()
    host = SchedulerHost(session.vault, worker, parent=window)
    window.show_scheduler(host)
    host.start()
    save(window, "today-front-desk.png")
    window.scheduler_button.click()
    save(window.scheduler_button.dialog, "scheduler-status.png")
    window.scheduler_button.dialog.reject()
    host.stop()
    headless.release()
    today_page = window.pages["today"]
    today_page.prev_button.click()  # the date navigator: yesterday, with its no-show
    save(window, "today-previous-day.png")
    today_page.go_to(day + timedelta(days=6))
    today_page.visit_action("new")
    picker = today_page.picker
    picker.search.setText("Latecomb")
    picker.run_search()
    save(picker, "today-new-visit-picker.png")
    picker.pick()
    save(today_page.form, "today-new-visit-form.png")
    today_page.form.reject()
    today_page.go_to(None)

    window.show_page("patients", walk_in)
    patients_page = window.pages["patients"]
    patients_page.edit_button.click()
    form = patients_page.form
    save(form, "patient-form-timezone-default.png")  # empty: the practice's zone
    form.timezone.setEditText("America/Chicago")
    save(form, "patient-form-timezone.png")
    form.timezone.setEditText("America/Chicgo")
    save(form, "patient-form-timezone-invalid.png")
    form.reject()

    window.show_page("queue", form_task.id)
    tab = window.pages["queue"].detail.tabs.currentWidget()
    tab.edits["member_id"].setFocus()
    tab.focus_field("member_id")
    save(window, "intake-scan-box.png")
    window.close()
    worker.wait()
    session.vault.close()
    owner.vault.close()


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "out/screenshots").resolve()
    out.mkdir(parents=True, exist_ok=True)
    code = _reexec_under_xvfb(out)
    if code is not None:
        return code
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtWidgets import QApplication, QWidget

    from app import queue
    from app.identity import unlock
    from automations.demo import build_demo, demo_user_for_role
    from ui.desktop.login import LoginDialog
    from ui.desktop.mainwindow import MainWindow
    from ui.desktop.messages import MessageBridge
    from ui.desktop.patients_page import PatientsPage
    from ui.desktop.queue_page import QueuePage
    from ui.desktop.style import apply_style, apply_stylesheet
    from ui.desktop.worker import Worker

    app = QApplication.instance() or QApplication(argv[:1])
    assert isinstance(app, QApplication)
    apply_style(app)

    def save(widget: QWidget, name: str) -> Path:
        return save_shot(out, widget, name)

    with tempfile.TemporaryDirectory(prefix="offhold-shot-") as tmp:
        vault_dir = Path(tmp) / "demo-vault"
        if os.environ.get("OFFHOLD_SCREENSHOT_QUICK"):  # base seed only (iterating on looks)
            from tests.gui.conftest import build_base_demo
            build_base_demo(vault_dir)
        else:
            build_demo(vault_dir)
        bridge = MessageBridge()
        worker = Worker(bridge, synchronous=True)  # deterministic pictures

        login = LoginDialog(vault_dir, worker, bridge, practice_label="Vault: demo-vault")
        login.user.setText("manny")
        login.show()
        save(login, "login.png")
        login.password.setText("not-the-password")
        login.attempt()
        save(login, "login-wrong-password.png")
        login.close()

        apply_stylesheet(app)  # as AppController.open_main does after a login
        entry = demo_user_for_role("office_manager")
        session = unlock(vault_dir, entry["user"], entry["password"])
        window = MainWindow(session, worker, bridge, vault_dir)
        window.resize(1500, 900)
        window.show()
        window.start()
        queue_page = cast(QueuePage, window.pages["queue"])
        queue_page.select_row(1)
        save(window, "main-queue.png")

        shadow = [t for t in queue_page.model.tasks if t.state.value == "shadow"]
        if shadow:
            queue_page.select_row(queue_page._proxy_row_of(shadow[0].id))
            save(window, "main-shadow-task.png")

        intake = [t for t in queue_page.model.tasks if t.kind == "intake_review"
                  and "source_kind" in (queue.get_task_unchecked(session, t.id).payload or {})]
        if intake:
            queue_page.select_row(queue_page._proxy_row_of(intake[0].id))
            save(window, "main-intake-review.png")

        if "pa_board" in window.specs:
            window.show_page("pa_board")
            save(window, "pa-board.png")

        first = queue_page.model.tasks[0]
        if first.patient_id is not None:
            window.show_page("patients", first.patient_id)
            cast(PatientsPage, window.pages["patients"]).run_search()
            save(window, "patients.png")
        window.show_page("dashboard")
        save(window, "dashboard.png")
        for key in ("outbox", "today"):
            if key in window.specs:
                window.show_page(key)
                save(window, f"{key}.png")
        _referral_shots(window, save)

        window.show_page("queue")
        window.open_settings()
        dialog = window.settings_dialog
        dialog.tabs.setCurrentIndex(1)
        save(dialog, "settings-modes.png")
        dialog.reject()

        window.lock("manual")
        save(window, "lock-screen.png")
        window.close()
        worker.wait()
        session.vault.close()

        _front_desk_shots(vault_dir, bridge, save)

        # The biller's remittance claim (adjustment groups) and a denial letter preview.
        biller = demo_user_for_role("biller")
        session = unlock(vault_dir, biller["user"], biller["password"])
        worker = Worker(bridge, synchronous=True)  # the first one stayed locked
        window = MainWindow(session, worker, bridge, vault_dir)
        window.resize(1500, 900)
        window.show()
        window.start()
        _remittance_shots(window, Path(tmp), save, settle)
        _charge_shots(window, save)
        window.close()
        worker.wait()
        session.vault.close()

        # a model whose self-test failed: the banner, and its status in Settings > Models
        from app.services import models as model_service
        from automations.workflows import models as model_flow
        owner_entry = demo_user_for_role("owner")
        owner = unlock(vault_dir, owner_entry["user"], owner_entry["password"])
        rec = model_flow.ensure_bundled(owner)
        model_service.record_health(owner, rec, model_flow.runtime_id(), "broken",
                                    "the test generation timed out after 0 tokens", 0.0)
        worker = Worker(bridge, synchronous=True)
        window = MainWindow(owner, worker, bridge, vault_dir)
        window.resize(1500, 900)
        window.show()
        window.start()
        save(window, "model-broken-banner.png")
        window.open_settings()
        dialog = window.settings_dialog
        titles = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
        dialog.tabs.setCurrentIndex(titles.index("Models"))
        dialog.resize(1300, 600)
        save(dialog, "settings-models-broken.png")
        dialog.reject()
        window.close()
        worker.wait()
        owner.vault.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
