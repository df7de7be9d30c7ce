"""Demo seed: a waitlist and a freed slot, then the real no-show and waitlist workflow over
the demo schedule (its past no-shows, visits nobody arrived for, a cancellation), so the
outreach and waitlist queues hold the drafts the workflow itself makes."""

from __future__ import annotations

import random
from datetime import timedelta

from app import clock, queue
from app.identity import Session
from app.services import appointments, waitlist
from automations.demo import seed_session
from automations.workflows.no_show import SYSTEM_ACTOR, run_recovery

ORDER = 70


def seed(session: Session, rng: random.Random) -> None:
    system = seed_session(session)
    for kind in ("waitlist_offer", "waitlist_hold"):
        queue.set_mode(system, kind, "approve_each")
    now = clock.now()
    upcoming = system.vault.query(
        "SELECT id, patient_id, provider FROM appointments WHERE status = 'scheduled' AND "
        "start_at > ? ORDER BY start_at", (clock.iso(now + timedelta(days=1)),))
    if not upcoming:
        return
    freed_id, freed_patient, provider = upcoming[0]
    appointments.cancel_appointment(system, freed_id)  # the patient called to cancel
    others = [int(r[0]) for r in system.vault.query(
        "SELECT id FROM patients WHERE id != ? ORDER BY id", (freed_patient,))]
    today = now.date()
    for n, patient_id in enumerate(rng.sample(others, 4)):
        waitlist.add_entry(system, patient_id, today, today + timedelta(days=14 + 7 * n),
                           provider=provider if n == 1 else "",
                           preferred_times=["morning"] if n % 2 else [],
                           preferred_days=["mon", "wed", "fri"] if n == 2 else [])
    run_recovery(Session.system(system.vault, SYSTEM_ACTOR))
