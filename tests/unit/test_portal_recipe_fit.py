"""Recipes that fit real portals (issue 12): optional and conditional steps, the field
that gives the payer's own wording, dates and day counts in the payer's words, the
look-up values a recipe uses, one status vocabulary, and no member ID in a task title."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from app import clock, queue
from app.domain.pa import PAStatus
from app.identity import Session
from app.pa import rules, wording
from app.services import patients
from app.services import prior_auth as pa_svc
from automations.portal import PA_STATUSES, RecipeInvalid, builtin_recipes_dir, load_recipe_file
from automations.portal.engine import PortalQuery, lookup_value
from automations.workflows.pa_followup import PortalStatusSource, run_checks

TZ = ZoneInfo("America/New_York")
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=timezone.utc)


def northwind(tmp_path: Path, change: object = None) -> Path:
    data = yaml.safe_load((builtin_recipes_dir() / "northwind.yaml").read_text("utf-8"))
    if callable(change):
        change(data)
    path = tmp_path / "northwind.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_step_or_a_block_may_run_only_if_its_selector_is_present(tmp_path: Path) -> None:
    def add(data: dict) -> None:  # type: ignore[type-arg]
        data["login"].insert(4, {"if_present": "#expiry-dialog", "steps": [
            {"click": {"selector": "#stay-signed-in", "navigates": False}},
            {"expect": "#nw-otp"}]})
    recipe = load_recipe_file(northwind(tmp_path, add))
    block = recipe.login[4]
    assert block.action == "block" and block.if_present == "#expiry-dialog"
    assert [s.action for s in block.steps] == ["click", "expect"]
    assert block.label == "if #expiry-dialog"
    survey = recipe.kinds["pa_status"].steps[1]  # the built-in recipe's survey dialog
    assert (survey.action, survey.if_present) == ("click", "#nw-survey")


@pytest.mark.parametrize("change, key, problem", [
    (lambda d: d["login"].append({"steps": [{"expect": "#x"}]}), "login[7].if_present",
     "needs if_present"),
    (lambda d: d["login"].append({"if_present": "#x", "steps": []}), "login[7].steps",
     "non-empty list"),
    (lambda d: d["login"].append({"if_present": "#x", "steps": [
        {"fill": {"selector": "#y", "value": "{shoe_size}"}}]}),
     "login[7].steps[0].fill.value", "unknown placeholder"),
    (lambda d: d["kinds"]["pa_status"].update(wording="nope"), "kinds.pa_status.wording",
     "names no extracted field"),
    (lambda d: d["kinds"]["pa_status"].update(optional=["shoe_size"]),
     "kinds.pa_status.optional", "not a look-up value"),
])
def test_new_keys_are_validated_with_the_file_and_key(tmp_path: Path, change: object,
                                                      key: str, problem: str) -> None:
    with pytest.raises(RecipeInvalid) as caught:
        load_recipe_file(northwind(tmp_path, change))
    assert caught.value.key == key and problem in caught.value.problem


def test_the_recipe_names_its_wording_field_and_lookup_values(tmp_path: Path) -> None:
    recipe = load_recipe_file(northwind(tmp_path))
    assert recipe.kinds["pa_status"].wording_field == "letter"
    assert recipe.kinds["claim_status"].wording_field == "status_text"  # the default
    assert recipe.lookup_values("pa_status") == ["member_id", "reference"]
    assert recipe.required_lookups("pa_status") == ["member_id"]  # reference is optional

    def by_dob(data: dict) -> None:  # type: ignore[type-arg]
        data["kinds"]["pa_status"]["steps"].insert(
            3, {"fill": {"selector": "#dob", "value": "{dob_us}"}})
        data["kinds"]["pa_status"]["steps"].insert(
            4, {"fill": {"selector": "#npi", "value": "{npi}"}})
    recipe = load_recipe_file(northwind(tmp_path, by_dob))
    assert recipe.required_lookups("pa_status") == ["member_id", "dob", "npi"]
    query = PortalQuery("M1", dob=date(1975, 4, 12))
    assert [lookup_value(query, n) for n in ("member_id", "dob", "npi")] == [
        "M1", "1975-04-12", ""]


def test_statuses_are_the_apps_own_and_old_names_still_load(tmp_path: Path) -> None:
    assert set(PA_STATUSES) == {s.value for s in PAStatus} - {"not_found"}

    def old(data: dict) -> None:  # type: ignore[type-arg]
        for rule in data["kinds"]["pa_status"]["status"]["map"]:
            rule["status"] = {"pending": "pended",
                              "info_requested": "additional_info_requested"}.get(
                                  rule["status"], rule["status"])
    recipe = load_recipe_file(northwind(tmp_path, old))
    assert recipe.normalize("pa_status", "Pended for clinical review") == "pending"
    assert recipe.normalize("pa_status", "Pended – additional information") == \
        "info_requested"
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    assert "status: pended}" not in readme
    assert "status: additional_info_requested}" not in readme


REF = date(2026, 12, 1)


@pytest.mark.parametrize("text, status, expected", [
    ("We need the last two office notes. A reply is due by 03/14/2027.",
     PAStatus.INFO_REQUESTED, (date(2027, 3, 14), None)),
    ("Please respond no later than March 14, 2027.", PAStatus.INFO_REQUESTED,
     (date(2027, 3, 14), None)),
    ("Records must reach us by 2027-01-05", PAStatus.INFO_REQUESTED, (date(2027, 1, 5), None)),
    ("You may appeal within 180 days of this letter.", PAStatus.DENIED, (None, 180)),
    ("Letter of 11/25/2026: not medically necessary. You may appeal within 180 days of "
     "this letter.", PAStatus.DENIED, (date(2027, 5, 24), 180)),
    ("Letter of 11/25: you may appeal within 60 days of this letter.", PAStatus.DENIED,
     (date(2027, 1, 24), 60)),
    ("Approved – 12 units through 03/31", PAStatus.APPROVED, (None, None)),
    ("Denied – not medically necessary", PAStatus.DENIED, (None, None)),
])
def test_dates_and_day_counts_in_the_payers_words(text: str, status: PAStatus,
                                                  expected: tuple[date | None, int | None]
                                                  ) -> None:
    assert wording.deadline(text, REF, status) == expected


def test_a_stated_appeal_window_sets_the_due_date_and_the_default_only_when_silent() -> None:
    pa = _pa()
    said = rules.on_status_change(pa, rules.Observation(
        PAStatus.DENIED, "You may appeal within 180 days of this letter.", NOW,
        respond_within_days=180), TZ, appeal_window_days=60)
    silent = rules.on_status_change(pa, rules.Observation(
        PAStatus.DENIED, "Denied – not medically necessary", NOW), TZ, appeal_window_days=60)
    [appeal] = [s for s in said if s.kind == "pa_next_action"]
    [default] = [s for s in silent if s.kind == "pa_next_action"]
    assert appeal.payload["deadline"] == "2027-05-30" and "stated by the payer" in appeal.draft
    assert "within 180 days of this letter" in appeal.draft
    assert default.payload["deadline"] == "2027-01-30" and "60-day window" in default.draft


def _pa() -> pa_svc.PriorAuth:
    from app.domain import PlanType
    from app.domain.pa import PriorAuth, Urgency
    return PriorAuth(id=7, patient_id=1, payer_id=1, plan_type=PlanType.COMMERCIAL,
                     cpt_code="97110", units=12, service_date=date(2026, 12, 20),
                     urgency=Urgency.STANDARD, submitted_at=NOW - timedelta(days=3),
                     payer_ref="AC-7", status=PAStatus.DENIED, status_changed_at=NOW,
                     decision_due_at=NOW + timedelta(days=4))


def test_a_task_title_never_carries_a_member_id(practice: Session) -> None:
    pid = int(practice.vault.query_one("SELECT id FROM patients")[0])
    task, _ = queue.create_task(practice, "pa_followup", "t:1",
                                "PA 1 (CPT 97110, ref ZQM4455667): now denied",
                                patient_id=pid)
    assert task.title == "PA 1 (CPT 97110, ref [member ID]): now denied"


def test_check_now_says_why_each_skipped_pa_was_skipped(practice: Session) -> None:
    clock.set_clock(lambda: NOW)
    pid = int(practice.vault.query_one("SELECT id FROM patients")[0])
    off = patients.add_payer(practice, "Quiet Plan", "commercial", portal_recipe="northwind",
                             portal_enabled=False)
    patients.add_coverage(practice, pid, off.name, "QP123456")
    a = pa_svc.add_prior_auth(practice, patient_id=pid, payer="Acme Health", cpt_code="97110",
                              units=1, service_date="2026-12-20", payer_ref="AC-1").id
    b = pa_svc.add_prior_auth(practice, patient_id=pid, payer="Quiet Plan", cpt_code="97110",
                              units=1, service_date="2026-12-20", payer_ref="QP-1").id
    summary = run_checks(Session.system(practice.vault), PortalStatusSource(engine=None))
    reasons = {s["pa_id"]: s["reason"] for s in summary.to_json()["skipped_pas"]}
    acme = patients.find_payer(practice, "Acme Health").id
    assert reasons == {a: f"payer {acme} has no portal recipe",
                       b: f"portal checks are off for payer {off.id}"}
