"""Errors of the model runtime. Messages are PHI-free: they name files, hashes and limits,
never prompt text. The automations layer turns them into the app's KnownError."""

from __future__ import annotations


class ModelError(Exception):
    """A model problem a person can fix (wrong file, hash changed, timeout)."""


class ModelFileError(ModelError):
    pass


class ModelIntegrityError(ModelError):
    def __init__(self, path: str, expected: str, found: str) -> None:
        super().__init__(
            f"model file {path} no longer matches its recorded SHA-256 (expected "
            f"{expected[:12]}…, found {found[:12]}…); refusing to load it. Re-import the "
            "model or restore the original file.")
        self.expected = expected
        self.found = found


class GenerationCancelled(ModelError):
    pass


class GenerationTimeout(ModelError):
    pass


class StructuredOutputError(ModelError):
    """The model's structured output failed validation twice."""
