"""Demo seed: payers, synthetic patients with coverage and appointments. It makes no
task: every demo task comes from a real workflow run over the demo data by a later seed
(PA checks and time rules, imports, outreach, schedule recovery, care gaps...)."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from app import clock, queue
from app.identity import Session
from app.services import appointments, patients
from app.services.prior_auth import practice_zone

ORDER = 10

FIRST = ["Avery", "Jordan", "Riley", "Morgan", "Casey", "Quinn", "Rowan", "Harper", "Emerson",
         "Skyler", "Reese", "Dakota", "Finley", "Sawyer", "Parker", "Hayden", "Tatum", "Ellis",
         "Marlowe", "Sutton", "Kendall", "Lennox", "Arden", "Blair", "Corin", "Devon", "Elliot",
         "Frankie", "Greer", "Indigo"]
LAST = ["Quillfeather", "Brightwater", "Ostrander", "Vantongeren", "Pemberton", "Hollowell",
        "Castellanos", "Nakagawa", "Okonkwo", "Lindqvist", "Marchetti", "Delacroix",
        "Abernathy", "Fairweather", "Kowalczyk", "Thornbury", "Villanueva", "Ashcombe",
        "Rutherford", "Zeligman", "Montgomery", "Halvorsen", "Beaumont", "Ferreira",
        "Galloway", "Iwasaki", "Jablonski", "Kensington", "Lockhart", "Mbeki"]

# name, plan type, appeal window days, timely filing days, commercial decision days,
# portal recipe (the sandbox portal's payers)
PAYERS = [
    ("Summit Medicare Advantage", "medicare_advantage", 65, 365, None, "clearinghouse_summit"),
    ("Northwind National Health", "commercial", 180, 90, 15, "northwind"),
    ("Bluestem State Medicaid", "medicaid", 60, 365, None, "bluestem_medicaid"),
    ("Medicare Part B", "medicare_ffs", 120, 365, None, None),
    ("Harbor Marketplace QHP", "qhp", 180, 180, None, "clearinghouse_harbor"),
]


def seed(session: Session, rng: random.Random) -> None:
    payer_ids: list[str] = []
    for name, plan, appeal, filing, decision, recipe in PAYERS:
        payer = patients.add_payer(session, name, plan, payer_code=name.split()[0].upper()[:6],
                                   appeal_window_days=appeal, timely_filing_days=filing,
                                   decision_days_standard=decision, portal_recipe=recipe,
                                   portal_enabled=recipe is not None)
        payer_ids.append(payer.name)
    names = [(f, l) for f, l in zip(FIRST, LAST)]
    patient_ids = []
    for i, (first, last) in enumerate(names):
        dob = date(1940 + rng.randrange(70), 1 + rng.randrange(12), 1 + rng.randrange(28))
        payer_name = payer_ids[i % len(payer_ids)]
        p = patients.add_patient(
            session, first, last, dob.isoformat(), sex=rng.choice(["F", "M"]),
            phone=f"217-555-01{i:02d}", email=f"{first.lower()}.{i}@example.org",
            member_id=f"{payer_name[:2].upper()}{100000 + i * 7919:07d}", payer=payer_name)
        patient_ids.append(p.id)
    # visits from 9 am in the practice's own time zone (built in UTC they read as 4-7 am)
    zone = practice_zone(session)
    today = clock.now().astimezone(zone).date()
    for i, patient_id in enumerate(patient_ids):
        day = today + timedelta(days=(i % 7) - 2)
        start = datetime.combine(day, time(9 + i % 8, 0), tzinfo=zone)
        status = "scheduled" if day >= today else rng.choice(["completed", "no_show"])
        visit = appointments.add_appointment(
            session, patient_id, start, provider=rng.choice(["Dr. Rivera", "Dr. Chen",
                                                             "NP Walsh"]),
            visit_type=rng.choice(["office_visit", "new_patient", "annual_wellness"]))
        if status == "no_show":
            appointments.mark_no_show(session, visit.id)
        elif status == "completed":
            # No service completes a visit (the EHR's schedule import brings the status)
            with session.vault.write() as conn:
                conn.execute("UPDATE appointments SET status = 'completed' WHERE id = ?",
                             (visit.id,))
    # The demo practice has moved a few low-risk kinds out of shadow mode already.
    for kind_name in ("pa_followup", "outreach", "eligibility_gap", "denial_review",
                      "portal_failure", "recipe_broken", "human_handoff", "pa_escalation",
                      "pa_next_action", "claim_status", "intake_review", "automation_failure"):
        queue.set_mode(session, kind_name, "approve_each")
