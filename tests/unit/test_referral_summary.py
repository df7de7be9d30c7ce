"""The referral letter's summary (issue 13): the model's sentences are kept only when every
claim is found in the source text, the rest are dropped with the reason; the summary from
the fields is always there; a model that is unavailable is not asked and the task says
why; the triage rule never reads the summary. And a file holding several referrals is
stored once, each referral and task pointing at that one copy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app import queue
from app.errors import ValidationError
from app.identity import Session
from app.referrals import IncomingReferral
from app.referrals.summary import deterministic_summary, sentences
from automations.workflows import referrals as referral_flow
from automations.workflows.referrals import import_referral
from tests.unit.planted_model import plant

LETTER = b"""Lakeside Clinic - Referral
Patient: Quintessa Zzyzxquell
DOB: 04/12/1975
Referring provider: Dr. Ames, Lakeside Clinic
Referred to: Family medicine
Reason for referral: Worsening diabetic foot ulcer, please see soon.
Diagnosis: E11.621
"""


def _evidence(session: Session, task_id: int) -> dict[str, Any]:
    return {e.label: e for e in queue.get_task(session, task_id).evidence}


def test_grounded_sentences_are_kept_with_spans_and_invented_ones_dropped(
        practice: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    asked = plant(monkeypatch, referral_flow, lambda _p: {"summary": (
        "Dr. Ames refers the patient to family medicine. Reason: worsening diabetic foot "
        "ulcer. The patient also has chest pain since 2019.")})
    result = import_referral(practice, LETTER, "letter.txt")
    assert asked == ["referral_summary"]
    task = queue.get_task(practice, result.tasks[0])
    summary = task.payload["summary"]
    assert summary["origin"] == "model" and summary["model"] == "planted"
    assert summary["text"] == ("Dr. Ames refers the patient to family medicine. Reason: "
                               "worsening diabetic foot ulcer.")
    [dropped] = summary["dropped"]
    assert dropped["sentence"] == "The patient also has chest pain since 2019."
    assert "chest pain" in dropped["why"] and "2019" in dropped["why"]
    labels = _evidence(practice, task.id)
    model = labels["Model summary by the local model planted (checked claim by claim "
                   "against the source text)"]
    assert model.excerpt.startswith(summary["text"])
    assert 'Dropped (not in the source): "The patient also has chest pain' in model.excerpt
    # every span points at the source text shown on the task, at the words it grounds
    source = labels["Reason for referral (source text)"].excerpt
    found = {source[s:e].lower() for s, e in summary["spans"]}
    assert {"ames", "diabetic", "ulcer"} <= {w for f in found for w in f.split()}
    assert {source[s:e] for s, e in summary["fact_spans"]} >= {"E11.621",
                                                              "Family medicine"}
    # the summary from the fields is always shown, first
    assert task.evidence[0].label == "Summary from the extracted fields"
    assert "Reason: Worsening diabetic foot ulcer, please see soon." in task.evidence[0].excerpt


def test_a_swapped_referrer_and_destination_is_dropped(
        practice: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every word of it is in the letter, but Lakeside Clinic sent the referral (what the
    bundled model wrote for the demo letter)."""
    plant(monkeypatch, referral_flow, lambda _p: {"summary": (
        "Dr. Ames refers the patient to Lakeside Clinic, Family Medicine. Family medicine "
        "refers the patient. Lakeside Clinic refers the patient.")})
    task = queue.get_task(practice, import_referral(practice, LETTER, "l.txt").tasks[0])
    summary = task.payload["summary"]
    assert summary["text"] == "Lakeside Clinic refers the patient."  # true: it sent it
    assert [d["why"] for d in summary["dropped"]] == [
        "it says the patient is referred to 'Lakeside Clinic', but the referral is to "
        "'Family medicine'",
        "it says 'Family medicine' refers the patient, but the referral is from 'Dr. Ames, "
        "Lakeside Clinic'"]


def test_the_triage_suggestion_does_not_depend_on_the_model(
        practice: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    plant(monkeypatch, referral_flow, lambda _p: {
        "summary": "Routine referral, decline it. Approved by the doctor."})
    with_model = queue.get_task(practice, import_referral(practice, LETTER, "a.txt").tasks[0])
    without = queue.get_task(practice, import_referral(
        practice, LETTER.replace(b"Lakeside Clinic - Referral", b"Lakeside Clinic"),
        "b.txt", use_model=False).tasks[0])
    assert (with_model.title, with_model.draft) == (without.title, without.draft)
    summary = with_model.payload["summary"]
    assert summary["origin"] == "fields" and summary["text"] == ""
    assert any("approval language" in d["why"] for d in summary["dropped"])
    assert "No sentence of the model's summary passed" in summary["notice"]
    assert "summary" in without.payload and without.payload["summary"]["asked"] is False
    assert "Model summary: not used" not in {e.label for e in without.evidence}


def test_an_unavailable_model_is_not_used_and_the_task_says_why(
        practice: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    plant(monkeypatch, referral_flow, lambda _p: None)  # ModelUnavailable, as for a broken model
    task = queue.get_task(practice, import_referral(practice, LETTER, "l.txt").tasks[0])
    note = _evidence(practice, task.id)["Model summary: not used"]
    assert note.excerpt.startswith("Drafted from the template: the model is unavailable "
                                   "(the model failed its self-test)")
    assert task.payload["summary"]["origin"] == "fields"


def test_a_fhir_request_is_not_given_to_the_model(practice: Session,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    asked = plant(monkeypatch, referral_flow, lambda _p: {"summary": "x"})
    bundle = _bundle(["sr-1"])
    import_referral(practice, bundle)
    assert asked == []  # structured: its fields are the facts


def _bundle(ids: list[str]) -> bytes:
    entries: list[dict[str, Any]] = [{"fullUrl": "urn:uuid:p", "resource": {
        "resourceType": "Patient", "id": "p", "name": [{"family": "Zzyzx", "given": ["Q"]}],
        "birthDate": "1975-04-12"}}]
    entries += [{"fullUrl": f"urn:uuid:{i}", "resource": {
        "resourceType": "ServiceRequest", "id": i, "status": "active", "intent": "order",
        "priority": "routine", "subject": {"reference": "urn:uuid:p"},
        "reasonCode": [{"text": f"Hypertension follow-up {i}"}]}} for i in ids]
    return json.dumps({"resourceType": "Bundle", "type": "collection",
                       "entry": entries}).encode()


def _blobs(session: Session) -> int:
    return int(session.vault.query_one("SELECT count(*) FROM blobs")[0])


def test_a_file_with_several_referrals_is_stored_once(practice: Session) -> None:
    before = _blobs(practice)
    data = _bundle(["sr-1", "sr-2", "sr-3"])
    result = import_referral(practice, data, "bundle.json")
    assert len(result.tasks) == 3
    assert _blobs(practice) == before + 1  # one copy, not one per task
    blob_ids = {next(e.blob_id for e in queue.get_task(practice, t).evidence
                     if e.label == "Source document") for t in result.tasks}
    stored = {int(b) for (b,) in practice.vault.query(
        "SELECT source_blob_id FROM referrals WHERE id IN (?,?,?)", tuple(result.referrals))}
    assert len(blob_ids) == 1 and blob_ids == stored
    with pytest.raises(ValidationError, match="FHIR referral file"):  # shown per referral
        queue.blob_data(practice, blob_ids.pop(), result.tasks[0])
    # the same file again: nothing new; a request added to it: only the new one, and the
    # new file is stored once
    assert import_referral(practice, data).duplicates == 3 and _blobs(practice) == before + 1
    grown = import_referral(practice, _bundle(["sr-1", "sr-2", "sr-3", "sr-4"]))
    assert (grown.duplicates, len(grown.tasks)) == (3, 1) and _blobs(practice) == before + 2
    from app.services import referrals
    shown = referrals.referral_history(practice, result.referrals[1])
    assert shown["source_document"]["referrals"] == result.referrals
    part, mime = referrals.source_document(practice, result.referrals[1])
    assert mime == "application/fhir+json"
    assert [e["resource"]["id"] for e in json.loads(part)["entry"]] == ["p", "sr-2"]



def _two_patients() -> bytes:
    def entry(resource: dict[str, Any]) -> dict[str, Any]:
        return {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}

    def sr(i: str, patient: str, condition: str, coverage: str,
           **more: Any) -> dict[str, Any]:
        return {"resourceType": "ServiceRequest", "id": i, "status": "active",
                "intent": "order", "subject": {"reference": f"urn:uuid:{patient}"},
                "requester": {"reference": "Practitioner/dr"},
                "reasonReference": [{"reference": f"Condition/{condition}"}],
                "insurance": [{"reference": f"urn:uuid:{coverage}"}], **more}

    resources = [
        {"resourceType": "Patient", "id": "pa", "birthDate": "1975-04-12",
         "name": [{"family": "Zzyzxquell", "given": ["Quintessa"]}]},
        {"resourceType": "Patient", "id": "pb", "birthDate": "1950-01-01",
         "name": [{"family": "Ozymandias", "given": ["Bartholomew"]}]},
        {"resourceType": "Organization", "id": "acme", "name": "Acme Health"},
        {"resourceType": "Practitioner", "id": "dr", "name": [{"family": "Ames"}]},
        {"resourceType": "Condition", "id": "ca", "subject": {"reference": "Patient/pa"},
         "code": {"text": "Hypertension"}},
        {"resourceType": "Condition", "id": "cb", "subject": {"reference": "Patient/pb"},
         "code": {"text": "Gout flare"}},
        {"resourceType": "Coverage", "id": "cova", "status": "active",
         "beneficiary": {"reference": "Patient/pa"}, "subscriberId": "ZQM4455667",
         "payor": [{"reference": "Organization/acme"}]},
        {"resourceType": "Coverage", "id": "covb", "status": "active",
         "beneficiary": {"reference": "Patient/pb"}, "subscriberId": "BO9999",
         "payor": [{"reference": "Organization/acme"}]},
        # A's request also points at B's condition (a sender's slip): still not shown
        sr("sr-a", "pa", "ca", "cova", supportingInfo=[{"reference": "Condition/cb"}]),
        sr("sr-b", "pb", "cb", "covb")]
    return json.dumps({"resourceType": "Bundle", "type": "collection",
                       "entry": [entry(r) for r in resources]}).encode()


def test_a_referral_shows_only_its_own_patients_part_of_a_shared_bundle(
        practice: Session) -> None:
    """One bundle, two patients' referrals, stored once: opening A's referral shows A's
    request and what it refers to for A (patient, condition, coverage, payer, requester),
    nothing of B, audited under A; and B's the other way round. The file whole is not
    handed out as a task's evidence either."""
    from app.services import referrals
    result = import_referral(practice, _two_patients(), "bundle.json")
    ra, rb = result.referrals
    quintessa = practice.vault.query_one("SELECT patient_id FROM referrals WHERE id = ?",
                                         (ra,))[0]
    assert quintessa is not None
    part, mime = referrals.source_document(practice, ra)
    assert mime == "application/fhir+json"
    shown = json.loads(part)
    assert shown["resourceType"] == "Bundle"
    assert [e["resource"]["id"] for e in shown["entry"]] == ["pa", "acme", "dr", "ca", "cova",
                                                             "sr-a"]
    for other in (b"Ozymandias", b"Bartholomew", b"BO9999", b"Gout", b"sr-b", b'"cb"'):
        assert other not in part.replace(b"Condition/cb", b"")
    [viewed] = practice.vault.query(
        "SELECT patient_id FROM audit_log WHERE action = 'referral.source_view' AND "
        "object_id = ?", (str(ra),))
    assert viewed[0] == quintessa
    part_b, _ = referrals.source_document(practice, rb)
    assert b"Ozymandias" in part_b and b"Zzyzxquell" not in part_b and b"ZQM" not in part_b
    [viewed_b] = practice.vault.query(
        "SELECT patient_id FROM audit_log WHERE action = 'referral.source_view' AND "
        "object_id = ?", (str(rb),))
    assert viewed_b[0] is None  # B is not the practice's patient: not Quintessa's row
    evidence = next(e for e in queue.get_task(practice, result.tasks[0]).evidence
                    if e.label == "Source document")
    with pytest.raises(ValidationError):
        queue.blob_data(practice, evidence.blob_id, result.tasks[0])


def test_ndjson_and_a_lone_request_keep_only_the_referrals_part() -> None:
    from app.referrals.sources import service_request_part
    bundle = json.loads(_two_patients())
    lines = [json.dumps(e["resource"]).encode() for e in bundle["entry"]]
    for was, now in ((b"urn:uuid:p", b"Patient/p"), (b"urn:uuid:cov", b"Coverage/cov")):
        lines = [line.replace(was, now) for line in lines]  # NDJSON has no fullUrl
    part = service_request_part(b"\n".join(lines), "sr-b")
    assert [json.loads(line)["id"] for line in part.splitlines()] == [
        "pb", "acme", "dr", "cb", "covb", "sr-b"]
    lone = json.dumps(bundle["entry"][-1]["resource"]).encode()
    assert service_request_part(lone, "sr-b") == lone

def test_deterministic_summary_and_sentences() -> None:
    ref = IncomingReferral("letter", "x", referring="Dr. Ames", specialty="Cardiology",
                           reason="Palpitations.")
    assert deterministic_summary(ref) == ("Referring: Dr. Ames. Referred to: Cardiology. "
                                          "Reason: Palpitations.")
    assert deterministic_summary(IncomingReferral("letter", "x")).startswith("No fields")
    assert sentences("Dr. Ames refers. Reason: 3.5 mg dose. Seen 04/12/1975.") == [
        "Dr. Ames refers.", "Reason: 3.5 mg dose.", "Seen 04/12/1975."]


def test_a_referrer_named_after_the_verb_and_a_negation_are_checked(
        practice: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every word of each sentence is in the letter, but the letter says neither: Lakeside
    Clinic sent the referral, to family medicine; and it asks for the patient to be seen
    soon. A letter saying it in its own words keeps them."""
    plant(monkeypatch, referral_flow, lambda _p: {"summary": (
        "Referred by Family medicine to Lakeside Clinic. A referral from Family medicine. "
        "The patient is not to be seen soon. "
        "Dr. Ames refers the patient to family medicine.")})
    task = queue.get_task(practice, import_referral(practice, LETTER, "l.txt").tasks[0])
    summary = task.payload["summary"]
    assert summary["text"] == "Dr. Ames refers the patient to family medicine."
    why = [d["why"] for d in summary["dropped"]]
    assert "it says 'Family medicine' refers the patient" in why[0]
    assert "referred to 'Lakeside Clinic'" in why[0]
    assert "it says 'Family medicine' refers the patient" in why[1]
    assert "it says 'not to be seen', which the referral does not say" in why[2]
    assert len(why) == 3


def test_a_negation_the_letter_makes_is_kept() -> None:
    from app.referrals.summary import negation_problems
    letter = "Allergies: no known drug allergies. Not urgent; routine visit."
    assert negation_problems("The referral is not urgent.", letter) == []
    assert negation_problems("No known drug allergies.", letter) == []
    assert negation_problems("The visit is not routine.", letter) == [
        "it says 'not routine', which the referral does not say"]
    assert negation_problems("Referral No. 12.", "Referral number: 12") == []
    assert negation_problems("It isn't urgent.", "Priority: urgent.") == [
        "it says 'isn't urgent', which the referral does not say"]
