"""Eligibility: store 271 responses, read the latest per patient, estimate what the
patient owes for a visit, and build 270 inquiries for the clearinghouse.

The clearinghouse itself is behind the `Clearinghouse` protocol; the only
implementation today drops files in a folder the practice's clearinghouse software
picks up (a live connection is out of scope)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Protocol

from app import audit, clock
from app.domain.revenue import Benefit, EligibilityResponse
from app.errors import NotFound, ValidationError
from app.identity import Session, require
from app.services.practice import get_setting
from app.services.remittance import ImportResult, import_row, match_patient, match_payer
from app.vault.db import Connection
from app.x12.writer import Inquiry, build_270

CENT = Decimal("0.01")


# -- storing 271 --------------------------------------------------------------------------

def _key(resp: EligibilityResponse) -> str:
    p = resp.patient
    raw = "|".join([resp.payer_id, resp.control, ",".join(resp.trace_numbers), p.member_id,
                    p.last, p.first, str(resp.segment_index), str(len(resp.benefits)),
                    ",".join(r.reason_code for r in resp.rejections)])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@dataclass
class StoredResponse:
    response_id: int
    response: EligibilityResponse
    patient_id: int | None
    payer_id: int | None


def store_271(session: Session, conn: Connection, responses: list[EligibilityResponse],
              data: bytes, *, lenient: bool = False,
              ) -> tuple[ImportResult, list[StoredResponse]]:
    """Store inside the caller's transaction; a response already stored (same payer,
    control and trace numbers, member) is skipped, so re-importing changes nothing."""
    require(session, "eligibility.import")
    findings = [f for r in responses for f in r.findings]
    result = ImportResult("271", None, hashlib.sha256(data).hexdigest(),
                          transactions=len(responses), findings=findings)
    stored: list[StoredResponse] = []
    now = clock.iso(clock.now())
    for resp in responses:
        key = _key(resp)
        if conn.execute("SELECT 1 FROM eligibility_responses WHERE natural_key = ?",
                        (key,)).fetchone():
            result.duplicates += 1
            continue
        if result.import_id is None:
            result.import_id, _sha = import_row(session, conn, "271", data, lenient, findings)
        member = resp.patient
        patient_id = match_patient(conn, member.last, member.member_id or
                                   resp.subscriber.member_id)
        payer = match_payer(conn, resp.payer_name, resp.payer_id)
        payer_id = payer[0] if payer else None
        rejections = [{"level": r.level, "code": r.reason_code, "reason": r.reason,
                       "follow_up": r.follow_up} for r in resp.rejections]
        cur = conn.execute(
            "INSERT INTO eligibility_responses (import_id, natural_key, patient_id, payer_id, "
            "payer_name, member_id, patient_last, patient_first, active, plan_name, "
            "group_number, rejections, received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (result.import_id, key, patient_id, payer_id, resp.payer_name,
             member.member_id or resp.subscriber.member_id, member.last, member.first,
             None if resp.active is None else int(resp.active), resp.plan_name,
             member.group_number or resp.subscriber.group_number, json.dumps(rejections), now))
        rid = int(cur.lastrowid)
        for b in resp.benefits:
            conn.execute(
                "INSERT INTO eligibility_benefits (response_id, info, coverage_level, "
                "service_types, insurance_type, plan_description, time_period, amount, "
                "percent, quantity_qualifier, quantity, auth_required, in_network, messages) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (rid, b.info, b.coverage_level, json.dumps(b.service_types), b.insurance_type,
                 b.plan_description, b.time_period, _s(b.amount), _s(b.percent),
                 b.quantity_qualifier, _s(b.quantity), b.auth_required, b.in_network,
                 json.dumps(b.messages)))
        result.stored += 1
        if patient_id is None:
            result.unmatched += 1
        else:
            result.matched_patients += 1
        stored.append(StoredResponse(rid, resp, patient_id, payer_id))
    audit.record(session.vault, conn, session, "x12.import", "x12_import",
                 result.import_id or "", details={
                     "kind": "271", "sha256": result.sha256, "stored": result.stored,
                     "duplicates": result.duplicates, "lenient": lenient})
    return result, stored


def _s(d: Decimal | None) -> str | None:
    return None if d is None else str(d)


def _d(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


# -- reading ------------------------------------------------------------------------------

@dataclass
class Eligibility:
    response_id: int
    received_at: str
    payer_name: str
    member_id: str
    active: bool | None
    plan_name: str
    group_number: str
    rejections: list[dict[str, str]]
    benefits: list[Benefit] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"response_id": self.response_id, "received_at": self.received_at,
                "payer": self.payer_name, "member_id": self.member_id, "active": self.active,
                "plan": self.plan_name, "group": self.group_number,
                "rejections": self.rejections,
                "benefits": [{"info": b.info, "level": b.coverage_level,
                              "service_types": b.service_types, "period": b.time_period,
                              "amount": _s(b.amount), "percent": _s(b.percent),
                              "in_network": b.in_network} for b in self.benefits]}


def _load(conn_or_vault: Any, row: Any) -> Eligibility:
    elig = Eligibility(row[0], row[1], row[2], row[3],
                       None if row[4] is None else bool(row[4]), row[5], row[6],
                       json.loads(row[7]))
    for b in conn_or_vault.execute(
            "SELECT info, coverage_level, service_types, insurance_type, plan_description, "
            "time_period, amount, percent, quantity_qualifier, quantity, auth_required, "
            "in_network, messages FROM eligibility_benefits WHERE response_id = ? ORDER BY id",
            (row[0],)).fetchall():
        elig.benefits.append(Benefit(
            b[0], coverage_level=b[1], service_types=json.loads(b[2]), insurance_type=b[3],
            plan_description=b[4], time_period=b[5], amount=_d(b[6]), percent=_d(b[7]),
            quantity_qualifier=b[8], quantity=_d(b[9]), auth_required=b[10], in_network=b[11],
            messages=json.loads(b[12])))
    return elig


def describe_benefits(elig: Eligibility) -> list[str]:
    """Readable lines per benefit: what (EB01), for which services (EB03), how much and
    over which period (EB06), in or out of network. For the front desk and the CLI."""
    from app.x12.x271 import describe

    lines = []
    for b in elig.benefits:
        what = describe("EB01", b.info)
        services = ", ".join(describe("EB03", t) for t in b.service_types[:4])
        if len(b.service_types) > 4:
            services += f" (+{len(b.service_types) - 4} more)"
        value = f" ${b.amount}" if b.amount is not None else ""
        if b.percent is not None:
            value += f" {(b.percent * 100).normalize():f}%"
        period = f" per {describe('EB06', b.time_period)}" if b.time_period else ""
        network = {"Y": " in network", "N": " out of network"}.get(b.in_network, "")
        level = f" [{b.coverage_level}]" if b.coverage_level else ""
        details = f"{value}{period}{network}".strip()
        lines.append(f"{what}{level}" + (f": {details}" if details else "")
                     + (f" ({services})" if services else ""))
    return lines


def show_eligibility(session: Session, patient_id: int) -> dict[str, Any]:
    """The latest 271 for a patient, readable; audited as a view of the patient."""
    elig = latest_for_patient(session, patient_id)
    audit.record_now(session.vault, session, "eligibility.view", object_type="patient",
                     object_id=patient_id, patient_id=patient_id)
    if elig is None:
        return {"patient_id": patient_id, "eligibility": None, "lines": []}
    return {"patient_id": patient_id, "eligibility": elig.to_json(),
            "lines": describe_benefits(elig)}


ELIG_COLUMNS = ("id, received_at, payer_name, member_id, active, plan_name, group_number, "
                "rejections")


def latest_for_patient(session: Session, patient_id: int, *, before_id: int | None = None,
                       ) -> Eligibility | None:
    require(session, "patient.view")
    with session.vault.read() as conn:
        row = conn.execute(
            f"SELECT {ELIG_COLUMNS} FROM eligibility_responses WHERE patient_id = ? "
            "AND (? IS NULL OR id < ?) ORDER BY received_at DESC, id DESC LIMIT 1",
            (patient_id, before_id, before_id)).fetchone()
        return None if row is None else _load(conn, row)


# -- estimate -----------------------------------------------------------------------------

@dataclass
class Estimate:
    """What the patient may owe for a visit. Always an estimate, shown with its inputs."""

    label: str
    visit_type: str
    amount: Decimal | None
    basis: str
    inputs: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "visit_type": self.visit_type,
                "estimate": _s(self.amount), "basis": self.basis, "inputs": self.inputs}

    def text(self) -> str:
        head = (f"ESTIMATE for a {self.visit_type} visit: "
                + (f"${self.amount}" if self.amount is not None else "not available"))
        return "\n".join([head, f"  basis: {self.basis}"] +
                         [f"  {k}: {v}" for k, v in self.inputs.items()] +
                         ["  This is an estimate from the payer's eligibility response, "
                          "not a bill."])


def pick_benefit(benefits: list[Benefit], info: str, service_type: str, *,
          period: str | None = None) -> Benefit | None:
    """The most specific benefit of a kind: the visit's service type before plan-level
    (30) before none; in-network and individual level first."""
    def rank(b: Benefit) -> tuple[int, int, int]:
        # 1 (medical care) and 30 (plan coverage) are the general fallbacks
        st = 0 if service_type in b.service_types else 1 if not b.service_types or \
            "30" in b.service_types or "1" in b.service_types else 2
        return (st, 0 if b.in_network in ("Y", "") else 1,
                0 if b.coverage_level in ("IND", "") else 1)
    found = [b for b in benefits if b.info == info and (period is None or b.time_period == period)
             and (b.amount is not None or b.percent is not None)]
    found = [b for b in found if rank(b)[0] < 2] or []
    return min(found, key=rank) if found else None


def visit_types(session: Session) -> dict[str, tuple[Decimal, str]]:
    return {r[0]: (Decimal(r[1]), r[2]) for r in session.vault.query(
        "SELECT visit_type, expected_allowed, service_type FROM visit_type_allowed")}


def set_expected_allowed(session: Session, visit_type: str, amount: str,
                         service_type: str = "30") -> None:
    require(session, "settings.manage")
    try:
        value = Decimal(amount).quantize(CENT)
    except ArithmeticError as exc:
        raise ValidationError(f"expected allowed amount must be a number, not {amount!r}") \
            from exc
    with session.vault.write() as conn:
        conn.execute("INSERT INTO visit_type_allowed (visit_type, expected_allowed, "
                     "service_type) VALUES (?,?,?) ON CONFLICT(visit_type) DO UPDATE SET "
                     "expected_allowed = excluded.expected_allowed, "
                     "service_type = excluded.service_type", (visit_type, str(value),
                                                              service_type))
        audit.record(session.vault, conn, session, "settings.update", "visit_type_allowed",
                     visit_type, details={"expected_allowed": str(value)})


def compute_estimate(elig: Eligibility | None, visit_type: str, allowed: Decimal,
                     service_type: str) -> Estimate:
    """Copay if the plan has one for the service; else remaining deductible plus
    coinsurance on the rest of the expected allowed amount, capped by the remaining
    out-of-pocket maximum."""
    inputs = {"expected allowed amount": f"${allowed}", "service type": service_type}
    if elig is None:
        return Estimate("estimate", visit_type, None, "no eligibility response on file", inputs)
    if elig.active is False:
        return Estimate("estimate", visit_type, allowed, "coverage inactive: the patient may "
                        "owe the full expected allowed amount", inputs)
    b = elig.benefits
    copay = pick_benefit(b, "B", service_type)
    if copay is not None and copay.amount is not None:
        inputs["copay"] = f"${copay.amount}"
        return Estimate("estimate", visit_type, copay.amount.quantize(CENT), "copay", inputs)
    ded = pick_benefit(b, "C", service_type, period="29")
    coins = pick_benefit(b, "A", service_type)
    oop = pick_benefit(b, "G", service_type, period="29")
    remaining = ded.amount if ded is not None and ded.amount is not None else Decimal("0")
    pct = coins.percent if coins is not None and coins.percent is not None else None
    inputs["deductible remaining"] = f"${remaining}" if ded is not None else "not given"
    inputs["coinsurance"] = f"{(pct * 100).normalize():f}%" if pct is not None else "not given"
    if ded is None and pct is None:
        return Estimate("estimate", visit_type, None,
                        "the response has no copay, deductible or coinsurance for this service",
                        inputs)
    toward_deductible = min(allowed, remaining)
    coinsurance = (allowed - toward_deductible) * (pct or Decimal("0"))
    total = toward_deductible + coinsurance
    basis = "deductible remaining + coinsurance"
    if oop is not None and oop.amount is not None:
        inputs["out-of-pocket remaining"] = f"${oop.amount}"
        if total > oop.amount:
            total = oop.amount
            basis += " (capped at the out-of-pocket remaining)"
    return Estimate("estimate", visit_type, total.quantize(CENT, ROUND_HALF_UP), basis, inputs)


def estimate_for_visit(session: Session, patient_id: int, visit_type: str) -> Estimate:
    require(session, "patient.view")
    types = visit_types(session)
    if visit_type not in types:
        raise ValidationError(f"no expected allowed amount for visit type {visit_type!r}; "
                              f"known: {', '.join(sorted(types))}")
    allowed, service_type = types[visit_type]
    from app.services.appointments import allowed_for_patient  # the payer's fee, if set
    allowed = allowed_for_patient(session, patient_id, visit_type) or allowed
    estimate = compute_estimate(latest_for_patient(session, patient_id), visit_type, allowed,
                                service_type)
    audit.record_now(session.vault, session, "eligibility.estimate", object_type="patient",
                     object_id=patient_id, patient_id=patient_id,
                     details={"visit_type": visit_type, "basis": estimate.basis})
    return estimate


# -- 270 requests and the clearinghouse -----------------------------------------------------

class Clearinghouse(Protocol):
    """Where eligibility inquiries go. A live (real-time) connection would implement this."""

    name: str

    def submit_270(self, data: bytes, reference: str) -> str:
        """Hand the inquiry over; returns where it went (a path, a ticket)."""
        ...


class FileDropClearinghouse:
    """Writes the 270 as a file the practice's clearinghouse software picks up. Writing it
    is an explicit user export (the file holds PHI)."""

    name = "file-drop"

    def __init__(self, target: Path) -> None:
        self.target = Path(target)

    def submit_270(self, data: bytes, reference: str) -> str:
        path = self.target / f"270_{reference}.x12" if self.target.is_dir() else self.target
        tmp = path.with_name(path.name + ".part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        return str(path)


def build_270_for(session: Session, patient_id: int, service_date: date) -> tuple[bytes, str]:
    """A 270 for the patient's primary active coverage; returns (bytes, trace number)."""
    require(session, "eligibility.request")
    vault = session.vault
    patient = vault.query_one("SELECT first_name, last_name, dob FROM patients WHERE id = ?",
                              (patient_id,))
    if patient is None:
        raise NotFound(f"no patient {patient_id}")
    cov = vault.query_one(
        "SELECT c.member_id, p.name, p.payer_code, p.id FROM coverages c JOIN payers p ON "
        "p.id = c.payer_id WHERE c.patient_id = ? AND c.active = 1 ORDER BY c.priority, c.id "
        "LIMIT 1", (patient_id,))
    if cov is None:
        raise ValidationError(f"patient {patient_id} has no active coverage to ask about")
    npi = str(get_setting(session, "practice_npi"))
    if not (len(npi) == 10 and npi.isdigit()):
        raise ValidationError("set the practice's 10-digit NPI first "
                              "(offhold settings set practice_npi ...)")
    practice = vault.query_one("SELECT name FROM practice WHERE id = 1")[0]
    now = clock.now()
    control = int(now.timestamp()) % 10**9
    trace = f"OH{patient_id}T{control}"
    data = build_270(Inquiry(
        sender_id=str(get_setting(session, "x12_sender_id")),
        receiver_id=str(get_setting(session, "x12_receiver_id")), control_number=control,
        payer_name=cov[1], payer_id=cov[2] or str(cov[3]), provider_name=practice,
        provider_npi=npi, member_last=patient[1], member_first=patient[0],
        member_id=cov[0], member_dob=date.fromisoformat(patient[2]),
        service_date=service_date, trace_number=trace), now)
    return data, trace


def request_eligibility(session: Session, patient_id: int, service_date: date,
                        clearinghouse: Clearinghouse) -> tuple[str, str]:
    """Build the 270 and hand it to the clearinghouse; audited as an export."""
    data, trace = build_270_for(session, patient_id, service_date)
    where = clearinghouse.submit_270(data, trace)
    audit.record_now(session.vault, session, "eligibility.request", object_type="patient",
                     object_id=patient_id, patient_id=patient_id,
                     details={"trace": trace, "via": clearinghouse.name, "bytes": len(data)})
    return trace, where
