"""Declarative rule files (YAML) read with bounds and checked against a JSON schema.

A practice edits these files, so they are input, not code: a size cap, no YAML aliases
(anchors are what let a small file expand into a huge or slow structure: the "billion
laughs" shape), a nesting cap, and a schema check that names the failing path, never the
value. With aliases refused, parsing and validating are linear in the (capped) size, so
the size cap bounds time and memory too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

from app.errors import ValidationError

MAX_RULE_FILE_BYTES = 256 * 1024  # the largest shipped rule file is ~6 KB
MAX_DEPTH = 32


class RuleFileError(ValidationError):
    """A rule file that cannot be used; the message names the file and the place."""


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.get_mark()
            raise RuleFileError(f"YAML aliases are not allowed (line {mark.line + 1})")
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise RuleFileError(f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def parse_rule_text(data: bytes, schema: dict[str, Any], name: str) -> dict[str, Any]:
    """The document in `data`, validated; RuleFileError names `name` and the reason."""
    if len(data) > MAX_RULE_FILE_BYTES:
        raise RuleFileError(f"{name}: larger than {MAX_RULE_FILE_BYTES // 1024} KB")
    try:
        text = data.decode("utf-8")
        doc = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except RuleFileError as exc:
        raise RuleFileError(f"{name}: {exc}") from None
    except (UnicodeDecodeError, yaml.YAMLError, RecursionError) as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        raise RuleFileError(f"{name}: not valid YAML{at}") from None
    if not isinstance(doc, dict):
        raise RuleFileError(f"{name}: the file must hold a mapping")
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(doc))
    if error is not None:
        path = "/".join(str(p) for p in error.absolute_path) or "(top)"
        raise RuleFileError(f"{name}: {path}: {error.validator} rule failed "
                            f"({_what(error)})")
    return doc


def _what(error: jsonschema.ValidationError) -> str:
    # The schema's expectation, not the instance's value (a rule file may quote a note).
    if error.validator in ("required", "additionalProperties"):
        return str(error.message)[:100]  # key names only
    return f"expected {error.validator}: {str(error.validator_value)[:60]}"


def load_rule_file(path: Path, schema: dict[str, Any]) -> dict[str, Any]:
    """Read and validate one rule file (size checked before the whole file is read)."""
    size = path.stat().st_size
    if size > MAX_RULE_FILE_BYTES:
        raise RuleFileError(f"{path.name}: larger than {MAX_RULE_FILE_BYTES // 1024} KB")
    return parse_rule_text(path.read_bytes(), schema, path.name)
