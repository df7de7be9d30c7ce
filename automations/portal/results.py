"""What a successful look-up returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from app.queue import NewEvidence


@dataclass
class CheckResult:
    """One look-up's result. `status` is normalized (see recipes.KIND_STATUSES); None with
    found=False when the portal has no matching case."""

    payer_id: int
    payer_name: str
    recipe: str
    kind: str
    found: bool
    status: str | None
    status_text: str
    units: int | None
    valid_from: date | None
    valid_through: date | None
    fields: dict[str, str]
    screenshot: bytes
    checked_at: datetime
    attempts: int = 1
    duration_ms: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    # The text of the field the recipe names as `wording` (else the status text): the
    # payer's own words for the task, the evidence, and any date or day count they state.
    wording: str = ""

    def evidence(self, label: str | None = None) -> NewEvidence:
        """The result page screenshot, ready for app.queue.create_task(evidence=[...])."""
        text = (self.wording or self.status_text) if self.found \
            else "no matching case on the portal"
        return NewEvidence(label=label or f"{self.payer_name} portal ({self.kind})",
                           excerpt=text, blob=self.screenshot, mime="image/png")

    def summary(self) -> dict[str, Any]:
        """A PHI-free summary (no member ID, no names) for payloads and audit details."""
        return {"payer_id": self.payer_id, "recipe": self.recipe, "kind": self.kind,
                "found": self.found, "status": self.status, "units": self.units,
                "valid_from": self.valid_from.isoformat() if self.valid_from else None,
                "valid_through": self.valid_through.isoformat() if self.valid_through else None}
