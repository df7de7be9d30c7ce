"""First run, composed once for every face: the desktop wizard and `offhold init` call
these steps in order. A new practice: the vault with its owner (the recovery key shown
once), the practice's details, optional TOTP and OS keyring, the model, the first payers
each with its portal recipe (off until tested), and every action kind in shadow mode."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import NotFound, ValidationError
from app.identity import Session, init_vault
from app.queue import all_modes, set_mode
from app.services import patients, setup
from app.services.setup import PracticeDetails


@dataclass(frozen=True)
class FirstPayer:
    name: str
    plan_type: str
    recipe: str = ""  # an installed recipe's name, a .yaml file, or empty
    decision_days: int | None = None


@dataclass
class SetupChoices:
    """Steps after the vault exists; each is optional."""

    keyring: bool = False
    model_file: str = ""  # empty: the bundled default
    payers: list[FirstPayer] = field(default_factory=list)


def create_practice(directory: Path, details: PracticeDetails, owner: str,
                    password: str) -> tuple[Session, str]:
    """The vault and its owner; returns the owner's session and the recovery key (to show
    once). Nothing is written when a detail is invalid."""
    details.check()
    session, recovery = init_vault(directory, details.name, owner, password,
                                   timezone=details.timezone)
    setup.save_practice_details(session, details)
    return session, recovery


def add_first_payer(session: Session, payer: FirstPayer) -> Any:
    """A payer with its recipe linked; the portal stays off until a test succeeds and a
    person switches it on."""
    from automations.portal.install import set_payer_recipe
    try:  # a retried set-up finds the payers it added the first time
        created = patients.find_payer(session, payer.name.strip())
    except NotFound:
        created = patients.add_payer(session, payer.name.strip(), payer.plan_type,
                                     decision_days_standard=payer.decision_days)
    if payer.recipe:
        created = set_payer_recipe(session, created.id, payer.recipe)
    return created


def finish(session: Session, choices: SetupChoices) -> dict[str, Any]:
    """Keyring, model, payers and modes; returns (and audits) what was set up."""
    from app.vault import unattended
    if choices.keyring:
        unattended.enable(session)  # NoKeyringBackend says why when there is none
    model = "bundled default"
    if choices.model_file:
        from automations.workflows import models as model_flow
        model = model_flow.import_model(session, Path(choices.model_file)).name
    names = [add_first_payer(session, p).name for p in choices.payers]
    for kind_name, mode in all_modes(session).items():
        if mode.value != "shadow":  # a fresh vault has none; said explicitly all the same
            set_mode(session, kind_name, "shadow")
    summary = {"keyring": choices.keyring, "model": model, "payers": len(names),
               "modes": "shadow"}
    setup.record_setup(session, summary)
    return summary


def parse_payer_option(text: str) -> FirstPayer:
    """`NAME:PLAN_TYPE[:RECIPE]` as given to `offhold init --payer`."""
    parts = text.split(":", 2)
    if len(parts) < 2 or not parts[0].strip():
        raise ValidationError(f"--payer takes NAME:PLAN_TYPE[:RECIPE], not {text!r}")
    return FirstPayer(parts[0].strip(), parts[1].strip(),
                      parts[2].strip() if len(parts) > 2 else "")
