"""The monthly report on a schedule: on the 1st, last month's de-identified PDF goes to
the folder the owner chose (setting monthly_report_dir). Never the PHI appendix: that is
an export a person asks for."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from app import clock
from app.identity import Session
from app.services import practice, reports
from app.services.prior_auth import practice_zone
from automations.jobs.runtime import running

log = logging.getLogger(__name__)

MONTHLY_REPORT_ID = "monthly-report"
MONTHLY_REPORT_DAY, MONTHLY_REPORT_LOCAL_HOUR = 1, 5


def monthly_report() -> None:
    """Write last month's report (practice time) when a folder is set; a missing folder
    fails the job, which becomes a task for the office manager."""
    with running() as rt:
        system = Session.system(rt.vault, MONTHLY_REPORT_ID)
        folder = str(practice.get_setting(system, "monthly_report_dir"))
        if not folder:
            return
        local = clock.now().astimezone(practice_zone(system)).date()
        last = local.replace(day=1) - timedelta(days=1)
        target = Path(folder) / f"offhold-report-{last:%Y-%m}.pdf"
        reports.export_monthly_report(system, last.year, last.month, target)
        log.info("monthly-report: %s written", target.name)
