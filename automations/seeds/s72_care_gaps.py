"""Demo seed: a few clinical records for the demo patients, as a FHIR import would leave
them (diabetes with an old HbA1c, a recent mammogram, a colonoscopy, this season's flu
shots for some), then the real care-gap check over them, so the care-gap queue holds the
tasks the workflow itself makes."""

from __future__ import annotations

import random
from datetime import date

from dateutil.relativedelta import relativedelta

from app import clock, queue
from app.identity import Session
from automations.demo import seed_session
from automations.workflows.care_gaps import SYSTEM_ACTOR, run_care_gaps

ORDER = 72
LOINC, SNOMED, CVX = "http://loinc.org", "http://snomed.info/sct", "http://hl7.org/fhir/sid/cvx"


def seed(session: Session, rng: random.Random) -> None:
    system = seed_session(session)
    queue.set_mode(system, "care_gap", "approve_each")
    today = clock.now().date()
    ids = [int(r[0]) for r in system.vault.query("SELECT id FROM patients ORDER BY id")]
    rows: list[tuple[int, str, str, str, str, date]] = []
    for n, pid in enumerate(ids):
        if n % 5 == 0:  # diabetes; the last HbA1c 8 months ago
            rows.append((pid, "condition", SNOMED, "44054006", "active",
                         today - relativedelta(years=3)))
            rows.append((pid, "observation", LOINC, "4548-4", "final",
                         today - relativedelta(months=8)))
        if n % 4 == 1:
            rows.append((pid, "observation", LOINC, "24606-6", "final",
                         today - relativedelta(months=rng.choice([6, 30]))))
        if n % 6 == 2:
            rows.append((pid, "procedure", SNOMED, "73761001", "completed",
                         today - relativedelta(years=rng.choice([4, 11]))))
        if n % 4 != 3:  # this season's flu shot, for most
            rows.append((pid, "immunization", CVX, "140", "completed",
                         today - relativedelta(days=rng.randrange(1, 60))))
    with system.vault.write() as conn:
        now = clock.iso(clock.now())
        conn.executemany("INSERT INTO clinical_records (patient_id, kind, code_system, code, "
                         "status, recorded_on, created_at) VALUES (?,?,?,?,?,?,?)",
                         [(*r[:5], r[5].isoformat(), now) for r in rows])
    run_care_gaps(Session.system(system.vault, SYSTEM_ACTOR))
