"""The PA board: open PAs by status with their deadlines, and "Check now" running the
real PA follow-up workflow in the background with progress. The status source here is
a local one that answers like a payer portal would (the portal source itself is tested
end to end against the sandbox portal by the portal/PA tests)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app import clock
from app.domain.pa import PAStatus
from app.services import prior_auth


class PortalSays:
    """A local status source: the payer reports every PA as pending review."""

    name = "test-portal"

    def __init__(self) -> None:
        self.closed = False

    def can_check(self, session: Any, target: Any) -> bool:
        return True

    def fetch(self, session: Any, targets: list[Any]) -> list[Any]:
        from automations.workflows.pa_followup import StatusReport
        return [StatusReport(pa_id=t.pa_id, source="portal:test", status=PAStatus.PENDING,
                             wording="In clinical review") for t in targets]

    def report_failure(self, session: Any, target: Any, report: Any) -> Any:
        raise AssertionError("no failures expected")

    def close(self) -> None:
        self.closed = True


def test_board_and_check_now(qtbot: Any, open_window: Any) -> None:
    window = open_window("manny")
    session = window.session
    patient_id = window.pages["queue"].model.tasks[0].patient_id
    payer = session.vault.query_one("SELECT payer_id FROM coverages WHERE patient_id = ?",
                                    (patient_id,))[0]
    pa = prior_auth.add_prior_auth(session, patient_id=patient_id, payer=int(payer),
                                   cpt_code="72148",
                                   units=1, service_date=(clock.now() + timedelta(days=10))
                                   .date().isoformat(), payer_ref="NW-123")
    window.show_page("pa_board")
    page = window.pages["pa_board"]
    submitted = page.columns["submitted"]
    assert submitted.count() == 1 and f"PA {pa.id} · 72148 × 1" in submitted.item(0).text()
    name = window.pages["queue"].model._names[patient_id]
    assert name in submitted.item(0).text()
    source = PortalSays()
    page.source_factory = lambda _session: source
    steps: list[tuple[int, int]] = []
    window.worker.progress.connect(lambda label, d, t: steps.append((d, t)))
    page.check_button.click()
    assert steps and steps[-1] == (1, 1)  # progress reached the status bar
    assert source.closed
    assert page.last_summary.checked == 1 and page.last_summary.changed == 1
    assert prior_auth.get_prior_auth_unchecked(session, pa.id).status is PAStatus.PENDING
    assert page.columns["submitted"].count() == 0 and page.columns["pending"].count() == 1
    assert page.check_button.isEnabled() and page.check_button.text() == "Check now"
    assert any(t.startswith("PA check: checked 1, changed 1") for t in
               window.bridge.texts("info"))


def test_biller_has_no_pa_board(qtbot: Any, open_window: Any) -> None:
    window = open_window("billie")
    assert "pa_board" not in window.page_actions
