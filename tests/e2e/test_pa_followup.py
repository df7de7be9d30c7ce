"""PA follow-up end to end: the real portal engine and real Chromium against the sandbox
portal's three payer styles (clearing portal, Northwind with TOTP, Bluestem Medicaid),
through the production path (vault PAs and credentials, recipes, tasks, audit)."""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from app import audit, queue
from app.domain.pa import PAStatus
from app.identity import Session
from app.services import patients
from app.services import portal_credentials as pc
from app.services import prior_auth as pa_svc
from automations.portal import PortalEngine
from automations.sandbox_portal import (RECIPE_PORTALS, SANDBOX_ACCOUNTS, PaSeedRecord,
                                        SandboxPortal, build_seed)
from automations.workflows.pa_followup import PortalStatusSource, check_now
from tests.conftest import OWNER_PASSWORD, files_containing

pytestmark = [pytest.mark.e2e]

TODAY = date.today()
PAYERS = [("Summit Medicare Advantage", "medicare_advantage", "clearinghouse_summit"),
          ("Northwind National Health", "commercial", "northwind"),
          ("Bluestem State Medicaid", "medicaid", "bluestem_medicaid"),
          ("Harbor Marketplace QHP", "qhp", "clearinghouse_harbor")]
PAYER_BY_RECIPE = {recipe: name for name, _plan, recipe in PAYERS}


@dataclass(frozen=True)
class Case:
    first: str
    last: str
    member_id: str
    recipe: str
    ref: str
    days_ago: int
    outcome: str
    decide_after: int = 3
    units: int = 12
    cpt: str = "97110"
    service_in_days: int = 20


CASES = [
    # The conftest patient: her member ID goes through Chromium and must never hit disk.
    Case("Quintessa", "Zzyzxquell", "ZQM4455667", "northwind", "NW-9001", 6, "denied"),
    Case("Bartholomew", "Vexingwood", "SU4100001", "clearinghouse_summit", "SUM-9101", 6,
         "approved"),
    Case("Ottoline", "Quarrington", "BS3100001", "bluestem_medicaid", "BSM-9201", 3,
         "info_requested_then_approved", decide_after=2),
    Case("Peregrine", "Wexcombe", "BS3100002", "bluestem_medicaid", "BSM-9202", 6,
         "partially_approved", units=20, service_in_days=4),
    Case("Isadora", "Plimsworth", "HB5100001", "clearinghouse_harbor", "HQ-9301", 1, "pended"),
    Case("Leopold", "Grimsditch", "NW2100001", "northwind", "NW-9002", 1, "approved",
         decide_after=3),
]
SEED = build_seed([PaSeedRecord(c.member_id, c.ref, c.recipe, TODAY - timedelta(days=c.days_ago),
                                c.outcome, c.decide_after, units=c.units, service_code=c.cpt)
                   for c in CASES])
PHI = [c.last for c in CASES] + [c.first for c in CASES] + [c.member_id for c in CASES]


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """TMPDIR for everything this module runs (engine included), so the leak test can
    search what was written there."""
    tmp = tmp_path_factory.mktemp("tmp")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TMPDIR", str(tmp))
        mp.setattr(tempfile, "tempdir", str(tmp))
        yield tmp


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxPortal]:
    with SandboxPortal(SEED) as portal:
        yield portal


@pytest.fixture(scope="module")
def engine(module_tmp: Path) -> Iterator[PortalEngine]:
    with PortalEngine(min_interval_seconds=0, attempts=2, backoff_seconds=0.05,
                      timeout_seconds=10, selector_timeout_seconds=1.5) as shared:
        yield shared


@pytest.fixture
def office(practice: Session, sandbox: SandboxPortal) -> tuple[Session, dict[str, int]]:
    """The sandbox payers with log-ins, the case patients with coverage, and their PAs.
    Returns the owner session and PA ids by payer reference."""
    sandbox.reset()
    session = practice
    for name, plan, recipe in PAYERS:
        payer = patients.add_payer(session, name, plan, portal_recipe=recipe,
                                   portal_enabled=True, appeal_window_days=60)
        account = SANDBOX_ACCOUNTS[RECIPE_PORTALS[recipe][0]]
        pc.set_credentials(session, payer.id, url=sandbox.portal_url(recipe),
                           username=account["username"], password=account["password"],
                           totp_seed=account.get("totp_seed"))
    tz = pa_svc.practice_zone(session)
    ids: dict[str, int] = {}
    for c in CASES:
        payer = PAYER_BY_RECIPE[c.recipe]
        if c.last == "Zzyzxquell":
            pid = int(session.vault.query_one("SELECT id FROM patients WHERE last_name = ?",
                                              (c.last,))[0])
            patients.add_coverage(session, pid, payer, c.member_id)
        else:
            pid = patients.add_patient(session, c.first, c.last, "1961-02-03",
                                       member_id=c.member_id, payer=payer).id
        submitted = datetime.combine(TODAY - timedelta(days=c.days_ago), time(10), tzinfo=tz)
        ids[c.ref] = pa_svc.add_prior_auth(
            session, patient_id=pid, payer=payer, cpt_code=c.cpt, units=c.units,
            service_date=TODAY + timedelta(days=c.service_in_days), submitted_at=submitted,
            payer_ref=c.ref).id
    return session, ids


def _tasks(session: Session) -> list[tuple[str, str, str, int]]:
    return [tuple(r) for r in session.vault.query(  # type: ignore[misc]
        "SELECT kind, natural_key, subject_id, id FROM tasks WHERE subject_type = "
        "'prior_auth' ORDER BY id")]


def test_check_run_normalizes_statuses_and_files_tasks_with_screenshots(
        office: tuple[Session, dict[str, int]], engine: PortalEngine,
        sandbox: SandboxPortal) -> None:
    session, ids = office
    source = PortalStatusSource(engine)
    seen: list[tuple[int, int, str]] = []
    summary = check_now(session, source, progress=lambda d, t, m: seen.append((d, t, m)))
    assert summary.failures == 0, summary.to_json()
    assert summary.checked == len(CASES) and summary.changed == len(CASES)
    expected = {"NW-9001": PAStatus.DENIED, "SUM-9101": PAStatus.APPROVED,
                "BSM-9201": PAStatus.INFO_REQUESTED, "BSM-9202": PAStatus.PARTIAL,
                "HQ-9301": PAStatus.PENDING, "NW-9002": PAStatus.PENDING}
    for ref, status in expected.items():
        pa = pa_svc.get_prior_auth(session, ids[ref])
        assert pa.status is status, (ref, pa.status)
        last = pa.history[-1]
        assert last.source == f"portal:{CASES[[c.ref for c in CASES].index(ref)].recipe}"
        assert last.payer_wording and last.evidence_blob_id is not None
        # the screenshot is the evidence of the follow-up task the change made
        [(task_id,)] = session.vault.query("SELECT task_id FROM task_evidence WHERE blob_id = ?",
                                           (last.evidence_blob_id,))
        png, mime = queue.blob_data(session, last.evidence_blob_id, task_id)
        assert mime == "image/png" and png.startswith(b"\x89PNG")
    approved = pa_svc.get_prior_auth(session, ids["SUM-9101"])
    assert approved.approved_units == 12 and approved.expires_on is not None
    partial = pa_svc.get_prior_auth(session, ids["BSM-9202"])
    assert partial.approved_units == 10
    assert seen[-1][:2] == (len(CASES), len(CASES))

    tasks = _tasks(session)
    keys = {k for _, k, _, _ in tasks}
    for ref, status in expected.items():
        assert f"pa:{ids[ref]}:status:{status.value}:{TODAY.isoformat()}" in keys
    assert f"pa:{ids['NW-9001']}:next:denied:{TODAY.isoformat()}" in keys
    assert f"pa:{ids['BSM-9201']}:next:info_requested:{TODAY.isoformat()}" in keys
    assert f"pa:{ids['BSM-9202']}:units_short:10" in keys  # service in 4 days, 10 of 20
    denial = queue.get_task(session, next(t for k, key, _, t in tasks
                                          if key.startswith(f"pa:{ids['NW-9001']}:next")))
    assert denial.payload["deadline"] and "appeal" in denial.payload["actions"]
    assert denial.payload["payer_wording"] == pa_svc.get_prior_auth(
        session, ids["NW-9001"]).history[-1].payer_wording
    assert denial.evidence and denial.evidence[0].mime == "image/png"

    # A second run finds nothing new: no duplicate task, no new history row.
    again = check_now(session, source)
    assert again.changed == 0 and again.tasks_created == 0 and again.failures == 0
    assert _tasks(session) == tasks

    # Three simulated days later the payers have moved on: the next run sees it.
    sandbox.set_day(3)
    later = check_now(session, source)
    assert later.failures == 0
    assert pa_svc.get_prior_auth(session, ids["BSM-9201"]).status is PAStatus.APPROVED
    assert pa_svc.get_prior_auth(session, ids["NW-9002"]).status is PAStatus.APPROVED
    assert pa_svc.get_prior_auth(session, ids["HQ-9301"]).status is PAStatus.PENDING
    assert {c["pa_id"] for c in later.changes} == {ids["BSM-9201"], ids["NW-9002"]}
    visits = session.vault.query_one("SELECT count(*) FROM audit_log WHERE action = "
                                     "'portal.visit'")[0]
    assert visits >= len(CASES) * 2
    assert audit.verify(session.vault).ok


def test_no_phi_in_any_file_after_a_full_check_run(
        office: tuple[Session, dict[str, int]], engine: PortalEngine, module_tmp: Path,
        vault_dir: Path) -> None:
    session, _ids = office
    summary = check_now(session, PortalStatusSource(engine))
    assert summary.checked == len(CASES) and summary.failures == 0
    assert session.vault.query_one("SELECT count(*) FROM task_evidence WHERE blob_id IS NOT "
                                   "NULL")[0] >= len(CASES)
    roots = [vault_dir, module_tmp]
    if engine.private_dir:
        roots.append(Path(engine.private_dir))  # Chromium's own scratch dir, while it runs
    for root in roots:
        for needle in PHI:
            hits = files_containing(root, needle.encode())
            assert hits == [], f"{needle[:2]}… found in {hits}"


def test_portal_failures_become_visible_tasks(office: tuple[Session, dict[str, int]],
                                              engine: PortalEngine,
                                              sandbox: SandboxPortal) -> None:
    session, ids = office
    sandbox.set_fault("layout_changed", portal="bluestem")
    sandbox.set_fault("maintenance", portal="northwind")
    sandbox.set_fault("captcha", portal="clearing")
    summary = check_now(session, PortalStatusSource(engine))
    assert summary.failures == len(CASES) and summary.checked == 0
    assert sorted(summary.failed_pa_ids) == sorted(ids.values())
    rows = session.vault.query("SELECT kind, id FROM tasks WHERE kind IN "
                               "('recipe_broken','portal_failure','human_handoff')")
    assert {k for k, _ in rows} == {"recipe_broken", "portal_failure", "human_handoff"}
    for _kind, task_id in rows:  # each with the page it saw
        assert any(e.mime == "image/png" for e in queue.get_task(session, task_id).evidence)
    failed = pa_svc.get_prior_auth(session, ids["BSM-9201"])
    assert failed.status is PAStatus.SUBMITTED and failed.next_check_at is not None
    sandbox.reset()
    assert check_now(session, PortalStatusSource(engine)).failures == 0  # recovers


def test_cli_check_now_prints_the_summary(office: tuple[Session, dict[str, int]],
                                          vault_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from ui.cli import main
    session, ids = office
    monkeypatch.setenv("OFFHOLD_VAULT", str(vault_dir))
    monkeypatch.setenv("OFFHOLD_USER", "owner")
    monkeypatch.setenv("OFFHOLD_PASSWORD", OWNER_PASSWORD)
    session.vault.close()
    code = main(["check-now", "--pa", str(ids["SUM-9101"]), "--json"], stdin=io.StringIO())
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert (data["checked"], data["changed"], data["failures"]) == (1, 1, 0)
    assert data["tasks_created"] >= 1
    code = main(["pa", "list", "--json"], stdin=io.StringIO())
    rows = json.loads(capsys.readouterr().out)
    assert {r["payer_ref"]: r["status"] for r in rows}["SUM-9101"] == "approved"
    assert not any(c.member_id in json.dumps(rows) or c.last in json.dumps(rows) for c in CASES)
