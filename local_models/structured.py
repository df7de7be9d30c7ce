"""JSON-schema-constrained generation, validated in code, retried once.

The grammar llama.cpp builds from the schema keeps the output parseable, but a small model
can still produce empty strings, run to max_tokens or repeat list items, so the result is
checked again here and an invalid output is retried once, then reported as failed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from local_models.prompts import PromptTemplate
from local_models.runtime import GenerationResult, Message, ModelRuntime, ModelSpec


def validate(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """Check the small JSON-schema subset our prompt schemas use (type, properties,
    required, additionalProperties, enum, maxLength, minLength, maxItems, items).
    Hand-written because jsonschema is not a dependency and this subset is ~30 lines."""
    errors: list[str] = []
    kind = schema.get("type")
    types: dict[str, type | tuple[type, ...]] = {
        "object": dict, "array": list, "string": str, "integer": int, "number": (int, float),
        "boolean": bool}
    if kind and not isinstance(value, types[kind]) or (
            kind in ("integer", "number") and isinstance(value, bool)):
        return [f"{where}: expected {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: not one of {schema['enum']}")
    if isinstance(value, str):
        if len(value) > schema.get("maxLength", 1 << 30):
            errors.append(f"{where}: longer than {schema['maxLength']} characters")
        if len(value.strip()) < schema.get("minLength", 0):
            errors.append(f"{where}: shorter than {schema['minLength']} characters")
    if isinstance(value, list):
        if len(value) > schema.get("maxItems", 1 << 30):
            errors.append(f"{where}: more than {schema['maxItems']} items")
        if len({json.dumps(v, sort_keys=True) for v in value}) != len(value):
            errors.append(f"{where}: repeated items")
        for i, item in enumerate(value):
            errors.extend(validate(item, schema.get("items", {}), f"{where}[{i}]"))
    if isinstance(value, dict):
        props: dict[str, Any] = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{where}.{name}: missing")
        if schema.get("additionalProperties") is False:
            errors.extend(f"{where}.{k}: not allowed" for k in value if k not in props)
        for name, sub in props.items():
            if name in value:
                errors.extend(validate(value[name], sub, f"{where}.{name}"))
    return errors


@dataclass
class Attempt:
    messages: list[Message]
    result: GenerationResult
    errors: list[str]


@dataclass
class StructuredResult:
    ok: bool
    data: dict[str, Any] | None
    prompt: PromptTemplate
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return self.attempts[-1].errors if self.attempts else ["not run"]


def parse_and_check(text: str, schema: dict[str, Any], finish: str) -> tuple[Any, list[str]]:
    if finish == "length":
        return None, ["output hit the token limit"]
    if finish in ("cancelled", "timeout"):
        return None, [f"generation {finish}"]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [f"not valid JSON ({exc.msg} at character {exc.pos})"]
    return data, validate(data, schema)


def generate_json(runtime: ModelRuntime, spec: ModelSpec, prompt: PromptTemplate,
                  values: dict[str, str] | None = None,
                  untrusted: dict[str, str] | None = None, *, retries: int = 1,
                  **param_overrides: Any) -> StructuredResult:
    """Run a schema prompt; validate; retry once (with a different seed) on failure."""
    if prompt.schema is None:
        raise ValueError(f"prompt {prompt.ref} has no schema")
    messages = prompt.render(values, untrusted)
    out = StructuredResult(False, None, prompt)
    for attempt in range(retries + 1):
        params = prompt.generation_params(**param_overrides)
        if attempt:  # a retry with greedy decoding would repeat itself
            params = type(params)(**{**params.__dict__, "temperature": 0.7})
        run_spec = spec if attempt == 0 else ModelSpec(**{**spec.__dict__,
                                                          "seed": spec.seed + attempt})
        # result() returns timeouts and cancellations as a finish reason (not raised), so a
        # timed-out attempt is recorded and retried like any invalid output.
        result = runtime.start(run_spec, messages, params).result()
        data, errors = parse_and_check(result.text, prompt.schema, result.finish_reason)
        out.attempts.append(Attempt(messages, result, errors))
        if not errors:
            out.ok, out.data = True, data
            break
    return out
