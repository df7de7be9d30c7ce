"""The demo practice: a vault full of synthetic patients, payers and work.

`build_demo()` creates the vault (or reuses an existing demo vault) and runs every seed
module in automations/seeds/ in ORDER, so each feature area adds its own demo data
without touching the others. Demo users have printed passwords; only a vault created
here is flagged as demo, and `--autologin` works on nothing else.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.errors import VaultError
from app.identity import Session, init_vault, unlock
from app.services import users
from app.vault.db import db_path, keys_path
from app.vault.keys import KeyEnvelope

log = logging.getLogger(__name__)

DEMO_PRACTICE = "Maple Street Family Medicine (DEMO)"
DEMO_USERS: list[dict[str, Any]] = [
    {"user": "olivia", "roles": ["owner"], "password": "demo-owner-pass"},
    {"user": "manny", "roles": ["office_manager"], "password": "demo-manager-pass"},
    {"user": "frida", "roles": ["front_desk"], "password": "demo-frontdesk-pass"},
    {"user": "billie", "roles": ["biller"], "password": "demo-biller-pass"},
]
SEED = 20261124
# Written after the last seed: a demo vault without it was cut short (a seed failed, the
# process was killed) and is built again rather than reused half-made.
COMPLETE_MARKER = ".demo-complete"


@dataclass
class DemoResult:
    vault: Path
    created: bool
    users: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"vault": str(self.vault), "created": self.created, "users": self.users}


def demo_user_for_role(role: str) -> dict[str, Any]:
    for entry in DEMO_USERS:
        if role in entry["roles"]:
            return entry
    raise VaultError(f"no demo user has the role {role!r}")


def is_demo_vault(directory: Path) -> bool:
    try:
        return KeyEnvelope.load(keys_path(directory)).demo
    except VaultError:
        return False


def seed_modules() -> list[Any]:
    import automations.seeds as pkg
    mods = [importlib.import_module(f"automations.seeds.{i.name}")
            for i in pkgutil.iter_modules(pkg.__path__)]
    return sorted(mods, key=lambda m: (int(getattr(m, "ORDER", 50)), m.__name__))


def build_demo(directory: Path) -> DemoResult:
    directory = Path(directory)
    owner = DEMO_USERS[0]
    if db_path(directory).exists():
        if not is_demo_vault(directory):
            raise VaultError(f"{directory} holds a real vault; the demo never touches it")
        if (directory / COMPLETE_MARKER).exists():
            session = unlock(directory, owner["user"], owner["password"])
            session.vault.close()
            return DemoResult(directory, False, DEMO_USERS)
        log.info("the demo vault in %s was never finished: building it again", directory)
        shutil.rmtree(directory)  # synthetic data only: is_demo_vault said so
    session, _recovery = init_vault(directory, DEMO_PRACTICE, owner["user"], owner["password"],
                                    demo=True)
    try:
        for entry in DEMO_USERS[1:]:
            users.add_user(session, entry["user"], entry["password"], entry["roles"])
        rng = random.Random(SEED)
        for module in seed_modules():
            log.info("demo seed %s", module.__name__)
            module.seed(session, rng)
    finally:
        session.vault.close()
    (directory / COMPLETE_MARKER).write_text("", encoding="utf-8")
    return DemoResult(directory, True, DEMO_USERS)


def seed_session(session: Session) -> Session:
    """Seeds act as the system, like the workflows they imitate."""
    return Session.system(session.vault, "demo-seed")
