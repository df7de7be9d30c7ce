"""FHIR R4 import (issue 12): Synthea bundles and the bulk NDJSON export, validated with
fhir.resources; Coverage, Appointment and ServiceRequest; a bad resource refuses the
import with its position or is skipped, listed and audited; a re-import changes nothing;
fuzzed resources never crash the reader."""

from __future__ import annotations

import copy
import json
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import ImportRejected, PermissionDenied
from app.identity import Session
from app.identity.permissions import Role
from app.imports.fhir import Reader
from app.services import imports
from tests.unit.imports_cli import use_cli
from ui.cli import main

FHIR = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "fhir"
BUNDLES = sorted((FHIR / "synthea_r4_bundles").glob("*.json"))
BULK = sorted((FHIR / "synthea_bulk_ndjson_10patients").glob("*.ndjson"))


def _files(paths: list[Path]) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in paths]


def _snapshot(session: Session) -> dict[str, Any]:
    q = session.vault.query
    return {t: q(f"SELECT * FROM {t} ORDER BY 1") for t in
            ("patients", "coverages", "appointments", "clinical_records", "source_ids",
             "payers")}


def _counts(session: Session) -> dict[str, int]:
    return dict(session.vault.query("SELECT kind, count(*) FROM clinical_records "
                                    "GROUP BY kind"))


def test_two_synthea_bundles_import_and_reimport_changes_nothing(owner_session: Session
                                                                 ) -> None:
    files = _files(BUNDLES[:2])
    out = imports.import_fhir(owner_session, files)
    assert out.skipped == [] and out.by_type["patient"] == 2 and out.created == out.records
    assert "Claim" in out.findings[0]  # types we do not import are named, not hidden
    counts = _counts(owner_session)
    assert counts["observation"] > 0 and counts["encounter"] > 0
    assert counts["immunization"] > 0 and counts["condition"] > 0
    before = _snapshot(owner_session)
    again = imports.import_fhir(owner_session, files)
    assert (again.created, again.updated, again.unchanged) == (0, 0, out.records)
    assert _snapshot(owner_session) == before


def test_bundle_values_land_where_the_product_reads_them(owner_session: Session) -> None:
    path = next(p for p in BUNDLES if p.name.startswith("Sandi_Gerlach"))
    imports.import_fhir(owner_session, _files([path]))
    q = owner_session.vault.query
    assert q("SELECT first_name, last_name, dob, sex FROM patients") == [
        ("Sandi", "Gerlach", "1954-01-20", "F")]
    height = q("SELECT code_system, value, unit FROM clinical_records WHERE code = '8302-2'"
               " ORDER BY recorded_on LIMIT 1")
    assert height and height[0][0] == "http://loinc.org" and height[0][2] == "cm"


def test_every_synthea_bundle_imports(owner_session: Session) -> None:
    started = time.monotonic()
    out = imports.import_fhir(owner_session, _files(BUNDLES))
    assert out.skipped == [] and out.by_type["patient"] == len(BUNDLES)
    assert time.monotonic() - started < 60
    assert owner_session.vault.query_one("SELECT count(*) FROM patients")[0] == len(BUNDLES)


def test_bulk_ndjson_export_imports_as_one(owner_session: Session) -> None:
    out = imports.import_fhir(owner_session, _files(BULK))
    assert out.skipped == [] and out.records > 2000
    patients = owner_session.vault.query_one("SELECT count(*) FROM patients")[0]
    assert patients == out.by_type["patient"]
    assert set(_counts(owner_session)) == {"condition", "immunization", "procedure"}
    assert imports.import_fhir(owner_session, _files(BULK)).unchanged == out.records


def test_bulk_file_without_its_patients_is_refused_whole(owner_session: Session) -> None:
    conditions = [p for p in BULK if p.name.startswith("Condition")]
    with pytest.raises(ImportRejected) as info:
        imports.import_fhir(owner_session, _files(conditions))
    assert "line 1" in str(info.value) and "patient is not in this import" in str(info.value)
    assert owner_session.vault.query_one("SELECT count(*) FROM clinical_records")[0] == 0


def _bundle(*resources: dict[str, Any]) -> bytes:
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources]}).encode()


PATIENT = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Zzyzxquell",
           "given": ["Ann"]}], "birthDate": "1961-04-02", "gender": "female",
           "telecom": [{"system": "phone", "value": "555-0101"}]}
ORG = {"resourceType": "Organization", "id": "org1", "name": "Acme Health"}
COVERAGE = {"resourceType": "Coverage", "id": "c1", "status": "active",
            "beneficiary": {"reference": "urn:uuid:p1"}, "subscriberId": "M123",
            "payor": [{"reference": "urn:uuid:org1"}], "order": 1,
            "class": [{"type": {"coding": [{"code": "group"}]}, "value": "G9"}]}
APPOINTMENT = {"resourceType": "Appointment", "id": "a1", "status": "booked",
               "start": "2027-01-05T09:30:00-05:00", "end": "2027-01-05T10:00:00-05:00",
               "participant": [{"actor": {"reference": "Patient/p1"}, "status": "accepted"},
                               {"actor": {"reference": "Practitioner/d1",
                                          "display": "Dr. Lee"}, "status": "accepted"}]}
ORDER = {"resourceType": "ServiceRequest", "id": "s1", "status": "active",
         "intent": "order", "subject": {"reference": "Patient/p1"},
         "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
         "authoredOn": "2026-11-30"}
CPT_PROC = {"resourceType": "Procedure", "id": "pr1", "status": "completed",
            "subject": {"reference": "Patient/p1"}, "performedDateTime": "2026-10-01",
            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt",
                                 "code": "45378", "display": "AMA text"}]}}


def test_coverage_appointment_and_orders(owner_session: Session) -> None:
    out = imports.import_fhir(owner_session, [("b.json", _bundle(
        PATIENT, ORG, COVERAGE, APPOINTMENT, ORDER, CPT_PROC))])
    assert out.skipped == [] and out.created == 5
    q = owner_session.vault.query
    assert q("SELECT p.name, c.member_id, c.group_number, c.priority FROM coverages c JOIN "
             "payers p ON p.id = c.payer_id") == [("Acme Health", "M123", "G9", 1)]
    assert q("SELECT provider, start_at, status FROM appointments") == [
        ("Dr. Lee", "2027-01-05T09:30:00-05:00", "scheduled")]
    assert q("SELECT kind, code, display FROM clinical_records ORDER BY kind") == [
        ("procedure", "45378", ""), ("service_request", "4548-4", "")]  # no CPT text
    moved = dict(APPOINTMENT, status="noshow")
    out = imports.import_fhir(owner_session, [("b.json", _bundle(PATIENT, moved))])
    assert (out.updated, out.unchanged) == (1, 1)
    assert q("SELECT status FROM appointments") == [("no_show",)]


def test_bad_resource_refused_with_position_or_skipped_and_audited(owner_session: Session
                                                                   ) -> None:
    bad = dict(PATIENT, id="p2", birthDate="1961-13-45")
    data = _bundle(PATIENT, bad, ORDER)
    with pytest.raises(ImportRejected) as info:
        imports.import_fhir(owner_session, [("b.json", data)])
    message = str(info.value)
    assert "b.json entry 2" in message and "Patient.birthDate" in message
    assert "1961-13-45" not in message and "\n" not in message
    assert owner_session.vault.query_one("SELECT count(*) FROM patients")[0] == 0
    out = imports.import_fhir(owner_session, [("b.json", data)], skip_bad=True)
    assert out.created == 2 and [b.position for b in out.skipped] == ["b.json entry 2"]
    details = json.loads(owner_session.vault.query_one(
        "SELECT details FROM audit_log WHERE action = 'import.run' ORDER BY id DESC")[0])
    assert details["skip_bad"] is True and details["skipped_positions"] == ["b.json entry 2"]
    assert "Zzyzxquell" not in json.dumps(details)


def test_fhir_import_checks_the_role(owner_session: Session) -> None:
    biller = Session(owner_session.vault, "b", frozenset({Role.BILLER}))
    with pytest.raises(PermissionDenied):
        imports.import_fhir(biller, [("b.json", _bundle(PATIENT))])


def test_cli_import_fhir(owner_session: Session, tmp_path: Path, vault_dir: Path,
                         monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    use_cli(owner_session, vault_dir, monkeypatch)
    good, broken = tmp_path / "b.json", tmp_path / "x.json"
    good.write_bytes(_bundle(PATIENT, ORDER))
    broken.write_bytes(b'{"resourceType": "Bundle", "entry": [')
    assert main(["import", "fhir", str(good), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["created"] == 2 and "2 new" in err
    assert main(["import", "fhir", str(broken)]) == 1
    _out, err = capsys.readouterr()
    assert "REJECTED, nothing imported: not JSON" in err and "Traceback" not in err


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                       lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                       max_leaves=12)


@settings(deadline=timedelta(seconds=3), max_examples=80, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([PATIENT, COVERAGE, APPOINTMENT, ORDER, CPT_PROC]),
       st.dictionaries(st.sampled_from(["id", "name", "birthDate", "subject", "code",
                                        "start", "participant", "status", "beneficiary",
                                        "payor", "resourceType", "gender"]),
                       JSONISH, max_size=3))
def test_fuzzed_resources_are_read_or_listed_as_bad(base: dict[str, Any],
                                                    changes: dict[str, Any]) -> None:
    resource = copy.deepcopy(base)
    resource.update(changes)
    reader = Reader()
    started = time.monotonic()
    try:
        reader.add_file("f.ndjson", json.dumps(resource).encode() + b"\n" +
                        json.dumps(PATIENT).encode() + b"\n")
    except ImportRejected as exc:
        assert "\n" not in str(exc)
    for bad in reader.batch.bad:
        assert bad.position.startswith("f.ndjson line") and "\n" not in bad.reason
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("system", [
    "http://www.ama-assn.org/go/cpt", "https://www.ama-assn.org/go/cpt/",
    "HTTP://WWW.AMA-ASSN.ORG/GO/CPT", "CPT", "urn:oid:2.16.840.1.113883.6.12",
    "http://example.org/codes/cpt"])
def test_cpt_descriptor_text_is_dropped_however_the_system_is_spelled(system: str) -> None:
    from app.imports.fhir import _coding, is_cpt_system

    concept = SimpleNamespace(coding=[SimpleNamespace(system=system, code="99213",
                                                      display="Office visit, low MDM")],
                              text="Office visit, low MDM")
    assert is_cpt_system(system)
    assert _coding(concept) == (system, "99213", "")


def test_other_code_systems_keep_their_display() -> None:
    from app.imports.fhir import _coding

    concept = SimpleNamespace(coding=[SimpleNamespace(system="http://snomed.info/sct",
                                                      code="185349003", display="Encounter")],
                              text="")
    assert _coding(concept)[2] == "Encounter"
