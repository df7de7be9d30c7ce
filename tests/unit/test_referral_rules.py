"""Referrals, pure: triage for each urgency class and each action, the readers (the corpus
C-CDA referral note and PAS ServiceRequest, letters) with their bounds and fuzzing, the
rule file's schema, and the outbound loop's due times and overdue follow-ups."""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import ImportRejected
from app.referrals import Code, IncomingReferral
from app.referrals.loop import (
    Incoming,
    LoopDays,
    Outbound,
    check_order,
    due_at,
    followup_done,
    incoming_overdue,
    loop_open,
    next_step,
    overdue,
)
from app.referrals.sources import (
    detect,
    read_ccda,
    read_letter,
    read_service_requests,
)
from app.referrals.triage import load_rules, parse_rules, triage, triage_task
from app.rulefiles import RuleFileError

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
CCDA = CORPUS / "forms" / "hl7_ccda_referral"
PAS = CORPUS / "fhir" / "davinci_pas_2.2.1_examples"
RULES = load_rules()
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)


def ref(**kw: object) -> IncomingReferral:
    base: dict[str, object] = {"source": "letter", "source_id": "t1",
                               "reason": "Evaluate knee pain", "specialty": "family"}
    base.update(kw)
    return IncomingReferral(**base)  # type: ignore[arg-type]


# -- triage: one test per urgency class, then each action ---------------------------------

def test_emergent_is_declined_to_emergency_care() -> None:
    d = triage(ref(reason="Crushing chest pain since this morning"), RULES)
    assert (d.urgency, d.action) == ("emergent", "decline")
    assert "emergency care" in d.reason and d.matched == ("word 'chest pain'",)
    assert d.respond_within_hours == 1


def test_emergent_by_priority_code() -> None:
    assert triage(ref(priority="stat"), RULES).urgency == "emergent"
    assert triage(ref(priority="EM"), RULES).urgency == "emergent"


def test_urgent_by_priority_word_and_diagnosis_code() -> None:
    for r in (ref(priority="asap"), ref(priority="A"), ref(reason="Worsening foot ulcer"),
              ref(reason="Follow diabetes", diagnoses=[Code("icd10", "E11.621")])):
        d = triage(r, RULES)
        assert (d.urgency, d.action, d.within_days) == ("urgent", "schedule", 3), r


def test_soon() -> None:
    d = triage(ref(reason="Uncontrolled hypertension"), RULES)
    assert (d.urgency, d.action, d.within_days) == ("soon", "schedule", 14)


def test_routine_by_default_and_by_code() -> None:
    for r in (ref(), ref(priority="routine"), ref(priority="R")):
        d = triage(r, RULES)
        assert (d.urgency, d.action, d.within_days) == ("routine", "schedule", 30)
    assert triage(ref(), RULES).matched == ()


def test_words_match_whole_words_only() -> None:
    # 'ulcer' is urgent; 'ulcerative' is not the same word
    assert triage(ref(reason="History of ulcerative colitis"), RULES).urgency == "routine"


def test_first_class_wins_over_later_ones() -> None:
    d = triage(ref(reason="Urgent: chest pain, worsening"), RULES)
    assert d.urgency == "emergent"


def test_specialty_not_seen_is_declined_with_reason() -> None:
    d = triage(ref(specialty="Orthopaedic surgery"), RULES)
    assert d.action == "decline" and "does not see this specialty" in d.reason
    assert triage(ref(specialty="207Q00000X"), RULES).action == "schedule"
    assert triage(ref(specialty=""), RULES).action == "schedule"  # nothing to check


def test_no_reason_requests_records() -> None:
    d = triage(ref(reason=""), RULES)
    assert d.action == "request_records" and "no reason" in d.reason
    assert triage(ref(reason="", diagnoses=[Code("icd10", "I10")]), RULES).action == "schedule"


def test_payer_requiring_authorization() -> None:
    d = triage(ref(), RULES, plan_type="medicaid")
    assert d.action == "request_records" and "authorization" in d.reason
    assert triage(ref(payer_name="Acme HMO Gold"), RULES).action == "request_records"
    assert triage(ref(authorization="R-7731"), RULES, plan_type="medicaid").action == "schedule"
    assert triage(ref(), RULES, plan_type="commercial").action == "schedule"


def test_urgency_survives_a_records_request() -> None:
    d = triage(ref(reason="", priority="urgent"), RULES)
    assert (d.urgency, d.action) == ("urgent", "request_records")


def test_task_spec_names_no_patient() -> None:
    r = ref(patient_last="Zzyzxquell", patient_first="Quintessa", reason="Worsening ulcer",
            referring="Dr. Ames")
    d = triage(r, RULES)
    spec = triage_task(9, r, d, NOW, date(2026, 11, 20), patient_id=None)
    assert spec.natural_key == "referral:in:9" and spec.kind == "referral_triage"
    assert spec.title == "Referral (urgent): schedule" and spec.priority == 1
    assert "Schedule within 3 day(s) (by 2026-11-23)" in spec.draft
    assert "No patient on file matches" in spec.draft
    assert spec.due_at == NOW + timedelta(hours=4)
    assert "Zzyzxquell" not in spec.title + spec.draft
    assert spec.payload["schedule_by"] == "2026-11-23"
    assert "Referring: Dr. Ames" in spec.evidence[0].excerpt


# -- the rule file -------------------------------------------------------------------------

@pytest.mark.parametrize("text, needle", [
    (b"urgency: []", "urgency"),
    (b"urgency: [{class: x, action: schedule}]", "within_days"),
    (b"urgency: [{class: x, action: decline}]", "reason"),
    (b"urgency: [{class: x, action: page_someone, within_days: 1}]", "action"),
    (b"urgency: [{class: x, action: schedule, within_days: 1}]\nextra: 1", "extra"),
])
def test_bad_rule_files_refused(text: bytes, needle: str) -> None:
    with pytest.raises(RuleFileError) as exc:
        parse_rules(text)
    assert needle in str(exc.value)


def test_a_practice_rule_file_is_used() -> None:
    rules = parse_rules(b"urgency:\n  - {class: urgent, words: [rash], action: schedule, "
                        b"within_days: 2}\n  - {class: routine, action: schedule, "
                        b"within_days: 60}\n")
    assert triage(ref(reason="New rash"), rules).within_days == 2
    assert triage(ref(reason=""), rules).action == "request_records"  # default: require


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzzed_rule_file_refused_or_read(data: bytes) -> None:
    try:
        parse_rules(data)
    except RuleFileError:
        pass


# -- readers -----------------------------------------------------------------------------------

def test_corpus_ccda_referral_note() -> None:
    r = read_ccda((CCDA / "Referral_Note.xml").read_bytes())
    assert r.source == "ccda" and r.source_id.startswith("6f1bd58b")
    assert (r.patient_last, r.patient_first, r.patient_dob) == ("Betterhalf", "Eve",
                                                                date(1975, 5, 1))
    assert r.priority == "A" and r.service is not None and r.service.code == "44383000"
    assert "referral for consultation" in r.reason
    assert r.diagnoses and r.requested_on == date(2013, 3, 11)
    d = triage(r, RULES)
    assert (d.urgency, d.action) == ("urgent", "schedule")


def test_corpus_consultation_note_reads_too() -> None:
    r = read_ccda((CCDA / "Consultation_Note.xml").read_bytes())
    assert r.patient_last and r.source == "ccda"


def test_ccda_refuses_dtd_entities_and_non_ccda() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 '
            b'"&lol;&lol;&lol;&lol;">]><ClinicalDocument xmlns="urn:hl7-org:v3">&lol2;'
            b'</ClinicalDocument>')
    with pytest.raises(ImportRejected, match="DTD or entities"):
        read_ccda(bomb)
    with pytest.raises(ImportRejected, match="not a C-CDA"):
        read_ccda(b"<html><body/></html>")
    with pytest.raises(ImportRejected, match="not well-formed") as exc:
        read_ccda(b'<ClinicalDocument xmlns="urn:hl7-org:v3"><a></b>')
    assert "line 1" in str(exc.value.position)


def test_ccda_bounds_size_elements_and_time() -> None:
    with pytest.raises(ImportRejected, match="limited to 8 MB"):
        read_ccda(b"<a>" + b" " * (8 * 1024 * 1024) + b"</a>")
    many = b'<ClinicalDocument xmlns="urn:hl7-org:v3">' + b"<x/>" * 5000 + \
        b"</ClinicalDocument>"
    with pytest.raises(ImportRejected, match="more than 1,000 elements"):
        read_ccda(many, max_elements=1000)
    start = time.monotonic()
    with pytest.raises(ImportRejected, match="longer than"):
        read_ccda(many, seconds=-1)
    assert time.monotonic() - start < 5


def test_ccda_memory_stays_bounded_at_the_caps() -> None:
    import tracemalloc
    element = b'<x a="' + b"y" * 20 + b'" b="z">t</x>'
    data = b'<ClinicalDocument xmlns="urn:hl7-org:v3">' + element * (
        (8 * 1024 * 1024 - 200) // len(element)) + b"</ClinicalDocument>"
    tracemalloc.start()
    try:
        with pytest.raises(ImportRejected, match="more than 200,000 elements"):
            read_ccda(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 150 * 1024 * 1024  # measured ~80 MB for 8 MB of small elements


def test_corpus_pas_service_request_bundle() -> None:
    [r] = read_service_requests((PAS / "Bundle-ReferralAuthorizationBundleExample.json")
                                .read_bytes())
    assert r.source == "fhir" and r.source_id == "ReferralRequestExample"
    assert (r.patient_last, r.patient_first) == ("SMITH", "JOE")
    assert r.member_id == "1122334455" and r.service and r.service.code == "3"
    assert triage(r, RULES).action == "request_records"  # no reason, no diagnosis


def test_single_service_request_with_priority_and_reason() -> None:
    sr = {"resourceType": "ServiceRequest", "id": "sr9", "status": "active",
          "intent": "order", "priority": "urgent", "subject": {"reference": "Patient/p"},
          "reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm",
                                      "code": "L97.419", "display": "Heel ulcer"}]}],
          "authoredOn": "2026-11-18"}
    [r] = read_service_requests(json.dumps(sr).encode())
    assert r.priority == "urgent" and r.diagnoses[0].code == "L97.419"
    assert r.requested_on == date(2026, 11, 18)
    assert triage(r, RULES).urgency == "urgent"


def test_invalid_service_request_is_refused_with_its_field() -> None:
    bad = {"resourceType": "ServiceRequest", "id": "x", "status": "active",
           "subject": {"reference": "Patient/p"}}
    with pytest.raises(ImportRejected, match="ServiceRequest.intent"):
        read_service_requests(json.dumps(bad).encode())
    with pytest.raises(ImportRejected, match="no ServiceRequest"):
        read_service_requests(b'{"resourceType": "Bundle", "type": "collection"}')
    with pytest.raises(ImportRejected, match="not JSON"):
        read_service_requests(b"{nope")


LETTER = """Maple Street Family Medicine
Referral

Patient: Rowan Hollowell
DOB: 03/14/1961
Member ID: NW1234567
Insurance: Northwind National Health
Referring provider: Dr. Ames, Lakeside Clinic
Referred to: Family medicine
Urgency: routine
Reason for referral: Worsening diabetic foot ulcer, please see soon.
Diagnosis: E11.621, L97.419
"""


def test_letter_labelled_lines() -> None:
    r = read_letter(LETTER, "sha256:abc")
    assert (r.patient_first, r.patient_last, r.patient_dob) == ("Rowan", "Hollowell",
                                                                date(1961, 3, 14))
    assert r.member_id == "NW1234567" and r.referring.startswith("Dr. Ames")
    assert [d.code for d in r.diagnoses] == ["E11.621", "L97.419"]
    assert "Patient: Rowan Hollowell\nDOB: 03/14/1961" in r.excerpt  # read line by line
    d = triage(r, RULES)  # the code says routine, the words and codes say urgent
    assert (d.urgency, d.action) == ("urgent", "schedule")


def test_detect() -> None:
    assert detect(b"  <?xml") == "ccda" and detect(b'{"a":1}') == "fhir"
    assert detect(b"Dear Dr.") == "letter"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600) | st.text(max_size=600).map(
    lambda t: ('<ClinicalDocument xmlns="urn:hl7-org:v3">' + t + "</ClinicalDocument>")
    .encode("utf-8")))
def test_fuzzed_ccda_is_refused_or_read(data: bytes) -> None:
    try:
        read_ccda(data)
    except ImportRejected:
        pass


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(["resourceType", "entry", "resource",
                                                       "id", "subject", "priority",
                                                       "reasonCode", "status", "intent"]),
                                      inner, max_size=5), max_leaves=20))
def test_fuzzed_fhir_is_refused_or_read(doc: object) -> None:
    try:
        read_service_requests(json.dumps(doc).encode())
    except ImportRejected:
        pass


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=800))
def test_fuzzed_letter_reads(text: str) -> None:
    read_letter(text, "x")


# -- the outbound loop ---------------------------------------------------------------------

SENT = datetime(2026, 11, 1, 15, 0, tzinfo=timezone.utc)


def out(step: str = "sent", at: datetime = SENT, appt: datetime | None = None) -> Outbound:
    return Outbound(5, 3, "Lakeside Cardiology", "cardiology", step, at, appt, "routine")


def test_steps_in_order() -> None:
    assert next_step("sent") == "scheduled" and next_step("report_received") is None
    check_order("sent", "scheduled")
    with pytest.raises(ValueError, match="next step is scheduled, not 'seen'"):
        check_order("sent", "seen")
    with pytest.raises(ValueError, match="loop is closed"):
        check_order("report_received", "seen")


def test_due_times_and_overdue_boundary() -> None:
    days = LoopDays(scheduled=14, seen=30, report_received=14)
    assert due_at(out(), days) == SENT + timedelta(days=14)
    visit = SENT + timedelta(days=20)
    assert due_at(out("scheduled", appt=visit), days) == visit + timedelta(days=1)
    assert due_at(out("scheduled"), days) == SENT + timedelta(days=30)
    assert due_at(out("report_received"), days) is None
    due = SENT + timedelta(days=14)
    assert overdue(out(), due, days) is None  # due, not yet late
    late = overdue(out(), due + timedelta(seconds=1), days)
    assert late is not None and late.natural_key == "referral:out:5:overdue:scheduled"
    assert "Lakeside Cardiology" in late.draft and late.kind == "referral_followup"
    assert overdue(out("report_received"), due + timedelta(days=400), days) is None


# -- an incoming referral's visit, not booked past the triage's days ----------------------

def incoming(status: str = "to_schedule", *, days: int | None = 14,
             triage_open: bool = False) -> Incoming:
    return Incoming(7, 3, "Dr. Ames", "family", status, SENT, days, triage_open, "routine")


def test_incoming_overdue_boundary_and_key() -> None:
    due = SENT + timedelta(days=14)
    assert incoming_overdue(incoming(), due) is None  # due exactly now: not yet late
    late = incoming_overdue(incoming(), due + timedelta(minutes=1))
    assert late is not None and late.kind == "referral_followup"
    assert late.natural_key == "referral:in:7:overdue:scheduled"
    assert late.payload["step"] == "scheduled" and late.payload["referral_id"] == 7
    assert late.subject_id == "7" and late.patient_id == 3
    assert "call the patient to book" in late.draft
    assert "offhold referral step 7 scheduled" in late.draft
    assert "was due" not in late.title and "Dr. Ames" not in late.title
    three = incoming_overdue(incoming(), due + timedelta(days=3))
    assert three is not None and three.payload["days_late"] == 3


def test_incoming_overdue_only_when_waiting_and_decided() -> None:
    late = SENT + timedelta(days=30)
    assert incoming_overdue(incoming(triage_open=True), late) is None  # the triage is
    for status in ("scheduled", "declined", "records_requested"):     # the work
        assert incoming_overdue(incoming(status), late) is None, status
    assert incoming_overdue(incoming(days=None), late) is None  # no "within N days"
    # a triage task closed without a decision: still late, and the draft says so
    undecided = incoming_overdue(incoming("received"), late)
    assert undecided is not None and "no triage decision" in undecided.draft


def test_followup_done_and_loop_open() -> None:
    assert followup_done("in", "scheduled", "scheduled")
    assert followup_done("in", "scheduled", "declined")
    assert not followup_done("in", "scheduled", "to_schedule")
    assert followup_done("out", "scheduled", "seen")
    assert not followup_done("out", "seen", "scheduled")
    assert not followup_done("out", "scheduled", "declined")
    assert loop_open("in", "to_schedule") and loop_open("in", "records_requested")
    assert not loop_open("in", "scheduled") and not loop_open("in", "declined")
    assert loop_open("out", "scheduled") and not loop_open("out", "report_received")


def _mutations() -> st.SearchStrategy[bytes]:
    """The corpus referral note and PAS bundle with bytes changed, cut or inserted."""
    seeds = [(CCDA / "Referral_Note.xml").read_bytes(),
             (PAS / "Bundle-ReferralAuthorizationBundleExample.json").read_bytes()]

    def mutate(args: tuple[int, int, int, bytes]) -> bytes:
        which, at, cut, put = args
        seed = seeds[which]
        at %= len(seed)
        return seed[:at] + put + seed[at + cut:]
    return st.tuples(st.integers(0, 1), st.integers(0, 1 << 20), st.integers(0, 64),
                     st.binary(max_size=16)).map(mutate)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_mutations(), st.binary(max_size=512)))
def test_fuzzed_referral_files_end_in_referrals_or_one_line(data: bytes) -> None:
    """Whatever arrives, a reader returns referrals or refuses with one line that names
    a place, never the content (which is PHI)."""
    kind = detect(data)
    try:
        if kind == "ccda":
            found = [read_ccda(data)]
        elif kind == "fhir":
            found = read_service_requests(data)
        else:
            found = [read_letter(data.decode("utf-8", "replace"), "sha256:x")]
    except ImportRejected as exc:
        assert "\n" not in str(exc)
        return
    assert all(isinstance(r, IncomingReferral) for r in found)
