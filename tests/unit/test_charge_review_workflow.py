"""Charge capture end to end, from imported data: a corpus 837 (lfh demo example 1) and
a FHIR chart for its patient, then a Synthea bundle with a corpus 837 rewritten for its
patient; the findings become charge_review tasks with both sides as evidence, approval
records the review in the audit trail (the claim unchanged), and a re-run creates
nothing new. Also the CLI command and the scheduled job."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from app import clock, queue
from app.identity import Session
from app.services import imports
from automations.workflows.charge_review import review_charges
from tests.unit.imports_cli import use_cli
from ui.cli import main

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
EXAMPLE_837 = CORPUS / "x12" / "837p" / "lfh__demo.example1.837"
SYNTHEA = CORPUS / "fhir" / "synthea_r4_bundles" / \
    "Alfreda_Wyman_3287b938-4670-47eb-91e5-e0ce3df71405.json"


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}


def ted_smith_chart() -> bytes:
    """The chart of the 837's patient (TED SMITH, 1973-05-01): a visit on 2006-10-03 with
    the billed culture (87070) and a flu shot that was never billed, and a visit on
    2006-10-10 with no lab documented (the 837 bills 86663 that day)."""
    subject = {"reference": "urn:uuid:p-ted"}
    snomed = "http://snomed.info/sct"
    entries = [
        {"resourceType": "Patient", "id": "p-ted", "name": [{"family": "Smith",
                                                             "given": ["Ted"]}],
         "gender": "male", "birthDate": "1973-05-01"},
        {"resourceType": "Encounter", "id": "e1", "status": "finished",
         "class": {"code": "AMB"}, "subject": subject,
         "type": [{"coding": [{"system": snomed, "code": "185349003"}]}],
         "period": {"start": "2006-10-03T09:00:00-04:00", "end": "2006-10-03T09:30:00-04:00"}},
        {"resourceType": "Procedure", "id": "pr1", "status": "completed", "subject": subject,
         "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "87070"}]},
         "performedDateTime": "2006-10-03T09:10:00-04:00"},
        {"resourceType": "Immunization", "id": "im1", "status": "completed",
         "patient": subject, "occurrenceDateTime": "2006-10-03T09:20:00-04:00",
         "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx",
                                     "code": "140"}]}},
        {"resourceType": "Encounter", "id": "e2", "status": "finished",
         "class": {"code": "AMB"}, "subject": subject,
         "type": [{"coding": [{"system": snomed, "code": "185349003"}]}],
         "period": {"start": "2006-10-10T09:00:00-04:00"}},
    ]
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [_entry(r) for r in entries]}
    return json.dumps(bundle).encode()


def rewritten_837(last: str, first: str, dob: str, dos: str, codes: list[str]) -> bytes:
    """The corpus 837 with its patient, service dates and the four line codes replaced
    (same segments, so its counts still hold)."""
    text = EXAMPLE_837.read_text()
    text = text.replace("NM1*QC*1*SMITH*TED", f"NM1*QC*1*{last}*{first}")
    text = text.replace("DMG*D8*19730501", f"DMG*D8*{dob}")
    for old in ("20061003", "20061010"):
        text = text.replace(f"DTP*472*D8*{old}", f"DTP*472*D8*{dos}")
    for old, new in zip(["HC:99213", "HC:87070", "HC:99214", "HC:86663"], codes):
        text = text.replace(f"SV1*{old}*", f"SV1*HC:{new}*")
    return text.encode()


def _tasks(session: Session) -> dict[str, Any]:
    rows = session.vault.query("SELECT natural_key, id FROM tasks WHERE kind = "
                               "'charge_review'")
    return {str(k): queue.get_task(session, int(i)) for k, i in rows}


def test_corpus_837_against_the_chart_to_approval_and_audit(practice: Session) -> None:
    imports.import_fhir(practice, [("ted.json", ted_smith_chart())])
    imports.import_837(practice, EXAMPLE_837.read_bytes())
    patient_id = practice.vault.query_one(
        "SELECT id FROM patients WHERE last_name = 'Smith' AND first_name = 'Ted'")[0]
    claim = practice.vault.query_one("SELECT id, source_hash FROM claims WHERE "
                                     "claim_number = '26463774'")
    queue.set_mode(practice, "charge_review", "approve_each")

    result = review_charges(practice, start=date(2006, 10, 1), end=date(2006, 10, 31))
    tasks = _tasks(practice)
    assert set(tasks) == {f"charge:{patient_id}:2006-10-03:missing:90655",
                          f"charge:{patient_id}:2006-10-03:missing:90460",
                          f"charge:{patient_id}:2006-10-10:unsupported:86663"}
    assert result.encounters == 2 and sorted(result.created) == sorted(
        t.id for t in tasks.values())
    unsupported = tasks[f"charge:{patient_id}:2006-10-10:unsupported:86663"]
    assert unsupported.role == "biller" and unsupported.state.value == "pending"
    assert unsupported.patient_id == patient_id
    assert unsupported.subject_type == "claim" and unsupported.subject_id == str(claim[0])
    table = unsupported.evidence[0].excerpt
    assert "encounter snomed 185349003" in table and "* 86663 x1  claim 26463774" in table
    flu = tasks[f"charge:{patient_id}:2006-10-03:missing:90655"]
    assert "* immunization cvx 140" in flu.evidence[0].excerpt
    assert "99213 x1" in flu.evidence[0].excerpt and "87070 x1" in flu.evidence[0].excerpt
    for task in tasks.values():  # no names on the task's face
        assert "Smith" not in task.title + task.draft and "Ted" not in task.draft

    done = queue.approve(practice, unsupported.id)
    assert done.state.value == "done"
    audit = practice.vault.query(
        "SELECT object_type, object_id, patient_id, details FROM audit_log WHERE action = "
        "'charge.reviewed'")
    assert [(a[0], a[1], a[2]) for a in audit] == [("claim", str(claim[0]), patient_id)]
    assert json.loads(audit[0][3])["flag"] == "unsupported"
    assert practice.vault.query_one("SELECT source_hash FROM claims WHERE id = ?",
                                    (claim[0],))[0] == claim[1]  # never edited

    audit_rows = practice.vault.query_one("SELECT count(*) FROM audit_log")[0]
    again = review_charges(practice, start=date(2006, 10, 1), end=date(2006, 10, 31))
    assert again.created == [] and again.findings == 3
    assert practice.vault.query_one("SELECT count(*) FROM audit_log")[0] == audit_rows
    assert len(_tasks(practice)) == 3
    assert queue.get_task(practice, unsupported.id).state.value == "done"

    # The biller bills the flu shot (a corrected claim): its two findings close by
    # themselves on the next run; the reviewed one stays done.
    with practice.vault.write() as conn:
        for ordinal, code in ((4, "90656"), (5, "90471")):
            conn.execute("INSERT INTO claim_lines (claim_id, ordinal, code, charge, units, "
                         "service_date) VALUES (?,?,?,?,?,?)",
                         (claim[0], ordinal, code, "20.00", "1", "2006-10-03"))
    fixed = review_charges(practice, start=date(2006, 10, 1), end=date(2006, 10, 31))
    assert fixed.created == [] and fixed.findings == 1 and len(fixed.closed) == 2
    states = {k: t.state.value for k, t in _tasks(practice).items()}
    assert states == {f"charge:{patient_id}:2006-10-03:missing:90655": "rejected",
                      f"charge:{patient_id}:2006-10-03:missing:90460": "rejected",
                      f"charge:{patient_id}:2006-10-10:unsupported:86663": "done"}


def test_synthea_bundle_with_a_corpus_837(practice: Session) -> None:
    imports.import_fhir(practice, [(SYNTHEA.name, SYNTHEA.read_bytes())])
    # The flu shot of 2012-11-20 billed as product and administration, the visit as
    # 99213, and a chest X-ray the chart does not document.
    imports.import_837(practice, rewritten_837("WYMAN", "ALFREDA", "19801028", "20121120",
                                               ["99213", "90656", "90471", "71046"]))
    patient_id = practice.vault.query_one("SELECT id FROM patients WHERE last_name = "
                                          "'Wyman'")[0]
    review_charges(practice, start=date(2012, 11, 20), end=date(2012, 11, 20))
    assert set(_tasks(practice)) == {f"charge:{patient_id}:2012-11-20:unsupported:71046"}
    task = next(iter(_tasks(practice).values()))
    assert task.state.value == "shadow"  # a new practice starts every kind in shadow mode


def test_cli_charges_check(owner_session: Session, vault_dir: Path,
                           monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    imports.import_fhir(owner_session, [("ted.json", ted_smith_chart())])
    imports.import_837(owner_session, EXAMPLE_837.read_bytes())
    use_cli(owner_session, vault_dir, monkeypatch)
    assert main(["charges", "check", "--from", "2006-10-01", "--to", "2006-10-31",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["encounters"] == 2 and len(out["tasks"]) == 3
    assert main(["charges", "check", "--from", "2006-10-01", "--to", "2006-10-31"]) == 0
    assert "0 new charge_review task(s)" in capsys.readouterr().out
    assert main(["charges", "check", "--from", "yesterday"]) == 2


def test_default_span_is_the_settings_days_back(practice: Session) -> None:
    imports.import_fhir(practice, [("ted.json", ted_smith_chart())])
    imports.import_837(practice, EXAMPLE_837.read_bytes())
    clock.set_clock(lambda: datetime(2006, 10, 12, 12, 0, tzinfo=timezone.utc))
    from app.services.practice import set_setting
    set_setting(practice, "charge_review_days", 5)
    assert review_charges(practice).encounters == 1  # 2006-10-10 only
    set_setting(practice, "charge_review_days", 60)
    assert review_charges(practice).encounters == 2


def test_nightly_job_is_registered_and_runs_as_its_system_identity(practice: Session) -> None:
    from automations.jobs import build_scheduler, charge_jobs
    from automations.jobs.runtime import install

    imports.import_fhir(practice, [("ted.json", ted_smith_chart())])
    imports.import_837(practice, EXAMPLE_837.read_bytes())
    clock.set_clock(lambda: datetime(2006, 10, 12, 7, 0, tzinfo=timezone.utc))
    def no_portal(session: Session) -> Any:
        raise AssertionError("the charge review never visits a portal")

    scheduler = build_scheduler(practice.vault, no_portal)
    try:
        job = {j.id: j for j in scheduler.get_jobs()}[charge_jobs.CHARGE_REVIEW_ID]
        assert job.args == () and "hour='2'" in str(job.trigger)
        charge_jobs.charge_review()
        assert len(_tasks(practice)) == 3
        actors = {a for (a,) in practice.vault.query(
            "SELECT actor FROM audit_log WHERE action = 'task.create'")}
        assert actors == {charge_jobs.CHARGE_REVIEW_ID}
        charge_jobs.charge_review()
        assert practice.vault.query_one("SELECT count(*) FROM tasks WHERE kind = "
                                        "'charge_review'")[0] == 3
    finally:
        install(None)
        scheduler.remove_all_jobs()


def test_demo_seed_makes_real_charge_review_tasks(owner_session: Session) -> None:
    import random

    from automations.seeds import s10_practice, s80_charges
    s10_practice.seed(owner_session, random.Random(7))
    assert not owner_session.vault.query("SELECT id FROM tasks WHERE kind = 'charge_review'")
    s80_charges.seed(owner_session, random.Random(7))
    keys = [str(k) for (k,) in owner_session.vault.query(
        "SELECT natural_key FROM tasks WHERE kind = 'charge_review' AND state = 'shadow'")]
    flags = sorted({k.split(":")[3] + ":" + k.split(":")[4] for k in keys})
    assert flags == ["em_outlier:99215", "missing:90460", "missing:90655", "no_charge:visit",
                     "units:96372", "unsupported:71046"]
    tasks = _tasks(owner_session)
    outlier = next(t for k, t in tasks.items() if ":em_outlier:" in k)
    # Dr. Rivera's own distribution, from the claims' rendering provider (2310B)
    assert outlier.payload["provider"] == "RIVERA, ELENA (NPI 1987654328)"
    assert "1 of 22 (5%)" in outlier.payload["why"]
    units = next(t for k, t in tasks.items() if ":units:" in k)
    assert units.payload["why"] == "2 documented, 1 billed"
    assert units.payload["provider"] == "CHEN, LI (NPI 1555000003)"
    assert owner_session.vault.query_one(
        "SELECT count(*) FROM claims WHERE rendering_from = '2010AA'")[0] > 0
