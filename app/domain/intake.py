"""Intake form types. Plain data, no persistence.

A form becomes an `intake_review` task whose payload holds an `IntakeResult` (as JSON):
the source text, every extracted value with the character spans where it was found, the
flags, the vault discrepancies and the summaries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from dataclasses import field as dc_field
from enum import Enum
from typing import Any

Span = tuple[int, int]
Box = tuple[int, float, float, float, float]  # OCR: page (1-based), x0, y0, x1, y1 in 0..1


class SourceKind(str, Enum):
    FILLABLE_PDF = "fillable_pdf"  # values read from the AcroForm fields
    TEXT_PDF = "text_pdf"          # text layer read with pdfplumber
    TEXT = "text"                  # plain text or a pasted form
    SCANNED_PDF = "scanned_pdf"    # no text layer: read by OCR, else manual entry
    IMAGE = "image"                # a photo or fax: read by OCR, else manual entry


# Structured fields, in review order: name -> (label, kind). Kinds drive matching:
# date, phone, id and drug values are normalised before they are looked up in the source.
FIELDS: dict[str, tuple[str, str]] = {
    "first_name": ("First name", "text"),
    "last_name": ("Last name", "text"),
    "dob": ("Date of birth", "date"),
    "sex": ("Sex", "text"),
    "address": ("Address", "text"),
    "phone": ("Phone", "phone"),
    "email": ("Email", "text"),
    "insurance": ("Insurance", "text"),
    "member_id": ("Member ID", "id"),
    "group_number": ("Group number", "id"),
    "subscriber_name": ("Subscriber name", "text"),
    "subscriber_dob": ("Subscriber date of birth", "date"),
    "subscriber_relationship": ("Relationship to subscriber", "text"),
    "reason": ("Reason for visit", "text"),
    "medications": ("Medications", "drug"),
    "allergies": ("Allergies", "drug"),
    "problems": ("Problems", "text"),
    "smoking": ("Smoking", "text"),
    "last_screenings": ("Last screenings", "text"),
}
LIST_FIELDS = frozenset({"medications", "allergies", "problems", "last_screenings"})
# Fields approval writes to the patient record (app.services.patients.update_patient).
PATIENT_FIELDS = ("first_name", "last_name", "dob", "sex", "address", "phone", "email",
                  "medications", "allergies", "problems")


@dataclass
class IntakeValue:
    field: str
    value: str
    origin: str  # form_field | labelled_line | ocr | model
    spans: list[Span] = dc_field(default_factory=list)
    grounded: bool = True
    boxes: list[Box] = dc_field(default_factory=list)  # OCR'd values: where on the scan


@dataclass
class IntakeFlag:
    code: str  # ungrounded | injection | discrepancy | missing | manual_entry | model | ...
    message: str  # shown to staff; may quote the form (it stays in the vault)
    field: str = ""
    severity: str = "warning"  # info | warning | critical
    spans: list[Span] = dc_field(default_factory=list)
    boxes: list[Box] = dc_field(default_factory=list)  # OCR: the words it is about, on the scan


@dataclass
class Discrepancy:
    field: str
    kind: str  # mismatch | added | removed | changed
    vault_value: str
    form_value: str


@dataclass
class IntakeResult:
    source_kind: SourceKind
    source_text: str
    values: list[IntakeValue] = dc_field(default_factory=list)
    flags: list[IntakeFlag] = dc_field(default_factory=list)
    discrepancies: list[Discrepancy] = dc_field(default_factory=list)
    summary: str = ""  # what the reviewer sees: model prose only if fully grounded
    summary_origin: str = "deterministic"  # deterministic | model
    deterministic_summary: str = ""
    model_summary: str = ""  # the model's draft, kept even when it failed grounding
    model_ungrounded: list[Span] = dc_field(default_factory=list)  # spans in model_summary
    reason_phrase: str = ""  # the model's free-text reason phrasing (grounded only)
    patient_id: int | None = None
    match: str = ""  # given | name_dob | member_id | none
    model_name: str = ""
    answered: list[str] = dc_field(default_factory=list)  # fields present on the form
    none_reported: list[str] = dc_field(default_factory=list)  # answered "none" / "NKDA"
    # Those answers as written ("NKDA", "None known") with their spans: a stated answer the
    # reviewer sees highlighted, not an empty list.
    stated_none: list[IntakeValue] = dc_field(default_factory=list)

    def first(self, name: str) -> str:
        for v in self.values:
            if v.field == name:
                return v.value
        return ""

    def items(self, name: str) -> list[str]:
        return [v.value for v in self.values if v.field == name]

    def fields_dict(self) -> dict[str, Any]:
        """The structured fields as the editable draft holds them."""
        out: dict[str, Any] = {}
        for name in FIELDS:
            out[name] = self.items(name) if name in LIST_FIELDS else self.first(name)
        return out

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["source_kind"] = self.source_kind.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "IntakeResult":
        def _value(v: dict[str, Any]) -> IntakeValue:
            return IntakeValue(v["field"], v["value"], v["origin"], spans(v["spans"]),
                               v.get("grounded", True), boxes(v.get("boxes", [])))

        def boxes(items: list[Any]) -> list[Box]:
            return [(int(b[0]), float(b[1]), float(b[2]), float(b[3]), float(b[4]))
                    for b in items]

        def spans(items: list[Any]) -> list[Span]:
            return [(int(a), int(b)) for a, b in items]
        return cls(
            source_kind=SourceKind(data["source_kind"]), source_text=data["source_text"],
            values=[_value(v) for v in data.get("values", [])],
            flags=[IntakeFlag(f["code"], f["message"], f.get("field", ""),
                              f.get("severity", "warning"), spans(f.get("spans", [])),
                              boxes(f.get("boxes", [])))
                   for f in data.get("flags", [])],
            discrepancies=[Discrepancy(**d) for d in data.get("discrepancies", [])],
            summary=data.get("summary", ""), summary_origin=data.get("summary_origin", ""),
            deterministic_summary=data.get("deterministic_summary", ""),
            model_summary=data.get("model_summary", ""),
            model_ungrounded=spans(data.get("model_ungrounded", [])),
            reason_phrase=data.get("reason_phrase", ""), patient_id=data.get("patient_id"),
            match=data.get("match", ""), model_name=data.get("model_name", ""),
            answered=list(data.get("answered", [])),
            none_reported=list(data.get("none_reported", [])),
            stated_none=[_value(v) for v in data.get("stated_none", [])])
