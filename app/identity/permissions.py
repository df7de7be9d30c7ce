"""The permission matrix, declared once. Every service call checks it through
`app.identity.require`; tests walk every role x action cell."""

from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    OWNER = "owner"
    OFFICE_MANAGER = "office_manager"
    FRONT_DESK = "front_desk"
    BILLER = "biller"


ALL_ROLES: frozenset[Role] = frozenset(Role)
O, M, F, B = Role.OWNER, Role.OFFICE_MANAGER, Role.FRONT_DESK, Role.BILLER

# action -> roles that may perform it
PERMISSIONS: dict[str, frozenset[Role]] = {
    # people and the practice
    "user.manage": frozenset({O}),
    "user.recover": frozenset({O}),  # set a lost owner password with the recovery key
    "settings.manage": frozenset({O}),
    "settings.view": ALL_ROLES,
    "mode.set": frozenset({O, M}),
    # patients
    "patient.view": ALL_ROLES,
    "patient.create": frozenset({O, M, F}),
    "patient.update": frozenset({O, M, F}),
    "patient.merge": frozenset({O, M}),  # moves a record's history onto another patient
    "payer.manage": frozenset({O, M, B}),
    "appointment.manage": frozenset({O, M, F}),
    # bulk records from the EHR (FHIR, CSV roster and schedule) and their column mappings
    "records.import": frozenset({O, M}),
    # audit, backup
    "audit.verify": frozenset({O}),
    "audit.export": frozenset({O}),
    "audit.rebaseline": frozenset({O}),  # accept a reviewed, damaged log as a new baseline
    "vault.check": frozenset({O, M}),
    "backup.create": frozenset({O}),
    "backup.restore": frozenset({O}),
    # the work queue (which kinds a role works is in app.queue.kinds)
    "task.view": ALL_ROLES,
    "task.act": ALL_ROLES,
    "task.reassign": frozenset({O, M}),
    "task.bulk_approve": frozenset({O, M}),
    # prior authorization and portals
    "pa.manage": frozenset({O, M, F}),
    "pa.check": frozenset({O, M, F}),
    "portal.configure": frozenset({O, M}),
    # revenue cycle
    "remit.import": frozenset({O, B}),
    "claim.manage": frozenset({O, B}),
    "claim.import": frozenset({O, B}),  # 837 files from the billing system
    "eligibility.import": frozenset({O, M, F, B}),
    "eligibility.request": frozenset({O, M, F, B}),
    # intake, outreach, models
    "intake.import": frozenset({O, M, F}),
    "outreach.draft": frozenset({O, M, F}),
    "referral.manage": frozenset({O, M, F}),  # import, send, record loop steps
    "model.manage": frozenset({O}),
    "model.generate": ALL_ROLES,
    # reports
    "report.export": frozenset({O, M}),  # de-identified figures
    "report.monthly": frozenset({O}),  # the owner's monthly PDF
    "report.phi_appendix": frozenset({O}),  # its appendix with patient identifiers
    # the outbox
    "outbox.send": frozenset({O, M}),
}


def allowed(roles: frozenset[Role] | set[Role], action: str) -> bool:
    """True if any of the roles may perform the action; unknown actions are a bug."""
    try:
        permitted = PERMISSIONS[action]
    except KeyError as exc:
        raise KeyError(f"undeclared permission {action!r}") from exc
    return bool(permitted & set(roles))


def parse_roles(text: str | list[str]) -> frozenset[Role]:
    names = text.split(",") if isinstance(text, str) else text
    try:
        return frozenset(Role(n.strip()) for n in names if n.strip())
    except ValueError as exc:
        valid = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role in {names!r}; valid roles: {valid}") from exc
