"""Notifications (banner fallback when there is no tray), the settings dialog, the
patient page (an audited view), the dashboard, and `--autologin` on demo vaults only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSystemTrayIcon

from app import queue
from app.domain import ActionMode
from app.services import practice
from tests.gui.conftest import add_pa_escalations


def test_escalation_notifies_through_the_banner(qtbot: Any, open_window: Any) -> None:
    from app.identity import Role, Session
    window = open_window("manny")
    assert not QSystemTrayIcon.isSystemTrayAvailable()  # offscreen: the banner is the way
    # Frida escalates on the same open vault (one connection per vault, as in the app).
    frida = Session(window.session.vault, "frida", frozenset({Role.FRONT_DESK}))
    task = queue.list_tasks(frida, queue.QueueFilter(kinds=("intake_review",)))[0]
    queue.escalate(frida, task.id, note="needs a manager")
    window.notifications.poll()
    assert window.banner.isVisible()
    assert f"Task {task.id} (intake_review) was escalated to you" in window.banner_text.text()
    assert window.notify_button.text() == "Notifications (1)"
    qtbot.mouseClick(window.banner_open, Qt.MouseButton.LeftButton)
    page = window.pages["queue"]
    assert page.current_task_id() == task.id and not window.banner.isVisible()
    window.notifications.mark_all_read()
    assert queue.unread_notifications(window.session) == []
    assert window.notify_button.text() == "Notifications (0)"


def test_settings_dialog_for_the_owner(qtbot: Any, open_window: Any) -> None:
    window = open_window("olivia")
    window.open_settings()
    dialog = window.settings_dialog
    tabs = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    assert tabs[:3] == ["Practice", "Action modes", "Users"]
    assert dialog.users_table is not None and dialog.users_table.rowCount() == 4
    box = dialog.mode_boxes["charge_review"]
    automatic = box.model().item(2)
    assert not automatic.isEnabled()  # billing codes: never automatic
    assert dialog.modes_table.item(0, 2) is not None  # trust figures beside each mode
    box.setCurrentIndex(1)
    assert queue.get_mode(window.session, "charge_review") is ActionMode.APPROVE_EACH
    assert window.session.vault.query_one(
        "SELECT count(*) FROM audit_log WHERE action = 'mode.set' AND object_id = "
        "'charge_review'")[0] == 1
    dialog.auto_lock.setValue(3)
    qtbot.mouseClick(dialog.save_lock, Qt.MouseButton.LeftButton)
    assert practice.get_setting(window.session, "auto_lock_minutes") == 3
    assert window.idle.limit_seconds == 180


def test_settings_dialog_for_the_front_desk(qtbot: Any, open_window: Any) -> None:
    window = open_window("frida")
    window.open_settings()
    dialog = window.settings_dialog
    tabs = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    assert "Users" not in tabs
    assert not dialog.auto_lock.isEnabled() and not dialog.save_lock.isEnabled()
    assert not any(b.isEnabled() for b in dialog.mode_boxes.values())


def test_patient_search_and_page_is_an_audited_view(qtbot: Any, open_window: Any) -> None:
    window = open_window("frida")
    window.show_page("patients")
    page = window.pages["patients"]
    qtbot.keyClicks(page.search, "Pemberton")
    qtbot.keyClick(page.search, Qt.Key.Key_Return)
    assert page.results_model.rowCount() == 1
    page.results.setCurrentIndex(page.results_model.index(0))
    patient_id = page.current_patient_id
    assert patient_id is not None and page.header.text() == "Pemberton, Casey"
    assert page.coverage.rowCount() == 1
    views = window.session.vault.query(
        "SELECT actor FROM audit_log WHERE action = 'patient.view' AND patient_id = ?",
        (patient_id,))
    assert views == [("frida",)]
    open_tasks = page.task_model.tasks
    if open_tasks:  # double-click a task: the queue opens on it
        page._open_task(page.task_model.index(0, 0))
        assert window.pages["queue"].current_task_id() == open_tasks[0].id


def test_dashboard_shows_trust_figures_and_counts(qtbot: Any, open_window: Any) -> None:
    window = open_window("manny")
    page = window.pages["queue"]
    page.table.setFocus()
    qtbot.keyClick(page.table, Qt.Key.Key_A)
    window.show_page("dashboard")
    dash = window.pages["dashboard"]
    assert dash.data is not None
    decided = {k: t.decided for k, t in dash.data.trust.items() if t.decided}
    assert sum(decided.values()) == 1
    assert dash.trust_chart.chart().series()[0].count() == 2  # approval and edit rates
    assert dash.table.rowCount() == len(dash.data.counts)


def test_autologin_is_refused_on_a_real_vault(owner_session: Any, vault_dir: Path,
                                              capsys: Any) -> None:
    from ui.cli import main
    code = main(["gui", "--vault", str(vault_dir), "--autologin", "owner"])
    assert code == 1
    assert "--autologin works on demo vaults only" in capsys.readouterr().err


def test_autologin_opens_the_demo_as_that_role(qtbot: Any, demo_vault: Path, worker: Any,
                                               bridge: Any) -> None:
    from automations.demo import demo_user_for_role
    from ui.desktop.main import AppController
    controller = AppController(demo_vault, bridge, worker)
    entry = demo_user_for_role("biller")
    dialog = controller.show_login(entry["user"], entry["password"])
    qtbot.addWidget(dialog)
    window = controller.window
    assert window is not None
    qtbot.addWidget(window)
    assert window.session.username == "billie"
    window.logout()
    assert controller.session is None and controller.login is not None
    qtbot.addWidget(controller.login)
    controller.login.close()


def test_evidence_image_is_shown_from_memory(qtbot: Any, open_window: Any, private_tmp: Path,
                                             demo_vault: Path) -> None:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QColor, QImage

    from app.identity import Session
    from tests.conftest import files_containing
    image = QImage(64, 40, QImage.Format.Format_RGB32)
    image.fill(QColor("#3d6aa8"))
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    png = bytes(data.data())
    window = open_window("manny")
    system = Session.system(window.session.vault, "portal-bot")
    task, _ = queue.create_task(system, "pa_followup", "test:image", "PA portal screenshot",
                                draft="Status: pending review.",
                                evidence=[queue.NewEvidence("Portal page", excerpt="Pending",
                                                            blob=png, mime="image/png")])
    page = window.pages["queue"]
    page.open_item(task.id)
    assert page.current_task_id() == task.id
    labels = page.detail.image_labels()
    assert len(labels) == 1
    pixmap = labels[0].pixmap()
    assert not pixmap.isNull() and (pixmap.width(), pixmap.height()) == (64, 40)
    assert files_containing(private_tmp, png[:16]) == []
    assert files_containing(demo_vault, png[:16]) == []  # only encrypted in the vault


def test_run_gui_autologin_end_to_end(qtbot: Any, demo_vault: Path) -> None:
    """`offhold gui --autologin front_desk` on a demo vault: the real event loop, the real
    pool; the main window opens as frida on Today (the front desk's home page), loaded,
    and the app quits cleanly."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ui.desktop.main import run_gui
    from ui.desktop.mainwindow import MainWindow
    seen: dict[str, Any] = {}
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(QApplication.quit)  # never hang the suite
    poll = QTimer()

    def check() -> None:
        windows = [w for w in QApplication.topLevelWidgets()
                   if isinstance(w, MainWindow) and w.isVisible()]
        today = windows[0].pages.get("today") if windows else None
        if today is not None and today.summary.text():  # its visits have arrived
            seen["user"] = windows[0].session.username
            seen["page"] = windows[0].current_page()
            seen["today"] = today
            seen["rows"] = today.model.rowCount()
            poll.stop()
            windows[0].close()

    poll.timeout.connect(check)
    poll.start(50)
    deadline.start(20000)
    try:
        code = run_gui(demo_vault, autologin_role="front_desk")
    finally:
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        app.setStyleSheet("")  # later tests run with Qt's defaults again
    poll.stop()
    deadline.stop()
    assert code == 0
    assert seen.get("user") == "frida" and seen["page"] is seen["today"] and seen["rows"] > 0


def test_sidebar_counts_are_live(qtbot: Any, open_window: Any) -> None:
    from app.identity import Session
    window = open_window("manny", counts_interval_ms=30)
    page = window.pages["queue"]
    before = page.sidebar_model.count_for("outreach")
    system = Session.system(window.session.vault, "outreach-bot")
    queue.create_task(system, "outreach", "test:live-count", "No-show follow-up",
                      draft="We missed you today.")
    qtbot.waitUntil(lambda: page.sidebar_model.count_for("outreach") == before + 1,
                    timeout=3000)
    assert page.sidebar_model.index(0).data().startswith("All my work")


def test_crash_dialog_holds_no_phi(qtbot: Any) -> None:
    from PySide6.QtWidgets import QApplication, QMessageBox

    from ui.desktop.main import show_crash
    from ui.desktop.messages import crash_report
    try:
        raise RuntimeError("Zzyzxquell, Quintessa, member ZQM4455667")
    except RuntimeError as exc:
        report = crash_report(exc)
    show_crash(report)
    boxes = [w for w in QApplication.topLevelWidgets()
             if isinstance(w, QMessageBox) and w.isVisible()]
    assert len(boxes) == 1
    box = boxes[0]
    text = box.text() + box.detailedText()
    assert "RuntimeError" in text and "test_crash_dialog_holds_no_phi" in text
    assert "Zzyzxquell" not in text and "ZQM4455667" not in text
    box.close()


def test_every_declared_extension_loads() -> None:
    """Pages, settings tabs and detail tabs are declared as data; each one imports (an
    import error is a bug that surfaces here, never a silently missing page)."""
    from app.queue.kinds import KINDS
    from ui.desktop import extensions
    from ui.desktop.pages import Page
    for spec in extensions.PAGES:
        assert issubclass(extensions.load(spec.factory), Page), spec.key
    for tab in extensions.SETTINGS_TABS:
        assert callable(extensions.load(tab.factory)), tab.title
    for kind_name, path in extensions.DETAIL_TABS.items():
        assert kind_name in KINDS
        assert callable(getattr(extensions.load(path), "show_task", None)), kind_name
    keys = [spec.key for spec in extensions.PAGES]
    assert len(keys) == len(set(keys))


def test_an_approval_updates_counts_and_dashboard_without_a_timer(
        qtbot: Any, open_window: Any, login_as: Any) -> None:
    """One change signal: the queue page's approval is announced, and the open dashboard
    and the sidebar show the new counts at once (the 30 s poll never fires here)."""
    add_pa_escalations(login_as("olivia"))
    window = open_window("manny")
    assert window.counts_timer.interval() == 30000
    queue.set_mode(window.session, "pa_escalation", "approve_each")
    window.show_page("dashboard")
    dash = window.pages["dashboard"]
    before = dash.data.counts["pa_escalation"]
    window.show_page("queue")
    page = window.pages["queue"]
    task = queue.list_tasks(window.session, queue.QueueFilter(kinds=("pa_escalation",)))[0]
    page.open_item(task.id)
    assert page.current_task() is not None and page.current_task().id == task.id
    sidebar_before = page.sidebar_model.count_for("pa_escalation")
    seen: list[Any] = []
    window.changes.changed.connect(lambda changes, source: seen.append(changes))
    page.approve_current()
    assert queue.get_task_unchecked(window.session, task.id).state.value == "done"
    assert [c.task_ids for c in seen] == [frozenset({task.id})]
    assert page.sidebar_model.count_for("pa_escalation") == sidebar_before - 1
    assert dash.data.counts["pa_escalation"] == before - 1
