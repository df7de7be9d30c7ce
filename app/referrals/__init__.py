"""Referrals: incoming referrals read from a FHIR ServiceRequest, a C-CDA referral note or
a letter, triaged by the practice's declarative rules; outbound referrals tracked through
their loop (sent, scheduled, seen, report received). Pure: no vault, no Qt."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Code:
    system: str   # short name: icd10, snomed, loinc, cpt, nucc, act_priority, x12_1365…
    code: str
    display: str = ""


@dataclass
class IncomingReferral:
    """What a referral says, whatever it arrived as. Patient fields are for matching the
    practice's patient; they never go into a log or a task title."""

    source: str                 # fhir, ccda, letter
    source_id: str              # the document's own id (FHIR id, C-CDA id root/ext, digest)
    patient_last: str = ""
    patient_first: str = ""
    patient_dob: date | None = None
    member_id: str = ""
    payer_name: str = ""
    referring: str = ""         # the referring clinician or organisation
    specialty: str = ""         # a code or words naming what is asked for
    service: Code | None = None
    priority: str = ""          # the source's own priority code (routine, urgent, A, UR…)
    reason: str = ""            # reason-for-referral text
    diagnoses: list[Code] = field(default_factory=list)
    authorization: str = ""     # a referral/authorization number, when the source gives one
    requested_on: date | None = None
    excerpt: str = ""           # the part of the source a person reads to decide

    def text_for_rules(self) -> str:
        """The text urgency words are looked for in."""
        parts = [self.reason, self.excerpt, self.service.display if self.service else ""]
        parts += [d.display for d in self.diagnoses]
        return " \n".join(p for p in parts if p)
