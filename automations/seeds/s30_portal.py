"""Demo seed: the sandbox portal's log-ins for the demo payers (stored in the vault like
any practice's portal log-ins), pointing at `offhold sandbox-portal`'s default port."""

from __future__ import annotations

import random

from app.identity import Session
from app.services import patients, portal_credentials
from automations.sandbox_portal import RECIPE_PORTALS, SANDBOX_ACCOUNTS

ORDER = 30
SANDBOX_BASE = "http://127.0.0.1:8765"


def seed(session: Session, rng: random.Random) -> None:
    del rng
    store_logins(session, SANDBOX_BASE)


def store_logins(session: Session, base_url: str) -> None:
    """Each sandbox payer's log-in, with its portal under `base_url`."""
    for payer in patients.list_payers(session):
        if payer.portal_recipe not in RECIPE_PORTALS:
            continue
        portal = RECIPE_PORTALS[payer.portal_recipe][0]
        account = SANDBOX_ACCOUNTS[portal]
        portal_credentials.set_credentials(
            session, payer.id, url=f"{base_url}/{portal}/", username=account["username"],
            password=account["password"], totp_seed=account.get("totp_seed", ""))
