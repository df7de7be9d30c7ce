"""What a biller reads about a remitted claim (pure): which adjustments can be argued in
an appeal, whether a denial is the whole claim's or only some lines', every adjustment
group of the claim side by side, readable labels with the code beside them, and whether
a deadline (a calendar date, the payer's) is still ahead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from app.denials.classify import Rule, load_rules
from app.denials.codes import carc_text, group_text
from app.domain.revenue import Adjustment, ClaimPayment

CATEGORY_LABEL = {
    "eligibility": "Eligibility", "authorization": "Authorization", "coding": "Coding",
    "missing_info": "Missing information", "medical_necessity": "Medical necessity",
    "timely_filing": "Timely filing", "duplicate": "Duplicate claim",
    "bundling": "Bundling", "non_covered": "Not covered",
    "patient_responsibility": "Patient responsibility", "contractual": "Contractual",
    "other": "Other",
}
ACTION_LABEL = {
    "appeal": "Appeal", "rebill_corrected": "Send a corrected claim",
    "fix_and_resubmit": "Fix and resubmit", "bill_patient": "Bill the patient",
    "write_off": "Write off", "no_action": "No action",
    "late_review": "Deadline passed: write off or late appeal",
}
SCOPE_LABEL = {"claim": "Claim denied", "line": "Line-level denial", "": "Not a denial"}


def labelled(table: dict[str, str], code: str | None) -> str:
    """'Medical necessity (medical_necessity)': the label, with the code beside it."""
    if not code:
        return ""
    return f"{table.get(code, code)} ({code})"


def _first_adjustment_rule(adj: Adjustment, rules: tuple[Rule, ...]) -> Rule | None:
    # Only rules that look at the adjustment itself decide what that adjustment is.
    for rule in rules:
        if (rule.groups or rule.carcs) and rule.matches(adj, "1", [], False):
            return rule
    return None


def is_appeal_ground(adj: Adjustment, rules: tuple[Rule, ...] | None = None) -> bool:
    """An adjustment a payer can be asked to reverse. Patient responsibility (group PR)
    and contractual write-downs (CO-45 and kin: the rules marked denial: false) are owed
    under the plan or the contract, so arguing them only gets the appeal dismissed."""
    if adj.amount == 0 or adj.group == "PR":
        return False
    rule = _first_adjustment_rule(adj, rules if rules is not None else load_rules())
    return rule is None or rule.denial


def denial_scope(claim: ClaimPayment, is_denial: bool,
                 rules: tuple[Rule, ...] | None = None) -> str:
    """'claim' when the claim itself is denied (CLP02 4, a claim-level denial adjustment,
    or every line denied), 'line' when denials sit on some lines only while others are
    paid, '' for no denial."""
    if not is_denial:
        return ""
    if claim.status_code == "4" or not claim.lines:
        return "claim"
    rules = rules if rules is not None else load_rules()
    if any(is_appeal_ground(a, rules) for a in claim.adjustments):
        return "claim"
    denied = [any(is_appeal_ground(a, rules) for a in ln.adjustments) for ln in claim.lines]
    if any(denied) and not all(denied):
        return "line"
    return "claim"


@dataclass(frozen=True)
class Deadline:
    """A payer deadline against today (both calendar dates in the practice's time zone)."""

    due: date
    today: date

    @property
    def passed(self) -> bool:
        return self.today > self.due

    @property
    def days_left(self) -> int:
        return (self.due - self.today).days

    def text(self) -> str:
        if self.passed:
            return f"passed on {self.due:%m/%d/%Y} ({-self.days_left} days ago)"
        return f"{self.due:%m/%d/%Y} ({self.days_left} days left)"


def adjustment_groups(adjustments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every adjustment group of one claim together (CO, PR, OA, ... on the same claim),
    each with its label, total and adjustments; an adjustment is line-level when it names
    its line (`line`: the procedure code), claim-level otherwise. Input rows: group,
    carc, amount (str), line (code or None)."""
    groups: dict[str, dict[str, Any]] = {}
    for a in adjustments:
        g = groups.setdefault(a["group"], {
            "group": a["group"], "label": f"{group_text(a['group'])} ({a['group']})",
            "total": Decimal(0), "adjustments": []})
        g["total"] += Decimal(str(a["amount"]))
        g["adjustments"].append({
            "code": f"{a['group']}-{a['carc']}", "carc": a["carc"],
            "reason": carc_text(a["carc"]).split(" Usage:")[0], "amount": str(a["amount"]),
            "line": a.get("line"), "line_level": a.get("line") is not None})
    order = {"CO": 0, "PR": 1, "OA": 2, "PI": 3, "CR": 4}
    out = sorted(groups.values(), key=lambda g: (order.get(g["group"], 9), g["group"]))
    for g in out:
        g["total"] = str(g["total"])
    return out


def patient_responsibility(claim_pr: str | None, groups: list[dict[str, Any]]) -> str:
    """What the patient owes on the claim: the payer's CLP05 when sent, else the sum of
    the PR adjustments."""
    if claim_pr not in (None, ""):
        return str(claim_pr)
    return next((g["total"] for g in groups if g["group"] == "PR"), "0")


def claim_summary(d: dict[str, Any]) -> list[str]:
    """One remitted claim in a few phrases (app.services.remittance.remit_claim_detail):
    status, amounts with what the patient owes, the denial's scope, category and next
    step, and the appeal deadline; the CLI prints them as lines, the desktop in a row."""
    parts = [f"Claim {d['claim_number']} ({d['payer']}): {d['status_text']} ({d['status']})",
             f"charged ${d['charge']}, paid ${d['paid']}, patient responsibility "
             f"${d['patient_responsibility']}"]
    if d["denial"]:
        parts.append(f"{d['scope_label']}: {d['category_label']}; next: "
                     f"{d['next_action_label']}")
        if d["appeal_deadline"]:
            parts.append(f"appeal deadline {d['appeal_deadline_text']}")
    return parts
