"""Incoming referrals read from what they arrive as: a FHIR ServiceRequest (alone or in a
Bundle with its Patient and Coverage), a C-CDA referral note (XML), or a letter's text
(the intake path turns a PDF, scan or text file into text first).

Every reader is bounded: a size cap before a byte is parsed, a wall-clock deadline and an
element/record cap while reading (memory grows with what is read, so the caps bound it).
XML goes through defusedxml, which refuses DTDs and entities (no entity expansion, no
external fetch). Refusals are one line naming the place, never the content.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import date
from typing import Any

from app.errors import ImportRejected
from app.imports.common import MB, Deadline, check_size
from app.referrals import Code, IncomingReferral

MAX_REFERRAL_BYTES = 8 * MB    # a C-CDA note is ~100-150 KB; a FHIR bundle with a note less
# The corpus referral note has ~2,900 elements; 8 MB of small elements stopped at this cap
# peaked at ~80 MB (tracemalloc) in 1.7 s, so the cap bounds memory as well as time.
MAX_XML_ELEMENTS = 200_000
MAX_SECONDS = 20.0
MAX_TEXT = 4000                # characters kept from a narrative section
HL7 = "{urn:hl7-org:v3}"
OID_SYSTEMS = {"2.16.840.1.113883.6.90": "icd10", "2.16.840.1.113883.6.3": "icd10",
               "2.16.840.1.113883.6.96": "snomed", "2.16.840.1.113883.6.1": "loinc",
               "2.16.840.1.113883.6.12": "cpt", "2.16.840.1.113883.6.101": "nucc",
               "2.16.840.1.113883.5.7": "act_priority"}
URI_SYSTEMS = {"http://hl7.org/fhir/sid/icd-10-cm": "icd10", "http://snomed.info/sct": "snomed",
               "http://loinc.org": "loinc", "http://www.ama-assn.org/go/cpt": "cpt",
               "http://nucc.org/provider-taxonomy": "nucc",
               "https://codesystem.x12.org/005010/1365": "x12_1365"}
REASON_SECTION, COMPLAINT_SECTION = "42349-1", "46239-0"
PROBLEM_SECTION, PAYER_SECTION = "11450-4", "48768-6"


def _check_size(data: bytes, what: str) -> None:
    check_size(len(data), MAX_REFERRAL_BYTES, what)
    if not data.strip():
        raise ImportRejected(f"the {what} is empty", what)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()[:32]


def _ymd(text: str) -> date | None:
    digits = re.sub(r"\D", "", text or "")[:8]
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8])) if len(digits) == 8 \
            else None
    except ValueError:
        return None


def _squash(text: str, cap: int = MAX_TEXT) -> str:
    return " ".join(text.split())[:cap]


# -- C-CDA ---------------------------------------------------------------------------------

def read_ccda(data: bytes, *, seconds: float = MAX_SECONDS,
              max_elements: int = MAX_XML_ELEMENTS) -> IncomingReferral:
    """A C-CDA referral (or consult) note: patient, payer, author, the reason-for-referral
    section (text, priority code, service code), problems as diagnoses."""
    from xml.etree.ElementTree import Element, ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse

    what = "C-CDA document"
    _check_size(data, what)
    clock = Deadline(seconds)
    root: Element | None = None
    count = 0
    try:
        for event, element in iterparse(io.BytesIO(data), events=("start",),
                                        forbid_dtd=True):
            if root is None:
                root = element
            count += 1
            if count > max_elements:
                raise ImportRejected(f"the {what} has more than {max_elements:,} elements",
                                     what)
            if count % 2048 == 0:
                clock.check(what)
    except DefusedXmlException:
        raise ImportRejected(f"the {what} declares a DTD or entities (refused for safety)",
                             what) from None
    except ParseError as exc:
        line, col = getattr(exc, "position", (0, 0))
        raise ImportRejected(f"the {what} is not well-formed XML", f"line {line}, column "
                                                                   f"{col}") from None
    if root is None or root.tag != f"{HL7}ClinicalDocument":
        raise ImportRejected("not a C-CDA document (the root is not ClinicalDocument)", what)
    clock.check(what)
    return _from_ccda(root, data)


def _find(el: Any, path: str) -> Any:
    return el.find(path.replace("h:", HL7)) if el is not None else None


def _text(el: Any) -> str:
    return _squash("".join(el.itertext())) if el is not None else ""


def _code(el: Any) -> Code | None:
    if el is None or not el.get("code"):
        return None
    system = OID_SYSTEMS.get(el.get("codeSystem", ""), el.get("codeSystemName", "").lower())
    return Code(system, str(el.get("code"))[:40], str(el.get("displayName", ""))[:200])


def _sections(root: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for section in root.iter(f"{HL7}section"):
        code = section.find(f"{HL7}code")
        if code is not None and code.get("code") and code.get("code") not in found:
            found[str(code.get("code"))] = section
    return found


def _name(el: Any) -> tuple[str, str]:
    if el is None:
        return "", ""
    given = " ".join(_text(g) for g in el.findall(f"{HL7}given"))
    return _text(el.find(f"{HL7}family")), given


def _from_ccda(root: Any, data: bytes) -> IncomingReferral:
    doc_id = _find(root, "h:id")
    source_id = (f"{doc_id.get('root', '')}:{doc_id.get('extension', '')}".strip(":")
                 if doc_id is not None else "") or _digest(data)
    patient = _find(root, "h:recordTarget/h:patientRole/h:patient")
    last, first = _name(_find(patient, "h:name"))
    birth = _find(patient, "h:birthTime")
    sections = _sections(root)
    reason = sections.get(REASON_SECTION)
    complaint = sections.get(COMPLAINT_SECTION)
    act = None
    if reason is not None:
        act = next((a for a in reason.iter(f"{HL7}act")), None)
    priority = _find(act, "h:priorityCode")
    specialty = ""
    if act is not None:
        for code_el in act.iter(f"{HL7}code"):
            c = _code(code_el)
            if c and c.system == "nucc":
                specialty = c.code
                break
    diagnoses: list[Code] = []
    problems = sections.get(PROBLEM_SECTION)
    if problems is not None:
        for value in problems.iter(f"{HL7}value"):
            c = _code(value)
            if c and c not in diagnoses:
                diagnoses.append(c)
            if len(diagnoses) >= 50:
                break
    payer = ""
    payers = sections.get(PAYER_SECTION)
    if payers is not None:
        org = next(payers.iter(f"{HL7}representedOrganization"), None)
        payer = _text(_find(org, "h:name"))
    author = _find(root, "h:author/h:assignedAuthor")
    referring = " ".join(reversed(_name(_find(author, "h:assignedPerson/h:name")))).strip() \
        or _text(_find(author, "h:representedOrganization/h:name"))
    reason_text = _text(_find(reason, "h:text"))
    complaint_text = _text(_find(complaint, "h:text"))
    when = _find(act, "h:effectiveTime")
    return IncomingReferral(
        source="ccda", source_id=source_id[:120], patient_last=last, patient_first=first,
        patient_dob=_ymd(birth.get("value", "")) if birth is not None else None,
        payer_name=payer[:120], referring=referring[:120], specialty=specialty,
        service=_code(_find(act, "h:code")),
        priority=str(priority.get("code", "")) if priority is not None else "",
        reason=reason_text, diagnoses=diagnoses,
        requested_on=_ymd(when.get("value", "")) if when is not None else None,
        excerpt=_squash(" / ".join(t for t in (reason_text, complaint_text) if t)))


# -- FHIR ServiceRequest ---------------------------------------------------------------------

def read_service_requests(data: bytes, *, seconds: float = MAX_SECONDS,
                          max_resources: int = 10_000) -> list[IncomingReferral]:
    """Every ServiceRequest in a Bundle (with its Patient and Coverage from the same
    bundle), or a single ServiceRequest; each validated with fhir.resources (R4B)."""
    what = "FHIR referral"
    _check_size(data, what)
    clock = Deadline(seconds)
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        raise ImportRejected(f"the {what} is not JSON", what) from None
    if not isinstance(doc, dict):
        raise ImportRejected(f"the {what} is not a FHIR resource", what)
    resources: list[tuple[str, dict[str, Any]]]
    if doc.get("resourceType") == "Bundle":
        entries = doc.get("entry") or []
        if not isinstance(entries, list) or len(entries) > max_resources:
            raise ImportRejected(f"the bundle's entries are not a list of at most "
                                 f"{max_resources:,}", what)
        resources = [(str(e.get("fullUrl", "")), e["resource"]) for e in entries
                     if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    else:
        resources = [("", doc)]
    by_ref: dict[str, dict[str, Any]] = {}
    for full_url, res in resources:
        rtype, rid = str(res.get("resourceType", "")), str(res.get("id", ""))
        for key in (f"{rtype}/{rid}", str(full_url)):
            if key and key != "/":
                by_ref[key] = res
    found: list[IncomingReferral] = []
    for n, (_url, res) in enumerate(resources):
        clock.check(what)
        if res.get("resourceType") != "ServiceRequest":
            continue
        _validate("ServiceRequest", res, f"entry {n}")
        found.append(_from_service_request(res, by_ref, data))
    if not found:
        raise ImportRejected(f"no ServiceRequest in the {what}", what)
    return found


def _validate(resource_type: str, res: dict[str, Any], position: str) -> None:
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError as PydanticError
    try:
        get_fhir_model_class(resource_type).model_validate(res)
    except PydanticError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        where = ".".join(str(p) for p in errors[0]["loc"]) if errors else "?"
        raise ImportRejected(f"{resource_type}.{where}: not valid FHIR R4", position) from None


def _coding(concept: Any) -> Code | None:
    if not isinstance(concept, dict):
        return None
    for c in concept.get("coding") or []:
        if isinstance(c, dict) and c.get("code"):
            system = str(c.get("system", ""))
            cpt = URI_SYSTEMS.get(system) == "cpt"  # CPT descriptors are the AMA's
            return Code(URI_SYSTEMS.get(system, system[:60]), str(c["code"])[:40],
                        "" if cpt else str(c.get("display", ""))[:200])
    text = str(concept.get("text", ""))
    return Code("text", "", text[:200]) if text else None


def _ref(res: dict[str, Any], key: str) -> str:
    value = res.get(key)
    return str(value.get("reference", "")) if isinstance(value, dict) else ""


def _from_service_request(sr: dict[str, Any], by_ref: dict[str, dict[str, Any]],
                          data: bytes) -> IncomingReferral:
    patient = by_ref.get(_ref(sr, "subject"), {})
    names = patient.get("name") or [{}]
    name = names[0] if isinstance(names[0], dict) else {}
    reasons = [c for c in (_coding(r) for r in sr.get("reasonCode") or []) if c]
    diagnoses = [c for c in reasons if c.code]
    reason_text = "; ".join(c.display or c.code for c in reasons)
    notes = " ".join(str(n.get("text", "")) for n in sr.get("note") or [] if isinstance(n, dict))
    specialty = _coding(sr.get("performerType"))
    coverage: dict[str, Any] = {}
    for ins in sr.get("insurance") or []:
        if isinstance(ins, dict):
            coverage = by_ref.get(str(ins.get("reference", "")), {})
            break
    if not coverage:  # PAS bundles list the Coverage beside the request
        coverage = next((r for r in by_ref.values() if r.get("resourceType") == "Coverage"
                         and _ref(r, "beneficiary") == _ref(sr, "subject")), {})
    payor = (coverage.get("payor") or [{}])[0] if coverage else {}
    payer = ""
    if isinstance(payor, dict):
        org = by_ref.get(str(payor.get("reference", "")), {})
        payer = str(payor.get("display") or org.get("name") or "")
    requester = by_ref.get(_ref(sr, "requester"), {})
    referring = str((sr.get("requester") or {}).get("display", "")) or str(
        requester.get("name", "") if isinstance(requester.get("name"), str) else "")
    identifiers = [i for i in sr.get("identifier") or [] if isinstance(i, dict)]
    auth = next((str(i.get("value", "")) for i in identifiers if i.get("value")), "")
    return IncomingReferral(
        source="fhir", source_id=str(sr.get("id") or _digest(data))[:120],
        patient_last=str(name.get("family", ""))[:80],
        patient_first=" ".join(str(g) for g in name.get("given") or [])[:80],
        patient_dob=_ymd(str(patient.get("birthDate", ""))),
        member_id=str(coverage.get("subscriberId", ""))[:40] if coverage else "",
        payer_name=payer[:120], referring=referring[:120],
        specialty=(specialty.code or specialty.display) if specialty else "",
        service=_coding(sr.get("code")), priority=str(sr.get("priority", "")),
        reason=_squash(" ".join(t for t in (reason_text, notes) if t)), diagnoses=diagnoses,
        authorization=auth[:60],
        requested_on=_ymd(str(sr.get("authoredOn") or sr.get("occurrenceDateTime") or "")),
        excerpt=_squash(" ".join(t for t in (reason_text, notes) if t)))


# Where a resource says which patient it is about (Patient itself aside).
_PATIENT_LINKS = ("subject", "patient", "beneficiary")


def service_request_part(data: bytes, source_id: str) -> bytes:
    """The part of a stored FHIR referral file (a Bundle, NDJSON or one resource) that is
    about one of its referrals (`source_id`, as read_service_requests gave it): its
    ServiceRequest and what it refers to, followed reference by reference (its Patient,
    Condition, Coverage, the requester...), plus a Coverage of the same patient listed
    beside it (PAS). A resource about another patient is never in it, whoever refers to
    it, so a person opening one referral of a bundle sees no other patient. A Bundle comes
    back as a Bundle of those entries in their order, NDJSON as those lines. ImportRejected
    when the file holds no such ServiceRequest."""
    what = "FHIR referral"
    entries: list[tuple[Any, str, Any]] = []  # (what is written back, fullUrl, resource)
    doc: Any = None
    ndjson = False
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        ndjson = True
        try:
            entries = [(line, "", json.loads(line)) for line in data.splitlines()
                       if line.strip()]
        except (ValueError, RecursionError):
            raise ImportRejected(f"the {what} is not JSON", what) from None
    if not ndjson:
        if not isinstance(doc, dict):
            raise ImportRejected(f"the {what} is not a FHIR resource", what)
        if doc.get("resourceType") != "Bundle":
            entries = [(doc, "", doc)]
        else:
            raw = doc.get("entry")
            entries = [(e, str(e.get("fullUrl", "")), e["resource"])
                       for e in (raw if isinstance(raw, list) else [])
                       if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    entries = [e for e in entries if isinstance(e[2], dict)]
    by_ref: dict[str, dict[str, Any]] = {}
    for _raw, full_url, res in entries:
        rtype, rid = str(res.get("resourceType", "")), str(res.get("id", ""))
        for key in (f"{rtype}/{rid}", full_url):
            if key and key != "/":
                by_ref[key] = res  # the last one, as the reader resolves it
    sr = next((res for _raw, _url, res in entries if res.get("resourceType") ==
               "ServiceRequest" and str(res.get("id") or _digest(data))[:120] == source_id),
              None)
    if sr is None:
        raise ImportRejected(f"the {what} holds no ServiceRequest {source_id}", what)

    def who(ref: str) -> Any:  # one resource however it is referred to
        target = by_ref.get(ref)
        return id(target) if target is not None else ref

    def about(res: dict[str, Any]) -> Any:
        if res.get("resourceType") == "Patient":
            return id(res)
        return next((who(_ref(res, k)) for k in _PATIENT_LINKS if _ref(res, k)), None)

    patient = who(_ref(sr, "subject"))
    kept: dict[int, dict[str, Any]] = {id(sr): sr}
    todo = [sr] + [r for _raw, _url, r in entries if r.get("resourceType") == "Coverage"
                   and about(r) == patient]
    while todo:
        res = todo.pop()
        kept[id(res)] = res
        if res.get("resourceType") == "Patient":
            continue  # its links and practitioners lead to other people
        stack: list[Any] = [res]
        while stack:  # every {"reference": ...} in it, however deep
            node = stack.pop()
            if isinstance(node, dict):
                target = by_ref.get(node["reference"]) if isinstance(
                    node.get("reference"), str) else None
                if target is not None and id(target) not in kept and about(target) in (
                        None, patient):
                    kept[id(target)] = target
                    todo.append(target)
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    part = [raw for raw, _url, res in entries if id(res) in kept]
    if ndjson:
        return b"\n".join(part) + b"\n"
    if doc.get("resourceType") != "Bundle":
        return data
    return json.dumps({"resourceType": "Bundle", "type": doc.get("type", "collection"),
                       "entry": part}, indent=2, ensure_ascii=False).encode("utf-8")


# -- a letter's text -------------------------------------------------------------------------

_LABELS = {
    "patient": r"patient(?: name)?|name", "dob": r"dob|date of birth|birth ?date",
    "member_id": r"member id|member ?#|insurance id|subscriber id",
    "payer": r"insurance|payer|plan", "referring": r"referring (?:provider|physician|doctor)|from",
    "specialty": r"specialty|referred to|refer to|to", "reason": r"reason(?: for referral)?|re",
    "priority": r"urgency|priority", "diagnosis": r"diagnos[ie]s|dx|icd-?10",
    "authorization": r"referral (?:number|#|no\.?)|authori[sz]ation(?: number| #)?|auth #",
}
_LINE = re.compile(r"^\s*(" + "|".join(f"(?P<{k}>{v})" for k, v in _LABELS.items())
                   + r")\s*[:#-]\s*(?P<value>.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_ICD10 = re.compile(r"\b([A-TV-Z][0-9][0-9AB](?:\.[0-9A-TV-Z]{1,4})?)\b")


def _dob(text: str) -> date | None:
    m = re.search(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
    if m:
        try:
            return date(int(m.group(3)), int(m.group(1)), int(m.group(2)))
        except ValueError:
            return None
    return _ymd(text) if re.match(r"\s*\d{4}-\d{2}-\d{2}", text) else None


def read_letter(text: str, source_id: str, *, max_chars: int = 200_000) -> IncomingReferral:
    """A referral letter's labelled lines (Patient:, DOB:, Reason:, Referred to:,
    Urgency:…); the whole letter is the excerpt the rules read for urgency words.
    `source_id` names the letter (the intake import's digest)."""
    if len(text) > max_chars:
        raise ImportRejected(f"the letter is longer than {max_chars:,} characters", "letter")
    fields: dict[str, str] = {}
    for m in _LINE.finditer(text):
        label = next(k for k in _LABELS if m.group(k))
        fields.setdefault(label, m.group("value")[:300])
    last, first = "", ""
    name = fields.get("patient", "")
    if "," in name:
        last, first = (p.strip() for p in name.split(",", 1))
    elif name:
        parts = name.split()
        first, last = " ".join(parts[:-1]), parts[-1]
    diagnoses = [Code("icd10", c) for c in dict.fromkeys(
        _ICD10.findall(fields.get("diagnosis", "")))][:20]
    return IncomingReferral(
        source="letter", source_id=source_id, patient_last=last[:80], patient_first=first[:80],
        patient_dob=_dob(fields.get("dob", "")), member_id=fields.get("member_id", "")[:40],
        payer_name=fields.get("payer", "")[:120], referring=fields.get("referring", "")[:120],
        specialty=fields.get("specialty", "")[:120], priority=fields.get("priority", "")[:40],
        reason=_squash(fields.get("reason", "")), diagnoses=diagnoses,
        authorization=fields.get("authorization", "")[:60],
        excerpt="\n".join(line for line in (_squash(t) for t in text.splitlines())
                          if line)[:MAX_TEXT])  # a letter reads line by line


def detect(data: bytes) -> str:
    """'ccda', 'fhir' or 'letter' from the content (not the file name)."""
    head = data.lstrip()[:4096]
    if head.startswith(b"<"):
        return "ccda"
    if head.startswith(b"{"):
        return "fhir"
    return "letter"
