"""Payer portal log-ins as stored in the vault."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class PortalAccount:
    """What the UI lists: never the password or the TOTP seed."""

    payer_id: int
    payer_name: str
    recipe: str | None
    enabled: bool
    url: str
    username: str
    has_password: bool
    has_totp: bool
    updated_at: datetime | None = None
    updated_by: str = ""


@dataclass(frozen=True)
class PortalCredentials:
    """What the portal engine uses for one visit. repr hides the secrets."""

    payer_id: int
    url: str
    username: str
    password: str = field(repr=False)
    totp_seed: str = field(default="", repr=False)
