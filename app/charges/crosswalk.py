"""Which documented codes are charges, and as which billing codes: the practice's
crosswalk (resources/charge_capture/crosswalk.yaml), validated before use."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.rulefiles import load_rule_file, parse_rule_text

CROSSWALK_PATH = Path(__file__).resolve().parents[2] / "resources" / "charge_capture" / \
    "crosswalk.yaml"
# FHIR system URIs -> the short names rule files use
SYSTEMS = {
    "http://www.ama-assn.org/go/cpt": "cpt", "urn:oid:2.16.840.1.113883.6.12": "cpt",
    "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets": "hcpcs",
    "urn:oid:2.16.840.1.113883.6.285": "hcpcs", "http://hl7.org/fhir/sid/cvx": "cvx",
    "urn:oid:2.16.840.1.113883.12.292": "cvx", "http://snomed.info/sct": "snomed",
    "http://loinc.org": "loinc", "http://www.nlm.nih.gov/research/umls/rxnorm": "rxnorm",
}
_CODE = {"type": "string", "pattern": "^[A-Za-z0-9.-]{1,20}$"}
SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["codes"],
    "properties": {
        "codes": {"type": "array", "maxItems": 5000, "items": {
            "type": "object", "additionalProperties": False,
            "required": ["system", "code", "bills"],
            "properties": {
                "system": {"enum": ["cvx", "snomed", "loinc", "rxnorm", "cpt", "hcpcs"]},
                "code": _CODE,
                "bills": {"type": "array", "items": _CODE, "minItems": 1, "maxItems": 20},
                "note": {"type": "string", "maxLength": 200}}}},
        "administration": {"type": "array", "maxItems": 20, "items": {
            "type": "object", "additionalProperties": False, "required": ["kind", "bills"],
            "properties": {
                "kind": {"enum": ["immunization", "procedure"]},
                "bills": {"type": "array", "items": _CODE, "minItems": 1, "maxItems": 40},
                "note": {"type": "string", "maxLength": 200}}}},
    },
}


def short_system(system: str) -> str:
    """'cvx', 'cpt'… for a FHIR system URI (or an already short name); '' if unknown."""
    s = system.strip()
    return SYSTEMS.get(s, s if s in SYSTEMS.values() else "")


@dataclass(frozen=True)
class Crosswalk:
    codes: dict[tuple[str, str], tuple[str, ...]]  # (short system, code) -> billing codes
    administration: dict[str, tuple[str, ...]]      # record kind -> admin billing codes

    def bills(self, system: str, code: str) -> tuple[str, ...]:
        """The billing codes a documented (system, code) accounts for; () if none.
        CPT and HCPCS codes bill as themselves."""
        short = short_system(system)
        if (short, code) in self.codes:
            return self.codes[(short, code)]
        if short in ("cpt", "hcpcs"):
            return (code,)
        return ()


def from_document(doc: dict[str, Any]) -> Crosswalk:
    return Crosswalk(
        {(str(e["system"]), str(e["code"])): tuple(str(b) for b in e["bills"])
         for e in doc["codes"]},
        {str(a["kind"]): tuple(str(b) for b in a["bills"])
         for a in doc.get("administration", [])})


def parse_crosswalk(data: bytes, name: str = "crosswalk.yaml") -> Crosswalk:
    """A crosswalk from a file's bytes; RuleFileError names the problem."""
    return from_document(parse_rule_text(data, SCHEMA, name))


@lru_cache(maxsize=2)
def load_crosswalk(path: Path = CROSSWALK_PATH) -> Crosswalk:
    return from_document(load_rule_file(path, SCHEMA))
