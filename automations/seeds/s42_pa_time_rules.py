"""Demo seed: the PA sweep's time rules (`evaluate_time_rules`, what the scheduler's
`pa-sweep` job runs every few minutes) over the demo PAs: stalls and missed decision
deadlines become `pa_escalation` tasks. One PA is added for it first: an expedited request
to Medicare Part B (a payer with no portal, so only these rules watch it), sent five days
ago, whose 72-hour decision clock (CMS-0057-F) has run out."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta

from app import clock
from app.identity import Session
from app.services import prior_auth as pa_svc
from automations.workflows.pa_followup import SYSTEM_ACTOR, evaluate_time_rules

ORDER = 42
OVERDUE_REF = "MCR-26999"


def seed(session: Session, rng: random.Random) -> None:
    del rng
    tz = pa_svc.practice_zone(session)
    today = clock.now().astimezone(tz).date()
    patient = session.vault.query_one(
        "SELECT c.patient_id FROM coverages c JOIN payers p ON p.id = c.payer_id WHERE "
        "p.name = 'Medicare Part B' AND c.active = 1 ORDER BY c.patient_id DESC LIMIT 1")
    pa_svc.add_prior_auth(session, patient_id=int(patient[0]), payer="Medicare Part B",
                          cpt_code="72148", units=1, urgency="expedited",
                          service_date=today + timedelta(days=6),
                          submitted_at=datetime.combine(today - timedelta(days=5),
                                                        time(10, 40), tzinfo=tz),
                          payer_ref=OVERDUE_REF)
    evaluate_time_rules(Session.system(session.vault, SYSTEM_ACTOR))
