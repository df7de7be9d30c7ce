"""The portal engine end to end: real Chromium against the sandbox portal, through the
production path (vault credentials, recipes from resources/recipes, audit, tasks)."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from app import clock, queue
from app.identity import Session
from app.services import patients
from app.services import portal_credentials as pc
from automations.portal import (
    HumanHandoff,
    PortalDisabled,
    PortalEngine,
    PortalFailure,
    PortalQuery,
    PortalUnavailable,
    RecipeBroken,
    failure_task,
    load_recipes,
    recipe_dirs,
)
from automations.sandbox_portal import (
    RECIPE_PORTALS,
    SANDBOX_ACCOUNTS,
    ClaimSeed,
    MemberSeed,
    PaSeedRecord,
    SandboxPortal,
    build_seed,
)
from tests.conftest import files_containing

pytestmark = [pytest.mark.e2e]

TODAY = date.today()
PAYERS = [("Summit Medicare Advantage", "medicare_advantage", "clearinghouse_summit"),
          ("Northwind National Health", "commercial", "northwind"),
          ("Bluestem State Medicaid", "medicaid", "bluestem_medicaid"),
          ("Harbor Marketplace QHP", "qhp", "clearinghouse_harbor")]
PAYER_BY_RECIPE = {recipe: name for name, _plan, recipe in PAYERS}
MEMBER = "ZQM4455667"  # the conftest patient's member ID; must never reach disk in clear

CASES = [
    PaSeedRecord(MEMBER, "NW-7001", "northwind", TODAY - timedelta(days=6), "approved"),
    PaSeedRecord("NW2000001", "NW-7002", "northwind", TODAY - timedelta(days=6), "denied"),
    PaSeedRecord("NW2000002", "NW-7003", "northwind", TODAY - timedelta(days=1), "approved",
                 decide_after_days=3),
    PaSeedRecord("BS3000001", "BSM-88001", "bluestem_medicaid", TODAY - timedelta(days=6),
                 "partially_approved", units=20),
    PaSeedRecord("BS3000002", "BSM-88002", "bluestem_medicaid", TODAY - timedelta(days=4),
                 "info_requested_then_approved", decide_after_days=2),
    PaSeedRecord("SU4000001", "SUM-5501", "clearinghouse_summit", TODAY - timedelta(days=8),
                 "approved", units=8),
    PaSeedRecord("SU4000002", "SUM-5502", "clearinghouse_summit", TODAY - timedelta(days=1),
                 "pended"),
    PaSeedRecord("HB5000001", "HQ-0301", "clearinghouse_harbor", TODAY - timedelta(days=9),
                 "denied"),
]
SEED = build_seed(
    CASES,
    members=[MemberSeed("BS3000099", "bluestem_medicaid", active=False, plan="Full")],
    claims=[ClaimSeed(MEMBER, "NWC-1001", "northwind", TODAY - timedelta(days=30)),
            ClaimSeed("NW2000001", "NWC-1002", "northwind", TODAY - timedelta(days=30),
                      outcome="denied")])


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxPortal]:
    with SandboxPortal(SEED) as portal:
        yield portal


@pytest.fixture(scope="module")
def engine() -> Iterator[PortalEngine]:
    """One browser for the whole module; short timeouts so fault tests stay quick."""
    with PortalEngine(min_interval_seconds=0, attempts=2, backoff_seconds=0.05,
                      timeout_seconds=10, selector_timeout_seconds=1.5) as shared:
        yield shared


@pytest.fixture
def portals(owner_session: Session, sandbox: SandboxPortal) -> Session:
    """The four sandbox payers, switched on, with their log-ins in the vault."""
    sandbox.reset()
    for name, plan, recipe in PAYERS:
        payer = patients.add_payer(owner_session, name, plan, portal_recipe=recipe,
                                   portal_enabled=True)
        account = SANDBOX_ACCOUNTS[RECIPE_PORTALS[recipe][0]]
        pc.set_credentials(owner_session, payer.id, url=sandbox.portal_url(recipe),
                           username=account["username"], password=account["password"],
                           totp_seed=account.get("totp_seed"))
    return owner_session


def admin(sandbox: SandboxPortal, action: str, **params: Any) -> dict[str, Any]:
    """Drive the sandbox through its admin URL, as another process would."""
    query = "&".join(f"{k}={v}" for k, v in params.items())
    with urllib.request.urlopen(f"{sandbox.url}/__admin/{action}?{query}") as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


@contextmanager
def nav_timeout(engine: PortalEngine, seconds: float) -> Iterator[None]:
    before = engine.timeout_override
    engine.timeout_override = seconds
    try:
        yield
    finally:
        engine.timeout_override = before


def visits(session: Session) -> list[dict[str, Any]]:
    rows = session.vault.query("SELECT object_id, details FROM audit_log WHERE action = "
                               "'portal.visit' ORDER BY id")
    return [{"payer_id": r[0], **json.loads(r[1])} for r in rows]


@pytest.mark.parametrize("recipe, query, status, text, units, through", [
    ("northwind", PortalQuery(MEMBER, "NW-7001"), "approved",
     "Approved – 12 units through", 12, TODAY - timedelta(days=3) + timedelta(days=120)),
    ("northwind", PortalQuery("NW2000001", "NW-7002"), "denied",
     "Denied – not medically necessary", None, None),
    ("bluestem_medicaid", PortalQuery("BS3000001", "BSM-88001"), "partially_approved",
     "APPROVED - MODIFIED", 10, TODAY - timedelta(days=3) + timedelta(days=120)),
    ("bluestem_medicaid", PortalQuery("BS3000002", "BSM-88002"),
     "info_requested", "RFI ISSUED", None, None),
    ("clearinghouse_summit", PortalQuery("SU4000001", "SUM-5501"), "approved",
     "Certified – 8 units through", 8, TODAY - timedelta(days=5) + timedelta(days=120)),
    ("clearinghouse_summit", PortalQuery("SU4000002", "SUM-5502"), "pending",
     "Pended for clinical review", None, None),
    ("clearinghouse_harbor", PortalQuery("HB5000001", "HQ-0301"), "denied",
     "Not certified – not medically necessary", None, None),
])
def test_login_and_status_for_every_payer_style(
        portals: Session, engine: PortalEngine, recipe: str, query: PortalQuery, status: str,
        text: str, units: int | None, through: date | None) -> None:
    result = engine.check(portals, PAYER_BY_RECIPE[recipe], "pa_status", query)
    assert result.found and result.recipe == recipe
    assert result.status == status
    assert result.status_text.startswith(text)
    assert result.units == units
    assert result.valid_through == through
    assert result.screenshot.startswith(b"\x89PNG\r\n\x1a\n")
    evidence = result.evidence()
    assert evidence.mime == "image/png" and evidence.blob == result.screenshot
    [row] = visits(portals)
    assert row["outcome"] == "ok" and row["status"] == status and row["recipe"] == recipe
    assert query.member_id not in json.dumps(row) and query.reference not in json.dumps(row)


def test_bluestem_reads_units_and_dates_from_the_case_page(portals: Session,
                                                           engine: PortalEngine) -> None:
    result = engine.check(portals, "Bluestem State Medicaid", "pa_status",
                          PortalQuery("BS3000001", "BSM-88001"))
    assert result.valid_from == TODAY - timedelta(days=3)
    assert result.fields["units_authorized"] == "10"
    assert result.fields["decision_reason"] == ""


def test_status_advances_with_simulated_days(portals: Session, engine: PortalEngine,
                                            sandbox: SandboxPortal) -> None:
    query = PortalQuery("NW2000002", "NW-7003")
    assert engine.check(portals, "Northwind National Health", "pa_status",
                        query).status == "pending"
    assert admin(sandbox, "clock", day=3)["offset_days"] == 3
    later = engine.check(portals, "Northwind National Health", "pa_status", query)
    assert later.status == "approved" and later.units == 12


def test_unknown_case_is_not_found_not_a_failure(portals: Session,
                                                 engine: PortalEngine) -> None:
    for payer, query in [("Northwind National Health", PortalQuery(MEMBER, "NW-0000")),
                         ("Bluestem State Medicaid", PortalQuery("BS3000001", "BSM-00000")),
                         ("Harbor Marketplace QHP", PortalQuery("HB5000001", "HQ-9999"))]:
        result = engine.check(portals, payer, "pa_status", query)
        assert not result.found and result.status is None
        assert result.screenshot.startswith(b"\x89PNG")
    assert [v["outcome"] for v in visits(portals)] == ["not_found"] * 3


def test_eligibility_and_claim_status(portals: Session, engine: PortalEngine) -> None:
    active = engine.check(portals, "Bluestem State Medicaid", "eligibility",
                          PortalQuery("BS3000001"))
    inactive = engine.check(portals, "Bluestem State Medicaid", "eligibility",
                            PortalQuery("BS3000099"))
    assert (active.status, inactive.status) == ("active", "inactive")
    summit = engine.check(portals, "Summit Medicare Advantage", "eligibility",
                          PortalQuery("SU4000001"))
    assert summit.status == "active" and summit.valid_from == TODAY - timedelta(days=8 + 365)
    paid = engine.check(portals, "Northwind National Health", "claim_status",
                        PortalQuery(MEMBER, claim_number="NWC-1001"))
    denied = engine.check(portals, "Northwind National Health", "claim_status",
                          PortalQuery("NW2000001", claim_number="NWC-1002"))
    assert (paid.status, paid.status_text) == ("paid", "Paid $112.40")
    assert denied.status == "denied"


def test_check_many_keeps_order_and_groups_logins(portals: Session, engine: PortalEngine,
                                                  sandbox: SandboxPortal) -> None:
    requests = [(PAYER_BY_RECIPE[c.recipe], "pa_status", PortalQuery(c.member_id, c.reference))
                for c in CASES]
    outcomes = engine.check_many(portals, requests)
    assert [o.query.reference for o in outcomes] == [c.reference for c in CASES]
    assert all(o.result is not None and o.result.found for o in outcomes)
    assert [o.result.status for o in outcomes if o.result] == [
        "approved", "denied", "pending", "partially_approved", "info_requested",
        "approved", "pending", "denied"]
    assert len(visits(portals)) == len(CASES)


def test_concurrency_is_bounded_and_each_portal_rate_limited(
        portals: Session, engine: PortalEngine) -> None:
    """Sessions of one look-up each: at most `concurrency` open at once, and look-ups on
    one portal (Summit and Harbor share the clearing portal) spaced by the interval."""
    import time
    requests = [(PAYER_BY_RECIPE[c.recipe], "pa_status", PortalQuery(c.member_id, c.reference))
                for c in CASES if c.recipe.startswith("clearinghouse")]
    before = (engine.min_interval, engine.lookups_per_session, engine.peak_sessions)
    engine.min_interval, engine.lookups_per_session, engine.peak_sessions = 0.6, 1, 0
    try:
        started = time.monotonic()
        outcomes = engine.check_many(portals, requests)
        elapsed = time.monotonic() - started
        peak = engine.peak_sessions
    finally:
        engine.min_interval, engine.lookups_per_session, engine.peak_sessions = before
    assert all(o.result is not None for o in outcomes)
    assert 1 < peak <= engine.concurrency
    assert elapsed >= 0.6 * (len(requests) - 1)


def test_totp_seed_missing_or_wrong_hands_off_to_a_person(portals: Session,
                                                          engine: PortalEngine,
                                                          sandbox: SandboxPortal) -> None:
    account = SANDBOX_ACCOUNTS["northwind"]
    payer = "Northwind National Health"
    pc.set_credentials(portals, payer, url=sandbox.portal_url("northwind"),
                       username=account["username"], password=account["password"],
                       totp_seed="")
    with pytest.raises(HumanHandoff, match="no TOTP seed"):
        engine.check(portals, payer, "pa_status", PortalQuery(MEMBER, "NW-7001"))
    pc.set_credentials(portals, payer, url=sandbox.portal_url("northwind"),
                       username=account["username"], password=account["password"],
                       totp_seed="JBSWY3DPEHPK3PXP")
    with pytest.raises(HumanHandoff, match="refused the MFA code") as caught:
        engine.check(portals, payer, "pa_status", PortalQuery(MEMBER, "NW-7001"))
    assert caught.value.screenshot and caught.value.attempts == 1
    pc.set_credentials(portals, payer, url=sandbox.portal_url("northwind"),
                       username=account["username"], password="wrong-password",
                       totp_seed=account["totp_seed"])
    with pytest.raises(HumanHandoff, match="user name or password"):
        engine.check(portals, payer, "pa_status", PortalQuery(MEMBER, "NW-7001"))


FAULT_CASES = [
    # fault, payer recipe, expected failure, task kind
    ("http_500", "northwind", PortalUnavailable, "portal_failure"),
    ("maintenance", "bluestem_medicaid", PortalUnavailable, "portal_failure"),
    ("session_expiry", "clearinghouse_summit", PortalUnavailable, "portal_failure"),
    ("layout_changed", "northwind", RecipeBroken, "recipe_broken"),
    ("layout_changed", "bluestem_medicaid", RecipeBroken, "recipe_broken"),
    ("layout_changed", "clearinghouse_harbor", RecipeBroken, "recipe_broken"),
    ("captcha", "clearinghouse_summit", HumanHandoff, "human_handoff"),
    ("interstitial", "northwind", HumanHandoff, "human_handoff"),
    ("interstitial", "bluestem_medicaid", HumanHandoff, "human_handoff"),
]
QUERY_FOR = {c.recipe: PortalQuery(c.member_id, c.reference, subject_type="prior_auth",
                                   subject_id=i) for i, c in enumerate(CASES)}


@pytest.mark.parametrize("fault, recipe, error_type, task_kind", FAULT_CASES)
def test_fault_becomes_typed_failure_and_visible_task(
        portals: Session, engine: PortalEngine, sandbox: SandboxPortal, fault: str,
        recipe: str, error_type: type[PortalFailure], task_kind: str) -> None:
    admin(sandbox, "fault", name=fault, on=1)
    payer = PAYER_BY_RECIPE[recipe]
    query = QUERY_FOR[recipe]
    with pytest.raises(error_type) as caught:
        engine.check(portals, payer, "pa_status", query)
    error = caught.value
    assert type(error) is error_type
    assert error.screenshot and error.screenshot.startswith(b"\x89PNG")
    assert query.member_id not in str(error)
    task = failure_task(portals, payer, recipe, error, subject_type="prior_auth",
                        subject_id=query.subject_id)
    assert task.kind == task_kind and task.state.value == "pending"  # notices skip shadow mode
    [evidence] = task.evidence
    assert evidence.mime == "image/png"
    assert queue.blob_data(portals, evidence.blob_id, task.id)[0] == error.screenshot
    [row] = visits(portals)
    assert row["outcome"] == error.outcome and row["subject_id"] == str(query.subject_id)
    assert row["screenshot_sha256"] == portals.vault.query_one(
        "SELECT sha256 FROM blobs WHERE id = ?", (evidence.blob_id,))[0]
    # the same failure again refreshes the task instead of making another one
    again = failure_task(portals, payer, recipe, error)
    assert again.id == task.id


def test_slow_pages_time_out_then_portal_failure(portals: Session, engine: PortalEngine,
                                                sandbox: SandboxPortal) -> None:
    admin(sandbox, "fault", name="slow", on=1, seconds=4, portal="bluestem")
    with nav_timeout(engine, 1.5), pytest.raises(PortalUnavailable, match="no answer") as caught:
        engine.check(portals, "Bluestem State Medicaid", "pa_status", QUERY_FOR[
            "bluestem_medicaid"])
    assert caught.value.attempts == 2
    task = failure_task(portals, "Bluestem State Medicaid", "bluestem_medicaid", caught.value)
    assert task.kind == "portal_failure"
    assert [e.mime for e in task.evidence] == ["image/png"]
    # other portals are not slowed down by a fault scoped to one portal
    assert engine.check(portals, "Northwind National Health", "pa_status",
                        QUERY_FOR["northwind"]).found


@pytest.mark.parametrize("fault", ["http_500", "session_expiry"])
def test_a_passing_fault_is_retried_and_recovers(portals: Session, engine: PortalEngine,
                                                sandbox: SandboxPortal, fault: str) -> None:
    admin(sandbox, "fault", name=fault, on=1, count=1)
    result = engine.check(portals, "Summit Medicare Advantage", "pa_status",
                          QUERY_FOR["clearinghouse_summit"])
    assert result.found and result.attempts == 2
    assert visits(portals)[-1]["attempts"] == 2


def test_disabled_portal_is_refused_without_a_visit(portals: Session, engine: PortalEngine,
                                                    sandbox: SandboxPortal) -> None:
    pc.set_enabled(portals, "Northwind National Health", False)
    hits = sandbox.hits()
    with pytest.raises(PortalDisabled, match="switched off"):
        engine.check(portals, "Northwind National Health", "pa_status",
                     QUERY_FOR["northwind"])
    assert sandbox.hits() == hits
    assert visits(portals)[-1]["outcome"] == "disabled"
    [outcome] = engine.check_many(portals, [("Northwind National Health", "pa_status",
                                             QUERY_FOR["northwind"])])
    assert isinstance(outcome.error, PortalDisabled) and outcome.recipe == "northwind"
    assert visits(portals)[-1]["payer_id"] == str(outcome.payer_id) != "0"
    task = failure_task(portals, outcome.payer_id, outcome.recipe, outcome.error)
    assert task.kind == "portal_failure" and "switched off" in task.draft


def test_a_payer_whose_recipe_is_missing_gets_recipe_broken(portals: Session,
                                                            engine: PortalEngine,
                                                            sandbox: SandboxPortal) -> None:
    payer = patients.add_payer(portals, "Ghost Health", "commercial",
                               portal_recipe="ghost_health", portal_enabled=True)
    hits = sandbox.hits()
    with pytest.raises(RecipeBroken, match="'ghost_health', which is not installed"):
        engine.check(portals, payer.id, "pa_status", PortalQuery("X1", "R1"))
    assert sandbox.hits() == hits and visits(portals)[-1]["outcome"] == "recipe_broken"


def test_a_new_payer_is_a_new_yaml_file(portals: Session, sandbox: SandboxPortal,
                                        tmp_path: Path) -> None:
    """A practice recipe (no code change): a copy of the northwind recipe under a new name,
    plus a practice override of a built-in with the same name."""
    source = (recipe_dirs()[0] / "northwind.yaml").read_text(encoding="utf-8")
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "northwind_west.yaml").write_text(
        source.replace("name: northwind", "name: northwind_west"), encoding="utf-8")
    (folder / "bluestem_medicaid.yaml").write_text(
        (recipe_dirs()[0] / "bluestem_medicaid.yaml").read_text(encoding="utf-8")
        .replace("payer: Bluestem State Medicaid", "payer: Bluestem (practice copy)"),
        encoding="utf-8")
    book = load_recipes(recipe_dirs(folder))
    assert book.get("bluestem_medicaid").payer == "Bluestem (practice copy)"
    payer = patients.add_payer(portals, "Northwind West", "commercial",
                               portal_recipe="northwind_west", portal_enabled=True)
    account = SANDBOX_ACCOUNTS["northwind"]
    pc.set_credentials(portals, payer.id, url=sandbox.portal_url("northwind"),
                       username=account["username"], password=account["password"],
                       totp_seed=account["totp_seed"])
    with PortalEngine(recipes=book, min_interval_seconds=0) as own:
        result = own.check(portals, payer.id, "pa_status", PortalQuery(MEMBER, "NW-7001"))
    assert result.recipe == "northwind_west" and result.status == "approved"


def test_no_phi_left_on_disk_after_a_check_run(practice: Session, sandbox: SandboxPortal,
                                              private_tmp: Path, vault_dir: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """The engine is started after TMPDIR points at a private dir, so every temp file the
    driver or Chromium makes lands there; after the run nothing holds the name or ID, and
    no log record (at any level) carries them either."""
    caplog.set_level(logging.DEBUG)
    sandbox.reset()
    for name, plan, recipe in PAYERS[1:3]:
        payer = patients.add_payer(practice, name, plan, portal_recipe=recipe,
                                   portal_enabled=True)
        account = SANDBOX_ACCOUNTS[RECIPE_PORTALS[recipe][0]]
        pc.set_credentials(practice, payer.id, url=sandbox.portal_url(recipe),
                           username=account["username"], password=account["password"],
                           totp_seed=account.get("totp_seed"))
    [patient] = patients.list_patients(practice, "Zzyzxquell")
    with PortalEngine(min_interval_seconds=0, attempts=1,
                      selector_timeout_seconds=1.5) as own:
        result = own.check(practice, "Northwind National Health", "pa_status",
                           PortalQuery(MEMBER, "NW-7001", patient_id=patient.id))
        queue.create_task(practice, "pa_followup", "test:pa:1", "PA status", draft="",
                          evidence=[result.evidence()])
        sandbox.set_fault("layout_changed", portal="northwind")
        with pytest.raises(RecipeBroken) as caught:
            own.check(practice, "Northwind National Health", "pa_status",
                      PortalQuery(MEMBER, "NW-7001"))
        failure_task(practice, "Northwind National Health", "northwind", caught.value)
    sandbox.reset()
    assert own.private_dir is not None and not Path(own.private_dir).exists()
    practice.vault.close()
    assert "portal visit" in caplog.text  # the engine did log, with ids only
    assert MEMBER not in caplog.text and "Zzyzxquell" not in caplog.text
    assert "NW-7001" not in caplog.text
    for needle in (b"Zzyzxquell", MEMBER.encode(), MEMBER.encode("utf-16-le")):
        assert files_containing(vault_dir, needle) == []
        assert files_containing(private_tmp, needle) == []
    assert not [p for p in private_tmp.rglob("*") if p.suffix.lower() in (".png", ".har",
                                                                          ".zip", ".webm")]


def test_clock_faked_by_app_moves_the_sandbox_too(portals: Session, engine: PortalEngine,
                                                  sandbox: SandboxPortal) -> None:
    """The sandbox's 'today' follows app.clock, so PA workflow tests can fake time."""
    real = clock.now()
    clock.set_clock(lambda: real + timedelta(days=3))
    result = engine.check(portals, "Northwind National Health", "pa_status",
                          PortalQuery("NW2000002", "NW-7003"))
    assert result.status == "approved"


def test_a_dead_browser_is_relaunched(portals: Session, engine: PortalEngine) -> None:
    assert engine.check(portals, "Harbor Marketplace QHP", "pa_status",
                        QUERY_FOR["clearinghouse_harbor"]).found
    launches = engine.launches
    browser = engine._browser
    assert browser is not None
    engine._run(browser.close())  # as if Chromium crashed between checks
    result = engine.check(portals, "Harbor Marketplace QHP", "pa_status",
                          QUERY_FOR["clearinghouse_harbor"])
    assert result.found and engine.launches == launches + 1


def test_chromium_leaves_nothing_in_the_users_home(portals: Session, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Chromium wrote a crash-report database (~/.config/chromium) and a dconf cache
    (~/.cache) on every launch, outside the engine's wiped dir."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    with PortalEngine(min_interval_seconds=0) as own:
        result = own.check(portals, "Northwind National Health", "pa_status",
                           PortalQuery(MEMBER, "NW-7001"))
    assert result.status == "approved"
    assert sorted(p.relative_to(home).as_posix() for p in home.rglob("*")) == []
