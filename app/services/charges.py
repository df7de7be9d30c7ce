"""Charge capture reads and the review record. `charge_encounters` gathers, for a span of
dates of service, what the chart documents (clinical_records from the FHIR import or the
demo) beside what the claims bill (claim_lines from the 837 import), as the pure
`app.charges.rules.Encounter`; the workflow (automations.workflows.charge_review) turns
them into tasks. OffHold never edits a claim: `mark_reviewed`, the approval's effect,
only records in the audit trail that the biller reviewed the finding.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from app import audit
from app.charges.rules import Billed, Documented, Encounter, Provider
from app.domain import Task
from app.identity import Session, require
from app.queue.machine import actionable_sql
from app.services.prior_auth import practice_zone

CHART_KINDS = ("procedure", "immunization", "observation", "encounter")
# Not performed or recorded in error: never a charge.
NOT_PERFORMED = ("entered-in-error", "not-done", "cancelled", "planned", "preparation")


def _units(text: Any) -> Decimal:
    """A stored quantity. Not stated (NULL: an 837 line without SV104, a chart record
    whose source gives no count, anything stored before m0022) or unreadable is one:
    one line or one record is one service."""
    try:
        value = Decimal(str(text)) if text not in (None, "") else Decimal(1)
    except InvalidOperation:
        return Decimal(1)
    return value if value.is_finite() and value > 0 else Decimal(1)


def charge_encounters(session: Session, start: date, end: date) -> list[Encounter]:
    """Encounters with a date of service in [start, end] (local dates) for patients whose
    chart has been imported (a patient with no clinical records at all has nothing to
    compare with: their claims are left out rather than all flagged). Voided claims
    (frequency 8) are left out."""
    require(session, "claim.manage")
    zone = practice_zone(session)
    lo, hi = start.isoformat(), end.isoformat()
    encounters: dict[tuple[int, str], Encounter] = {}

    def enc(patient_id: int, day: str) -> Encounter:
        key = (patient_id, day)
        if key not in encounters:
            encounters[key] = Encounter(patient_id, date.fromisoformat(day))
        return encounters[key]

    marks = ",".join("?" * len(NOT_PERFORMED))
    kinds = ",".join("?" * len(CHART_KINDS))
    with session.vault.read() as conn:
        for (rid, pid, kind, system, code, display, on, quantity, pname, pnpi,
             pfrom) in conn.execute(
                "SELECT id, patient_id, kind, code_system, code, display, recorded_on, "
                "quantity, provider_name, provider_npi, provider_from FROM "
                f"clinical_records WHERE kind IN ({kinds}) AND recorded_on BETWEEN ? AND ? "
                f"AND status NOT IN ({marks}) ORDER BY patient_id, recorded_on, id",
                (*CHART_KINDS, lo, hi, *NOT_PERFORMED)):
            enc(int(pid), str(on)[:10]).documented.append(
                Documented(int(rid), str(kind), str(system), str(code), str(display),
                           _units(quantity), Provider(str(pname), str(pnpi), str(pfrom))))
        for (cid, number, pid, line_id, ordinal, code, units, basis, modifiers, day,
             lname, lnpi, cname, cnpi, cfrom, source) in conn.execute(
                "SELECT c.id, c.claim_number, c.patient_id, l.id, l.ordinal, l.code, l.units,"
                " l.unit_basis, l.modifiers, COALESCE(l.service_date, c.service_date) AS dos,"
                " l.rendering_name, l.rendering_npi, c.rendering_name, c.rendering_npi, "
                "c.rendering_from, c.source FROM "
                "claim_lines l JOIN claims c ON c.id = l.claim_id WHERE c.patient_id IS NOT "
                "NULL AND c.frequency_code != '8' AND COALESCE(l.service_date, "
                "c.service_date) BETWEEN ? AND ? AND EXISTS (SELECT 1 FROM clinical_records r"
                " WHERE r.patient_id = c.patient_id) ORDER BY c.id, l.ordinal", (lo, hi)):
            mods = tuple(str(m) for m in json.loads(modifiers or "[]"))
            # The line's own rendering provider (2420A/C) over the claim's.
            rendering = Provider(str(lname), str(lnpi), "2420C" if source == "837I"
                                 else "2420A") if lname or lnpi else \
                Provider(str(cname), str(cnpi), str(cfrom))
            enc(int(pid), str(day)[:10]).billed.append(
                Billed(int(cid), str(number), int(line_id), int(ordinal), str(code),
                       _units(units), mods, rendering, str(basis)))
        patients = sorted({pid for pid, _day in encounters})
        if patients:
            pmarks = ",".join("?" * len(patients))
            # Stored in UTC: a day either side holds every local day of the span.
            around = ((start - timedelta(days=1)).isoformat(),
                      (end + timedelta(days=2)).isoformat())
            for pid, provider, start_at in conn.execute(
                    f"SELECT patient_id, provider, start_at FROM appointments WHERE patient_id "
                    f"IN ({pmarks}) AND status NOT IN ('cancelled','no_show') AND start_at "
                    ">= ? AND start_at < ? ORDER BY start_at", (*patients, *around)):
                local_day = datetime.fromisoformat(str(start_at)).astimezone(zone).date()
                found = encounters.get((int(pid), local_day.isoformat()))
                if found is not None:
                    found.appointment = True
                    found.provider = found.provider or str(provider)
    return [encounters[k] for k in sorted(encounters)]


def open_findings(session: Session, start: date, end: date) -> list[tuple[int, str]]:
    """(task id, natural key) of charge_review tasks still awaiting a person whose date
    of service is in [start, end]."""
    require(session, "claim.manage")
    return [(int(i), str(k)) for i, k in session.vault.query(
        "SELECT id, natural_key FROM tasks WHERE kind = 'charge_review' AND state IN "
        f"{actionable_sql()} AND json_extract(payload, '$.date_of_service') "
        "BETWEEN ? AND ? ORDER BY id", (start.isoformat(), end.isoformat()))]


def mark_reviewed(session: Session, task: Task) -> str:
    """The charge_review effect (declared in app/queue/kinds.py): an audit row saying the
    finding was reviewed, on each claim it concerns. The claim itself is never changed."""
    payload = task.payload
    claim_ids: list[int | None] = [int(c) for c in payload.get("claim_ids", [])] or [None]
    with session.vault.write() as conn:
        for claim_id in claim_ids:
            audit.record(session.vault, conn, session, "charge.reviewed",
                         "claim" if claim_id is not None else "encounter",
                         claim_id if claim_id is not None else task.subject_id,
                         patient_id=task.patient_id,
                         details={"task_id": task.id, "flag": payload.get("flag"),
                                  "code": payload.get("code"),
                                  "date_of_service": payload.get("date_of_service")})
    return f"charge finding reviewed ({payload.get('flag')} {payload.get('code')}); " \
           "the claim is unchanged"
