"""The practice's figures and the owner's monthly PDF report.

Figures are de-identified (counts, rates, dollars, payer names, internal ids), so the
office manager may read them; the monthly report is the owner's, and its optional
appendix with patient identifiers is an owner-only, audited export.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from app import audit, clock
from app.errors import ValidationError
from app.identity import Session, require
from app.queue import all_modes
from app.reports import dashboard as dash
from app.reports import metrics as m
from app.reports.trust import TrustFigures, trust_figures
from app.services.practice import all_settings, practice_info
from app.services.prior_auth import practice_zone
from app.vault.db import make_private


@dataclass
class PracticeMetrics:
    period: m.Period
    prior_auth: m.PriorAuthMetrics
    revenue: m.RevenueMetrics
    eligibility: m.EligibilityMetrics
    schedule: m.ScheduleMetrics
    queues: m.QueueMetrics
    trust: dict[str, TrustFigures]
    modes: dict[str, str]
    mode_changes: list[dict[str, Any]]
    hours: m.HoursSaved
    settings: dict[str, Any]


def parse_month(text: str) -> tuple[int, int]:
    """'2026-11' -> (2026, 11), with a one-line refusal for anything else."""
    try:
        year, month = (int(p) for p in text.split("-"))
        date(year, month, 1)
    except ValueError as exc:
        raise ValidationError(f"a month is YYYY-MM, e.g. 2026-11; got {text!r}") from exc
    return year, month


def _collect(session: Session, period: m.Period) -> PracticeMetrics:
    db = session.vault
    tz = practice_zone(session)
    settings = all_settings(session)
    minutes = {k: v for k, v in settings.items() if k.startswith("minutes_per_")}
    return PracticeMetrics(
        period=period,
        prior_auth=m.prior_auth_metrics(db, period),
        revenue=m.revenue_metrics(db, period, tz, int(settings["report_rework_days"])),
        eligibility=m.eligibility_metrics(db, period, tz),
        schedule=m.schedule_metrics(db, period),
        queues=m.queue_metrics(db, period),
        trust=trust_figures(session, period.start, period.end),
        modes={k: v.value for k, v in all_modes(session).items()},
        mode_changes=m.mode_changes(db, period),
        hours=m.hours_saved(db, period, minutes),
        settings=settings)


def month_metrics(session: Session, year: int, month: int) -> PracticeMetrics:
    """The figures for a calendar month in the practice's time zone."""
    require(session, "report.export")
    period = m.Period.month(year, month, practice_zone(session))
    audit.record_now(session.vault, session, "report.view", object_type="report",
                     object_id=f"{year:04d}-{month:02d}")
    return _collect(session, period)


def export_monthly_report(session: Session, year: int, month: int, target: Path,
                          phi_appendix: bool = False) -> Path:
    """Write the monthly PDF (de-identified) to `target`; with `phi_appendix`, add the
    owner-only appendix of identifiers, every page marked PHI. Both are audited."""
    require(session, "report.monthly")
    if phi_appendix:
        require(session, "report.phi_appendix")
    from app.reports.monthly import appendix_rows, render_monthly
    tz = practice_zone(session)
    period = m.Period.month(year, month, tz)
    current = _collect(session, period)
    previous = _collect(session, period.previous_month(tz))
    info = practice_info(session)
    rows = appendix_rows(session.vault, period, tz) if phi_appendix else None
    pdf = render_monthly(current, previous, practice=str(info["name"]), timezone=tz,
                         generated_by=session.username, generated_at=clock.now(),
                         appendix=rows)
    target = Path(target)
    if target.is_dir():
        raise ValidationError(f"{target} is a folder; name the PDF file to write")
    if not target.parent.is_dir():
        raise ValidationError(f"no such folder: {target.parent}")
    # Owner-only like every export that may hold PHI (remittance.export_letter); an
    # existing file keeps its old mode through O_CREAT, so it is narrowed before writing.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        make_private(target)
        fh.write(pdf)
    audit.record_now(session.vault, session,
                     "report.phi_export" if phi_appendix else "report.monthly",
                     object_type="report", object_id=f"{year:04d}-{month:02d}",
                     details={"bytes": len(pdf), "phi_appendix": phi_appendix,
                              "appendix_rows": len(rows or []), "file": target.name})
    return target


# -- the dashboard --------------------------------------------------------------------------

def dashboard_figures(session: Session, choice: str) -> dash.Figures:
    """The dashboard's tiles and charts for a period (`dash.PERIODS`: '7d', '30d', '90d',
    'this_month', 'last_month') against the one before it, in the practice's time zone.
    De-identified counts, rates and dollars: not audited (it reloads on every change);
    the lists behind a figure are (`figure_items`)."""
    require(session, "report.export")
    tz = practice_zone(session)
    try:
        period, previous = dash.periods(choice, tz, clock.now())
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    settings = all_settings(session)
    minutes = {k: v for k, v in settings.items() if k.startswith("minutes_per_")}
    db = session.vault

    def parts(p: m.Period) -> tuple[m.PriorAuthMetrics, m.RevenueMetrics,
                                    m.EligibilityMetrics, m.QueueMetrics, m.HoursSaved]:
        return (m.prior_auth_metrics(db, p),
                m.revenue_metrics(db, p, tz, int(settings["report_rework_days"])),
                m.eligibility_metrics(db, p, tz), m.queue_metrics(db, p),
                m.hours_saved(db, p, minutes))

    return dash.build(period, previous, parts(period), parts(previous))


MAX_ITEMS = 500  # a figure's list is for reading, not an export


def figure_items(session: Session, kind: str, ids: list[int]) -> list[dict[str, Any]]:
    """The tasks, PAs or remitted claims behind a dashboard figure, each with the task a
    click opens (`task_id`, None when there is none); no patient names. Audited."""
    require(session, "report.export")
    require(session, "task.view")
    ids = [int(i) for i in ids][:MAX_ITEMS]
    marks = ",".join("?" * len(ids)) or "NULL"
    db = session.vault
    rows: list[dict[str, Any]]
    if kind == "task":
        rows = [{"id": r[0], "task_id": r[0], "what": r[1], "title": r[2], "state": r[3],
                 "due_at": r[4]} for r in db.query(
            f"SELECT id, kind, title, state, due_at FROM tasks WHERE id IN ({marks}) "
            "ORDER BY id DESC", tuple(ids))]
    elif kind == "pa":
        rows = [{"id": r[0], "task_id": r[5], "what": "prior_auth",
                 "title": f"PA {r[0]}: {r[1]} {r[2]}", "state": r[3], "due_at": r[4]}
                for r in db.query(
            "SELECT p.id, y.name, coalesce((SELECT group_concat(l.code, ', ') FROM "
            "pa_service_lines l WHERE l.pa_id = p.id), p.cpt_code), p.status, "
            "p.decision_due_at, (SELECT max(t.id) "
            "FROM tasks t WHERE t.subject_type = 'prior_auth' AND t.subject_id = p.id) FROM "
            f"prior_auths p JOIN payers y ON y.id = p.payer_id WHERE p.id IN ({marks}) "
            "ORDER BY p.id DESC", tuple(ids))]
    elif kind == "remit_claim":
        rows = [{"id": r[0], "task_id": r[5], "what": "remit_claim",
                 "title": f"Claim {r[1]} ({r[2]}): {r[3] or ''}"
                          + (" - line-level" if r[4] == "line" else ""),
                 "state": r[6] or "", "due_at": r[7]} for r in db.query(
            "SELECT c.id, c.claim_number, m.payer_name, c.category, c.denial_scope, c.task_id, "
            "t.state, c.appeal_deadline FROM remit_claims c JOIN remittances m ON m.id = "
            f"c.remittance_id LEFT JOIN tasks t ON t.id = c.task_id WHERE c.id IN ({marks}) "
            "ORDER BY c.id DESC", tuple(ids))]
    else:
        raise ValidationError(f"unknown figure item kind {kind!r}")
    tz = practice_zone(session)
    for row in rows:  # due times in the practice's time zone; deadlines are dates
        due = str(row.pop("due_at") or "")
        row["due"] = (clock.parse_iso(due).astimezone(tz).strftime("%m/%d/%Y %H:%M")
                      if "T" in due else due)
    audit.record_now(session.vault, session, "report.drill", object_type=kind,
                     object_id=str(len(rows)), details={"ids": ids[:50]})
    return rows
