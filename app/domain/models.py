"""Local model registry types. Plain data, no persistence (see app.services.models)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class ModelRecord:
    """A GGUF file the practice may run, pinned by its SHA-256."""

    id: int
    name: str
    filename: str  # inside the vault's models/ folder, or the bundled package path
    sha256: str
    size: int
    context_length: int | None = None
    chat_template: str = ""
    license: str = ""
    architecture: str = ""
    bundled: bool = False
    note: str = ""
    imported_at: datetime | None = None
    grounding_checks: int = 0
    grounding_passes: int = 0
    used_for: list[str] = field(default_factory=list)

    @property
    def grounding_pass_rate(self) -> float | None:
        return self.grounding_passes / self.grounding_checks if self.grounding_checks else None


@dataclass
class ModelRun:
    """One prompt and its output, as recorded in the vault."""

    model_sha256: str
    prompt_name: str
    prompt_version: int
    prompt: str  # the rendered messages, JSON
    output: str
    finish_reason: str
    duration_ms: int
    params: dict[str, Any] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_ms: int | None = None
    valid: bool | None = None
    grounded: bool | None = None
    task_kind: str = ""
    subject: str = ""
    patient_id: int | None = None
    model_id: int | None = None


@dataclass(frozen=True)
class ModelHealth:
    """The latest self-test verdict of one model on one runtime (build + processor)."""

    model_sha256: str
    runtime_id: str
    health: str  # healthy | slow | broken
    reason: str
    tokens_per_s: float
    tested_at: datetime
    tested_by: str
    task_id: int | None = None

    @property
    def usable(self) -> bool:
        return self.health == "healthy"
