"""Compare an intake form's values with the patient's record in the vault.

Reported: a name or DOB mismatch; an allergy added or removed; a medication added,
removed or changed (same drug, different dose); a changed payer or member ID (the
workflow queues an eligibility re-check for those). Only fields the form answered are
compared: a blank section is "not answered", not "none".
"""

from __future__ import annotations

import re
from typing import Any, Callable

from app.domain import Patient
from app.domain.intake import Discrepancy

SameDrug = Callable[[str, str], bool]


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s/-]", " ", text.lower()).split())


def _alnum(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def _first_word(text: str) -> str:
    words = _norm(text).split()
    return words[0] if words else ""


def default_same_drug(a: str, b: str) -> bool:
    return _first_word(a) == _first_word(b)


def compare(patient: Patient, fields: dict[str, Any], answered: set[str],
            none_reported: set[str], same_drug: SameDrug = default_same_drug
            ) -> list[Discrepancy]:
    out: list[Discrepancy] = []
    for name, current in (("first_name", patient.first_name), ("last_name", patient.last_name)):
        value = str(fields.get(name) or "")
        if value and _norm(value) != _norm(current):
            out.append(Discrepancy(name, "mismatch", current, value))
    dob = str(fields.get("dob") or "")
    if dob and dob != patient.dob.isoformat():
        out.append(Discrepancy("dob", "mismatch", patient.dob.isoformat(), dob))
    for name, current_list in (("allergies", patient.allergies),
                               ("medications", patient.medications)):
        if name not in answered and name not in none_reported:
            continue
        form_items = [str(v) for v in fields.get(name) or []]
        for item in form_items:
            match = next((c for c in current_list if same_drug(c, item)), None)
            if match is None:
                out.append(Discrepancy(name, "added", "", item))
            elif name == "medications" and _norm(match) != _norm(item):
                out.append(Discrepancy(name, "changed", match, item))
        for current in current_list:
            if not any(same_drug(current, item) for item in form_items):
                out.append(Discrepancy(name, "removed", current, ""))
    member = str(fields.get("member_id") or "")
    payer = str(fields.get("insurance") or "")
    active = [c for c in patient.coverages if c.active]
    if member and active and not any(_alnum(c.member_id) == _alnum(member) for c in active):
        out.append(Discrepancy("member_id", "changed", active[0].member_id, member))
    if payer and active and not any(_payer_matches(c.payer_name, payer) for c in active):
        out.append(Discrepancy("insurance", "changed", active[0].payer_name, payer))
    if (member or payer) and not active:
        out.append(Discrepancy("insurance", "added", "", payer or member))
    return out


def _payer_matches(vault_name: str, form_name: str) -> bool:
    """'Acme Health' on file matches 'ACME' or 'Acme Health PPO' on a form."""
    a, b = _norm(vault_name), _norm(form_name)
    if not a or not b:
        return False
    if a in b or b in a:
        return True
    skip = {"health", "plan", "insurance", "the", "of", "inc", "co", "ppo", "hmo", "care"}
    wa = {w for w in a.split() if w not in skip}
    wb = {w for w in b.split() if w not in skip}
    return bool(wa & wb)
