"""Payer portal log-ins kept in the vault, and the per-portal on/off switch.

Configuring needs `portal.configure`; the engine reads secrets with `pa.check` (the
system session has it). Secrets never appear in audit details, listings or reprs."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from pathlib import Path

import pyotp

from app import audit, clock
from app.domain import Payer
from app.domain.portal import PortalAccount, PortalCredentials
from app.errors import NotFound, ValidationError
from app.identity import Session, require
from app.services import patients
from app.services.practice import get_setting


def _payer(session: Session, payer: Payer | int | str) -> Payer:
    if isinstance(payer, Payer):
        return payer
    if isinstance(payer, int):
        return patients.get_payer(session, payer)
    return patients.find_payer(session, payer)


def normalize_totp_seed(seed: str) -> str:
    """Base32 as authenticator apps show it (spaces and case ignored); refuse junk early
    rather than at 2 a.m. on the portal."""
    cleaned = re.sub(r"[\s-]", "", seed).upper()
    if not cleaned:
        return ""
    try:
        base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
        pyotp.TOTP(cleaned).now()
    except (binascii.Error, ValueError) as exc:
        raise ValidationError("the TOTP seed is not valid base32 (as shown by the portal's "
                              "authenticator set-up)") from exc
    return cleaned


def payer_for_credentials(session: Session, payer: Payer | int | str) -> Payer:
    """The payer whose log-in is about to be set, after the role check: a face calls it
    before it asks for (or reads) the portal password, so a refused user types none."""
    require(session, "portal.configure")
    return _payer(session, payer)


def set_credentials(session: Session, payer: Payer | int | str, *, username: str,
                    password: str, totp_seed: str | None = None,
                    url: str | None = None) -> PortalAccount:
    """Store or replace a payer's portal log-in. totp_seed None keeps the stored seed;
    an empty string removes it. `url`, when given, sets the payer's portal address (it
    belongs to the payer, patients.validate_portal_url; empty clears it), in the same
    transaction; None leaves it."""
    require(session, "portal.configure")
    p = _payer(session, payer)
    if url is not None:
        url = patients.validate_portal_url(url)
    if not username.strip():
        raise ValidationError("a portal user name is required")
    if not password:
        raise ValidationError("a portal password is required")
    seed = None if totp_seed is None else normalize_totp_seed(totp_seed)
    vault = session.vault
    now = clock.iso(clock.now())
    with vault.write() as conn:
        row = conn.execute("SELECT totp_seed FROM portal_credentials WHERE payer_id = ?",
                           (p.id,)).fetchone()
        if seed is None:
            seed = "" if row is None else str(row[0])
        conn.execute(
            "INSERT INTO portal_credentials (payer_id, url, username, password, totp_seed, "
            "updated_at, updated_by) VALUES (?,?,?,?,?,?,?) ON CONFLICT(payer_id) DO UPDATE SET "
            "url = excluded.url, username = excluded.username, password = excluded.password, "
            "totp_seed = excluded.totp_seed, updated_at = excluded.updated_at, "
            "updated_by = excluded.updated_by",
            (p.id, "", username.strip(), password, seed, now, session.username))
        if url is not None and url != p.portal_url:
            conn.execute("UPDATE payers SET portal_url = ? WHERE id = ?", (url, p.id))
        address = p.portal_url if url is None else url
        audit.record(vault, conn, session, "portal.credentials.set", "payer", p.id,
                     details={"replaced": row is not None, "has_totp": bool(seed),
                              "url_set": bool(address), "origin": _origin(address)})
    return get_account(session, p.id)


def _origin(url: str) -> str:
    """scheme://host[:port]: the only site the payer's log-in is ever typed into."""
    match = re.match(r"^(https?://[^/?#]+)", url.strip(), re.I)
    return match.group(1).lower() if match else ""


def set_recipe(session: Session, payer: Payer | int | str, recipe: str | None) -> Payer:
    """Which portal recipe a payer uses (the caller checks it is installed). The recipe
    says where the stored log-in is typed, so only owners and office managers set it."""
    require(session, "portal.configure")
    p = _payer(session, payer)
    if recipe is not None and not re.fullmatch(r"[a-z][a-z0-9_]*", recipe):
        raise ValidationError(f"not a recipe name: {recipe!r}")
    with session.vault.write() as conn:
        conn.execute("UPDATE payers SET portal_recipe = ?, portal_enabled = CASE WHEN ? IS "
                     "NULL THEN 0 ELSE portal_enabled END WHERE id = ?",
                     (recipe, recipe, p.id))
        audit.record(session.vault, conn, session, "portal.recipe.set", "payer", p.id,
                     details={"before": p.portal_recipe, "after": recipe})
    return patients.get_payer(session, p.id)


def delete_credentials(session: Session, payer: Payer | int | str) -> None:
    require(session, "portal.configure")
    p = _payer(session, payer)
    with session.vault.write() as conn:
        cur = conn.execute("DELETE FROM portal_credentials WHERE payer_id = ?", (p.id,))
        if cur.rowcount == 0:
            raise NotFound(f"no portal log-in stored for payer {p.id}")
        audit.record(session.vault, conn, session, "portal.credentials.delete", "payer", p.id)


def set_enabled(session: Session, payer: Payer | int | str, enabled: bool) -> Payer:
    """The per-portal switch: the engine refuses to visit a disabled portal."""
    require(session, "portal.configure")
    p = _payer(session, payer)
    if enabled and not p.portal_recipe:
        raise ValidationError(f"payer {p.name!r} has no portal recipe; set one first")
    with session.vault.write() as conn:
        conn.execute("UPDATE payers SET portal_enabled = ? WHERE id = ?", (int(enabled), p.id))
        audit.record(session.vault, conn, session, "portal.enable" if enabled
                     else "portal.disable", "payer", p.id,
                     details={"before": p.portal_enabled, "after": enabled})
    return patients.get_payer(session, p.id)


def _account_from_row(row: tuple[object, ...]) -> PortalAccount:
    return PortalAccount(
        payer_id=int(str(row[0])), payer_name=str(row[1]),
        recipe=None if row[2] is None else str(row[2]), enabled=bool(row[3]),
        url=str(row[4] or ""), username=str(row[5] or ""), has_password=bool(row[6]),
        has_totp=bool(row[7]), updated_at=clock.parse_iso(str(row[8])) if row[8] else None,
        updated_by=str(row[9] or ""))


_ACCOUNT_SQL = ("SELECT p.id, p.name, p.portal_recipe, p.portal_enabled, p.portal_url, "
                "c.username, "
                "c.password IS NOT NULL AND c.password != '', "
                "c.totp_seed IS NOT NULL AND c.totp_seed != '', c.updated_at, c.updated_by "
                "FROM payers p LEFT JOIN portal_credentials c ON c.payer_id = p.id")


def list_accounts(session: Session) -> list[PortalAccount]:
    """Every payer with its portal switch and log-in summary (no secrets)."""
    require(session, "settings.view")
    return [_account_from_row(r) for r in session.vault.query(_ACCOUNT_SQL + " ORDER BY p.name")]


def get_account(session: Session, payer: Payer | int | str) -> PortalAccount:
    require(session, "settings.view")
    p = _payer(session, payer)
    row = session.vault.query_one(_ACCOUNT_SQL + " WHERE p.id = ?", (p.id,))
    return _account_from_row(row)


def credentials_for_visit(session: Session, payer_id: int, action: str = "pa.check"
                          ) -> PortalCredentials:
    """The secrets for one portal visit (engine use); `action` is the look-up's permission
    (pa.check, eligibility.request, claim.manage). Reading them is not audited on its own:
    the visit is (portal.visit)."""
    require(session, action)
    # The address is the payer's (m0020 moved it off the log-in); the engine pins the
    # browser to its origin, so secrets are typed on the payer's own site only.
    row = session.vault.query_one("SELECT p.portal_url, c.username, c.password, c.totp_seed "
                                  "FROM portal_credentials c JOIN payers p ON "
                                  "p.id = c.payer_id WHERE c.payer_id = ?", (payer_id,))
    if row is None:
        raise NotFound(f"no portal log-in stored for payer {payer_id}")
    return PortalCredentials(payer_id=payer_id, url=str(row[0]), username=str(row[1]),
                             password=str(row[2]), totp_seed=str(row[3]))


def install_recipe(session: Session, name: str, text: str) -> Path:
    """Store a recipe the caller has parsed and validated, as NAME.yaml in the practice's
    recipes folder (made `recipes` beside the vault when none is set; the setting change
    is audited here too). A file of the same name is replaced: its digest is audited."""
    require(session, "portal.configure")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValidationError(f"not a recipe name: {name!r}")
    folder_text = str(get_setting(session, "recipes_dir") or "")
    folder = Path(folder_text) if folder_text else session.vault.directory / "recipes"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.yaml"
    before = hashlib.sha256(target.read_bytes()).hexdigest() if target.exists() else None
    with session.vault.write() as conn:
        if not folder_text:
            conn.execute("INSERT INTO settings (key, value) VALUES ('recipes_dir', ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                         (json.dumps(str(folder)),))
            audit.record(session.vault, conn, session, "settings.update", "setting",
                         "recipes_dir", details={"before": "", "after": str(folder)})
        tmp = target.with_suffix(".yaml.part")  # never a half-written recipe in the book
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
        audit.record(session.vault, conn, session, "portal.recipe.install", "recipe", name,
                     details={"sha256": hashlib.sha256(text.encode()).hexdigest(),
                              "replaced": before})
    return target
