"""Demo seed: prior authorizations spread over payers, urgencies and statuses.

The sandbox portal is seeded from these same PAs (`offhold sandbox-portal
--seed-from-vault`, automations.sandbox_portal.from_vault), which scripts each PA's
payer-side timeline by PA id. Here each PA's vault status is set to what that timeline
showed yesterday, so the demo board starts spread over statuses and the first check
shows real changes (today's step of the timeline). One payer (Medicare Part B) has no
portal: its PAs are watched by the time rules only (stalls, missed deadlines).
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from app import clock, queue
from app.domain.pa import PAStatus
from app.identity import Session
from app.pa import rules, wording
from app.pa.business import local_date
from app.services import patients
from app.services import prior_auth as pa_svc
from automations.sandbox_portal.from_vault import default_outcome
from automations.sandbox_portal.seed import RECIPE_PORTALS, PaSeedRecord, pa_timeline, status_on

ORDER = 40

# CPT codes only (no descriptions: AMA licensing), with typical units.
SERVICES = [("97110", 12), ("72148", 1), ("70553", 1), ("29881", 1), ("97140", 8),
            ("95810", 1), ("73721", 1), ("97530", 10)]
PER_PAYER = 3
REF_PREFIX = {"clearinghouse_summit": "SMA", "northwind": "NW", "bluestem_medicaid": "BSM",
              "clearinghouse_harbor": "HBQ"}


def seed(session: Session, rng: random.Random) -> None:
    tz = pa_svc.practice_zone(session)
    now = clock.now()
    today = local_date(now, tz)
    # One PA per patient, PER_PAYER patients per payer, in a stable order.
    rows = session.vault.query(
        "SELECT c.patient_id, p.id, p.name, p.portal_recipe FROM coverages c JOIN payers p "
        "ON p.id = c.payer_id WHERE c.active = 1 ORDER BY p.id, c.patient_id")
    taken: dict[int, int] = {}
    picks = []
    for patient_id, payer_id, payer_name, recipe in rows:
        if taken.get(payer_id, 0) >= PER_PAYER:
            continue
        taken[payer_id] = taken.get(payer_id, 0) + 1
        picks.append((patient_id, payer_id, payer_name, recipe))
    system = Session.system(session.vault, "demo-seed")
    for n, (patient_id, payer_id, payer_name, recipe) in enumerate(picks):
        code, units = SERVICES[n % len(SERVICES)]
        days_ago = 1 + rng.randrange(6)
        submitted_day = today - timedelta(days=days_ago)
        submitted = datetime.combine(submitted_day, time(9 + rng.randrange(7), 15), tzinfo=tz)
        ref = f"{REF_PREFIX.get(recipe or '', 'MCR')}-{26000 + n * 37}"
        services = [{"code": code, "units": units}]
        if code == "97110":  # therapy requests often carry a second service line
            services.append({"code": "97140", "units": 4})
        pa = pa_svc.add_prior_auth(
            session, patient_id=patient_id, payer=payer_id, services=services,
            service_date=today + timedelta(days=3 + rng.randrange(25)),
            urgency="expedited" if n % 5 == 0 else "standard",
            submitted_at=min(submitted, now - timedelta(minutes=5)), payer_ref=ref)
        if recipe not in RECIPE_PORTALS:
            continue
        # The status the sandbox showed yesterday for this PA's scripted outcome.
        outcome, decide_after = default_outcome(pa.id)
        timeline = pa_timeline(PaSeedRecord("-", ref, recipe, pa.submitted_at.date(), outcome,
                                            decide_after, units=units, service_code=code))
        # The sandbox counts days in UTC (like from_vault's submitted dates).
        event = status_on(timeline, pa.submitted_at.date(), now.date() - timedelta(days=1))
        if event is None or event["status"] == "submitted":
            continue
        status = wording.from_source(str(event["status"]))
        seen = max(pa.submitted_at, datetime.combine(today - timedelta(days=1), time(11),
                                                     tzinfo=tz))
        approved_units: int | None = None
        approved_through: date | None = None
        if status in (PAStatus.APPROVED, PAStatus.PARTIAL) and "units" in event:
            approved_units = int(event["units"])
            approved_through = date.fromisoformat(str(event["valid_through"]))
        seen = min(seen, now)
        words = f"(demo history: {event['status']})"
        after, change = pa_svc.record_status(system, pa.id, status, source="demo-seed",
                                             at=seen, wording=words,
                                             approved_units=approved_units,
                                             approved_through=approved_through)
        if change is None:
            continue
        # The tasks the workflow would have made then (no screenshot: demo history).
        obs = rules.Observation(status, words, seen)
        payer = patients.get_payer(session, payer_id)
        for spec in rules.on_status_change(after, obs, tz,
                                           appeal_window_days=payer.appeal_window_days):
            queue.create_task(system, spec.kind, spec.natural_key, spec.title,
                              draft=spec.draft, due_at=spec.due_at, priority=spec.priority,
                              subject_type="prior_auth", subject_id=pa.id,
                              patient_id=pa.patient_id, payload=spec.payload)
