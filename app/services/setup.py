"""First run: the practice's details on every letter and report, the TOTP check at
enrolment, the recovery key as a printable PDF, and the record of what was chosen. Used
by the desktop wizard and by `offhold init` (automations.first_run composes the steps)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyotp

from app import audit
from app.errors import ValidationError
from app.forms import practice_errors
from app.identity import Session, require
from app.services.practice import set_setting


@dataclass(frozen=True)
class PracticeDetails:
    name: str
    timezone: str = "America/New_York"
    npi: str = ""
    tin: str = ""
    address: str = ""
    phone: str = ""

    def check(self) -> None:
        found = practice_errors(vars(self))
        if found:
            key, message = next(iter(found.items()))
            raise ValidationError(f"practice {key}: {message}")


def save_practice_details(session: Session, details: PracticeDetails) -> None:
    """NPI, TIN, address and phone as settings (the name and zone are set at creation)."""
    require(session, "settings.manage")
    details.check()
    for key, value in (("practice_npi", details.npi), ("practice_tin", details.tin),
                       ("practice_address", details.address),
                       ("practice_phone", details.phone)):
        if value:
            set_setting(session, key, value)


def totp_code_ok(uri: str, code: str) -> bool:
    """Whether a code typed from the authenticator matches the enrolment URI (one step of
    clock drift either way), so a bad scan is caught before the owner relies on it."""
    try:
        totp = pyotp.parse_uri(uri)
    except ValueError:
        return False
    return isinstance(totp, pyotp.TOTP) and totp.verify(code.strip(), valid_window=1)


def record_setup(session: Session, choices: dict[str, Any]) -> None:
    """One audit row saying how the practice was set up (no secrets, no PHI)."""
    require(session, "settings.manage")
    audit.record_now(session.vault, session, "setup.complete", object_type="practice",
                     object_id=1, details=choices)


def recovery_key_pdf(practice_name: str, recovery_key: str, created: datetime) -> bytes:
    """A one-page PDF of the recovery key to print and lock away. Writing it is an
    explicit export the person chose; the caller decides where it goes."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=letter, invariant=1)
    pdf.setTitle("OffHold recovery key")
    width, height = letter
    y = height - 72
    pdf.setFont("Helvetica-Bold", 18)
    pdf.drawString(72, y, "OffHold recovery key")
    pdf.setFont("Helvetica", 11)
    for line in (f"Practice: {practice_name}", f"Created: {created:%Y-%m-%d %H:%M %Z}", "",
                 "This key opens the practice's vault if every owner password is lost.",
                 "Keep it locked away, apart from the computer. Anyone holding it can",
                 "read every patient record in the vault."):
        y -= 18
        pdf.drawString(72, y, line)
    y -= 40
    pdf.setFont("Courier-Bold", 13)
    groups = recovery_key.split("-") if "-" in recovery_key else [
        recovery_key[i:i + 4] for i in range(0, len(recovery_key), 4)]
    for at in range(0, len(groups), 6):
        pdf.drawString(72, y, "-".join(groups[at:at + 6]))
        y -= 20
    y -= 30
    pdf.setFont("Helvetica", 10)
    pdf.drawString(72, y, "Use it with: offhold recover --user OWNER  (it sets a new owner password)")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
