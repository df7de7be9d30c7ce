"""Charge capture rules (pure, no vault): planted missing and unsupported charges, units,
vaccine administration, visits with nothing billed, E/M outliers against the provider's
own distribution, and the crosswalk file's bounds (fuzzed)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.charges.crosswalk import load_crosswalk, parse_crosswalk
from app.charges.rules import (
    Billed,
    Documented,
    Encounter,
    Provider,
    Thresholds,
    compare,
    em_outliers,
    review,
    side_by_side,
    task_spec,
)
from app.rulefiles import MAX_RULE_FILE_BYTES, RuleFileError

CPT = "http://www.ama-assn.org/go/cpt"
CVX = "http://hl7.org/fhir/sid/cvx"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
DAY = date(2026, 11, 10)
XW = load_crosswalk()


def visit(n: int = 1) -> Documented:
    return Documented(n, "encounter", SNOMED, "185349003", "Encounter for check up")


def doc(n: int, kind: str, system: str, code: str, units: int = 1) -> Documented:
    return Documented(n, kind, system, code, units=units)


def line(n: int, code: str, units: str = "1", claim: int = 7) -> Billed:
    return Billed(claim, f"CLM{claim}", 100 + n, n, code, Decimal(units))


def flags(enc: Encounter) -> set[tuple[str, str]]:
    return {(f.flag, f.code) for f in compare(enc, XW)}


def test_documented_and_billed_alike_is_clean() -> None:
    enc = Encounter(1, DAY, "Dr. A", [visit(), doc(2, "procedure", CPT, "93000"),
                                     doc(3, "immunization", CVX, "140")],
                    [line(0, "99213"), line(1, "93000"), line(2, "90656"), line(3, "90471")])
    assert flags(enc) == set()


def test_planted_missing_charge() -> None:
    enc = Encounter(1, DAY, "Dr. A", [visit(), doc(2, "procedure", CPT, "93000")],
                    [line(0, "99213")])
    assert flags(enc) == {("missing", "93000")}


def test_missing_vaccine_product_and_administration() -> None:
    enc = Encounter(1, DAY, "Dr. A", [visit(), doc(2, "immunization", CVX, "140")],
                    [line(0, "99213")])
    assert flags(enc) == {("missing", "90655"), ("missing", "90460")}


def test_any_mapped_alternative_accounts_for_the_vaccine() -> None:
    enc = Encounter(1, DAY, "", [doc(2, "immunization", CVX, "140")],
                    [line(0, "90655"), line(1, "G0008")])
    assert flags(enc) == set()


def test_planted_unsupported_charge() -> None:
    enc = Encounter(1, DAY, "Dr. A", [visit()], [line(0, "99213"), line(1, "20610")])
    assert flags(enc) == {("unsupported", "20610")}


def test_em_without_a_documented_visit_is_unsupported() -> None:
    enc = Encounter(1, DAY, "Dr. A", [], [line(0, "99214")])
    assert flags(enc) == {("unsupported", "99214")}


def test_administration_without_an_immunization_is_unsupported() -> None:
    enc = Encounter(1, DAY, "Dr. A", [visit()], [line(0, "99213"), line(1, "90471")])
    assert flags(enc) == {("unsupported", "90471")}


def test_units_differ() -> None:
    enc = Encounter(1, DAY, "Dr. A", [visit(), doc(2, "procedure", CPT, "97110", units=3)],
                    [line(0, "99213"), line(1, "97110", "2")])
    found = compare(enc, XW)
    assert [(f.flag, f.code, f.why) for f in found] == [
        ("units", "97110", "3 documented, 2 billed")]


def test_two_procedures_of_one_code_on_one_day_are_two_units() -> None:
    enc = Encounter(1, DAY, "", [doc(2, "procedure", CPT, "96372"),
                                 doc(3, "procedure", CPT, "96372")],
                    [line(0, "96372", "2")])
    assert flags(enc) == set()


def test_visit_with_nothing_billed_is_one_no_charge_finding() -> None:
    enc = Encounter(1, DAY, "Dr. A", [visit(), doc(2, "procedure", CPT, "93000"),
                                     doc(3, "immunization", CVX, "140")], [])
    found = compare(enc, XW)
    assert [(f.flag, f.code) for f in found] == [("no_charge", "visit")]
    assert {d.record_id for d in found[0].documented} == {1, 2, 3}


def test_chart_items_on_a_day_the_practice_did_not_see_the_patient_are_history() -> None:
    shot = [doc(2, "immunization", CVX, "140")]
    assert flags(Encounter(1, DAY, "", list(shot), [])) == set()  # e.g. at the pharmacy
    seen = Encounter(1, DAY, "Dr. A", list(shot), [], appointment=True)
    assert flags(seen) == {("missing", "90655"), ("missing", "90460")}


def test_unmapped_observation_is_not_a_charge() -> None:
    enc = Encounter(1, DAY, "Dr. A", [visit(), doc(2, "observation", LOINC, "8302-2"),
                                     doc(3, "procedure", SNOMED, "430193006")],
                    [line(0, "99213")])
    assert flags(enc) == set()


def test_same_code_billed_twice_is_one_finding() -> None:
    enc = Encounter(1, DAY, "Dr. A", [visit()],
                    [line(0, "99213"), line(1, "36415"), line(2, "36415", claim=8)])
    found = compare(enc, XW)
    assert [(f.flag, f.code, len(f.billed)) for f in found] == [("unsupported", "36415", 2)]


def _population(provider: str, levels: dict[str, int], start: int = 0,
                rendering: Provider = Provider()) -> list[Encounter]:
    """E/M visits booked with `provider` (the appointment), billed under `rendering`
    (the claims' rendering provider; none by default)."""
    out = []
    n = start
    for code, count in levels.items():
        for _ in range(count):
            n += 1
            out.append(Encounter(n, date(2026, 10, 1 + n % 28), provider, [visit(n)],
                                 [Billed(n, f"CLM{n}", 100 + n, n, code, Decimal(1), (),
                                         rendering)]))
    return out


def test_em_outlier_against_the_providers_own_distribution() -> None:
    a = _population("Dr. A", {"99213": 14, "99214": 5, "99215": 1})  # 1 of 20: 5%
    b = _population("Dr. B", {"99215": 12, "99214": 8}, start=100)   # 99215 is usual here
    found = em_outliers(a + b, Thresholds(em_min_visits=20, em_max_share=0.05))
    assert [(e.provider, f.code) for e, f in found] == [("Dr. A", "99215")]
    assert "1 of 20 (5%)" in found[0][1].why and "usual 99213 (70%)" in found[0][1].why


def test_em_outlier_needs_enough_visits_and_a_known_provider() -> None:
    few = _population("Dr. A", {"99213": 18, "99215": 1})  # 19 visits
    assert em_outliers(few, Thresholds(em_min_visits=20)) == []
    unknown = _population("", {"99213": 30, "99215": 1})
    assert em_outliers(unknown, Thresholds(em_min_visits=20)) == []
    # new and established visits are separate distributions
    mixed = _population("Dr. A", {"99213": 20, "99203": 1})
    assert em_outliers(mixed, Thresholds(em_min_visits=20)) == []


def test_em_share_boundary() -> None:
    pop = _population("Dr. A", {"99213": 18, "99215": 2})  # 10%
    assert em_outliers(pop, Thresholds(em_min_visits=20, em_max_share=0.1))
    assert not em_outliers(pop, Thresholds(em_min_visits=20, em_max_share=0.09))


def test_task_spec_shows_both_sides_and_codes_only() -> None:
    enc = Encounter(42, DAY, "Dr. A", [visit(), doc(2, "procedure", CPT, "93000"),
                                      doc(3, "immunization", CVX, "140")],
                    [line(0, "99213"), line(1, "90471")])
    specs = {s.natural_key: s for s in review([enc], XW, NOW)}
    assert set(specs) == {"charge:42:2026-11-10:missing:93000",
                          "charge:42:2026-11-10:missing:90655"}
    spec = specs["charge:42:2026-11-10:missing:93000"]
    assert spec.kind == "charge_review" and spec.patient_id == 42
    assert spec.subject_type == "claim" and spec.subject_id == "7"
    assert spec.payload["claim_numbers"] == ["CLM7"] and spec.payload["flag"] == "missing"
    table = spec.evidence[0].excerpt
    assert "Documented (chart)" in table and "Billed (claim lines)" in table
    assert "* procedure cpt 93000" in table and "99213 x1  claim CLM7 line 1" in table
    assert "never changes a claim" in spec.draft
    assert spec.title == "93000 documented, not billed (2026-11-10)"
    # rows: text, flagged, units, provider ('' when neither side names one)
    assert spec.payload["columns"]["documented"][1] == ("procedure cpt 93000 x1", True, "1",
                                                        "")
    assert spec.payload["columns"]["billed"] == [
        ("99213 x1  claim CLM7 line 1", False, "1", ""),
        ("90471 x1  claim CLM7 line 2", False, "1", "")]
    assert spec.due_at == datetime(2026, 11, 27, 17, 0, tzinfo=timezone.utc)


def test_side_by_side_with_nothing_billed() -> None:
    enc = Encounter(1, DAY, "", [visit()], [])
    flag = compare(enc, XW)[0]
    assert "(nothing)" in side_by_side(enc, flag)
    assert task_spec(enc, flag, NOW).subject_id == "1:2026-11-10"


def test_review_gives_one_spec_per_natural_key() -> None:
    pop = _population("Dr. A", {"99213": 19, "99215": 1})
    pop[-1].documented.clear()  # the outlier is also unsupported: two findings, two keys
    keys = [s.natural_key for s in review(pop, XW, NOW, Thresholds(em_min_visits=20))]
    assert len(keys) == len(set(keys)) == 2


# -- the crosswalk file ------------------------------------------------------------------------

def test_shipped_crosswalk_is_valid_and_maps_cvx() -> None:
    assert XW.bills(CVX, "140") == ("90655", "90656")
    assert XW.bills(CPT, "93000") == ("93000",)
    assert XW.bills(LOINC, "8302-2") == ()
    assert "90471" in XW.administration["immunization"]


@pytest.mark.parametrize("text, needle", [
    (b"codes: [{system: cvx, code: '1'}]", "bills"),
    (b"codes: []\nextra: 1", "extra"),
    (b"codes: [{system: icd10, code: '1', bills: ['1']}]", "codes/0/system"),
    (b"a: &x [1]\nb: *x\ncodes: []", "aliases"),
    (b"codes: [", "not valid YAML"),
    (b"- 1", "mapping"),
    (b"codes: " + b"[" * 100 + b"]" * 100, "nested"),
])
def test_bad_crosswalk_refused_with_reason(text: bytes, needle: str) -> None:
    with pytest.raises(RuleFileError) as exc:
        parse_crosswalk(text)
    assert needle in str(exc.value)


def test_oversized_crosswalk_refused() -> None:
    with pytest.raises(RuleFileError, match="larger than"):
        parse_crosswalk(b"#" * (MAX_RULE_FILE_BYTES + 1))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400) | st.text(max_size=400).map(lambda t: t.encode("utf-8")))
def test_fuzzed_crosswalk_is_refused_or_read(data: bytes) -> None:
    try:
        parse_crosswalk(data)
    except RuleFileError:
        pass


# -- providers and quantities -------------------------------------------------------------

ANN = Provider("LEE, ANN", "1234567893", "2310B")        # rendering, from the claim
BOB = Provider("KIM, BOB", "1245319599", "2310B")
GROUP = Provider("VALLEY MEDICAL GROUP", "1999999984", "2010AA")  # billing fallback


def p_line(n: int, code: str, who: Provider, units: str = "1", claim: int = 7,
           basis: str = "UN") -> Billed:
    return Billed(claim, f"CLM{claim}", 100 + n, n, code, Decimal(units), (), who, basis)


def p_doc(n: int, kind: str, system: str, code: str, who: Provider,
          units: int | Decimal = 1) -> Documented:
    return Documented(n, kind, system, code, "", units, who)


def _rendered(who: Provider, levels: dict[str, int], start: int = 0,
              appointment: str = "Dr. Front Desk Calendar") -> list[Encounter]:
    """E/M visits billed under `who`, every one booked on the same appointment calendar,
    so only the rendering provider tells them apart."""
    return _population(appointment, levels, start, who)


def test_em_distribution_is_the_rendering_providers_own() -> None:
    # Ann bills 99215 rarely (1 of 20); Bob mostly. Same appointment calendar for both:
    # keyed on the appointment (as before) 99215 would be 13 of 40 and never flagged.
    ann = _rendered(ANN, {"99213": 14, "99214": 5, "99215": 1})
    bob = _rendered(BOB, {"99215": 12, "99214": 8}, start=100)
    found = em_outliers(ann + bob, Thresholds(em_min_visits=20, em_max_share=0.05))
    assert [(f.provider, f.code) for _e, f in found] == [(ANN, "99215")]
    assert "1 of 20 (5%)" in found[0][1].why and "LEE, ANN (NPI 1234567893)" in found[0][1].why


def test_em_minimum_sample_is_per_rendering_provider() -> None:
    # 19 visits for Ann (under the minimum of 20) but 39 on the shared calendar.
    ann = _rendered(ANN, {"99213": 18, "99215": 1})
    bob = _rendered(BOB, {"99213": 20}, start=100)
    assert em_outliers(ann + bob, Thresholds(em_min_visits=20)) == []
    ann_more = _rendered(ANN, {"99213": 19, "99215": 1})  # 20: now judged
    assert [f.code for _e, f in em_outliers(ann_more + bob, Thresholds(em_min_visits=20))
            ] == ["99215"]


def test_em_line_level_rendering_provider_wins_over_the_claims() -> None:
    line_level = Provider("KIM, BOB", "1245319599", "2420A")
    encs = _rendered(ANN, {"99213": 20})
    # Bob rendered this 99215 (2420A on the line) on a claim Ann is otherwise on: it counts
    # in Bob's distribution (1 visit: below the minimum), not as Ann's rare level.
    encs.append(Encounter(99, DAY, "", [visit(99)],
                          [p_line(99, "99215", line_level, claim=99)]))
    assert em_outliers(encs, Thresholds(em_min_visits=20, em_max_share=0.05)) == []


def test_em_billing_provider_fallback_is_said_in_the_evidence() -> None:
    encs = _rendered(GROUP, {"99213": 20, "99215": 1}, appointment="")
    specs = [s for s in review(encs, XW, NOW) if s.payload["flag"] == "em_outlier"]
    assert len(specs) == 1
    spec = specs[0]
    assert spec.payload["provider"] == "VALLEY MEDICAL GROUP (NPI 1999999984)"
    distribution = spec.evidence[1].excerpt
    assert "billing provider (2010AA; the claim names no rendering provider)" in distribution
    assert "99213 20 (95%), 99215 1 (5%)" in distribution
    assert "once the provider has 20 or more" in distribution
    assert spec.draft.startswith("E/M level outlier: ")  # not "E/m" (str.capitalize)


def test_em_appointment_provider_when_the_claim_names_none() -> None:
    # A claim stored before rendering providers were read: the appointment's, as before.
    encs = _population("Dr. A", {"99213": 20, "99215": 1})
    found = em_outliers(encs, Thresholds())
    assert [(f.provider.name, f.provider.source) for _e, f in found] == [
        ("Dr. A", "appointment")]


def test_documented_quantity_against_billed_units() -> None:
    enc = Encounter(1, DAY, "", [visit(), p_doc(2, "procedure", CPT, "96372", ANN,
                                                Decimal(3))],
                    [p_line(0, "99213", ANN), p_line(1, "96372", ANN, "1")])
    found = compare(enc, XW)
    assert [(f.flag, f.code, f.why, f.provider) for f in found] == [
        ("units", "96372", "3 documented, 1 billed", ANN)]
    matched = Encounter(1, DAY, "", [visit(), p_doc(2, "procedure", CPT, "96372", ANN,
                                                    Decimal(3))],
                        [p_line(0, "99213", ANN), p_line(1, "96372", ANN, "3")])
    assert compare(matched, XW) == []


def test_minutes_are_not_compared_with_a_count() -> None:
    enc = Encounter(1, DAY, "", [visit(), p_doc(2, "procedure", CPT, "00142", ANN)],
                    [p_line(0, "00142", ANN, "45", basis="MJ")])
    assert flags(enc) == set()


def test_another_providers_line_does_not_account_for_the_chart() -> None:
    # Ann documented the injection; only Bob's claim bills one: Ann's is missing and
    # Bob's is unsupported, one finding each, keyed per provider (a shared day).
    ann_visit = Documented(1, "encounter", SNOMED, "185349003", "", 1, ANN)
    bob_visit = Documented(5, "encounter", SNOMED, "185349003", "", 1, BOB)
    enc = Encounter(3, DAY, "", [ann_visit, bob_visit,
                                 p_doc(2, "procedure", CPT, "96372", ANN)],
                    [p_line(0, "99213", ANN), p_line(1, "99212", BOB, claim=8),
                     p_line(2, "96372", BOB, claim=8)])
    found = {(f.flag, f.code, f.provider) for f in compare(enc, XW)}
    assert found == {("missing", "96372", ANN), ("unsupported", "96372", BOB)}
    keys = {s.natural_key for s in review([enc], XW, NOW)}
    assert keys == {"charge:3:2026-11-10:missing:96372:npi:1234567893",
                    "charge:3:2026-11-10:unsupported:96372:npi:1245319599"}


def test_a_name_from_the_chart_matches_the_npi_on_the_claim() -> None:
    # The chart names the participant without an NPI ("Dr. Ann Lee"); the claim says
    # LEE, ANN with her NPI: one provider, matched, no per-provider keys.
    chart_ann = Provider("Dr. Ann Lee", "", "PPRF")
    enc = Encounter(1, DAY, "", [Documented(1, "encounter", SNOMED, "185349003", "", 1,
                                            chart_ann),
                                 p_doc(2, "procedure", CPT, "93000", chart_ann)],
                    [p_line(0, "99213", ANN), p_line(1, "93000", ANN)])
    assert not enc.several_providers and compare(enc, XW) == []


def test_billing_provider_matches_any_documenting_provider() -> None:
    # 2010AA names the practice, not a person: it never contradicts the chart.
    enc = Encounter(1, DAY, "", [Documented(1, "encounter", SNOMED, "185349003", "", 1,
                                            ANN), p_doc(2, "procedure", CPT, "93000", ANN)],
                    [p_line(0, "99213", GROUP), p_line(1, "93000", GROUP)])
    assert compare(enc, XW) == []


def test_task_names_the_provider_and_shows_units_on_both_sides() -> None:
    enc = Encounter(4, DAY, "", [visit(), p_doc(2, "procedure", CPT, "96372", ANN, 2)],
                    [p_line(0, "99213", ANN), p_line(1, "96372", ANN, "1")])
    (spec,) = review([enc], XW, NOW)
    assert spec.natural_key == "charge:4:2026-11-10:units:96372"  # one provider: no suffix
    assert spec.payload["provider"] == "LEE, ANN (NPI 1234567893)"
    assert "Provider: LEE, ANN (NPI 1234567893) - rendering provider (837P 2310B)" \
        in spec.draft
    cols = spec.payload["columns"]
    assert cols["documented"][1] == ("procedure cpt 96372 x2", True, "2",
                                     "LEE, ANN (NPI 1234567893)")
    assert cols["billed"][1] == ("96372 x1  claim CLM7 line 2", True, "1",
                                 "LEE, ANN (NPI 1234567893) - rendering provider (837P 2310B)")
    assert "[LEE, ANN (NPI 1234567893)]" in spec.evidence[0].excerpt


def test_a_record_without_a_provider_counts_with_the_days_other_records() -> None:
    # One injection recorded by Ann, one with no performer or encounter: two documented,
    # two billed under Ann. Not "1 documented, 2 billed" twice.
    enc = Encounter(1, DAY, "", [Documented(1, "encounter", SNOMED, "185349003", "", 1,
                                            ANN),
                                 p_doc(2, "procedure", CPT, "96372", ANN),
                                 doc(3, "procedure", CPT, "96372")],
                    [p_line(0, "99213", ANN), p_line(1, "96372", ANN, "2")])
    assert compare(enc, XW) == []


NURSE = Provider("PARK, NED", "1316999993", "performer")  # gave it; bills nothing


def test_a_nurse_given_service_billed_under_the_physician_is_matched() -> None:
    """Incident-to: the nurse administers the flu shot (FHIR Immunization.performer, the
    administering one), the physician's claim bills vaccine and administration. Before,
    the nurse was a second provider of the day and none of the physician's lines could
    account for the shot: two 'missing' and two 'unsupported' findings, all false."""
    ann_visit = Documented(1, "encounter", SNOMED, "185349003", "", 1, ANN)
    enc = Encounter(1, DAY, "", [ann_visit, p_doc(2, "immunization", CVX, "140", NURSE)],
                    [p_line(0, "99213", ANN), p_line(1, "90471", ANN),
                     p_line(2, "90655", ANN)])
    assert compare(enc, XW) == []
    # the physician's own shot and the nurse's, both billed under the physician: two
    unbilled = Encounter(1, DAY, "", [ann_visit,
                                      p_doc(2, "procedure", CPT, "96372", NURSE),
                                      p_doc(3, "procedure", CPT, "96372", ANN)],
                         [p_line(0, "99213", ANN), p_line(1, "96372", ANN, "2")])
    assert compare(unbilled, XW) == []
    # nothing billed for the nurse's shot: still missing, and it says who gave it
    alone = Encounter(1, DAY, "", [ann_visit, p_doc(2, "procedure", CPT, "96372", NURSE)],
                      [p_line(0, "99213", ANN)])
    assert [(f.flag, f.code, f.provider) for f in compare(alone, XW)] == [
        ("missing", "96372", NURSE)]


def test_a_nurse_visit_billed_under_the_physician_is_supported() -> None:
    """A 99211 nurse visit (the Encounter's primary performer is the nurse) billed under
    the supervising physician: the visit supports the E/M. Another physician's E/M with
    no visit of theirs that day is still unsupported."""
    nurse_visit = Documented(1, "encounter", SNOMED, "185349003", "", 1, NURSE)
    enc = Encounter(1, DAY, "", [nurse_visit], [p_line(0, "99211", ANN)])
    assert compare(enc, XW) == []
    ann_visit = Documented(2, "encounter", SNOMED, "185349003", "", 1, ANN)
    two = Encounter(1, DAY, "", [ann_visit], [p_line(0, "99213", ANN),
                                              p_line(1, "99212", BOB, claim=8)])
    assert [(f.flag, f.code, f.provider) for f in compare(two, XW)] == [
        ("unsupported", "99212", BOB)]
