"""Practice settings, declared once with types and defaults; undeclared keys are refused."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from app.errors import ValidationError


@dataclass(frozen=True)
class Option:
    key: str
    default: Any
    kind: type
    help: str


OPTIONS: dict[str, Option] = {o.key: o for o in [
    Option("auto_lock_minutes", 10, int, "Lock the desktop app after this many idle minutes."),
    Option("require_owner_mfa", False, bool, "Owners must log in with a TOTP code."),
    Option("stall_business_days", 3, int, "Escalate a PA with no status change for this long."),
    Option("pa_service_soon_days", 7, int, "Flag weak PA approvals this close to the service."),
    Option("escalate_owner_hours", 24, int, "Notify the owner when a task is this far overdue."),
    Option("business_hours_start", 8, int, "Portal checks run from this local hour..."),
    Option("business_hours_end", 18, int, "...until this local hour."),
    Option("recipes_dir", "", str, "The practice's own portal recipes folder."),
    Option("chromium_path", "", str, "Chromium executable for portal checks (empty: PATH)."),
    Option("portal_concurrency", 3, int, "Portal visits at once."),
    Option("portal_min_interval_seconds", 2.0, float, "Rate limit between visits per portal."),
    Option("sms_max_chars", 320, int, "SMS drafts are cut to this many characters."),
    Option("readability_max_grade", 8.0, float, "Outreach drafts above this grade are flagged."),
    Option("practice_npi", "", str, "The practice's NPI (270 eligibility requests, 2100B)."),
    # The letterhead of appeal and corrected-claim letters (with the practice's name and NPI).
    Option("practice_address", "", str, "The practice's mailing address on its letters "
           "(lines separated by ' | ' or newlines)."),
    Option("practice_phone", "", str, "The practice's phone number on its letters."),
    Option("practice_tin", "", str, "The practice's tax ID (TIN/EIN) on its letters."),
    Option("x12_sender_id", "OFFHOLD", str, "ISA06/GS02 sender ID for X12 the practice sends."),
    Option("x12_receiver_id", "CLEARINGHOUSE", str, "ISA08/GS03 receiver ID (clearinghouse)."),
    Option("eligibility_max_age_days", 30, int, "Re-check eligibility older than this before a visit."),
    Option("pa_visit_types", "", str, "Visit types that need a prior authorization, comma-"
           "separated; Today shows 'PA missing' for such a visit without one."),
    Option("default_appeal_days", 90, int, "Appeal window when the payer has none set."),
    Option("model_threads", 0, int, "Model threads (0: the physical cores, leaving one for "
           "the app above two; fewer while other programs keep cores busy)."),
    Option("model_min_tokens_per_s", 5.0, float, "A model slower than this in its self-test "
           "is marked slow and not used for drafts."),
    Option("model_selftest_timeout_s", 60.0, float, "The self-test fails a model that takes "
           "longer than this."),
    # Staff minutes one manual task takes, for "staff hours saved" in reports. Defaults
    # are published averages; a practice that timed its own work should set its figures.
    Option("minutes_per_pa_check", 20.0, float, "Minutes for a manual PA status check (CAQH "
           "Index 2016: manual prior authorization, 20 min per transaction)."),
    Option("minutes_per_eligibility_check", 8.0, float, "Minutes for a manual eligibility "
           "check (CAQH Index 2016: 8 min, the average manual transaction)."),
    Option("minutes_per_claim_status", 8.0, float, "Minutes for a manual claim status "
           "inquiry (CAQH Index 2016: 8 min, the average manual transaction)."),
    Option("minutes_per_denial_review", 8.0, float, "Minutes to read a denial's codes and "
           "find the next step by hand (estimate: the CAQH 2016 average manual transaction)."),
    Option("minutes_per_outreach", 5.0, float, "Minutes to write and send one patient "
           "message by hand (estimate; no published figure)."),
    Option("report_rework_days", 7, int, "Reports: a denial worked within this many days "
           "counts as reworked."),
    # Charge capture verification (app.charges.rules).
    Option("charge_review_days", 60, int, "Compare documentation with claims for dates of "
           "service this many days back."),
    Option("charge_em_min_visits", 20, int, "E/M outliers: a provider needs this many E/M "
           "visits of a kind (new/established) in the span before a level is called rare."),
    Option("charge_em_max_share", 0.05, float, "E/M outliers: a level billed for at most "
           "this share of the provider's visits of its kind is flagged."),
    # Outbound referral loop (app.referrals.loop): days each step may take.
    Option("referral_schedule_days", 14, int, "A sent referral should have a booked visit "
           "within this many days."),
    Option("referral_seen_days", 30, int, "With no visit date recorded, the patient should "
           "be seen this many days after scheduling (else the day after the visit)."),
    Option("referral_report_days", 14, int, "The consult report should arrive this many days "
           "after the visit."),
    # The outbox. The SMTP password is not a setting (every role reads settings): it is
    # kept in the vault's practice secrets (`offhold outbox set-password`).
    Option("smtp_host", "", str, "The practice's SMTP server for patient email (empty: "
           "email is held in the outbox)."),
    Option("smtp_port", 587, int, "SMTP port: 587 with STARTTLS, 465 with implicit TLS."),
    Option("smtp_security", "starttls", str, "starttls or tls; plain SMTP is never used."),
    Option("smtp_user", "", str, "SMTP log-in user (empty: no log-in)."),
    Option("smtp_from", "", str, "The From address of patient email."),
    Option("smtp_ca_file", "", str, "A CA bundle for a server with a private certificate "
           "(empty: the system's trusted CAs)."),
    Option("sms_export_dir", "", str, "Folder for the texting vendor's import CSV (empty: "
           "text messages are held)."),
    Option("letters_export_dir", "", str, "Folder for printed-letter PDF batches (empty: "
           "letters are held)."),
    Option("sms_replies_dir", "", str, "Folder the texting vendor's replies export (CSV) is "
           "saved to: read every 10 minutes, each file moved to imported/ or failed/ (empty: "
           "off). It holds PHI: keep it on the encrypted disk."),
    Option("email_replies_maildir", "", str, "A Maildir the practice's mail client or "
           "fetchmail fills with patients' email replies: read every 10 minutes, never "
           "changed (empty: off)."),
    # Email replies over IMAP: the password is a practice secret, like SMTP's
    # (`offhold outbox set-password --imap`).
    Option("imap_host", "", str, "The practice's IMAP server, read every 10 minutes for "
           "patients' email replies (read only; empty: off)."),
    Option("imap_port", 993, int, "IMAP port: 993 with implicit TLS, 143 with STARTTLS."),
    Option("imap_security", "tls", str, "tls or starttls; plain IMAP is never used."),
    Option("imap_user", "", str, "IMAP log-in user."),
    Option("imap_folder", "INBOX", str, "The folder replies arrive in."),
    Option("imap_ca_file", "", str, "A CA bundle for an IMAP server with a private "
           "certificate (empty: the system's trusted CAs)."),
    Option("quiet_hours_start", 8, int, "No email or text before this local hour..."),
    Option("quiet_hours_end", 21, int, "...nor from this local hour on."),
    Option("monthly_report_dir", "", str, "On the 1st, write last month's de-identified "
           "report here (empty: no scheduled report)."),
    # No-show and cancellation recovery, waitlist fill.
    Option("no_show_grace_minutes", 60, int, "A visit still 'scheduled' this long after its "
           "start counts as a no-show (the patient never arrived); 0: only visits marked "
           "no-show count (for schedules that never mark visits completed)."),
    Option("no_show_repeat_count", 2, int, "This many no-shows in the window flag a "
           "repeat no-show."),
    Option("no_show_repeat_window_days", 180, int, "The window repeat no-shows are counted in."),
    Option("late_cancel_hours", 24, int, "A cancellation this close to the visit is late and "
           "gets a rebook message."),
    Option("waitlist_hold_hours", 4, int, "A waitlist offer holds the slot this long; "
           "unanswered, the next candidate is offered."),
    Option("care_gap_cooldown_days", 90, int, "No new care-gap reminder for the same rule "
           "and patient sooner than this after the last one."),
    Option("import_watch_dir", "", str, "A folder the EHR's nightly export lands in: the "
           "scheduler imports each file (FHIR, CSV, 837), then moves it to imported/ or "
           "failed/ (empty: off). It holds PHI: keep it on the encrypted disk."),
    Option("import_watch_csv_mapping", "", str, "The saved column mapping for CSV files in "
           "the watched folder."),
    Option("import_watch_delete", False, bool, "Delete a watched file once its import is "
           "verified (its SHA-256 is in the vault's import log) instead of keeping it in "
           "imported/."),
]}


def coerce(key: str, value: Any) -> Any:
    option = OPTIONS.get(key)
    if option is None:
        raise ValidationError(f"unknown setting {key!r}; known: {', '.join(sorted(OPTIONS))}")
    if option.kind is bool and isinstance(value, str):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValidationError(f"{key} takes true or false")
    try:
        return option.kind(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{key} takes a {option.kind.__name__}") from exc


def decode(key: str, stored: str | None) -> Any:
    return OPTIONS[key].default if stored is None else json.loads(stored)
