"""Preventive care gaps: every night, each patient's records against the declarative
rules (resources/care_gaps/*.yaml, app.care_gaps.rules) at the practice's local date.

An open gap becomes a `care_gap` task for the office manager: the reason (the last
evidence and when it ran out, or none in the look-back), the rule's cited source, and a
reminder draft from the outreach templates (it never names the test: minimum necessary).
A patient opted out of both channels gets the task without a message, to raise at the
next visit. One task per rule and patient at a time, and none sooner than the cool-down
after the previous one. A gap that is met (the evidence arrived), excluded or no longer
applies closes its open task. One transaction per patient; the key
`care_gap:{rule}:{patient}:{local date}` makes a re-run the same day create nothing,
and the open-task check makes later runs create nothing until the gap is closed.
Approval sends the reminder through the outbox. Logs carry ids and counts only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from app import audit, clock, queue
from app.care_gaps.rules import GapResult, PatientFacts, evaluate, load_rules
from app.domain import Patient, Task, TaskState
from app.domain.outreach import OutreachKind
from app.identity import Session, require
from app.services import care_gaps as gaps_svc
from app.services import patients, practice
from automations.workflows import outreach
from automations.workflows.no_show import channel_for

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "care_gaps"
TASK_KIND = "care_gap"
REVIEW_WITHIN = timedelta(days=7)  # preventive care is not urgent; a week to review


@dataclass
class GapSummary:
    """PHI-free counts of one run."""

    patients: int = 0
    open_gaps: int = 0
    tasks_created: int = 0
    tasks_closed: int = 0
    cooling_down: int = 0
    no_channel: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    task_ids: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {k: v for k, v in vars(self).items() if k != "task_ids"}


def _evidence_text(result: GapResult) -> str:
    rule = result.rule
    return (f"{rule.title}: {result.reason}.\n"
            f"Rule {rule.id}: {rule.citation}\n{rule.url}")


def _create(system: Session, patient: Patient, facts: PatientFacts, result: GapResult,
            today: date, summary: GapSummary) -> None:
    channel = channel_for(patient)
    payload: dict[str, object] = {"rule_id": result.rule.id, "due_on": (
        result.due_on or today).isoformat(), "modality": result.modality,
        "reason": result.reason}
    evidence = [queue.NewEvidence("Why this is due", excerpt=_evidence_text(result))]
    draft = ""
    if channel is None:
        summary.no_channel += 1
        evidence.append(queue.NewEvidence("No message", excerpt=(
            "The patient has opted out of texts and email (or has neither on file): "
            "approving sends nothing; raise it at the next visit.")))
    else:
        message, _runs = outreach.compose(system, patient, OutreachKind.CARE_GAP, channel,
                                          use_model=False)
        draft = message.body
        payload.update({"kind": OutreachKind.CARE_GAP.value, "channel": channel.value,
                        "recipient": message.recipient, "subject": message.subject,
                        "tcpa_exempt": True})
        evidence += outreach.checks_evidence(message)
    task, created = queue.create_task(
        system, TASK_KIND, f"care_gap:{result.rule.id}:{facts.patient_id}:{today.isoformat()}",
        f"{result.rule.title} due", draft=draft, due_at=clock.now() + REVIEW_WITHIN,
        priority=queue.PRIORITY_LOW, subject_type="care_gap", subject_id=result.rule.id,
        patient_id=facts.patient_id, payload=payload, evidence=evidence, update_open=False)
    if created:
        summary.tasks_created += 1
        summary.by_rule[result.rule.id] = summary.by_rule.get(result.rule.id, 0) + 1
        summary.task_ids.append(task.id)


def run_care_gaps(system: Session) -> GapSummary:
    """Evaluate every rule for every patient as a system session."""
    tz = ZoneInfo(practice.practice_info(system)["timezone"])
    today = clock.now().astimezone(tz).date()
    cooldown = timedelta(days=int(practice.get_setting(system, "care_gap_cooldown_days")))
    rules = load_rules()
    latest = gaps_svc.latest_gap_tasks(system)
    summary = GapSummary()
    for facts in gaps_svc.patient_facts(system):
        summary.patients += 1
        patient: Patient | None = None  # read once, at the patient's first new gap
        with system.vault.write():
            for rule in rules:
                result = evaluate(rule, facts, today)
                prior = latest.get((facts.patient_id, rule.id))
                is_open = prior is not None and TaskState(prior[1]) in queue.OPEN_STATES
                if result.status == "open":
                    summary.open_gaps += 1
                    if is_open:
                        continue
                    if prior is not None and clock.now() - prior[2] < cooldown:
                        summary.cooling_down += 1
                        continue
                    if patient is None:
                        patient = patients._load_patient(system, facts.patient_id)
                    _create(system, patient, facts, result, today, summary)
                elif prior is not None and TaskState(prior[1]) in queue.ACTIONABLE_STATES:
                    # still waiting on a person (a snoozed one is closed when it wakes)
                    queue.reject(system, prior[0], f"closed by the care-gap check: "
                                 f"{result.reason}")
                    summary.tasks_closed += 1
    audit.record_now(system.vault, system, "care_gaps.run", object_type="care_gap",
                     details=summary.to_json())
    return summary


def run_now(session: Session) -> GapSummary:
    """A person's "check now": their role is checked and audited, then the workflow runs
    as the system actor."""
    require(session, "outreach.draft")
    audit.record_now(session.vault, session, "care_gaps.run_now", object_type="care_gap")
    return run_care_gaps(Session.system(session.vault, SYSTEM_ACTOR))


def send_reminder(session: Session, task: Task) -> str:
    """The care_gap effect: the reminder goes to the outbox (re-checked like any outreach);
    a task without a message (opted out) only records the decision."""
    if not task.payload.get("channel"):
        return "no message: the patient is not reachable by text or email"
    return outreach.send_to_outbox(session, task)
