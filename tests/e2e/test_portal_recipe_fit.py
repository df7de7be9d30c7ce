"""Recipes that fit real portals, end to end (issue 12): real Chromium against the
sandbox's Northwind variant that some days opens a survey dialog over the search form and
shows the payer's letter with its deadline in its own words. The recipe closes the dialog
only when it is there; the letter becomes the task's wording, evidence and due date."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

import pytest

from app import queue
from app.domain import Task
from app.identity import Session
from app.services import patients
from app.services import portal_credentials as pc
from app.services import prior_auth as pa_svc
from automations.portal import PortalEngine, PortalQuery
from automations.sandbox_portal import SANDBOX_ACCOUNTS, PaSeedRecord, SandboxPortal, build_seed
from automations.workflows.pa_followup import PortalStatusSource, check_now

pytestmark = [pytest.mark.e2e]

TODAY = date.today()
MEMBER = "ZQM4455667"  # the conftest patient
SEED = build_seed([
    PaSeedRecord(MEMBER, "NW-8001", "northwind", TODAY - timedelta(days=6), "denied"),
    PaSeedRecord(MEMBER, "NW-8002", "northwind", TODAY - timedelta(days=6),
                 "info_requested_then_approved", decide_after_days=4),
])


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxPortal]:
    with SandboxPortal(SEED) as portal:
        yield portal


@pytest.fixture(scope="module")
def engine() -> Iterator[PortalEngine]:
    with PortalEngine(min_interval_seconds=0, attempts=1, timeout_seconds=10,
                      selector_timeout_seconds=1.5) as shared:
        yield shared


@pytest.fixture
def northwind(practice: Session, sandbox: SandboxPortal) -> tuple[Session, dict[str, int]]:
    sandbox.reset()
    session = practice
    payer = patients.add_payer(session, "Northwind National Health", "commercial",
                               portal_recipe="northwind", portal_enabled=True,
                               appeal_window_days=60)
    account = SANDBOX_ACCOUNTS["northwind"]
    pc.set_credentials(session, payer.id, url=sandbox.portal_url("northwind"),
                       username=account["username"], password=account["password"],
                       totp_seed=account["totp_seed"])
    pid = int(session.vault.query_one("SELECT id FROM patients")[0])
    patients.add_coverage(session, pid, payer.name, MEMBER)
    tz = pa_svc.practice_zone(session)
    submitted = datetime.combine(TODAY - timedelta(days=6), time(10), tzinfo=tz)
    ids = {ref: pa_svc.add_prior_auth(session, patient_id=pid, payer=payer.name,
                                      cpt_code="97110", units=12,
                                      service_date=TODAY + timedelta(days=20),
                                      submitted_at=submitted, payer_ref=ref).id
           for ref in ("NW-8001", "NW-8002")}
    return session, ids


def _letter_date(text: str) -> date:
    found = re.search(r"Letter of (\d{2})/(\d{2})/(\d{4})", text)
    assert found, text
    return date(int(found.group(3)), int(found.group(1)), int(found.group(2)))


def _next_action(session: Session, pa_id: int) -> Task:
    row = session.vault.query_one("SELECT id FROM tasks WHERE kind = 'pa_next_action' AND "
                                  "subject_id = ?", (str(pa_id),))
    assert row is not None
    return queue.get_task(session, int(row[0]))


def test_the_payers_letter_sets_due_dates_and_a_survey_dialog_is_closed(
        northwind: tuple[Session, dict[str, int]], engine: PortalEngine,
        sandbox: SandboxPortal) -> None:
    session, ids = northwind
    sandbox.state.set_fault("survey", count=1, portal="northwind")  # one search, not two
    sandbox.state.set_fault("letters", portal="northwind")
    summary = check_now(session, PortalStatusSource(engine))
    assert summary.failures == 0 and summary.checked == 2, summary.to_json()
    assert "survey" not in sandbox.state.faults  # the dialog was shown, and closed

    denial = _next_action(session, ids["NW-8001"])
    words = denial.payload["payer_wording"]
    assert "You may appeal within 180 days of this letter" in words
    assert denial.payload["deadline"] == (_letter_date(words) + timedelta(days=180)
                                          ).isoformat()
    assert "stated by the payer" in denial.draft
    assert denial.due_at is not None and denial.due_at.date() >= TODAY + timedelta(days=170)
    assert any("appeal within 180 days" in e.excerpt for e in denial.evidence)

    request = _next_action(session, ids["NW-8002"])
    words = request.payload["payer_wording"]
    due = re.search(r"A reply is due by (\d{2})/(\d{2})/(\d{4})", words)
    assert due, words
    assert request.payload["deadline"] == f"{due.group(3)}-{due.group(1)}-{due.group(2)}"
    assert request.payload["deadline"] == (_letter_date(words) + timedelta(days=10)
                                           ).isoformat()
    for task_id in session.vault.query("SELECT id FROM tasks"):
        assert MEMBER not in queue.get_task(session, int(task_id[0])).title


def test_without_the_dialog_or_the_letter_the_recipe_still_reads_the_status(
        northwind: tuple[Session, dict[str, int]], engine: PortalEngine) -> None:
    session, _ids = northwind
    result = engine.check(session, "Northwind National Health", "pa_status",
                          PortalQuery(MEMBER, "NW-8001"))
    assert result.status == "denied" and result.fields["letter"] == ""
    assert result.wording == result.status_text == "Denied – not medically necessary"
    pending = engine.check(session, "Northwind National Health", "pa_status",
                           PortalQuery(MEMBER, "NW-8002"))
    assert pending.status == "info_requested"  # the app's word, the same as in the CLI
