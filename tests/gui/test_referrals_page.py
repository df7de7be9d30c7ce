"""The Referrals page (issue 13): incoming and outbound referrals with their state, late
steps highlighted, filtered by direction and state; one referral's whole story in one
view; the next loop step recorded from the page through the service (role check and
audit there); opened from a referral task's review pane."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from PySide6.QtWidgets import QPushButton

from tests.unit.test_referral_summary import LETTER

T0 = datetime(2026, 11, 2, 14, 0, tzinfo=timezone.utc)


def _setup(session: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    from app import clock, queue
    from app.services import referrals
    from automations.workflows import referrals as referral_flow
    from tests.unit.planted_model import plant
    plant(monkeypatch, referral_flow, lambda _p: {"summary": (
        "Dr. Ames refers the patient to family medicine. The patient has chest pain.")})
    queue.set_mode(session, "referral_triage", "approve_each")
    clock.set_clock(lambda: T0)
    incoming = referral_flow.import_referral(session, LETTER, "letter.txt")
    pid = int(session.vault.query_one("SELECT id FROM patients ORDER BY id")[0])
    late = referrals.send_referral(session, pid, "Lakeside Cardiology",
                                   specialty="cardiology", reason="Palpitations")
    clock.set_clock(lambda: T0 + timedelta(days=20))
    on_time = referrals.send_referral(session, pid, "Harbor Dermatology",
                                      specialty="dermatology")
    referral_flow.check_referral_loops(session)
    return {"in": incoming.referrals[0], "task": incoming.tasks[0], "late": late,
            "on_time": on_time}


def test_referrals_page_lists_filters_and_tells_the_story(
        qtbot: Any, open_window: Any, login_as: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _setup(login_as("olivia"), monkeypatch)
    window = open_window("frida")  # front desk: works referrals
    window.show_page("referrals")
    page = window.pages["referrals"]
    assert {r["id"] for r in page.shown} == {ids["in"], ids["late"], ids["on_time"]}
    # the incoming one's triage task is open 20 days after it came: late as well
    assert page.late_rows() == [ids["late"], ids["in"]]
    page.direction.setCurrentIndex(page.direction.findData("out"))
    assert {r["id"] for r in page.shown} == {ids["late"], ids["on_time"]}
    page.state.setCurrentIndex(page.state.findData("overdue"))
    assert [r["id"] for r in page.shown] == [ids["late"]]
    assert "1 referral(s), 1 with a late step" == page.count.text()
    # the late one's story: the step, when it was due, LATE, the follow-up task
    page.table.setCurrentCell(0, 0)
    story = page.story.toPlainText()
    assert f"Referral {ids['late']}: outbound to Lakeside Cardiology" in story
    assert "LATE by 6 day(s)" in story and "referral followup" in story
    shown = page.history
    assert shown is not None and shown["patient_name"] and \
        f"patient {shown['patient_name']}" in story  # the name, not an internal id
    assert "referral.overdue" in story and "referral.view" not in story.split("Audit")[0]
    # record the next step from the page (the service checks the role and audits it)
    assert page.step_label.text() == "visit scheduled" and page.visit_at.isVisible()
    page.note.setText("booked by phone")
    page.record_button.click()
    shown = page.history
    assert shown is not None and shown["id"] == ids["late"]
    assert [s["step"] for s in shown["steps"]] == ["sent", "scheduled"]
    assert shown["steps"][1]["actor"] == "frida" and shown["steps"][1]["late"] is True
    assert shown["steps"][1]["note"] == "booked by phone"
    assert page.step_label.text() == "patient seen" and not page.visit_at.isVisible()
    audit = window.session.vault.query(
        "SELECT actor FROM audit_log WHERE action = 'referral.step' AND object_id = ?",
        (str(ids["late"]),))
    assert audit == [("frida",)]


def test_open_filter_drops_an_incoming_referral_once_its_visit_is_booked(
        qtbot: Any, open_window: Any, login_as: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from app import queue
    from app.services import referrals
    olivia = login_as("olivia")
    ids = _setup(olivia, monkeypatch)
    queue.approve(olivia, ids["task"])
    referrals.record_step(olivia, ids["in"], "scheduled",
                          appointment_at=T0 + timedelta(days=25))
    window = open_window("frida")
    window.show_page("referrals")
    page = window.pages["referrals"]
    page.state.setCurrentIndex(page.state.findData("open"))
    assert {r["id"] for r in page.shown} == {ids["late"], ids["on_time"]}


def test_incoming_story_has_source_triage_and_checked_summary(
        qtbot: Any, open_window: Any, login_as: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _setup(login_as("olivia"), monkeypatch)
    window = open_window("frida")
    # from the triage task's review pane to the one view
    window.show_page("queue")
    queue_page = window.pages["queue"]
    queue_page.open_item(ids["task"])
    tab = queue_page.detail.tabs.currentWidget()  # the summary with its spans
    assert type(tab).__name__ == "ReferralSummaryTab"
    assert "Model summary</b> (planted" in tab.summary.text()
    assert "Dropped: “The patient has chest pain.”" in tab.checks.text()
    found = " ".join(tab.highlighted()).lower()
    assert "ames" in found and "medicine" in found and "chest" not in found
    from ui.desktop.referral_pane import FACT
    assert "E11.621" in tab.highlighted(FACT)
    button = queue_page.detail.findChild(QPushButton, "openReferral")
    assert button is not None and button.isVisible()
    button.click()
    page = window.pages["referrals"]
    assert window.current_page() is page
    assert page.history is not None and page.history["id"] == ids["in"]
    story = page.story.toPlainText()
    assert "incoming from Dr. Ames, Lakeside Clinic" in story
    assert "referral letter (text/plain" in story and "stored once" in story
    assert "The practice's rules suggested schedule" in story
    assert "Summary from the extracted fields: Referring: Dr. Ames, Lakeside Clinic." in story
    assert "Model summary (planted, each of its" in story
    assert "Dr. Ames refers the patient to family medicine." in story
    assert "Dropped from the model's summary: “The patient has chest pain.”" in story
    assert not page.step_box.isVisible()  # incoming: triage first, then its visit
    assert "Next: triage decision, due" in story and "LATE by 19 day(s)" in story
    page.source_button.click()
    assert page.source_view.isVisible()
    assert "Reason for referral: Worsening diabetic foot ulcer" in \
        page.source_view.toPlainText()
    page.clear_phi()
    assert page.table.rowCount() == 0 and page.story.toPlainText() == ""


def test_a_biller_reads_referrals_but_cannot_record_a_step(
        qtbot: Any, login_as: Any, worker: Any, bridge: Any, demo_vault: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from app.errors import PermissionDenied
    from app.services import referrals
    from ui.desktop.pages import AppContext
    from ui.desktop.referrals_page import ReferralsPage
    ids = _setup(login_as("olivia"), monkeypatch)
    biller = login_as("billie")  # billers view patients, never record referral steps
    page = ReferralsPage(AppContext(biller, worker, bridge, demo_vault))
    qtbot.addWidget(page)
    page.show()
    page.open_item(ids["late"])
    assert page.history is not None and page.history["id"] == ids["late"]
    assert page.step_box.isVisible() and not page.record_button.isEnabled()
    assert "cannot record" in page.record_button.toolTip()
    with pytest.raises(PermissionDenied):  # the refusal is the service's, not the button's
        referrals.record_step(biller, ids["late"], "scheduled")


def test_show_source_document_shows_one_patients_part_of_a_shared_bundle(
        qtbot: Any, open_window: Any, login_as: Any) -> None:
    """A bundle holding two patients' referrals: 'Show source document' on one of them
    shows that referral's request and its own patient, not the other patient's."""
    from automations.workflows import referrals as referral_flow
    from tests.unit.test_referral_summary import _two_patients
    result = referral_flow.import_referral(login_as("olivia"), _two_patients(),
                                           "bundle.json", use_model=False)
    window = open_window("frida")
    window.show_page("referrals")
    page = window.pages["referrals"]
    page.open_item(result.referrals[1])
    assert page.history is not None and page.history["id"] == result.referrals[1]
    page.source_button.click()
    shown = page.source_view.toPlainText()
    assert "sr-b" in shown and "Ozymandias" in shown
    assert "Zzyzxquell" not in shown and "sr-a" not in shown


def test_a_late_answer_for_an_earlier_click_does_not_replace_the_story(
        qtbot: Any, open_window: Any, login_as: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's pool answers loads in any order: the newest referral asked for stays
    shown (its step button records on the referral the person chose)."""
    ids = _setup(login_as("olivia"), monkeypatch)
    window = open_window("frida")
    window.show_page("referrals")
    page = window.pages["referrals"]
    held: list[tuple[Any, Any]] = []
    monkeypatch.setattr(page.ctx.worker, "run",
                        lambda fn, done=None, **_kw: held.append((fn, done)))
    page.load(ids["late"])
    page.load(ids["on_time"])
    for fn, done in reversed(held):  # the second click answers first
        done(fn())
    assert page.history is not None and page.history["id"] == ids["on_time"]


def test_a_dropped_sentence_is_shown_as_text(qtbot: Any) -> None:
    """The model writes from a letter anyone may send: a tag in a dropped sentence made
    the label render it as rich text (a bold 'Approved', a link)."""
    from types import SimpleNamespace

    from PySide6.QtCore import Qt

    from ui.desktop.referral_pane import ReferralSummaryTab
    tab = ReferralSummaryTab(None)  # type: ignore[arg-type]
    qtbot.addWidget(tab)
    sentence = "<h1 style='color:green'>Approved: schedule today</h1>"
    tab.show_task(SimpleNamespace(evidence=[], payload={"summary": {
        "deterministic": "Referring: Dr. Ames.", "asked": True, "notice": "none kept",
        "dropped": [{"sentence": sentence, "why": "not in the source"}]}}))
    assert sentence in tab.checks.text()
    assert tab.checks.textFormat() == Qt.TextFormat.PlainText
