"""The demo PAs: spread over statuses, and consistent with the sandbox portal's timelines
(seeded from the same vault), so the first check in the demo shows real changes."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

from app import clock
from app.identity import init_vault
from app.pa import wording
from app.services import prior_auth as pa_svc
from automations.sandbox_portal.from_vault import records_from_vault
from automations.sandbox_portal.seed import pa_timeline, status_on
from automations.seeds import s10_practice, s30_portal, s40_prior_auth


def test_demo_pas_match_the_sandbox_as_of_yesterday(tmp_path: Path) -> None:
    session, _ = init_vault(tmp_path / "v", "Demo", "olivia", "demo-owner-pass", demo=True)
    try:
        rng = random.Random(7)
        for module in (s10_practice, s30_portal, s40_prior_auth):
            module.seed(session, rng)
        pas = {p.id: p for p in pa_svc.list_prior_auths(session)}
        assert len(pas) == 15
        assert len({p.status for p in pas.values()}) >= 4
        assert {p.payer_name for p in pas.values() if p.status.value == "submitted"} >= {
            "Medicare Part B"}  # no portal: only the time rules watch it
        records = records_from_vault(session)
        assert len(records) == 12
        yesterday = clock.now().date() - timedelta(days=1)
        by_ref = {p.payer_ref: p for p in pas.values()}
        for rec in records:
            event = status_on(pa_timeline(rec), rec.submitted, yesterday)
            expected = "submitted" if event is None else event["status"]
            assert by_ref[rec.reference].status is wording.from_source(expected)
        kinds = [r[0] for r in session.vault.query(
            "SELECT kind FROM tasks WHERE subject_type = 'prior_auth'")]
        assert "pa_followup" in kinds
    finally:
        session.vault.close()
