"""FHIR R4 bundles and bulk NDJSON into plain records, each resource validated with
`fhir.resources` before anything is mapped.

fhir.resources 8 ships R4B (4.3) and R5 models, not plain R4; for the nine resource types
imported here R4B reads R4 (4.0.1) content, which the corpus tests check (every Synthea
R4 bundle and the bulk export). Resources are validated one by one rather than as a
whole Bundle: a bad Claim or a type we do not import cannot block the patients, and a
bad record is reported as that entry alone. Validation messages name the field and the
rule, never the value (pydantic's input is left out), so a reason carries no PHI.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterator

from pydantic import ValidationError as PydanticError

from app.imports.common import LIMITS, BadRecord, Deadline, Limits, check_size

IMPORTED = ("Patient", "Coverage", "Appointment", "Encounter", "Condition", "Observation",
            "Procedure", "Immunization", "ServiceRequest")
CLINICAL_KINDS = {"Encounter": "encounter", "Condition": "condition",
                  "Observation": "observation", "Procedure": "procedure",
                  "Immunization": "immunization", "ServiceRequest": "service_request"}
CPT_SYSTEMS = frozenset({"http://www.ama-assn.org/go/cpt", "urn:oid:2.16.840.1.113883.6.12"})
# FHIR Appointment.status -> the schedule's status
APPOINTMENT_STATUS = {"proposed": "scheduled", "pending": "scheduled", "booked": "scheduled",
                      "arrived": "scheduled", "checked-in": "scheduled",
                      "waitlist": "scheduled", "fulfilled": "completed",
                      "noshow": "no_show", "cancelled": "cancelled",
                      "entered-in-error": "cancelled"}
SEX = {"female": "F", "male": "M", "other": "X", "unknown": "U"}
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
# Encounter.participant.type (v3 ParticipationType) that documents the visit, best first:
# the primary performer, then the attender. Synthea writes no type at all: an untyped
# individual is taken last, and `provider_from` says which it was.
DOCUMENTING_ROLES = ("PPRF", "ATND")
# UCUM codes (and plain words) that make a quantity a count of doses or units, which a
# billed unit count can be compared with. A volume or mass (0.5 mL, 40 mg) is not: the
# billing units of a drug code depend on its HCPCS descriptor, which OffHold does not hold.
COUNT_UNITS = frozenset({"", "1", "{dose}", "{doses}", "{unit}", "{units}", "{each}", "ea",
                         "{count}", "dose", "doses", "unit", "units", "each"})


@dataclass
class Resource:
    """One validated resource, mapped to what the product stores."""

    type: str
    id: str
    position: str
    patient_ref: str  # the source id of the patient it belongs to ('' for a Patient)
    fields: dict[str, Any]
    refs: dict[str, str] = field(default_factory=dict)  # other references (Coverage payor)


@dataclass
class FhirBatch:
    resources: list[Resource] = field(default_factory=list)
    bad: list[BadRecord] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)  # types we do not import
    organizations: dict[str, str] = field(default_factory=dict)  # source id -> name
    # Practitioner source id -> (name "Family, Given", NPI): read, not imported as a record
    practitioners: dict[str, tuple[str, str]] = field(default_factory=dict)
    records: int = 0


def _model(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class  # ~0.2 s: only when importing
    return get_fhir_model_class(resource_type)


def _why(exc: PydanticError, resource_type: str) -> str:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0] if errors else {"loc": (), "msg": "invalid"}
    where = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-"))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{resource_type}.{where or '?'}: {str(first['msg'])[:120]}{more}"


def _ref_id(reference: str) -> str:
    """'Patient/abc', 'urn:uuid:abc' or a full URL ending in Patient/abc -> 'abc'."""
    if reference.startswith("urn:uuid:"):
        return reference[len("urn:uuid:"):]
    return reference.rstrip("/").rsplit("/", 1)[-1]


def _date(value: Any) -> str | None:
    """An ISO date (YYYY-MM-DD) from a FHIR date or dateTime (date part as written)."""
    if value is None:
        return None
    text = value.isoformat() if isinstance(value, date) else str(value)
    return text[:10] if len(text) >= 10 else text


def _coding(concept: Any) -> tuple[str, str, str]:
    """(system, code, display) of a CodeableConcept's first coding; CPT loses its
    description (the AMA's), as everywhere in OffHold."""
    if concept is None:
        return "", "", ""
    codings = getattr(concept, "coding", None) or []
    if not codings:
        return "", "", str(getattr(concept, "text", "") or "")
    c = codings[0]
    system, code = str(c.system or ""), str(c.code or "")
    display = "" if is_cpt_system(system) else str(c.display or concept.text or "")
    return system, code, display


def is_cpt_system(system: str) -> bool:
    """CPT however an exporter spells it (https, a trailing slash, capitals, a bare "CPT"):
    a near miss would keep the AMA's descriptor text in the vault and on screen."""
    folded = system.strip().lower().rstrip("/")
    return (folded.replace("https://", "http://", 1) in CPT_SYSTEMS or folded == "cpt"
            or folded.endswith(("/cpt", ":cpt", "/cpt-4", "2.16.840.1.113883.6.12")))


def _patient_fields(m: Any) -> dict[str, Any]:
    names = m.name or []
    name = next((n for n in names if n.use == "official"), names[0] if names else None)
    if name is None or not name.family:
        raise ValueError("Patient.name: no family name")
    given = " ".join(name.given or [])
    telecom = m.telecom or []
    phone = next((t.value for t in telecom if t.system == "phone" and t.value), "")
    email = next((t.value for t in telecom if t.system == "email" and t.value), "")
    address = ""
    if m.address:
        a = m.address[0]
        address = ", ".join(p for p in [" ".join(a.line or []), a.city or "",
                                        " ".join(x for x in (a.state, a.postalCode) if x)]
                            if p)
    if m.birthDate is None:
        raise ValueError("Patient.birthDate: missing")
    return {"first_name": given, "last_name": str(name.family),
            "dob": _date(m.birthDate), "sex": SEX.get(str(m.gender or ""), ""),
            "phone": str(phone), "email": str(email), "address": address}


def _subject(m: Any, attr: str = "subject") -> str:
    ref = getattr(m, attr, None)
    if ref is None or not ref.reference:
        raise ValueError(f"{m.__resource_type__}.{attr}: no patient reference")
    return _ref_id(str(ref.reference))


def _practitioner_ref(reference: Any) -> str:
    """The Practitioner id of a Reference, '' when it names something else (a
    PractitionerRole, an Organization: not a person whose E/M levels we compare)."""
    ref = str(getattr(reference, "reference", None) or "")
    if ref.startswith("urn:uuid:") or "Practitioner/" in ref:
        return _ref_id(ref)
    return ""


def _documenting(m: Any) -> tuple[str, str, str]:
    """(Practitioner id, display, role) of the visit's documenting provider: the
    participant typed PPRF, else ATND, else the first untyped individual."""
    ranked: list[tuple[int, str, str, str]] = []
    for p in m.participant or []:
        if p.individual is None:
            continue
        codes = [c.code for t in p.type or [] for c in t.coding or [] if c.code]
        ref, display = _practitioner_ref(p.individual), str(p.individual.display or "")
        if not ref and not display:
            continue
        for rank, role in enumerate(DOCUMENTING_ROLES):
            if role in codes:
                ranked.append((rank, ref, display, role))
        if not codes:
            ranked.append((len(DOCUMENTING_ROLES), ref, display, "participant"))
    if not ranked:
        return "", "", ""
    _rank, ref, display, role = min(ranked, key=lambda r: r[0])
    return ref, display, role


def _performer(m: Any) -> tuple[str, str]:
    """(Practitioner id, display) of a Procedure's or Immunization's performer (the
    administering one, function AP, first)."""
    people = [p for p in m.performer or [] if p.actor is not None]
    people.sort(key=lambda p: 0 if p.function and any(
        c.code == "AP" for c in p.function.coding or []) else 1)
    for p in people:
        ref, display = _practitioner_ref(p.actor), str(p.actor.display or "")
        if ref or display:
            return ref, display
    return "", ""


def _count(quantity: Any) -> str | None:
    """A quantity's value when it counts doses or units (see COUNT_UNITS), else None."""
    if quantity is None or quantity.value is None:
        return None
    unit = str(quantity.code or quantity.unit or "").strip().casefold()
    return str(quantity.value) if unit in COUNT_UNITS and quantity.value > 0 else None


def _map(resource_type: str, m: Any) -> tuple[str, dict[str, Any], dict[str, str]]:
    """(patient source id, fields, other references) for one validated model."""
    if resource_type == "Patient":
        return "", _patient_fields(m), {}
    if resource_type == "Coverage":
        payor = (m.payor or [None])[0]
        group = next((c.value for c in (m.class_fhir or [])
                      if c.type and c.type.coding and c.type.coding[0].code == "group"), "")
        plan = next((c.name or c.value for c in (m.class_fhir or [])
                     if c.type and c.type.coding and c.type.coding[0].code == "plan"), "")
        period = m.period
        return _subject(m, "beneficiary"), {
            "member_id": str(m.subscriberId or next(
                (i.value for i in (m.identifier or []) if i.value), "")),
            "group_number": str(group or ""), "plan_name": str(plan or ""),
            "priority": int(m.order or 1), "active": int(m.status == "active"),
            "effective_date": _date(period.start) if period else None,
            "termination_date": _date(period.end) if period else None,
            "payer_name": str(payor.display or "") if payor else ""}, \
            {"payor": _ref_id(str(payor.reference))} if payor and payor.reference else {}
    if resource_type == "Appointment":
        patient = next((_ref_id(str(p.actor.reference)) for p in m.participant or []
                        if p.actor and p.actor.reference
                        and ("Patient/" in p.actor.reference
                             or p.actor.reference.startswith("urn:uuid:"))), "")
        if not patient:
            raise ValueError("Appointment.participant: no patient")
        if m.start is None:
            raise ValueError("Appointment.start: missing (only booked times are imported)")
        provider = next((str(p.actor.display) for p in m.participant or []
                         if p.actor and p.actor.display and p.actor.reference
                         and "Practitioner" in p.actor.reference), "")
        return patient, {"start_at": m.start.isoformat(), "provider": provider,
                         "status": APPOINTMENT_STATUS.get(str(m.status), "scheduled")}, {}
    kind = CLINICAL_KINDS[resource_type]
    system, code, display = "", "", ""
    recorded: Any = None
    ended: Any = None
    value: str | None = None
    unit = ""
    # Who documented it (the Practitioner is resolved at store time, when the whole batch
    # is read) and the quantity the documentation states. None: not stated, counted as one
    # (a FHIR R4 Procedure has no quantity; one Procedure is one service).
    practitioner, provider_name, provider_from = "", "", ""
    quantity: str | None = None
    encounter = str(getattr(getattr(m, "encounter", None), "reference", None) or "")
    status = str(getattr(m, "status", "") or "")
    if resource_type == "Encounter":
        system, code, display = _coding((m.type or [None])[0])
        recorded, ended = (m.period.start, m.period.end) if m.period else (None, None)
        practitioner, provider_name, provider_from = _documenting(m)
    elif resource_type == "Condition":
        system, code, display = _coding(m.code)
        status = _coding(m.clinicalStatus)[1]
        recorded, ended = m.onsetDateTime or m.recordedDate, m.abatementDateTime
    elif resource_type == "Observation":
        system, code, display = _coding(m.code)
        recorded = m.effectiveDateTime or (m.effectivePeriod.start if m.effectivePeriod
                                           else None) or m.issued
        if m.valueQuantity is not None and m.valueQuantity.value is not None:
            value, unit = str(m.valueQuantity.value), str(m.valueQuantity.unit or "")
        elif m.valueCodeableConcept is not None:
            value = _coding(m.valueCodeableConcept)[1] or None
        elif m.valueString is not None:
            value = str(m.valueString)
    elif resource_type == "Procedure":
        system, code, display = _coding(m.code)
        recorded = m.performedDateTime or (m.performedPeriod.start if m.performedPeriod
                                           else None)
        ended = m.performedPeriod.end if m.performedPeriod else None
        practitioner, provider_name = _performer(m)
        provider_from = "performer" if practitioner or provider_name else ""
    elif resource_type == "Immunization":
        system, code, display = _coding(m.vaccineCode)
        recorded = m.occurrenceDateTime
        practitioner, provider_name = _performer(m)
        provider_from = "performer" if practitioner or provider_name else ""
        # doseQuantity is usually a volume (0.5 mL), one dose: only a count is kept.
        quantity = _count(m.doseQuantity)
    elif resource_type == "ServiceRequest":
        system, code, display = _coding(m.code)
        recorded = m.occurrenceDateTime or m.authoredOn
    if not code:
        raise ValueError(f"{resource_type}: no code")
    return _subject(m, "patient" if resource_type == "Immunization" else "subject"), {
        "kind": kind, "code_system": system, "code": code, "display": display[:200],
        "status": status, "recorded_on": _date(recorded), "ended_on": _date(ended),
        "value": value, "unit": unit, "provider_name": provider_name[:120],
        "provider_from": provider_from, "quantity": quantity}, {
            k: v for k, v in (("practitioner", practitioner),
                              ("encounter", _ref_id(encounter) if encounter else "")) if v}


class Reader:
    """Validates and maps resources from any number of bundle and NDJSON files into one
    batch (an NDJSON bulk export is several files that refer to each other)."""

    def __init__(self, limits: Limits = LIMITS) -> None:
        self.limits = limits
        self.batch = FhirBatch()
        self.deadline = Deadline(limits.seconds)

    def add_file(self, name: str, data: bytes) -> None:
        stripped = data.lstrip()
        ndjson = name.lower().endswith((".ndjson", ".jsonl")) or _looks_ndjson(stripped)
        if stripped.startswith(b"{") and not ndjson:
            check_size(len(data), self.limits.max_bytes, "FHIR bundle")
            self._bundle(name, data)
        else:
            check_size(len(data), self.limits.max_ndjson_bytes, "NDJSON file")
            self._ndjson(name, data)

    def _bundle(self, name: str, data: bytes) -> None:
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise _rejected(name, f"not JSON: {str(exc)[:80]}") from None
        if not isinstance(doc, dict):
            raise _rejected(name, "not a FHIR resource (JSON object)")
        if doc.get("resourceType") != "Bundle":
            self._one(f"{name}", doc)  # a lone resource file
            return
        entries = doc.get("entry") or []
        if not isinstance(entries, list):
            raise _rejected(name, "Bundle.entry is not a list")
        for n, entry in enumerate(entries, 1):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and resource.get("resourceType") == "Organization":
                self._organization(entry, resource)
            self._one(f"{name} entry {n}", resource)

    def _organization(self, entry: dict[str, Any], resource: dict[str, Any]) -> None:
        name = resource.get("name")
        if isinstance(name, str):
            for key in (resource.get("id"), _ref_id(str(entry.get("fullUrl") or ""))):
                if isinstance(key, str) and key:
                    self.batch.organizations[key] = name

    def _ndjson(self, name: str, data: bytes) -> None:
        for n, raw in enumerate(io.BytesIO(data), 1):
            if len(raw) > self.limits.max_line_bytes:
                self._bad(f"{name} line {n}", f"the line is over "
                          f"{self.limits.max_line_bytes // (1024 * 1024)} MB")
                continue
            if not raw.strip():
                continue
            try:
                resource = json.loads(raw)
            except (ValueError, RecursionError):
                self._bad(f"{name} line {n}", "not a JSON object")
                continue
            if isinstance(resource, dict) and resource.get("resourceType") == "Organization":
                self._organization({}, resource)
            self._one(f"{name} line {n}", resource)

    def _practitioner(self, resource: dict[str, Any]) -> None:
        """Name and NPI of a Practitioner, for the documenting provider of the records
        that refer to it (read as plain JSON, like Organization names: a malformed one
        only leaves those records without a provider name)."""
        ident = resource.get("id")
        if not isinstance(ident, str) or not ident:
            return
        npi = next((str(i.get("value")) for i in _list(resource.get("identifier"))
                    if isinstance(i, dict) and i.get("system") == NPI_SYSTEM
                    and isinstance(i.get("value"), str)), "")
        names = [n for n in _list(resource.get("name")) if isinstance(n, dict)]
        name = ""
        if names:
            family = names[0].get("family")
            given = names[0].get("given")
            given_text = " ".join(g for g in given if isinstance(g, str)) \
                if isinstance(given, list) else ""
            name = ", ".join(p for p in (family if isinstance(family, str) else "",
                                          given_text) if p)
        self.batch.practitioners[ident] = (name[:120], npi[:20])

    def _bad(self, position: str, reason: str, ident: str = "") -> None:
        # Bad records count against the cap too: a 32 MB bundle of empty objects is 11M
        # of them (3 GB held, measured), refused here at the cap instead.
        if self.batch.records >= self.limits.max_records:
            raise _rejected(position, f"more than {self.limits.max_records} records; split "
                            "the export")
        self.batch.records += 1
        self.batch.bad.append(BadRecord(position, reason, ident))

    def _one(self, position: str, resource: Any) -> None:
        self.deadline.check(position)
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            self._bad(position, "no resource with a resourceType")
            return
        rtype = str(resource["resourceType"])
        if rtype == "Practitioner":
            self._practitioner(resource)
            return
        if rtype not in IMPORTED:
            self.batch.ignored[rtype[:40]] = self.batch.ignored.get(rtype[:40], 0) + 1
            return
        if self.batch.records >= self.limits.max_records:
            raise _rejected(position, f"more than {self.limits.max_records} records; split "
                            "the export")
        ident = resource.get("id")
        if not isinstance(ident, str) or not ident:
            self._bad(position, f"{rtype}.id: missing (the source's ID makes a re-import "
                      "safe)")
            return
        try:
            model = _model(rtype).model_validate(resource)
            patient_ref, fields, refs = _map(rtype, model)
        except PydanticError as exc:
            self._bad(position, _why(exc, rtype), ident)
            return
        except (ValueError, TypeError, AttributeError) as exc:
            self._bad(position, str(exc)[:160], ident)
            return
        self.batch.records += 1
        self.batch.resources.append(Resource(rtype, ident, position, patient_ref, fields,
                                             refs))


def _list(value: Any) -> list[Any]:
    """A JSON array as a list; anything else (unvalidated input) as no items."""
    return value if isinstance(value, list) else []


def _looks_ndjson(data: bytes) -> bool:
    """A file of one JSON object per line (bulk export), not one pretty-printed object."""
    first, _, rest = data.partition(b"\n")
    if not rest.strip():
        return False
    try:
        json.loads(first)
    except ValueError:
        return False
    return True


def _rejected(position: str, reason: str) -> Exception:
    from app.errors import ImportRejected
    return ImportRejected(reason, position)


def iter_by_type(batch: FhirBatch, order: tuple[str, ...] = IMPORTED) -> Iterator[Resource]:
    """Patients first, so every other record finds its patient."""
    rank = {t: n for n, t in enumerate(order)}
    yield from sorted(batch.resources, key=lambda r: rank[r.type])
