"""Task kinds, declared once: who works each kind, whether it may ever run unattended, and
what approving it does. Kinds that touch clinical content or billing codes can never be
`automatic`.

`effect` names the function approval runs ("package.module:function", taking the session
and the task, returning a short PHI-free note); empty means approval only records the
decision. `confirm` optionally names a function telling whether an interrupted run took
effect. The names are resolved once, by the composition root (automations/wiring.py), so
what approval does never depends on which modules happen to be imported."""

from __future__ import annotations

from dataclasses import dataclass

from app.identity.permissions import Role


@dataclass(frozen=True)
class TaskKind:
    name: str
    label: str
    role: Role
    automatic_allowed: bool = False
    reason_no_auto: str = ""
    # Failure notices are not drafts of an action, so shadow mode does not apply: they
    # always reach a person as pending work.
    is_notice: bool = False
    effect: str = ""
    confirm: str = ""


_CLINICAL = "touches clinical content"
_CODES = "touches billing codes"

KINDS: dict[str, TaskKind] = {k.name: k for k in [
    TaskKind("pa_followup", "Prior auth follow-up", Role.FRONT_DESK, automatic_allowed=True),
    TaskKind("pa_escalation", "Prior auth escalations", Role.OFFICE_MANAGER),
    TaskKind("pa_next_action", "Prior auth next actions", Role.OFFICE_MANAGER),
    TaskKind("outreach", "Patient outreach", Role.OFFICE_MANAGER, automatic_allowed=True,
             effect="automations.workflows.outreach:send_to_outbox"),
    # A freed slot offered to the best-ranked waitlisted patient; approval sends the offer
    # and starts the hold (unanswered, the workflow offers the next candidate).
    TaskKind("waitlist_offer", "Waitlist slot offers", Role.OFFICE_MANAGER,
             effect="automations.workflows.no_show:send_offer"),
    # The slot held for an offer that went out: approve when the patient says yes (books
    # it); reject when they decline (the next candidate is offered).
    TaskKind("waitlist_hold", "Held slots awaiting an answer", Role.FRONT_DESK,
             effect="automations.workflows.no_show:book_held_slot"),
    # A patient's reply the outbox recorded that OffHold could not act on by itself
    # (not a plain yes/no/stop, not matched, or a yes it could not honour).
    TaskKind("patient_reply", "Patient replies", Role.FRONT_DESK, is_notice=True),
    TaskKind("denial_review", "Denials", Role.BILLER, reason_no_auto=_CODES,
             effect="automations.workflows.denials:apply_approval"),
    TaskKind("claim_status", "Claim status", Role.BILLER, reason_no_auto=_CODES),
    TaskKind("charge_review", "Charge review", Role.BILLER, reason_no_auto=_CODES,
             effect="app.services.charges:mark_reviewed"),
    TaskKind("eligibility_gap", "Eligibility gaps", Role.FRONT_DESK, automatic_allowed=True),
    TaskKind("intake_review", "Intake review", Role.FRONT_DESK, reason_no_auto=_CLINICAL,
             effect="app.services.intake:apply_intake"),
    TaskKind("referral_triage", "Referrals", Role.FRONT_DESK, reason_no_auto=_CLINICAL,
             effect="app.services.referrals:apply_triage"),
    TaskKind("referral_followup", "Referral follow-ups", Role.FRONT_DESK),
    TaskKind("care_gap", "Care gaps", Role.OFFICE_MANAGER, reason_no_auto=_CLINICAL,
             effect="automations.workflows.care_gaps:send_reminder"),
    TaskKind("portal_failure", "Portal failures", Role.FRONT_DESK, is_notice=True),
    TaskKind("recipe_broken", "Broken portal recipes", Role.OFFICE_MANAGER, is_notice=True),
    TaskKind("human_handoff", "Needs a person at the portal", Role.FRONT_DESK, is_notice=True),
    TaskKind("automation_failure", "Failed automations", Role.OFFICE_MANAGER, is_notice=True),
    TaskKind("model_unhealthy", "Model problems", Role.OWNER, is_notice=True),
]}


def kind(name: str) -> TaskKind:
    try:
        return KINDS[name]
    except KeyError as exc:
        raise KeyError(f"undeclared task kind {name!r}") from exc


def kinds_for_roles(roles: frozenset[Role] | set[Role]) -> list[str]:
    """Kinds a user works: their own roles' kinds; owners and office managers see all."""
    if Role.OWNER in roles or Role.OFFICE_MANAGER in roles:
        return list(KINDS)
    return [k.name for k in KINDS.values() if k.role in roles]
