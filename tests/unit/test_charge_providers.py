"""Rendering and documenting providers, and documented quantities, for charge capture:
every corpus 837P/837I read for its NM1*82 (claim and line level, the NPI with XX, the
billing provider or 837I attending when absent, saying which); the FHIR import keeping
Encounter.participant (PPRF/ATND, Synthea's untyped individual) with the Practitioner's
name and NPI, and counted doses; the m0022 step on an existing vault; and end to end, a
corpus 837P with NM1*82 and a FHIR chart to charge_review tasks naming the provider,
with a re-run that creates nothing new."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import queue
from app.identity import Session
from app.services import imports
from app.services.practice import set_setting
from app.vault import migrations
from app.x12.errors import X12Error
from app.x12.x837 import parse_837
from automations.workflows.charge_review import review_charges

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
X12 = CORPUS / "x12"
FILES_837 = sorted(f"{d}/{p.name}" for d in ("837p", "837i") for p in (X12 / d).iterdir())
# 2310B and one 2420A; its SE01 is off (lenient import)
CLAIM1 = X12 / "837p" / "oopfactory__ProfessionalClaim1.txt"
SYNTHEA = CORPUS / "fhir" / "synthea_r4_bundles"
RENDERING_LOOPS = ("2310B", "2310D", "2420A", "2420C")


def _segments(data: bytes) -> list[list[str]]:
    """The file's segments split by the ISA's own separators (element at ISA position 3,
    segment terminator after ISA16), independently of the parser under test."""
    text = data.decode("latin-1")
    start = text.index("ISA")
    element, terminator = text[start + 3], text[start + 105]
    return [s.strip().split(element) for s in text[start:].split(terminator) if s.strip()]


def _npis(segments: list[list[str]], entity: str) -> set[str]:
    return {s[9] for s in segments
            if s[0] == "NM1" and s[1] == entity and len(s) > 9 and s[8] == "XX" and s[9]}


@pytest.mark.parametrize("rel", FILES_837)
def test_corpus_837_rendering_providers_are_read_where_present(rel: str) -> None:
    data = (X12 / rel).read_bytes()
    parsed = parse_837(data, lenient=True, skip_bad=True)
    segments = _segments(data)
    rendering = {c.rendering.npi for c in parsed.claims
                 if c.rendering is not None and c.rendering.loop in RENDERING_LOOPS} | {
        ln.rendering.npi for c in parsed.claims for ln in c.lines if ln.rendering}
    rendering.discard("")
    # Every NM1*82 with an NPI in the file is a claim's or a line's rendering provider
    # (those in other-payer loops 2330D name no NPI in the corpus).
    expected = _npis(segments, "82")
    assert rendering == expected if not parsed.bad else rendering <= expected
    billing = _npis(segments, "85")
    attending = _npis(segments, "71")
    for claim in parsed.claims:
        who = claim.rendering
        assert who is not None, f"{claim.claim_number}: no provider at all"
        if who.loop == "2010AA":  # the fallback is said, and is a billing provider
            assert who.npi in billing or not who.npi
        elif who.loop == "2310A":
            assert claim.kind == "837I" and (who.npi in attending or not who.npi)
        else:
            assert who.loop in RENDERING_LOOPS
        assert who.name or who.npi


def test_corpus_837_line_level_attending_and_odd_qualifiers() -> None:
    claim = parse_837(CLAIM1.read_bytes(), lenient=True).claims[0]  # SE01 is off
    assert claim.rendering is not None
    assert (claim.rendering.name, claim.rendering.npi, claim.rendering.loop) == (
        "RENDERING, PROVIDER", "1234567890", "2310B")
    lines = [(ln.code, ln.rendering.npi if ln.rendering else None) for ln in claim.lines]
    assert lines[:3] == [("99213", None), ("87070", "3456789012"), ("99214", None)]
    assert claim.lines[1].rendering is not None and claim.lines[1].rendering.loop == "2420A"

    two = parse_837((X12 / "837i" / "lfh__two-claims-single-provider.837i").read_bytes())
    assert [(c.rendering.name, c.rendering.npi, c.rendering.loop) for c in two.claims
            if c.rendering] == [("JONES, JOHN", "1122334455", "2310A"),
                                ("JONES, JUDY", "9999999999", "2310A")]

    # NM108 'X' is not the NPI qualifier: the name is kept, no NPI is invented.
    odd = parse_837((X12 / "837p" / "imsweb__x12_complex.txt").read_bytes(), lenient=True,
                    skip_bad=True)
    first = odd.claims[0].rendering
    assert first is not None and (first.name, first.npi, first.loop) == (
        "2310B1, 2310B1F", "", "2310B")
    # NM1*82 naming no one (NM1*82*1): the billing provider, said so.
    second = odd.claims[1].rendering
    assert second is not None and (second.npi, second.loop) == ("1234567890", "2010AA")


def test_stored_claims_carry_the_rendering_provider(practice: Session) -> None:
    imports.import_837(practice, CLAIM1.read_bytes(), lenient=True)
    imports.import_837(practice, (X12 / "837p" / "lfh__demo.example2.837").read_bytes())
    rows = dict((r[0], r[1:]) for r in practice.vault.query(
        "SELECT claim_number, rendering_name, rendering_npi, rendering_from FROM claims"))
    assert rows["26463774"] == ("RENDERING, PROVIDER", "1234567890", "2310B")
    billing_only = [v for k, v in rows.items() if k != "26463774"]
    assert billing_only and all(v == ("BEN KILDARE SERVICE", "9876543210", "2010AA")
                                for v in billing_only)
    claim_id = practice.vault.query_one("SELECT id FROM claims WHERE claim_number = "
                                        "'26463774'")[0]
    detail = imports.claim_detail(practice, claim_id)
    assert detail["rendering"] == {"name": "RENDERING, PROVIDER", "npi": "1234567890",
                                   "loop": "2310B"}
    assert [ln["rendering"] for ln in detail["lines"]][:2] == [
        None, {"name": "RENDERING, PROVIDER", "npi": "3456789012"}]
    again = imports.import_837(practice, CLAIM1.read_bytes(), lenient=True)
    assert again.unchanged == 1 and again.updated == 0


def test_m0022_keeps_existing_rows_and_adds_empty_providers() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for step in migrations.steps():
        if int(step.VERSION) < 22:
            step.apply(conn)
    conn.execute("INSERT INTO patients (first_name, last_name, dob, created_at, updated_at)"
                 " VALUES ('A', 'B', '1970-01-01', 'now', 'now')")
    conn.execute("INSERT INTO claims (claim_number, patient_id, status, submitted_at, "
                 "created_at) VALUES ('C1', 1, 'submitted', 'now', 'now')")
    conn.execute("INSERT INTO claim_lines (claim_id, ordinal, code, charge) VALUES "
                 "(1, 0, '99213', '90')")
    conn.execute("INSERT INTO clinical_records (patient_id, kind, code, created_at) VALUES "
                 "(1, 'procedure', '96372', 'now')")
    next(s for s in migrations.steps() if int(s.VERSION) == 22).apply(conn)
    assert conn.execute("SELECT rendering_name, rendering_npi, rendering_from FROM claims"
                        ).fetchone() == ("", "", "")
    assert conn.execute("SELECT rendering_npi FROM claim_lines").fetchone() == ("",)
    assert conn.execute("SELECT provider_npi, quantity FROM clinical_records").fetchone() \
        == ("", None)


# -- FHIR: documenting provider and quantities ------------------------------------------

def _bundle(*resources: dict[str, Any]) -> bytes:
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources]}).encode()


def _practitioner(ident: str, family: str, given: str, npi: str) -> dict[str, Any]:
    return {"resourceType": "Practitioner", "id": ident,
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": npi}],
            "name": [{"family": family, "given": [given], "prefix": ["Dr."]}]}


def _participant(ident: str, role: str | None) -> dict[str, Any]:
    p: dict[str, Any] = {"individual": {"reference": f"Practitioner/{ident}"}}
    if role:
        p["type"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                  "v3-ParticipationType", "code": role}]}]
    return p


TED = {"resourceType": "Patient", "id": "p-ted", "name": [{"family": "Smith",
                                                           "given": ["Ted"]}],
       "gender": "male", "birthDate": "1973-05-01"}
SUBJECT = {"reference": "urn:uuid:p-ted"}
SNOMED = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"


def _visit(ident: str, day: str, participants: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Encounter", "id": ident, "status": "finished",
            "class": {"code": "AMB"}, "subject": SUBJECT, "participant": participants,
            "type": [{"coding": [{"system": SNOMED, "code": "185349003"}]}],
            "period": {"start": f"{day}T09:00:00-04:00"}}


def _procedure(ident: str, day: str, code: str, encounter: str | None = None,
               performer: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "Procedure", "id": ident, "status": "completed",
                           "subject": SUBJECT, "performedDateTime": f"{day}T09:10:00-04:00",
                           "code": {"coding": [{"system": CPT, "code": code}]}}
    if encounter:
        res["encounter"] = {"reference": f"urn:uuid:{encounter}"}
    if performer:
        res["performer"] = [{"actor": {"reference": f"Practitioner/{performer}"}}]
    return res


def _records(session: Session) -> dict[str, tuple[Any, ...]]:
    rows = session.vault.query(
        "SELECT s.source_id, r.provider_name, r.provider_npi, r.provider_from, r.quantity "
        "FROM clinical_records r JOIN source_ids s ON s.local_id = r.id AND s.source = "
        "'fhir' AND s.resource IN ('Encounter','Procedure','Immunization')")
    return {str(r[0]): tuple(r[1:]) for r in rows}


def test_fhir_documenting_provider_and_counted_doses(practice: Session) -> None:
    flu = {"resourceType": "Immunization", "id": "im1", "status": "completed",
           "patient": SUBJECT, "occurrenceDateTime": "2006-10-03T09:20:00-04:00",
           "encounter": {"reference": "urn:uuid:e1"},
           "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx",
                                       "code": "140"}]},
           "doseQuantity": {"value": 0.5, "unit": "mL", "system": "http://unitsofmeasure.org",
                            "code": "mL"}}
    two_doses = dict(flu, id="im2", doseQuantity={"value": 2, "code": "{dose}",
                                                  "system": "http://unitsofmeasure.org"})
    out = imports.import_fhir(practice, [("ted.json", _bundle(
        TED, _practitioner("d-ann", "Lee", "Ann", "1234567893"),
        _practitioner("d-bob", "Kim", "Bob", "1245319599"),
        # the attender is listed first; the primary performer documents the visit
        _visit("e1", "2006-10-03", [_participant("d-bob", "ATND"),
                                    _participant("d-ann", "PPRF")]),
        _visit("e2", "2006-10-10", [_participant("d-bob", "ATND")]),
        _procedure("pr1", "2006-10-03", "96372", encounter="e1"),
        _procedure("pr2", "2006-10-03", "96372", encounter="e1", performer="d-bob"),
        flu, two_doses))])
    assert out.skipped == []
    assert not any("Practitioner" in f for f in out.findings)  # read, not "ignored"
    records = _records(practice)
    assert records["e1"] == ("Lee, Ann", "1234567893", "PPRF", None)
    assert records["e2"] == ("Kim, Bob", "1245319599", "ATND", None)
    assert records["pr1"] == ("Lee, Ann", "1234567893", "encounter PPRF", None)
    assert records["pr2"] == ("Kim, Bob", "1245319599", "performer", None)
    assert records["im1"] == ("Lee, Ann", "1234567893", "encounter PPRF", None)  # 0.5 mL
    assert records["im2"][3] == "2"  # a count of doses is kept


def test_synthea_bundles_keep_the_encounter_participant(practice: Session) -> None:
    """Synthea writes Encounter.participant with no type (an individual Practitioner
    carrying a us-npi identifier), and no quantities anywhere (no Claim/EOB
    item.quantity, no doseQuantity): every visit gets its provider, nothing a count."""
    files = sorted(SYNTHEA.glob("*.json"))[:3]
    imports.import_fhir(practice, [(f.name, f.read_bytes()) for f in files])
    visits = practice.vault.query(
        "SELECT provider_name, provider_npi, provider_from FROM clinical_records WHERE "
        "kind = 'encounter'")
    assert visits and all(v[0] and v[1] and v[2] == "participant" for v in visits)
    assert practice.vault.query_one("SELECT count(*) FROM clinical_records WHERE quantity "
                                    "IS NOT NULL")[0] == 0
    with_visit = practice.vault.query_one(
        "SELECT count(*) FROM clinical_records WHERE kind IN ('procedure','immunization') "
        "AND provider_from = 'encounter participant'")[0]
    assert with_visit > 0


# -- end to end: an imported 837P with NM1*82 and a FHIR chart --------------------------

ANN_NPI, BOB_NPI = "1234567890", "3456789012"  # the corpus claim's 2310B and 2420A


def _tasks(session: Session) -> dict[str, Any]:
    rows = session.vault.query("SELECT natural_key, id FROM tasks WHERE kind = "
                               "'charge_review'")
    return {str(k): queue.get_task(session, int(i)) for k, i in rows}


def test_corpus_837_with_rendering_provider_to_a_task_naming_it(practice: Session) -> None:
    """ProfessionalClaim1 bills 87070 twice on 2006-10-03: line 6 under the claim's
    rendering provider (2310B), line 2 under another (2420A). The chart documents one
    culture, by the first: the other provider's line is the unsupported one, and the
    task names that provider."""
    imports.import_fhir(practice, [("ted.json", _bundle(
        TED, _practitioner("d-ann", "Provider", "Rendering", ANN_NPI),
        _visit("e1", "2006-10-03", [_participant("d-ann", "PPRF")]),
        _visit("e2", "2006-10-10", [_participant("d-ann", "PPRF")]),
        _procedure("pr1", "2006-10-03", "87070", encounter="e1"),
        _procedure("pr2", "2006-10-10", "86663", encounter="e2"),
        _procedure("pr3", "2006-10-10", "86663", encounter="e2")))])
    imports.import_837(practice, CLAIM1.read_bytes(), lenient=True)
    patient_id = practice.vault.query_one("SELECT id FROM patients WHERE last_name = "
                                          "'Smith'")[0]
    span = {"start": date(2006, 10, 1), "end": date(2006, 10, 31)}
    result = review_charges(practice, **span)  # type: ignore[arg-type]
    tasks = _tasks(practice)
    day1, day2 = f"charge:{patient_id}:2006-10-03", f"charge:{patient_id}:2006-10-10"
    assert set(tasks) == {f"{day1}:unsupported:87070:npi:{BOB_NPI}",
                          f"{day2}:units:86663"}
    other = tasks[f"{day1}:unsupported:87070:npi:{BOB_NPI}"]
    assert other.payload["provider"] == f"RENDERING, PROVIDER (NPI {BOB_NPI})"
    assert f"NPI {BOB_NPI}) - rendering provider of the line (837P 2420A)" in other.draft
    billed = {text: who for text, _m, _u, who in other.payload["columns"]["billed"]}
    assert billed["87070 x1  claim 26463774 line 2"].startswith(f"RENDERING, PROVIDER "
                                                                f"(NPI {BOB_NPI})")
    assert billed["87070 x1  claim 26463774 line 6"].startswith(f"RENDERING, PROVIDER "
                                                                f"(NPI {ANN_NPI})")
    units = tasks[f"{day2}:units:86663"]
    assert "2 documented, 1 billed" in units.payload["why"]
    assert units.payload["provider_npi"] == ANN_NPI
    assert len(result.created) == 2

    again = review_charges(practice, **span)  # type: ignore[arg-type]
    assert again.created == [] and again.closed == [] and len(_tasks(practice)) == 2


def _claim_block(number: str, day: date, code: str, npi: str) -> list[str]:
    return [f"CLM*{number}*40***11:B:1*Y*A*Y*I", "HI*BK:0340",
            f"NM1*82*1*RENDERING*PROVIDER****XX*{npi}", "LX*1",
            f"SV1*HC:{code}*40*UN*1***1", f"DTP*472*D8*{day:%Y%m%d}"]


def claims_837(claims: list[tuple[str, date, str, str]]) -> bytes:
    """The corpus ProfessionalClaim1 with its claim replaced by `claims` (number, date of
    service, E/M code, rendering NPI), SE01 recounted."""
    return claims_837_raw([s for c in claims for s in _claim_block(*c)])


def test_em_outlier_from_imported_claims_names_the_rendering_provider(
        practice: Session) -> None:
    """21 visits billed by each of two rendering providers (on the claims, 2310B): the
    first's lone 99215 among 99213s is an outlier; the second bills 99215 mostly and is
    not judged by the first's pattern."""
    start = date(2006, 9, 1)
    days = [start + timedelta(days=n) for n in range(42)]
    claims = [(f"A{n:03d}", d, "99215" if n == 7 else "99213", ANN_NPI)
              for n, d in enumerate(days[:21])]
    claims += [(f"B{n:03d}", d, "99213" if n == 3 else "99215", BOB_NPI)
               for n, d in enumerate(days[21:])]
    visits = [_visit(f"e{n}", f"{d:%Y-%m-%d}", [_participant(
        "d-ann" if n < 21 else "d-bob", "PPRF")]) for n, d in enumerate(days)]
    imports.import_fhir(practice, [("ted.json", _bundle(
        TED, _practitioner("d-ann", "Provider", "Rendering", ANN_NPI),
        _practitioner("d-bob", "Provider", "Rendering", BOB_NPI), *visits))])
    imports.import_837(practice, claims_837(claims))
    set_setting(practice, "charge_em_min_visits", 20)
    span = {"start": days[0], "end": days[-1]}
    review_charges(practice, **span)  # type: ignore[arg-type]
    tasks = _tasks(practice)
    outliers = {k: t for k, t in tasks.items() if ":em_outlier:" in k}
    # Bob's single 99213 is 1 of 21 (5%) of his: an outlier too, in his own distribution.
    assert sorted(k.split(":")[2:] for k in outliers) == [
        [f"{days[7]}", "em_outlier", "99215"], [f"{days[24]}", "em_outlier", "99213"]]
    ann = outliers[next(k for k in outliers if k.endswith("99215"))]
    assert ann.payload["provider"] == f"RENDERING, PROVIDER (NPI {ANN_NPI})"
    evidence = {e.label: e.excerpt for e in ann.evidence}
    assert f"Provider: RENDERING, PROVIDER (NPI {ANN_NPI}) - rendering provider (837P " \
           "2310B)" in evidence["Provider's E/M distribution"]
    assert "99213 20 (95%), 99215 1 (5%)" in evidence["Provider's E/M distribution"]
    assert set(tasks) == set(outliers)  # documented and billed alike otherwise

    again = review_charges(practice, **span)  # type: ignore[arg-type]
    assert again.created == [] and len(_tasks(practice)) == 2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(elements=st.lists(st.text(alphabet="AZ09 ,.:XI-*", max_size=12), max_size=10),
       where=st.sampled_from(["claim", "line", "other_payer"]))
def test_fuzzed_provider_names_parse_or_refuse_cleanly(elements: list[str], where: str
                                                      ) -> None:
    """Any NM1*82/71/85 content at claim, line or other-payer level: read, or refused
    with an X12Error naming the position; never another exception."""
    block = _claim_block("F1", date(2006, 10, 3), "99213", ANN_NPI)
    nm1 = "*".join(["NM1", "82"] + [e.replace("*", "") for e in elements])
    at = {"claim": 3, "line": len(block), "other_payer": 2}[where]
    extra = [nm1] if where != "other_payer" else ["SBR*S*18*******CI", nm1]
    try:
        parse_837(claims_837_raw(block[:at] + extra + block[at:]))
    except X12Error as exc:
        assert "segment" in str(exc)


def claims_837_raw(body: list[str]) -> bytes:
    segments = [s.strip() for s in CLAIM1.read_text().split("~") if s.strip()]
    first_claim = next(i for i, s in enumerate(segments) if s.startswith("CLM*"))
    se = next(i for i, s in enumerate(segments) if s.startswith("SE*"))
    st_at = next(i for i, s in enumerate(segments) if s.startswith("ST*"))
    out = segments[:first_claim] + body
    out.append(f"SE*{len(out) - st_at + 1}*{segments[se].split('*')[2]}")
    return ("~\n".join(out + segments[se + 1:]) + "~\n").encode()


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.sampled_from(
                         ["family", "given", "system", "value", "reference", "code",
                          "coding", "type", "individual", "display", "unit"]), inner,
                         max_size=4), max_leaves=12)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=_JSON, identifier=_JSON, participant=_JSON, dose=_JSON)
def test_fuzzed_practitioners_participants_and_doses_never_crash(
        name: Any, identifier: Any, participant: Any, dose: Any) -> None:
    """Whatever a Practitioner, an Encounter.participant or a doseQuantity holds, the
    reader maps it or lists the record as bad (with its position); nothing else."""
    from app.imports.fhir import Reader

    reader = Reader()
    reader.add_file("f.json", _bundle(
        TED, {"resourceType": "Practitioner", "id": "d1", "name": name,
              "identifier": identifier},
        dict(_visit("e1", "2006-10-03", []), participant=participant),
        {"resourceType": "Immunization", "id": "im1", "status": "completed",
         "patient": SUBJECT, "occurrenceDateTime": "2006-10-03",
         "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx",
                                     "code": "140"}]}, "doseQuantity": dose}))
    batch = reader.batch
    assert len(batch.resources) + len(batch.bad) == 3
    assert all(b.position.startswith("f.json entry") for b in batch.bad)


def test_a_malformed_nm1_names_no_one_it_does_not_hold() -> None:
    """NM1*82 with a first name and no last name names no one (it was ', JOHN', whose
    name key 'john' matched any John on the chart as the same provider): the billing
    provider stands in, said so; an oversized name or NPI element is capped like the
    FHIR side's (120 and 20 characters)."""
    block = _claim_block("F1", date(2006, 10, 3), "99213", ANN_NPI)
    block[2] = "NM1*82*1**JOHN"
    [claim] = parse_837(claims_837_raw(block)).claims
    assert claim.rendering is not None
    assert claim.rendering.loop == "2010AA" and "JOHN" not in claim.rendering.name
    block[2] = "NM1*82*1**JOHN****XX*" + ANN_NPI  # the NPI still identifies the person
    [claim] = parse_837(claims_837_raw(block)).claims
    assert claim.rendering is not None
    assert (claim.rendering.name, claim.rendering.npi, claim.rendering.loop) == (
        "", ANN_NPI, "2310B")
    block[2] = "NM1*82*2*" + "X" * 5000 + "*****XX*" + "9" * 5000
    [claim] = parse_837(claims_837_raw(block)).claims
    assert claim.rendering is not None
    assert (len(claim.rendering.name), len(claim.rendering.npi)) == (120, 20)


def test_an_outlier_stays_open_when_the_span_moves_past_the_providers_other_visits(
        practice: Session) -> None:
    """Ann's lone 99215 among 21 visits is an outlier. The nightly span moves on: two of
    her earlier visits leave it, 19 remain, under the 20-visit minimum: no distribution
    to judge by, but nothing about that visit changed. Before, its open task was closed
    as 'the claim or the chart has changed' (and, already made, never raised again); a
    corrected claim (99213 billed instead) still closes it."""
    days = [date(2006, 9, 1) + timedelta(days=n) for n in range(21)]
    claims = [(f"A{n:03d}", d, "99215" if n == 7 else "99213", ANN_NPI)
              for n, d in enumerate(days)]
    imports.import_fhir(practice, [("ted.json", _bundle(
        TED, _practitioner("d-ann", "Provider", "Rendering", ANN_NPI),
        *[_visit(f"e{n}", f"{d:%Y-%m-%d}", [_participant("d-ann", "PPRF")])
          for n, d in enumerate(days)]))])
    imports.import_837(practice, claims_837(claims))
    set_setting(practice, "charge_em_min_visits", 20)
    review_charges(practice, start=days[0], end=days[-1])
    [key] = [k for k in _tasks(practice) if ":em_outlier:" in k]
    state = _tasks(practice)[key].state
    moved = review_charges(practice, start=days[2], end=days[-1])
    assert moved.closed == [] and _tasks(practice)[key].state == state

    claims[7] = ("A007", days[7], "99213", ANN_NPI)  # the claim corrected
    imports.import_837(practice, claims_837(claims))
    corrected = review_charges(practice, start=days[2], end=days[-1])
    assert corrected.closed == [_tasks(practice)[key].id]
