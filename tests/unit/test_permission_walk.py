"""Every CLI command and every service entry point against the permission matrix (issue 10
#2: `offhold restore` had no role check, and nothing noticed).

Each command and each public service function that takes a session is declared here: the
permission it checks first, or None with the reason it needs none. A new command or
service function that is not declared fails `test_*_are_all_declared`; one whose check is
missing or different fails the walk, which runs it as a user with no roles (the first
`require` it reaches must be the declared one) and as every role the matrix refuses."""

from __future__ import annotations

import argparse
import importlib
import inspect
import io
import pkgutil
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import app.services as services_pkg
from app.errors import PermissionDenied
from app.identity import Session
from app.identity.permissions import PERMISSIONS, Role
from app.services import users
from app.vault.backup import create_backup
from tests.conftest import OWNER_PASSWORD
from ui.cli import Context, build_parser, main

# -- the CLI ---------------------------------------------------------------------------------

# command -> (first permission checked, arguments after the command words)
CLI: dict[str, tuple[str, list[str]]] = {
    "user add": ("user.manage", ["zed", "--role", "biller"]),
    "user list": ("user.manage", []),
    "user unlock": ("user.manage", ["owner"]),
    "user mfa-enable": ("user.manage", ["owner"]),
    "patient add": ("patient.create", ["--first", "X", "--last", "Y", "--dob", "1990-01-01"]),
    "patient list": ("patient.view", []),
    "patient show": ("patient.view", ["1"]),
    "payer add": ("payer.manage", ["Z", "--plan-type", "commercial"]),
    "payer set": ("payer.manage", ["Acme Health", "--decision-days", "10"]),
    "patient edit": ("patient.update", ["1", "--phone", "555-0100"]),
    "patient merge": ("patient.merge", ["1", "2"]),
    "patient similar": ("patient.view", ["--first", "A", "--last", "B"]),
    "patient coverage add": ("patient.update", ["1", "--payer", "Acme Health",
                                                "--member-id", "M9"]),
    "patient coverage edit": ("patient.update", ["1", "--group", "G"]),
    "pa edit": ("pa.manage", ["1", "--units", "2"]),
    "pa cancel": ("pa.manage", ["1"]),
    "appointment add": ("appointment.manage", ["--patient", "1", "--at", "2027-01-04 09:00"]),
    "appointment reschedule": ("appointment.manage", ["1", "--at", "2027-01-04 10:00"]),
    "appointment cancel": ("appointment.manage", ["1"]),
    "appointment no-show": ("appointment.manage", ["1"]),
    "appointment list": ("patient.view", []),
    "fee set": ("payer.manage", ["Acme Health", "office_visit", "90"]),
    "audit verify": ("audit.verify", []),
    "audit export": ("audit.export", []),
    "audit rebaseline": ("audit.rebaseline", []),
    "backup": ("backup.create", ["{tmp}/new-backup.db"]),
    "settings set": ("settings.manage", ["auto_lock_minutes", "5"]),
    "unattended": ("settings.manage", ["enable"]),
    "intake import": ("intake.import", ["{tmp}/form.txt", "--no-model"]),
    "intake show": ("task.view", ["1"]),
    "outreach draft": ("outreach.draft", ["--patient", "1", "--kind", "no_show", "--no-model"]),
    "model list": ("model.generate", []),
    "model import": ("model.manage", ["{tmp}/m.gguf"]),
    "model verify": ("model.generate", []),
    "model use": ("model.generate", ["x"]),
    "model test": ("model.generate", ["x"]),
    "pa add": ("pa.manage", ["--patient", "1", "--payer", "Acme Health", "--cpt", "97110",
                             "--units", "1", "--service-date", "2027-01-01"]),
    "pa list": ("pa.check", []),
    "pa show": ("pa.check", ["1"]),
    "check-now": ("pa.check", []),
    "portal set": ("portal.configure", ["Acme Health", "--user", "u"]),
    "portal list": ("settings.view", []),
    "portal recipe": ("portal.configure", ["Acme Health", "northwind"]),
    "portal enable": ("portal.configure", ["Acme Health"]),
    "portal disable": ("portal.configure", ["Acme Health"]),
    "recipe test": ("pa.check", ["{recipe}", "--payer", "Acme Health", "--member-id", "M1"]),
    "import 835": ("remit.import", ["{tmp}/x.835"]),
    "import 271": ("eligibility.import", ["{tmp}/x.835"]),
    "import 277": ("claim.manage", ["{tmp}/x.835"]),
    "import 837": ("claim.import", ["{tmp}/x.835"]),
    "import fhir": ("records.import", ["{tmp}/x.835"]),
    "import csv": ("records.import", ["{tmp}/x.835", "--mapping", "m"]),
    "eligibility request": ("eligibility.request", ["--patient", "1", "--date", "2027-01-01"]),
    "eligibility show": ("patient.view", ["--patient", "1"]),
    "eligibility check": ("eligibility.request", []),
    "estimate": ("patient.view", ["--patient", "1", "--visit-type", "office"]),
    "denial export": ("claim.manage", ["1", "--out", "{tmp}/letter.pdf"]),
    "charges check": ("claim.manage", []),
    "referral import": ("referral.manage", ["{tmp}/x.835"]),
    "referral send": ("referral.manage", ["--patient", "1", "--to", "Lakeside Cardiology"]),
    "referral step": ("referral.manage", ["1", "scheduled"]),
    "referral show": ("patient.view", ["1"]),
    "referral list": ("patient.view", []),
    "referral check": ("referral.manage", []),
    "remit list": ("task.view", []),
    "remit show": ("task.view", ["1"]),
    "remit claim": ("task.view", ["1"]),
    "tasks list": ("task.view", []),
    "tasks show": ("task.view", ["1"]),
    "tasks approve": ("task.act", ["1"]),
    "tasks reject": ("task.act", ["1", "--reason", "r"]),
    "tasks snooze": ("task.act", ["1"]),
    "tasks escalate": ("task.act", ["1"]),
    "tasks verdict": ("task.act", ["1", "would_approve"]),
    "mode set": ("mode.set", ["outreach", "approve_each"]),
    "report monthly": ("report.monthly", ["--month", "2026-11", "--out", "{tmp}/r.pdf"]),
    "outbox send": ("outbox.send", []),
    "outbox list": ("outreach.draft", []),
    "outbox retry": ("outbox.send", ["1"]),
    "outbox resolve": ("outbox.send", ["1", "--not-sent"]),
    "outbox set-password": ("settings.manage", []),
    "outbox replies": ("outbox.send", []),
    "outbox reply-list": ("outreach.draft", []),
    "vault check": ("vault.check", []),
    "waitlist add": ("appointment.manage", ["--patient", "1", "--from", "2027-01-04",
                                            "--to", "2027-01-20"]),
    "waitlist list": ("patient.view", []),
    "waitlist run": ("appointment.manage", []),
    "care-gaps check": ("outreach.draft", []),
    # restore authenticates by itself (no session): walked in test_restore_walk below
    "restore": ("backup.restore", []),
}
CLI_NO_PERMISSION: dict[str, str] = {
    "init": "creates a new vault; its first user is the owner",
    "login-check": "only authenticates the given user and prints their roles",
    "recover": "the owner's recovery key is the proof; the service checks the user is an "
               "owner",
    "demo": "builds a separate demo vault of synthetic data",
    "gui": "opens the desktop, whose pages call the same services",
    "run": "the scheduler acts as the named system identity; each job calls services",
    "sandbox-portal": "serves synthetic data; --vault seeding reads through pa services",
    "recipe list": "lists recipe files; reads nothing from the vault",
    "payer list": "the payer directory holds no PHI; every role reads it",
    "fee list": "contract amounts per payer and visit type, no PHI; every role reads them",
    "settings list": "practice settings hold no PHI (settings.view is every role)",
    "mode list": "action modes and trust figures hold no PHI; every role sees them",
    "tasks trust": "approval and edit rates per kind, no PHI; every role sees them",
}


def _leaf_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
                   ) -> list[str]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [" ".join(path)]
    out: list[str] = []
    for name, sub in subs[0].choices.items():
        out += _leaf_commands(sub, path + (name,))
    return out


def test_cli_commands_are_all_declared() -> None:
    commands = set(_leaf_commands(build_parser()))
    declared = set(CLI) | set(CLI_NO_PERMISSION)
    assert not set(CLI) & set(CLI_NO_PERMISSION)
    assert commands - declared == set(), "declare these commands' permission (or none, why)"
    assert declared - commands == set(), "these declared commands no longer exist"
    assert all(perm in PERMISSIONS for perm, _argv in CLI.values())


@pytest.fixture
def walk_vault(practice: Session, tmp_path: Path, vault_dir: Path,
               monkeypatch: pytest.MonkeyPatch) -> Session:
    """One open vault for the whole walk; the CLI acts as whatever session is handed in."""
    (tmp_path / "form.txt").write_text("Patient name: Ann Lee\nDOB: 01/02/1980\n")
    (tmp_path / "x.835").write_bytes(b"ISA*00*")
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    monkeypatch.setenv("OFFHOLD_VAULT", str(vault_dir))
    monkeypatch.setenv("OFFHOLD_USER", "owner")
    monkeypatch.setenv("OFFHOLD_PASSWORD", OWNER_PASSWORD)
    monkeypatch.setenv("OFFHOLD_NEW_PASSWORD", "new-user-pass-1")
    monkeypatch.setattr(Context, "close", lambda self: None)  # the vault stays open
    return practice


def _run_as(session: Session, command: str, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
            ) -> tuple[int, str]:
    from automations.portal import builtin_recipes_dir
    monkeypatch.setattr(Context, "session", lambda self: session)
    _perm, extra = CLI[command]
    argv = command.split() + [a.format(tmp=tmp_path, recipe=builtin_recipes_dir()
                                       / "northwind.yaml") for a in extra]
    code = main(argv, stdin=io.StringIO("portal-password\n"))  # portal set reads one
    _out, err = capsys.readouterr()
    return code, err


def _refusing_roles(permission: str) -> list[Role]:
    return [r for r in Role if r not in PERMISSIONS[permission]]


def test_every_command_checks_its_permission_first(
        walk_vault: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A user with no roles is refused by the declared permission, for every command;
    every role the matrix refuses is refused too (and each refusal is audited)."""
    vault = walk_vault.vault
    wrong: list[str] = []
    for command, (permission, _argv) in sorted(CLI.items()):
        if command == "restore":
            continue
        sessions = [Session(vault, "nobody", frozenset())] + [
            Session(vault, f"u_{r.value}", frozenset({r})) for r in _refusing_roles(permission)]
        for session in sessions:
            before = vault.query_one("SELECT count(*) FROM audit_log WHERE action = "
                                     "'permission.denied'")[0]
            code, err = _run_as(session, command, tmp_path, monkeypatch, capsys)
            after = vault.query_one("SELECT count(*) FROM audit_log WHERE action = "
                                    "'permission.denied'")[0]
            if code != 1 or f"may not {permission}" not in err or after != before + 1:
                wrong.append(f"{command} as {session.acting_role or 'no role'}: exit {code}, "
                             f"{err.strip()[:90]!r}")
    assert wrong == [], "\n".join(wrong)


def test_portal_set_checks_the_role_before_reading_the_portal_password(
        walk_vault: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A refused user's `portal set` stops before the portal password is read from stdin
    (it read the secret first, then refused)."""
    monkeypatch.setattr(Context, "session",
                        lambda self: Session(walk_vault.vault, "fd", frozenset({Role.BILLER})))
    stdin = io.StringIO("portal-password\n")
    code = main(["portal", "set", "Acme Health", "--user", "u"], stdin=stdin)
    _out, err = capsys.readouterr()
    assert code == 1 and "may not portal.configure" in err
    assert stdin.tell() == 0, "the portal password was read before the role check"


def test_restore_walk(walk_vault: Session, tmp_path: Path, vault_dir: Path,
                      monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    """restore unlocks by itself: walk it with real users of every refused role."""
    backup = tmp_path / "walk-backup.db"
    create_backup(walk_vault, backup)
    before = (vault_dir / "vault.db").read_bytes()
    for role in _refusing_roles("backup.restore"):
        name = f"w_{role.value}"
        users.add_user(walk_vault, name, "walk-pass-12", [role.value])
        monkeypatch.setenv("OFFHOLD_USER", name)
        monkeypatch.setenv("OFFHOLD_PASSWORD", "walk-pass-12")
        code = main(["restore", str(backup), "--replace"], stdin=io.StringIO(""))
        _out, err = capsys.readouterr()
        assert code == 1 and "may not backup.restore" in err, (role, err)
    assert (vault_dir / "vault.db").read_bytes() == before


# -- the services ----------------------------------------------------------------------------

SERVICES: dict[str, str] = {
    "charges.charge_encounters": "claim.manage",
    "charges.open_findings": "claim.manage",
    "referrals.find_incoming": "referral.manage",
    "referrals.link_source": "referral.manage",
    "referrals.link_task": "referral.manage",
    "referrals.list_referrals": "patient.view",
    "referrals.match_patient": "patient.view",
    "referrals.note_overdue": "referral.manage",
    "referrals.open_incoming": "referral.manage",
    "referrals.open_outbound": "referral.manage",
    "referrals.record_step": "referral.manage",
    "referrals.referral_history": "patient.view",
    "referrals.send_referral": "referral.manage",
    "referrals.source_blob": "referral.manage",
    "referrals.source_document": "patient.view",
    "referrals.stale_followups": "referral.manage",
    "referrals.store_incoming": "referral.manage",
    "claim_status.store_277": "claim.manage",
    "desktop_session.assignable_users": "task.reassign",
    "desktop_session.bulk_approve": "task.bulk_approve",
    "desktop_session.change_marker": "task.view",
    "desktop_session.patient_names": "patient.view",
    "desktop_session.patient_page": "patient.view",
    "desktop_session.queue_view": "task.view",
    "eligibility.build_270_for": "eligibility.request",
    "exports.export_audit": "audit.export",
    "exports.export_portal_page": "pa.check",
    "eligibility.estimate_for_visit": "patient.view",
    "eligibility.latest_for_patient": "patient.view",
    "eligibility.request_eligibility": "eligibility.request",
    "eligibility.set_expected_allowed": "settings.manage",
    "eligibility.show_eligibility": "patient.view",
    "eligibility.store_271": "eligibility.import",
    "imports.claim_detail": "claim.manage",
    "imports.delete_imported_files": "records.import",
    "imports.import_837": "claim.import",
    "imports.get_mapping": "records.import",
    "imports.import_csv": "records.import",
    "imports.import_fhir": "records.import",
    "imports.list_mappings": "records.import",
    "imports.preview_csv": "records.import",
    "imports.preview_import": "records.import",
    "imports.save_mapping": "records.import",
    "intake.create_review": "intake.import",
    "intake.find_patient": "patient.view",
    "intake.get_form_blob": "task.view",
    "intake.review": "task.view",
    "intake.save_fields": "task.act",
    "models.ensure_bundled": "model.generate",
    "models.find_bundled": "model.generate",
    "models.get_model": "model.generate",
    "models.import_model": "model.manage",
    "models.list_models": "model.generate",
    "models.list_runs": "model.manage",
    "models.model_health": "model.generate",
    "models.record_health": "model.generate",
    "models.record_run": "model.generate",
    "models.set_active": "model.manage",
    "models.set_run_grounding": "model.generate",
    "models.unhealthy_models": "model.generate",
    "models.verify_models": "model.manage",
    "outreach.add_to_outbox": "task.act",
    "outreach.get_outbox_for_task": "outreach.draft",
    "outreach.last_appointment": "patient.view",
    "outreach.list_outbox": "outreach.draft",
    "outbox.get_message": "outreach.draft",
    "outbox.list_messages": "outreach.draft",
    "outbox.resolve_interrupted": "outbox.send",
    "outbox.retry_message": "outbox.send",
    "outbox.retry_messages": "outbox.send",
    "outbox.send_ready": "outbox.send",
    "outbox.set_smtp_password": "settings.manage",
    "outbox.smtp_password": "outbox.send",
    "outbox.secret": "outbox.send",
    "outbox.set_secret": "settings.manage",
    "outbox.reply_token_key": "outbox.send",
    "replies.list_replies": "outreach.draft",
    "replies.act_on_unacted": "outbox.send",
    "replies.mark_source_read": "outbox.send",
    "replies.record_replies": "outbox.send",
    "replies.source_read": "outbox.send",
    "patients.add_coverage": "patient.update",
    "patients.update_coverage": "patient.update",
    "patients.similar_patients": "patient.view",
    "patients.merge_patients": "patient.merge",
    "patients.apply_form_insurance": "patient.update",
    "patients.save_patient_form": "patient.update",
    "today.today_board": "patient.view",
    "setup.save_practice_details": "settings.manage",
    "setup.record_setup": "settings.manage",
    "appointments.add_appointment": "appointment.manage",
    "appointments.reschedule_appointment": "appointment.manage",
    "appointments.cancel_appointment": "appointment.manage",
    "appointments.mark_no_show": "appointment.manage",
    "appointments.list_appointments": "patient.view",
    "appointments.set_fee": "payer.manage",
    "portal_credentials.install_recipe": "portal.configure",
    "portal_credentials.payer_for_credentials": "portal.configure",
    "prior_auth.update_prior_auth": "pa.manage",
    "prior_auth.cancel_prior_auth": "pa.manage",
    "patients.add_patient": "patient.create",
    "patients.add_payer": "payer.manage",
    "patients.get_patient": "patient.view",
    "patients.list_patients": "patient.view",
    "patients.update_patient": "patient.update",
    "patients.update_payer": "payer.manage",
    "portal_credentials.credentials_for_visit": "pa.check",
    "portal_credentials.delete_credentials": "portal.configure",
    "portal_credentials.get_account": "settings.view",
    "portal_credentials.list_accounts": "settings.view",
    "portal_credentials.set_credentials": "portal.configure",
    "portal_credentials.set_enabled": "portal.configure",
    "portal_credentials.set_recipe": "portal.configure",
    "practice.set_setting": "settings.manage",
    "prior_auth.add_prior_auth": "pa.manage",
    "prior_auth.attach_evidence": "pa.check",
    "prior_auth.check_targets": "pa.check",
    "prior_auth.get_prior_auth": "pa.check",
    "prior_auth.list_prior_auths": "pa.check",
    "prior_auth.mark_checked": "pa.check",
    "prior_auth.open_pa_ids": "pa.check",
    "prior_auth.pa_board": "pa.check",
    "prior_auth.record_status": "pa.check",
    "prior_auth.watch_pa_ids": "pa.check",
    "remittance.export_letter": "claim.manage",
    "remittance.letter_pdf": "claim.manage",
    "remittance.record_letter_print": "claim.manage",
    "remittance.list_remittances": "task.view",
    "remittance.plan_remittances": "remit.import",
    "remittance.remit_claim_detail": "task.view",
    "remittance.remittance_summary": "task.view",
    "remittance.store_remittances": "remit.import",
    "reports.export_monthly_report": "report.monthly",
    "reports.month_metrics": "report.export",
    "reports.dashboard_figures": "report.export",
    "reports.figure_items": "report.export",
    "users.add_user": "user.manage",
    "users.change_password": "user.manage",
    "users.deactivate_user": "user.manage",
    "users.enable_mfa": "user.manage",
    "users.list_users": "user.manage",
    "users.set_roles": "user.manage",
    "users.unlock_user": "user.manage",
    "vault_health.check_vault": "vault.check",
    "vault_health.rebaseline_audit": "audit.rebaseline",
    "vault_health.verify_audit": "audit.verify",
    "vault_health.last_check": "settings.view",
    "waitlist.accept_offer": "appointment.manage",
    "waitlist.add_entry": "appointment.manage",
    "waitlist.close_stale_offers": "appointment.manage",
    "waitlist.existing_task_keys": "task.view",
    "waitlist.list_entries": "patient.view",
    "waitlist.mark_offered": "appointment.manage",
    "waitlist.no_shows_since": "patient.view",
    "waitlist.observe_cancellations": "appointment.manage",
    "waitlist.record_offer": "appointment.manage",
    "waitlist.schedule_window": "patient.view",
    "waitlist.slot_offers": "patient.view",
    "care_gaps.latest_gap_tasks": "task.view",
    "care_gaps.patient_facts": "patient.view",
}
SERVICES_NO_PERMISSION: dict[str, str] = {
    "desktop_session.lock": "locks the caller's own session",
    "desktop_session.unlock": "the password is the check (a wrong one is audited)",
    "eligibility.visit_types": "the practice's visit types and amounts: settings, no PHI",
    "charges.mark_reviewed": "the charge_review effect, run only by an approval that "
                             "checked task.act and the kind's role",
    "referrals.apply_triage": "the referral_triage effect, run only by an approval that "
                              "checked task.act and the kind's role",
    "referrals.loop_days": "the practice's loop settings: no PHI",
    "intake.apply_intake": "the intake_review effect, run only by an approval that checked "
                           "task.act and the kind's role",
    "models.active_model": "which registered model a task kind uses: no PHI",
    "models.model_path": "the path of a model record the caller read with model.generate",
    "models.models_dir": "the folder imported models are copied to",
    "patients.find_payer": "the payer directory holds no PHI; every role reads it",
    "appointments.list_fees": "contract amounts per payer and visit type, no PHI",
    "today.pa_visit_types": "which visit types need a PA: a setting, no PHI",
    "appointments.allowed_for_patient": "for estimate_for_visit, after its patient.view",
    "patients.get_payer": "the payer directory holds no PHI; every role reads it",
    "patients.list_payers": "the payer directory holds no PHI; every role reads it",
    "outbox.quiet_reason": "whether now is inside the quiet hours: settings and a zone only",
    "practice.all_settings": "settings hold no PHI; read by every role, also while locked",
    "practice.get_setting": "settings hold no PHI; read by every role, also while locked",
    "practice.practice_info": "the practice's name and address, on every letter",
    "practice.letterhead": "the practice's name, address, NPI and TIN: no PHI, on letters",
    "prior_auth.get_prior_auth_unchecked": "for the scheduler's system session only; faces "
                                           "use get_prior_auth (pa.check)",
    "prior_auth.practice_zone": "the practice's time zone",
    "remittance.import_row": "inside the caller's import transaction, after its check",
    "remittance.link_task": "inside the caller's import transaction, after remit.import",
    "remittance.mark_worked": "inside the caller's transaction, after claim.manage",
}


def _entry_points() -> dict[str, Any]:
    found = {}
    for info in pkgutil.iter_modules(services_pkg.__path__):
        module = importlib.import_module(f"app.services.{info.name}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__ or name.startswith("_"):
                continue
            params = list(inspect.signature(fn).parameters)
            if params and params[0] == "session":
                found[f"{info.name}.{name}"] = fn
    return found


def test_service_entry_points_are_all_declared() -> None:
    found = set(_entry_points())
    declared = set(SERVICES) | set(SERVICES_NO_PERMISSION)
    assert not set(SERVICES) & set(SERVICES_NO_PERMISSION)
    assert found - declared == set(), "declare these entry points' permission (or none, why)"
    assert declared - found == set(), "these declared entry points no longer exist"
    assert all(perm in PERMISSIONS for perm in SERVICES.values())


def _dummy(param: inspect.Parameter, tmp: Path) -> Any:
    """An argument of the right shape: the call must stop at the role check anyway."""
    text = str(param.annotation).split("|")[0].strip()
    for prefix, value in (("bytes", b"x"), ("bool", False), ("int", 1), ("Decimal",
                          Decimal("1")), ("datetime", datetime.now(timezone.utc)),
                          ("date", date.today()), ("Path", tmp / "out"), ("list", []),
                          ("dict", {}), ("str", "x")):
        if text.startswith(prefix):
            return value
    return None


def test_every_service_entry_point_checks_its_permission_first(
        practice: Session, tmp_path: Path) -> None:
    wrong: list[str] = []
    functions = _entry_points()
    for name, permission in sorted(SERVICES.items()):
        fn = functions[name]
        params = list(inspect.signature(fn).parameters.values())[1:]
        kwargs = {p.name: _dummy(p, tmp_path) for p in params
                  if p.default is inspect.Parameter.empty
                  and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        roles = [frozenset()] + [frozenset({r}) for r in Role
                                 if r not in PERMISSIONS[permission]]
        for held in roles:
            session = Session(practice.vault, "walker", held)
            try:
                fn(session, **kwargs)
                wrong.append(f"{name} as {sorted(held) or 'no role'}: not refused")
            except PermissionDenied as exc:
                if exc.action != permission:
                    wrong.append(f"{name}: refused {exc.action}, declared {permission}")
            except Exception as exc:  # noqa: BLE001 - report, do not stop the walk
                wrong.append(f"{name}: {type(exc).__name__} before the role check: {exc}")
    assert wrong == [], "\n".join(wrong)

