"""Recipes: YAML data describing how to log in to a payer portal, navigate, search and
read a result. Built-in recipes (resources/recipes) and the practice's own folder
(setting `recipes_dir`) go through the same loader; a practice recipe with the same name
overrides the built-in. Every file is validated on load and errors name the file and key.

A hand-written validator rather than jsonschema: it is not installed here, and the checks
that matter (placeholders known, regexes compile, statuses normalized) are not schema
checks anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml

from app.domain.pa import PAStatus
from app.errors import ValidationError
from app.imports.files import read_capped
from automations.portal.errors import RecipeInvalid

# PA statuses are the app's own (app.domain.pa.PAStatus), so the docs, the CLI, the JSON
# and the app say the same word; not_found is the engine's, not a recipe's, to report.
PA_STATUSES: tuple[str, ...] = tuple(s.value for s in PAStatus if s is not PAStatus.NOT_FOUND)
ELIGIBILITY_STATUSES: tuple[str, ...] = ("active", "inactive")
CLAIM_STATUSES: tuple[str, ...] = ("received", "in_process", "pended", "paid", "partially_paid",
                                   "denied")
KIND_STATUSES: dict[str, tuple[str, ...]] = {
    "pa_status": PA_STATUSES, "eligibility": ELIGIBILITY_STATUSES,
    "claim_status": CLAIM_STATUSES}
# Names recipes written before the PA vocabulary matched the app's may still use.
STATUS_ALIASES: dict[str, dict[str, str]] = {
    "pa_status": {"pended": "pending", "additional_info_requested": "info_requested"}}

# Placeholders a step value may use, besides the recipe's own `vars`.
BUILTIN_VARS = frozenset({"username", "password", "totp", "member_id", "reference", "dob",
                          "dob_us", "claim_number", "service_date", "service_date_us", "npi"})
# The look-up values behind the placeholders (a US-format date is the same value).
LOOKUP_OF = {"member_id": "member_id", "reference": "reference", "dob": "dob",
             "dob_us": "dob", "claim_number": "claim_number", "service_date": "service_date",
             "service_date_us": "service_date", "npi": "npi"}
# The portal log-in: filled only into fields (`fill`), and only on the payer's own origin.
# Anywhere else (a URL, a select, a row match, a var) a recipe could carry it off-site,
# so such a recipe is refused when it loads.
SECRET_VARS = frozenset({"username", "password", "totp"})
DETECT_KEYS = ("maintenance", "handoff", "session_expired", "login_failed", "mfa_failed")
STEP_ACTIONS = ("goto", "fill", "select", "click", "check", "expect")
# A step or a block of steps may carry `if_present: SELECTOR`: it runs only when the
# selector is on the page at that moment (no waiting), and is skipped, not failed, when
# it is not: a notice, a survey or a "session will expire" dialog shown only some days.
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
MAX_RECIPE_BYTES = 256 * 1024  # a portal's recipe is a few KB
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Step:
    action: str          # goto | fill | select | click | check | expect
    selector: str = ""   # CSS/Playwright selector (goto: empty)
    value: str = ""      # goto: path or URL; fill/select: template with {placeholders}
    navigates: bool = True  # click: wait for the page load it starts
    where: str = ""      # position in the file, for error messages
    if_present: str = ""  # run only when this selector is on the page; else skip
    steps: tuple["Step", ...] = ()  # action "block": the steps if_present guards

    @property
    def label(self) -> str:
        """A PHI-free name for logs and errors (never the filled value)."""
        if self.action == "block":
            return f"if {self.if_present}"
        return f"{self.action} {self.selector or self.value}".strip()

    def placeholders(self) -> set[str]:
        names = set(_PLACEHOLDER.findall(self.value))
        for inner in self.steps:
            names |= inner.placeholders()
        return names


@dataclass(frozen=True)
class FieldSpec:
    selector: str
    attr: str = ""
    regex: str = ""
    required: bool = True


@dataclass(frozen=True)
class ValueSpec:
    """A value parsed out of an extracted field: units or a date."""

    field: str
    regex: str = ""
    formats: tuple[str, ...] = ()


@dataclass(frozen=True)
class StatusRule:
    match: str
    status: str


@dataclass(frozen=True)
class KindSpec:
    kind: str
    steps: tuple[Step, ...]
    sentinels: tuple[str, ...]
    not_found: tuple[str, ...]
    row: str
    row_contains: str
    fields: dict[str, FieldSpec]
    status_field: str
    status_map: tuple[StatusRule, ...]
    wording_field: str = ""  # its text is the task's wording and evidence (default: status)
    optional: tuple[str, ...] = ()  # look-up values the portal can search without
    units: ValueSpec | None = None
    valid_from: ValueSpec | None = None
    valid_through: ValueSpec | None = None


@dataclass(frozen=True)
class Recipe:
    name: str
    payer: str
    url: str
    source: str
    login: tuple[Step, ...]
    kinds: dict[str, KindSpec]
    detect: dict[str, tuple[str, ...]]
    variables: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = 20.0
    selector_timeout_seconds: float = 5.0
    needs_totp: bool = False
    version: int = 1

    def same_as(self, other: "Recipe") -> bool:
        """The same recipe wherever its file was read from."""
        return replace(self, source="") == replace(other, source="")

    def lookup_values(self, kind: str) -> list[str]:
        """The look-up values (member_id, dob, reference, npi...) the kind's steps and row
        match use, in a stable order; `recipe test` and the engine ask for each."""
        spec = self.kinds[kind]
        used: set[str] = set(_PLACEHOLDER.findall(spec.row_contains))
        for step in spec.steps:
            used |= step.placeholders()
        wanted = {LOOKUP_OF[name] for name in used if name in LOOKUP_OF}
        return [name for name in dict.fromkeys(LOOKUP_OF.values()) if name in wanted]

    def required_lookups(self, kind: str) -> list[str]:
        """lookup_values less those the recipe marks `optional`."""
        return [n for n in self.lookup_values(kind) if n not in self.kinds[kind].optional]

    def normalize(self, kind: str, status_text: str) -> str | None:
        """The normalized status for the payer's words, or None when unmapped."""
        for rule in self.kinds[kind].status_map:
            if re.search(rule.match, status_text, re.IGNORECASE):
                return rule.status
        return None


class RecipeBook:
    """Recipes by name, with where each came from (built-in or practice folder)."""

    def __init__(self, recipes: dict[str, Recipe]) -> None:
        self._recipes = dict(recipes)

    def get(self, name: str) -> Recipe:
        try:
            return self._recipes[name]
        except KeyError as exc:
            from app.errors import NotFound
            raise NotFound(f"no portal recipe named {name!r}; known: "
                           + ", ".join(sorted(self._recipes))) from exc

    def names(self) -> list[str]:
        return sorted(self._recipes)

    def __contains__(self, name: object) -> bool:
        return name in self._recipes

    def __len__(self) -> int:
        return len(self._recipes)


def origin_of(url: str) -> str:
    """scheme://host[:port] of an http(s) URL, lower-case; '' for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme.lower()]
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme.lower()}://{host}{port}"


def builtin_recipes_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "resources" / "recipes"


def recipe_dirs(practice_dir: str | Path | None = None) -> list[Path]:
    """Built-ins first, then the practice folder (later folders override by name)."""
    dirs = [builtin_recipes_dir()]
    if practice_dir:
        dirs.append(Path(practice_dir))
    return dirs


def load_recipes(dirs: list[Path] | None = None) -> RecipeBook:
    """Load every *.yaml in the folders in order; all-or-nothing (one bad file fails)."""
    found: dict[str, Recipe] = {}
    for directory in dirs if dirs is not None else recipe_dirs():
        directory = Path(directory)
        if not directory.is_dir():
            raise RecipeInvalid(str(directory), "", "recipes folder does not exist")
        for path in sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml")):
            recipe = load_recipe_file(path)
            found[recipe.name] = recipe
    return RecipeBook(found)


def load_recipe_file(path: str | Path) -> Recipe:
    return read_recipe_file(path)[0]


def read_recipe_file(path: str | Path) -> tuple[Recipe, str]:
    """The recipe and the very text it was parsed from (what `install` stores: no second
    read that could differ). A recipe may come from anyone, so its size is capped before
    YAML sees it."""
    path = Path(path)

    def refuse(size: int) -> None:
        if size > MAX_RECIPE_BYTES:
            raise RecipeInvalid(str(path), "", f"the file is {size // 1024} KB; a recipe "
                                f"is at most {MAX_RECIPE_BYTES // 1024} KB")
    try:
        text = read_capped(path, MAX_RECIPE_BYTES, refuse).decode("utf-8")
    except ValidationError as exc:
        raise RecipeInvalid(str(path), "", f"cannot read the file ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise RecipeInvalid(str(path), "", "not UTF-8 text") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RecipeInvalid(str(path), where, "not valid YAML") from exc
    return parse_recipe(data, str(path), expected_name=path.stem), text


# -- validation ---------------------------------------------------------------------------

class _V:
    """Reads a mapping and raises RecipeInvalid naming the file and the key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> RecipeInvalid:
        return RecipeInvalid(self.source, key, problem)

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, "must be a mapping")
        return value

    def unknown(self, data: dict[str, Any], allowed: set[str], key: str) -> None:
        extra = sorted(str(k) for k in data if k not in allowed)
        if extra:
            prefix = f"{key}." if key else ""
            raise self.fail(prefix + extra[0], "unknown key; allowed: "
                            + ", ".join(sorted(allowed)))

    def string(self, data: dict[str, Any], name: str, key: str, *, required: bool = True,
               default: str = "") -> str:
        value = data.get(name)
        where = f"{key}.{name}" if key else name
        if value is None:
            if required:
                raise self.fail(where, "is required")
            return default
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise self.fail(where, "must be text")
        text = str(value)
        if required and not text.strip():
            raise self.fail(where, "must not be empty")
        return text

    def number(self, data: dict[str, Any], name: str, key: str, default: float) -> float:
        value = data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise self.fail(f"{key}.{name}", "must be a positive number")
        return float(value)

    def selectors(self, value: Any, key: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip()
                                                  for v in value):
            raise self.fail(key, "must be a selector or a list of selectors")
        return tuple(value)

    def regex(self, pattern: str, key: str, *, groups: bool = False) -> str:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise self.fail(key, f"invalid regular expression: {exc}") from exc
        if groups and compiled.groups < 1:
            raise self.fail(key, "the regular expression needs a capture group")
        return pattern


def parse_recipe(data: Any, source: str, expected_name: str | None = None) -> Recipe:
    v = _V(source)
    top = v.mapping(data, "")
    v.unknown(top, {"name", "payer", "version", "portal", "vars", "detect", "login", "kinds"}, "")
    name = v.string(top, "name", "")
    if not _NAME.match(name):
        raise v.fail("name", "use lower-case letters, digits and '_' (start with a letter)")
    if expected_name is not None and name != expected_name:
        raise v.fail("name", f"must match the file name ({expected_name!r})")
    version = top.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise v.fail("version", "must be an integer")
    portal = v.mapping(top.get("portal"), "portal")
    v.unknown(portal, {"url", "timeout_seconds", "selector_timeout_seconds"}, "portal")
    url = v.string(portal, "url", "portal")
    if not re.match(r"^https?://", url) or not origin_of(url):
        raise v.fail("portal.url", "must start with http:// or https:// and name a host")
    if _PLACEHOLDER.search(url):
        raise v.fail("portal.url", "must not contain placeholders")
    variables_raw = v.mapping(top.get("vars", {}) or {}, "vars")
    variables: dict[str, str] = {}
    for key, value in variables_raw.items():
        if not isinstance(key, str) or not _NAME.match(key):
            raise v.fail(f"vars.{key}", "variable names use lower-case letters, digits, '_'")
        if key in BUILTIN_VARS:
            raise v.fail(f"vars.{key}", "shadows a built-in placeholder")
        variables[key] = v.string(variables_raw, key, "vars")
        _refuse_secrets(v, variables[key], f"vars.{key}", "a var")
    known_vars = BUILTIN_VARS | set(variables)

    detect_raw = v.mapping(top.get("detect", {}) or {}, "detect")
    v.unknown(detect_raw, set(DETECT_KEYS), "detect")
    detect = {k: v.selectors(detect_raw.get(k), f"detect.{k}") for k in DETECT_KEYS}

    login_raw = top.get("login")
    if not isinstance(login_raw, list) or not login_raw:
        raise v.fail("login", "must be a non-empty list of steps")
    base = url if url.endswith("/") else url + "/"
    login = tuple(_parse_step(v, s, f"login[{i}]", known_vars, base)
                  for i, s in enumerate(login_raw))
    needs_totp = any("{totp}" in s.value for s in login)

    kinds_raw = v.mapping(top.get("kinds"), "kinds")
    if "pa_status" not in kinds_raw:
        raise v.fail("kinds.pa_status", "is required (every recipe reads PA status)")
    kinds: dict[str, KindSpec] = {}
    for kind_name, spec in kinds_raw.items():
        if kind_name not in KIND_STATUSES:
            raise v.fail(f"kinds.{kind_name}", "unknown kind; one of: "
                         + ", ".join(KIND_STATUSES))
        kinds[kind_name] = _parse_kind(v, kind_name, spec, known_vars, base)
    return Recipe(name=name, payer=v.string(top, "payer", "", required=False, default=name),
                  url=base, source=source, login=login,
                  kinds=kinds, detect=detect, variables=variables,
                  timeout_seconds=v.number(portal, "timeout_seconds", "portal", 20.0),
                  selector_timeout_seconds=v.number(portal, "selector_timeout_seconds",
                                                    "portal", 5.0),
                  needs_totp=needs_totp, version=version)


def _check_placeholders(v: _V, text: str, key: str, known: frozenset[str] | set[str]) -> None:
    for name in _PLACEHOLDER.findall(text):
        if name not in known:
            raise v.fail(key, f"unknown placeholder {{{name}}}; known: "
                         + ", ".join(sorted(known)))


def _refuse_secrets(v: _V, text: str, key: str, where: str) -> None:
    for name in _PLACEHOLDER.findall(text):
        if name in SECRET_VARS:
            raise v.fail(key, f"{{{name}}} is the portal log-in; it may only be the value of "
                         f"a 'fill' step (a field on the payer's own site), never {where}")


def _parse_step(v: _V, raw: Any, key: str, known: frozenset[str] | set[str],
                base: str) -> Step:
    step = v.mapping(raw, key)
    guard = ""
    if "if_present" in step:
        guard = v.string(step, "if_present", key)
    if "steps" in step:  # a block: {if_present: SEL, steps: [...]}
        v.unknown(step, {"if_present", "steps"}, key)
        if not guard:
            raise v.fail(f"{key}.if_present", "a block of steps needs if_present: SELECTOR")
        inner_raw = step["steps"]
        if not isinstance(inner_raw, list) or not inner_raw:
            raise v.fail(f"{key}.steps", "must be a non-empty list of steps")
        inner = tuple(_parse_step(v, s, f"{key}.steps[{i}]", known, base)
                      for i, s in enumerate(inner_raw))
        return Step("block", selector=guard, where=key, if_present=guard, steps=inner)
    actions = [a for a in STEP_ACTIONS if a in step]
    if len(actions) != 1:
        raise v.fail(key, "a step has exactly one of: " + ", ".join(STEP_ACTIONS)
                      + " (or if_present with steps)")
    action = actions[0]
    v.unknown(step, {action, "if_present"}, key)
    body = step[action]
    where = f"{key}.{action}"
    if action == "goto":
        if not isinstance(body, str) or not body.strip():
            raise v.fail(where, "must be a path (relative to portal.url) or a URL")
        _check_placeholders(v, body, where, known)
        _refuse_secrets(v, body, where, "in a URL")
        if origin_of(urljoin(base, body.replace("{", "").replace("}", ""))) != origin_of(base):
            raise v.fail(where, "leaves the portal's site (" + origin_of(base) + "); a goto "
                         "is a path on the portal or a URL on the same origin")
        return Step("goto", value=body, where=where, if_present=guard)
    if action in ("click", "check", "expect") and isinstance(body, str):
        body = {"selector": body}
    body = v.mapping(body, where)
    allowed = {"selector"}
    if action in ("fill", "select"):
        allowed.add("value")
    if action == "click":
        allowed.add("navigates")
    v.unknown(body, allowed, where)
    selector = v.string(body, "selector", where)
    value = ""
    if action in ("fill", "select"):
        value = v.string(body, "value", where)
        _check_placeholders(v, value, f"{where}.value", known)
        if action != "fill":
            _refuse_secrets(v, value, f"{where}.value", f"in a '{action}' step")
    navigates = body.get("navigates", action == "click")
    if not isinstance(navigates, bool):
        raise v.fail(f"{where}.navigates", "must be true or false")
    return Step(action, selector=selector, value=value, navigates=navigates, where=where,
                if_present=guard)


def _parse_value_spec(v: _V, raw: Any, key: str, fields: dict[str, FieldSpec], *,
                      dates: bool) -> ValueSpec | None:
    if raw is None:
        return None
    spec = v.mapping(raw, key)
    v.unknown(spec, {"field", "regex", "formats"} if dates else {"field", "regex"}, key)
    field_name = v.string(spec, "field", key)
    if field_name not in fields:
        raise v.fail(f"{key}.field", f"names no extracted field (have: {', '.join(fields)})")
    regex = v.string(spec, "regex", key, required=False)
    if regex:
        v.regex(regex, f"{key}.regex", groups=True)
    formats: tuple[str, ...] = ()
    if dates:
        raw_formats = spec.get("formats", ["%m/%d/%Y"])
        if isinstance(raw_formats, str):
            raw_formats = [raw_formats]
        if not isinstance(raw_formats, list) or not raw_formats or not all(
                isinstance(f, str) and "%m" in f and "%d" in f for f in raw_formats):
            raise v.fail(f"{key}.formats", "must list strptime formats with %m and %d")
        formats = tuple(raw_formats)
    return ValueSpec(field=field_name, regex=regex, formats=formats)


def _parse_kind(v: _V, kind: str, raw: Any, known: frozenset[str] | set[str],
                base: str) -> KindSpec:
    key = f"kinds.{kind}"
    spec = v.mapping(raw, key)
    v.unknown(spec, {"steps", "sentinels", "not_found", "row", "fields", "status", "units",
                     "valid_from", "valid_through", "wording", "optional"}, key)
    steps_raw = spec.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise v.fail(f"{key}.steps", "must be a non-empty list of steps")
    steps = tuple(_parse_step(v, s, f"{key}.steps[{i}]", known, base)
                  for i, s in enumerate(steps_raw))
    sentinels = v.selectors(spec.get("sentinels"), f"{key}.sentinels")
    if not sentinels:
        raise v.fail(f"{key}.sentinels", "at least one sentinel proves the result page")
    not_found = v.selectors(spec.get("not_found"), f"{key}.not_found")
    row, row_contains = "", ""
    if spec.get("row") is not None:
        row_raw = spec["row"]
        if isinstance(row_raw, str):
            row_raw = {"selector": row_raw}
        row_map = v.mapping(row_raw, f"{key}.row")
        v.unknown(row_map, {"selector", "contains"}, f"{key}.row")
        row = v.string(row_map, "selector", f"{key}.row")
        row_contains = v.string(row_map, "contains", f"{key}.row", required=False)
        _check_placeholders(v, row_contains, f"{key}.row.contains", known)
        _refuse_secrets(v, row_contains, f"{key}.row.contains", "in a row match")
    fields_raw = v.mapping(spec.get("fields"), f"{key}.fields")
    fields: dict[str, FieldSpec] = {}
    for fname, fraw in fields_raw.items():
        fkey = f"{key}.fields.{fname}"
        if not isinstance(fname, str) or not _NAME.match(fname):
            raise v.fail(fkey, "field names use lower-case letters, digits and '_'")
        if isinstance(fraw, str):
            fraw = {"selector": fraw}
        fmap = v.mapping(fraw, fkey)
        v.unknown(fmap, {"selector", "attr", "regex", "required"}, fkey)
        regex = v.string(fmap, "regex", fkey, required=False)
        if regex:
            v.regex(regex, f"{fkey}.regex", groups=True)
        required = fmap.get("required", True)
        if not isinstance(required, bool):
            raise v.fail(f"{fkey}.required", "must be true or false")
        fields[fname] = FieldSpec(selector=v.string(fmap, "selector", fkey),
                                  attr=v.string(fmap, "attr", fkey, required=False),
                                  regex=regex, required=required)
    status = v.mapping(spec.get("status"), f"{key}.status")
    v.unknown(status, {"field", "map"}, f"{key}.status")
    status_field = v.string(status, "field", f"{key}.status")
    if status_field not in fields:
        raise v.fail(f"{key}.status.field", f"names no extracted field "
                     f"(have: {', '.join(fields)})")
    map_raw = status.get("map")
    if not isinstance(map_raw, list) or not map_raw:
        raise v.fail(f"{key}.status.map", "must list {match: regex, status: name} rules")
    rules = []
    allowed_statuses = KIND_STATUSES[kind]
    for i, rule_raw in enumerate(map_raw):
        rkey = f"{key}.status.map[{i}]"
        rule = v.mapping(rule_raw, rkey)
        v.unknown(rule, {"match", "status"}, rkey)
        match = v.regex(v.string(rule, "match", rkey), f"{rkey}.match")
        normalized = v.string(rule, "status", rkey)
        normalized = STATUS_ALIASES.get(kind, {}).get(normalized, normalized)
        if normalized not in allowed_statuses:
            raise v.fail(f"{rkey}.status", f"{normalized!r} is not a normalized {kind} status; "
                         "one of: " + ", ".join(allowed_statuses))
        rules.append(StatusRule(match, normalized))
    optional = v.selectors(spec.get("optional"), f"{key}.optional")
    for name in optional:
        if name not in set(LOOKUP_OF.values()):
            raise v.fail(f"{key}.optional", f"{name!r} is not a look-up value; one of: "
                         + ", ".join(dict.fromkeys(LOOKUP_OF.values())))
    wording_field = v.string(spec, "wording", key, required=False) or status_field
    if wording_field not in fields:
        raise v.fail(f"{key}.wording", f"names no extracted field (have: {', '.join(fields)})")
    return KindSpec(
        kind=kind, steps=steps, sentinels=sentinels, not_found=not_found, row=row,
        row_contains=row_contains, fields=fields, status_field=status_field,
        status_map=tuple(rules), wording_field=wording_field, optional=optional,
        units=_parse_value_spec(v, spec.get("units"), f"{key}.units", fields, dates=False),
        valid_from=_parse_value_spec(v, spec.get("valid_from"), f"{key}.valid_from", fields,
                                     dates=True),
        valid_through=_parse_value_spec(v, spec.get("valid_through"), f"{key}.valid_through",
                                        fields, dates=True))
