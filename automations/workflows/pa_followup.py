"""Prior-authorization follow-up: look each open PA up at its status source, record what
changed, and turn every change, stall, missed deadline or weak approval into a task.

The status source is a seam (`StatusSource`): the payer portal through the recipe engine
today (`PortalStatusSource`), a FHIR Prior Authorization API (Da Vinci PAS) tomorrow.
Sources report normalized statuses plus the payer's words and evidence; this module never
knows how they got them.

Everything the workflow writes goes through services as the system actor
`pa_followup`: `prior_auth.record_status` and `queue.create_task` share one transaction per
PA, so a crash leaves either both or neither. Natural keys (see app.pa.rules) make a rerun,
or a catch-up after a crash, create no duplicate task. Nothing here logs PHI: only PA ids,
payer ids and counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from app import audit, clock, queue
from app.domain import Payer, Task
from app.domain.pa import PAStatus, PriorAuth
from app.domain.specs import TaskSpec
from app.errors import KnownError
from app.identity import Session, require
from app.pa import rules, wording
from app.pa.business import local_date
from app.pa.cadence import DEFAULT_CADENCE, Cadence, next_check_at
from app.services import practice
from app.services import prior_auth as pa_svc
from app.services.patients import get_payer
from app.services.prior_auth import CheckTarget

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "pa_followup"

# (done, total, message). Messages are PHI-free ("PA 12: approved"); GUI workers forward
# them to a progress bar, the CLI prints them with -v.
ProgressFn = Callable[[int, int, str], None]


@dataclass
class StatusReport:
    """What a source found for one PA. Exactly one of `status` / `error` is set.
    Dates are the payer's (local) dates; `evidence` is the page screenshot."""

    pa_id: int
    source: str
    status: PAStatus | None = None
    wording: str = ""
    approved_units: int | None = None
    approved_from: date | None = None
    approved_through: date | None = None
    respond_by: date | None = None
    respond_within_days: int | None = None
    evidence: queue.NewEvidence | None = None
    error: KnownError | None = None
    checked_at: datetime = field(default_factory=clock.now)


class StatusSource(Protocol):
    """Where PA statuses come from. Implementations must not log or persist PHI."""

    name: str

    def can_check(self, session: Session, target: CheckTarget) -> bool:
        """False when this source cannot look the PA up (e.g. the payer has no portal);
        the PA is then skipped, and only the time rules watch it."""
        ...

    def fetch(self, session: Session, targets: list[CheckTarget]) -> list[StatusReport]:
        """One report per target, in order. Failures are reports with `error`, not raises."""
        ...

    def report_failure(self, session: Session, target: CheckTarget,
                       report: StatusReport) -> Task:
        """Make the failure a visible task (never just a log line)."""
        ...


class PortalStatusSource:
    """Payer portals through the recipe engine (automations.portal)."""

    name = "portal"

    def __init__(self, engine: Any) -> None:
        self.engine = engine  # automations.portal.PortalEngine
        self._payers: dict[int, Payer] = {}

    def _payer(self, session: Session, payer_id: int) -> Payer:
        if payer_id not in self._payers:
            self._payers[payer_id] = get_payer(session, payer_id)
        return self._payers[payer_id]

    def can_check(self, session: Session, target: CheckTarget) -> bool:
        return not self.skip_reason(session, target)

    def skip_reason(self, session: Session, target: CheckTarget) -> str:
        """Why this PA is not looked up at the portal ('' when it is)."""
        payer = self._payer(session, target.payer_id)
        if not payer.portal_recipe:
            return f"payer {payer.id} has no portal recipe"
        if not payer.portal_enabled:
            return f"portal checks are off for payer {payer.id}"
        return ""

    def fetch(self, session: Session, targets: list[CheckTarget]) -> list[StatusReport]:
        from automations.portal import PortalQuery
        requests = [(self._payer(session, t.payer_id), "pa_status",
                     PortalQuery(member_id=t.member_id, reference=t.payer_ref, dob=t.dob,
                                 service_date=t.service_date, subject_type="prior_auth",
                                 subject_id=t.pa_id, patient_id=t.patient_id))
                    for t in targets]
        outcomes = self.engine.check_many(session, requests)
        return [self._report(t, o) for t, o in zip(targets, outcomes)]

    def _report(self, target: CheckTarget, outcome: Any) -> StatusReport:
        from automations.portal import RecipeBroken
        source = f"portal:{outcome.recipe}"
        if outcome.error is not None:
            return StatusReport(target.pa_id, source, error=outcome.error)
        result = outcome.result
        if not result.found:
            return StatusReport(target.pa_id, source, status=PAStatus.NOT_FOUND,
                                wording=result.status_text or "no matching case",
                                evidence=result.evidence(), checked_at=result.checked_at)
        today = result.checked_at.date()
        words = result.wording or result.status_text  # the recipe's `wording` field
        try:
            status = (wording.from_source(result.status) if result.status
                      else wording.normalize(result.status_text))
            reading = wording.read(result.status_text, today) if result.status_text else None
        except wording.UnknownWording as exc:
            reading = None
            if not result.status:
                return StatusReport(target.pa_id, source, error=RecipeBroken(
                    f"status wording not recognised: {exc}", screenshot=result.screenshot))
        respond_by, within = (reading.respond_by, reading.respond_within_days) if reading \
            else (None, None)
        if words != result.status_text:  # dates and day counts in the payer's letter text
            try:
                stated_by, stated_within = wording.deadline(words, today, status)
            except wording.UnknownWording:
                stated_by, stated_within = None, None
            respond_by, within = stated_by or respond_by, stated_within or within
        return StatusReport(
            target.pa_id, source, status=status, wording=words,
            approved_units=result.units if result.units is not None else (
                reading.units if reading else None),
            approved_from=result.valid_from or (reading.from_date if reading else None),
            approved_through=result.valid_through or (
                reading.through_date if reading else None),
            respond_by=respond_by, respond_within_days=within,
            evidence=result.evidence(), checked_at=result.checked_at)

    def report_failure(self, session: Session, target: CheckTarget,
                       report: StatusReport) -> Task:
        from automations.portal import PortalFailure, failure_task
        error = report.error
        if not isinstance(error, PortalFailure):
            error = PortalFailure(str(error))
        payer = self._payer(session, target.payer_id)
        return failure_task(session, payer, payer.portal_recipe or "", error, kind="pa_status",
                            subject_type="prior_auth", subject_id=target.pa_id,
                            patient_id=target.patient_id)


@dataclass
class CheckSummary:
    """PHI-free counts of one run (for the CLI, the GUI and the audit row)."""

    checked: int = 0
    changed: int = 0
    unchanged: int = 0
    tasks_created: int = 0
    tasks_updated: int = 0
    failures: int = 0
    skipped: int = 0
    changes: list[dict[str, Any]] = field(default_factory=list)  # {pa_id, from, to}
    failed_pa_ids: list[int] = field(default_factory=list)
    skipped_pas: list[dict[str, Any]] = field(default_factory=list)  # {pa_id, reason}

    def to_json(self) -> dict[str, Any]:
        return {"checked": self.checked, "changed": self.changed, "unchanged": self.unchanged,
                "tasks_created": self.tasks_created, "tasks_updated": self.tasks_updated,
                "failures": self.failures, "skipped": self.skipped, "changes": self.changes,
                "failed_pa_ids": self.failed_pa_ids, "skipped_pas": self.skipped_pas}

    def line(self) -> str:
        return (f"checked {self.checked}, changed {self.changed}, tasks created "
                f"{self.tasks_created}, failures {self.failures}"
                + (f", skipped {self.skipped} (no status source)" if self.skipped else ""))


@dataclass(frozen=True)
class _Settings:
    stall_days: int
    soon_days: int
    start_hour: int
    end_hour: int


def _settings(session: Session) -> _Settings:
    return _Settings(int(practice.get_setting(session, "stall_business_days")),
                     int(practice.get_setting(session, "pa_service_soon_days")),
                     int(practice.get_setting(session, "business_hours_start")),
                     int(practice.get_setting(session, "business_hours_end")))


def _create(system: Session, pa: PriorAuth, spec: TaskSpec,
            evidence: queue.NewEvidence | None, summary: CheckSummary,
            update_open: bool = True) -> Task:
    task, created = queue.create_task(
        system, spec.kind, spec.natural_key, spec.title, draft=spec.draft, due_at=spec.due_at,
        priority=spec.priority, subject_type="prior_auth", subject_id=pa.id,
        patient_id=pa.patient_id, payload=spec.payload,
        evidence=[evidence] if (evidence is not None and spec.with_evidence) else None,
        update_open=update_open)
    if created:
        summary.tasks_created += 1
    elif update_open:
        summary.tasks_updated += 1
    return task


def _plan_next(system: Session, pa: PriorAuth, cfg: _Settings, cadence: Cadence,
               checked_at: datetime | None) -> None:
    tz = pa_svc.practice_zone(system)
    nxt = next_check_at(now=clock.now(), status=pa.status, decision_due_at=pa.decision_due_at,
                        service_date=pa.service_date, tz=tz, start_hour=cfg.start_hour,
                        end_hour=cfg.end_hour, cadence=cadence)
    pa_svc.mark_checked(system, pa.id, checked_at=checked_at, next_check_at=nxt)


def apply_report(system: Session, target: CheckTarget, report: StatusReport,
                 summary: CheckSummary, *, cfg: _Settings, cadence: Cadence) -> None:
    """Record one report: status, tasks, evidence link and the next check, atomically."""
    vault = system.vault
    tz = pa_svc.practice_zone(system)
    assert report.status is not None
    with vault.write():
        before = pa_svc.get_prior_auth_unchecked(system, target.pa_id)
        pa, change = pa_svc.record_status(
            system, target.pa_id, report.status, source=report.source, wording=report.wording,
            at=report.checked_at, approved_units=report.approved_units,
            approved_from=report.approved_from, approved_through=report.approved_through)
        summary.checked += 1
        if change is None:
            summary.unchanged += 1
        else:
            summary.changed += 1
            summary.changes.append({"pa_id": pa.id, "from": before.status.value,
                                    "to": pa.status.value})
            payer = get_payer(system, pa.payer_id)
            obs = rules.Observation(report.status, report.wording or report.status.value,
                                    report.checked_at, respond_by=report.respond_by,
                                    respond_within_days=report.respond_within_days)
            blob_id: int | None = None
            for spec in rules.on_status_change(pa, obs, tz,
                                               appeal_window_days=payer.appeal_window_days):
                task = _create(system, pa, spec, report.evidence, summary)
                if blob_id is None and spec.with_evidence and task.evidence:
                    blob_id = task.evidence[-1].blob_id
            if blob_id is not None:
                pa_svc.attach_evidence(system, change.id, blob_id)
        _plan_next(system, pa, cfg, cadence, report.checked_at)


def evaluate_time_rules(system: Session, summary: CheckSummary | None = None,
                        pa_ids: list[int] | None = None) -> CheckSummary:
    """Stalls, missed deadlines and weak approvals; needs no source. Creates each task
    once (no refresh), so running it every few minutes adds no churn."""
    summary = summary or CheckSummary()
    cfg = _settings(system)
    tz = pa_svc.practice_zone(system)
    now = clock.now()
    ids = pa_ids if pa_ids is not None else pa_svc.watch_pa_ids(system,
                                                                today=local_date(now, tz))
    for pa_id in ids:
        pa = pa_svc.get_prior_auth_unchecked(system, pa_id)
        for spec in rules.time_checks(pa, now, tz, stall_business_days=cfg.stall_days,
                                      service_soon_days=cfg.soon_days):
            _create(system, pa, spec, None, summary, update_open=False)
    return summary


def run_checks(system: Session, source: StatusSource, *, pa_ids: list[int] | None = None,
               due_only: bool = False, cadence: Cadence = DEFAULT_CADENCE,
               progress: ProgressFn | None = None) -> CheckSummary:
    """Check PAs at `source` and act on the results. `pa_ids` None means every open PA
    (or, with `due_only`, those whose next check is due). Runs as the system actor."""
    summary = CheckSummary()
    cfg = _settings(system)
    if pa_ids is None:
        pa_ids = pa_svc.open_pa_ids(system, due_by=clock.now() if due_only else None)
    targets = pa_svc.check_targets(system, pa_ids)
    checkable = [t for t in targets if source.can_check(system, t)]
    summary.skipped = len(targets) - len(checkable)
    why = getattr(source, "skip_reason", None)
    for t in targets:
        if t not in checkable:
            summary.skipped_pas.append({"pa_id": t.pa_id, "reason": why(system, t) if why
                                        else f"{source.name} cannot look it up"})
    for t in targets:
        if t not in checkable:  # still plan its next look so the scheduler moves on
            _plan_next(system, pa_svc.get_prior_auth_unchecked(system, t.pa_id), cfg, cadence,
                       None)
    total = len(checkable)
    if progress:
        progress(0, total, f"checking {total} prior authorizations at {source.name}")
    reports = source.fetch(system, checkable) if checkable else []
    for done, (target, report) in enumerate(zip(checkable, reports), start=1):
        if report.error is not None:
            summary.failures += 1
            summary.failed_pa_ids.append(target.pa_id)
            source.report_failure(system, target, report)
            pa = pa_svc.get_prior_auth_unchecked(system, target.pa_id)
            _plan_next(system, pa, cfg, cadence, None)
            log.info("PA %s: check failed (%s)", target.pa_id, type(report.error).__name__)
            message = f"PA {target.pa_id}: check failed"
        else:
            apply_report(system, target, report, summary, cfg=cfg, cadence=cadence)
            message = f"PA {target.pa_id}: {report.status.value if report.status else '?'}"
        if progress:
            progress(done, total, message)
    evaluate_time_rules(system, summary, pa_ids=pa_ids)
    audit.record_now(system.vault, system, "pa.check_run", object_type="prior_auth",
                     details={k: v for k, v in summary.to_json().items() if k != "changes"})
    return summary


def check_now(session: Session, source: StatusSource, *, pa_ids: list[int] | None = None,
              progress: ProgressFn | None = None) -> CheckSummary:
    """A person's "Check now": their role is checked and audited, then the workflow runs
    as the system actor (tasks are the workflow's, not the person's)."""
    require(session, "pa.check")
    audit.record_now(session.vault, session, "pa.check_now", object_type="prior_auth",
                     details={"pa_ids": pa_ids or "all_open"})
    return run_checks(Session.system(session.vault, SYSTEM_ACTOR), source, pa_ids=pa_ids,
                      progress=progress)


def check_now_at_portals(session: Session, *, pa_ids: list[int] | None = None,
                         progress: ProgressFn | None = None, recipes_dir: str | None = None,
                         engine: Any = None) -> CheckSummary:
    """The desktop's "Check now": `check_now` through the payer portals. Pass a shared
    `engine` (automations.portal.PortalEngine) to reuse its browser; otherwise one is
    built from the practice settings for this run and closed after. Blocking: run it on
    a worker thread; `progress(done, total, message)` is called from that thread."""
    if engine is not None:
        return check_now(session, PortalStatusSource(engine), pa_ids=pa_ids,
                         progress=progress)
    from automations.portal import PortalEngine
    with PortalEngine.from_settings(session, recipes_dir=recipes_dir) as own:
        return check_now(session, PortalStatusSource(own), pa_ids=pa_ids, progress=progress)
