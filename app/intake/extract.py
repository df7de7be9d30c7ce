"""Deterministic extraction of labelled values from intake source text.

One pass finds every known label followed by a colon, anywhere on a line (PDF text often
puts "DOB: ... Sex: ..." on one line); a value runs to the next label or the end of the
line. A list label with nothing after it takes the bullet or indented lines below it.
Every value keeps the character span where it was found. Values are returned as written;
the workflow normalises dates and phone numbers and checks every value against the source.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field

from app.domain.intake import LIST_FIELDS, IntakeValue, Span

LABELS: dict[str, list[str]] = {
    "first_name": ["patient first name", "first name", "given name"],
    "last_name": ["patient last name", "last name", "surname", "family name"],
    "full_name": ["patient name", "patient's name", "full name", "legal name", "name"],
    "dob": ["date of birth", "birth date", "birthdate", "d.o.b.", "dob"],
    "sex": ["sex at birth", "sex", "gender"],
    "address": ["home address", "street address", "mailing address", "address"],
    "phone": ["cell phone", "mobile phone", "home phone", "primary phone", "phone number",
              "telephone", "phone", "cell", "mobile"],
    "email": ["email address", "e-mail address", "e-mail", "email"],
    "insurance": ["primary insurance", "insurance company", "insurance carrier",
                  "insurance plan", "insurance name", "health plan", "insurance", "payer",
                  "carrier"],
    "member_id": ["member id", "member number", "member #", "subscriber id", "policy number",
                  "policy #", "policy id", "insurance id", "id number"],
    "group_number": ["group number", "group #", "group id", "group no.", "group"],
    # Who holds the policy: labels about the subscriber as a whole, so the patient's own
    # "date of birth" after "Subscriber's" is still skipped (_OTHER_PERSON) for `dob`.
    "subscriber_name": ["subscriber name", "subscriber's name", "name of subscriber",
                        "insured's name", "insured name", "name of insured",
                        "policy holder name", "policyholder name", "policy holder's name",
                        "policyholder's name"],
    "subscriber_dob": ["subscriber date of birth", "subscriber's date of birth",
                       "subscriber dob", "subscriber's dob", "insured's date of birth",
                       "insured date of birth", "insured's dob", "policy holder date of birth",
                       "policyholder date of birth", "policyholder's date of birth",
                       "policy holder's date of birth", "policyholder dob"],
    "subscriber_relationship": ["patient's relationship to subscriber",
                                "patient relationship to subscriber",
                                "patient's relationship to insured",
                                "patient relationship to insured", "relationship to subscriber",
                                "relationship to insured", "relationship to policy holder",
                                "relationship to policyholder"],
    "reason": ["reason for today's visit", "reason for your visit", "reason for visit",
               "reason for appointment", "chief complaint", "visit reason",
               "reason for today’s visit"],
    "medications": ["current medications", "medication list", "current meds", "medications",
                    "medication", "meds"],
    "allergies": ["allergies to medications", "medication allergies", "drug allergies",
                  "known allergies", "allergies"],
    "problems": ["past medical history", "medical problems", "medical conditions",
                 "medical history", "health problems", "problem list", "conditions",
                 "diagnoses", "problems"],
    "smoking": ["smoking status", "tobacco use", "do you smoke", "smoking", "tobacco",
                "smoker"],
    "last_screenings": ["last screenings", "last screening", "preventive screenings",
                        "last mammogram", "last colonoscopy", "last pap smear", "last pap",
                        "last physical", "last flu shot", "last a1c", "last eye exam"],
}
# Screening labels whose label words are part of the value ("Last mammogram: 05/2024").
_KEEP_LABEL = re.compile(r"^last (mammogram|colonoscopy|pap|physical|flu|a1c|eye)", re.I)
# Every pattern below is written so that no two parts can match the same run of text:
# with `\s*\.?\s*` or `\s*(...)?\s*`, a long run of spaces that does not end the
# way the pattern wants is retried split every way (quadratic; 2 MB never finished).
NONE_WORDS = re.compile(r"^\s*(none|none known|no|nkda|nka|n/?a|no known (drug )?allergies|"
                        r"denies|not applicable|-+)\s*(?:\.\s*)?$", re.I)

_ALL = sorted(((label, name) for name, labels in LABELS.items() for label in labels),
              key=lambda item: len(item[0]), reverse=True)
_LABEL_FIELD = {label.lower(): name for label, name in _ALL}
# Every label starts with a letter: the look-ahead lets a position that is not one skip
# the ~100 alternatives at once (1 MB of spaces: 1.6 s without it, 0.1 s with it).
_LABEL_RE = re.compile(
    r"(?<![A-Za-z0-9])(?=[A-Za-z])(" + "|".join(re.escape(label).replace(r"\ ", r"\s+")
                                     for label, _ in _ALL) + r")"
    r"\s*(?:\([^)\n]{0,40}\)\s*)?:[ \t]*", re.I)
_BLANK = re.compile(r"[\s_.:\-/\\]*")  # "___", "/  /" and "\\  \\" are blanks to fill in
# Printed forms, left blank, put words after a label that are not answers (the Gilman
# forms): the name's own parts ("Last  First  M.I."), the choices ("M  F"), the qualifier
# of the next label ("Work" of "Work Phone:"), an instruction ("(Include dosage...)",
# "List drug and reaction:"), or a blank underline and then the next sentence.
_NAME_PARTS = frozenset({"last", "first", "middle", "m.i.", "mi", "m.i", "initial", "name",
                         "given", "family", "surname", "suffix", "jr/sr"})
_CHOICES = frozenset({"m", "f", "male", "female", "x", "other", "y", "n", "yes", "no",
                      "single", "married"})
_QUALIFIER = (r"(?:work|home|cell|mobile|daytime|evening|other|primary|secondary|patient|"
              r"subscriber|spouse|guarantor|parent|guardian|emergency|insured|employer|"
              r"pharmacy|physician|doctor|referring|policy\s*holder|responsible\s+party)"
              r"(?:['\u2019]s)?")
_TRAILING_QUALIFIER = re.compile(r"(?<!\S)" + _QUALIFIER + r"\s*$", re.I)
# A label about someone else: "Subscriber's Date of Birth:", "Pharmacy Name:".
_OTHER_PERSON = re.compile(r"(?:subscriber|spouse|guarantor|parent|guardian|emergency\s+"
                           r"contact|insured|employer|pharmacy|physician|doctor|referring|"
                           r"policy\s*holder|responsible\s+party)(?:['\u2019]s)?[ \t]+$",
                           re.I)
_INSTRUCTION = re.compile(r"^(?:\(.*\)|(?:list|include|please|circle|check|describe|explain|"
                          r"specify|print|indicate|if\s+(?:yes|no|so|applicable))\b.*)$",
                          re.I | re.S)
_PROMPT_BLANK = re.compile(r"^[ \t]*_{3,}[ \t]+[^\s_]|\?[ \t]*_{3,}")
_URL = re.compile(r"^(?:www\.|https?://)", re.I)


def _template_text(name: str, value: str, raw: str) -> bool:
    """True when a value read from a printed form is the form's own words, not an answer."""
    words = [w for w in re.split(r"[\s/]+", value.lower()) if w]
    if name == "full_name" and words and all(w in _NAME_PARTS for w in words):
        return True
    if len(words) >= 2 and all(w.strip(".,()[]") in _CHOICES for w in words):
        return True
    if name == "address" and _URL.match(value):
        return True
    if name in ("phone", "dob", "subscriber_dob") and not any(c.isdigit() for c in value):
        return True  # "ext." after a phone line, "Age" after a date of birth
    return bool(_INSTRUCTION.match(value) or _PROMPT_BLANK.search(raw))
_BULLET = re.compile(r"^[ \t]*(?:[-*\u2022\u25aa\u25cf]|\d{1,2}[.)])[ \t]+(\S(?:.*\S)?)[ \t]*$")
_SEPARATOR = re.compile(r"[.!?;]\s+|[ ]{2,}|\t")
_LEADING_BLANK = re.compile(r"[\s_]*")


def _only_labels(value: str) -> bool:
    r"""True for the next column's labels with no answers ("Sex: ___ Phone:"): what the
    regex (?:[^:\n]{1,25}:[\s_]*)+ matches in full, decided piece by piece between the
    colons, because that regex backtracks exponentially (18 short labels took 44 s)."""
    pieces = value.split(":")
    if len(pieces) < 2 or not _LEADING_BLANK.fullmatch(pieces[-1]):
        return False
    first = pieces[0]
    if not 1 <= len(first) <= 25 or "\n" in first:
        return False
    for piece in pieces[1:-1]:
        rest = piece[_LEADING_BLANK.match(piece).end():]  # type: ignore[union-attr]
        if not rest:  # all blank: the label is its last character
            if not piece or piece[-1] == "\n":
                return False
        elif len(rest) > 25 or "\n" in rest:
            return False
    return True


@dataclass
class Occurrence:
    """One labelled answer on the form (a list label may hold several items)."""

    field: str
    items: list[IntakeValue]
    none: bool  # answered "none" / "NKDA"
    line: Span  # the label through the end of the value
    stated: IntakeValue | None = None  # the "none" answer as written, with its span

    def key(self) -> tuple[str, ...]:
        return ("<none>",) if self.none else tuple(
            " ".join(v.value.lower().split()) for v in self.items)


@dataclass
class Extraction:
    values: list[IntakeValue] = field(default_factory=list)
    answered: set[str] = field(default_factory=set)  # fields present on the form
    none_reported: set[str] = field(default_factory=set)  # answered "none"/"NKDA"
    stated_none: list[IntakeValue] = field(default_factory=list)  # those answers, as written
    conflicts: list[Occurrence] = field(default_factory=list)  # later, different answers
    dropped: list[Occurrence] = field(default_factory=list)  # labels inside instructions
    suspect: list[IntakeValue] = field(default_factory=list)  # answers cut before one


def _strip_span(text: str, start: int, end: int) -> Span:
    while start < end and text[start] in " \t,;._":
        start += 1
    while end > start and text[end - 1] in " \t,;_":
        end -= 1
    if end > start and text[end - 1] == "." and not re.search(r"\b[A-Z]\.$|\d\.$|\.\w+\.$",
                                                             text[start:end]):
        end -= 1
    return start, end


def _split_items(text: str, start: int, end: int) -> list[Span]:
    spans = []
    pos = start
    for m in re.finditer(r"[;,\n]", text[start:end]):
        spans.append(_strip_span(text, pos, start + m.start()))
        pos = start + m.end()
    spans.append(_strip_span(text, pos, end))
    return [s for s in spans if s[1] > s[0]]


def _name_parts(text: str, start: int, end: int) -> list[tuple[str, Span]]:
    value = text[start:end]
    if "," in value:  # "Last, First M."
        last_end = start + value.index(",")
        first = _strip_span(text, last_end + 1, end)
        first_word = re.match(r"\S+", text[first[0]:first[1]])
        parts = [("last_name", _strip_span(text, start, last_end))]
        if first_word:
            parts.append(("first_name", (first[0], first[0] + first_word.end())))
        return parts
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"[^\s]+", value)]
    words = [w for w in words if not re.fullmatch(r"[A-Z]\.?", text[w[0]:w[1]])]
    if len(words) < 2:
        return [("last_name", _strip_span(text, start, end))] if words else []
    return [("first_name", words[0]), ("last_name", _strip_span(text, *words[-1]))]


def _occurrences(text: str) -> list[Occurrence]:
    out: list[Occurrence] = []
    matches = list(_LABEL_RE.finditer(text))
    line_end = -1
    for i, m in enumerate(matches):
        label = " ".join(m.group(1).lower().replace("\u2019", "'").split())
        name = _LABEL_FIELD.get(label, "")
        if not name:
            continue
        if line_end < m.end():  # labels on one line share its end: one search per line
            line_end = text.find("\n", m.end())
            line_end = len(text) if line_end < 0 else line_end
        next_start = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        if _OTHER_PERSON.search(text, max(m.start() - 40, 0, text.rfind("\n", 0, m.start())),
                                m.start()):
            continue  # the subscriber's or the pharmacy's, not the patient's
        stop = min(line_end, next_start)
        if next_start < line_end:  # "Cell Phone: ___ Work Phone:": "Work" is the next label's
            tail = _TRAILING_QUALIFIER.search(text, m.end(), stop)
            if tail:
                stop = tail.start()
        v_start, v_end = _strip_span(text, m.end(), stop)
        if v_end <= v_start:
            if name in LIST_FIELDS and next_start > line_end:
                spans = _list_below(text, line_end, next_start)
                if spans:
                    out.append(Occurrence(name, [IntakeValue(name, text[a:b], "labelled_line",
                                                             [(a, b)]) for a, b in spans],
                                          False, (m.start(), spans[-1][1])))
            continue
        value = text[v_start:v_end]
        if _BLANK.fullmatch(value) or _only_labels(value) or _template_text(
                name, value, text[m.end():stop]):
            continue  # a blank line on a printed form, the next column's labels, its words
        line = (m.start(), v_end)
        if name in LIST_FIELDS and NONE_WORDS.match(value):
            out.append(Occurrence(name, [], True, line, IntakeValue(
                name, value, "labelled_line", [(v_start, v_end)])))
        elif name == "full_name":
            for part, span in _name_parts(text, v_start, v_end):
                out.append(Occurrence(part, [IntakeValue(part, text[span[0]:span[1]],
                                                         "labelled_line", [span])], False, line))
        elif name == "last_screenings" and _KEEP_LABEL.match(label):
            out.append(Occurrence(name, [IntakeValue(name, text[m.start():v_end],
                                                     "labelled_line", [line])], False, line))
        elif name in LIST_FIELDS:
            out.append(Occurrence(name, [IntakeValue(name, text[a:b], "labelled_line", [(a, b)])
                                         for a, b in _split_items(text, v_start, v_end)],
                                  False, line))
        else:
            out.append(Occurrence(name, [IntakeValue(name, value, "labelled_line",
                                                     [(v_start, v_end)])], False, line))
    return out


def _cut_points(text: str, starts: list[int]) -> list[Span]:
    """For each instruction start (ascending): where the instruction begins (its sentence
    or column on the line) and where its line ends; the rest of that line is the
    instruction's. Each line is scanned once however many instructions it holds."""
    out: list[Span] = []
    line_start, line_end = -1, -1
    ends: list[int] = []
    for start in starts:
        if start > line_end or line_start < 0:
            line_start = text.rfind("\n", 0, start) + 1
            line_end = text.find("\n", start)
            line_end = len(text) if line_end < 0 else line_end
            ends = [m.end() for m in _SEPARATOR.finditer(text, line_start, line_end)]
        # the last separator that ends at or before the start (as if the line stopped there)
        k = bisect_right(ends, start)
        cut = ends[k - 1] if k else line_start
        out.append((cut, line_end))
    return out


class _Cuts:
    """The instructions' [cut, line end] ranges, sorted, for O(log n) look-ups."""

    def __init__(self, cuts: list[Span]) -> None:
        self.cuts = sorted(cuts)
        self.starts = [c for c, _e in self.cuts]
        self.reach: list[int] = []  # the furthest end among ranges starting at or before
        furthest = -1
        for _c, end in self.cuts:
            furthest = max(furthest, end)
            self.reach.append(furthest)

    def covers(self, pos: int) -> bool:
        k = bisect_right(self.starts, pos)
        return k > 0 and pos <= self.reach[k - 1]

    def next_after(self, pos: int) -> int | None:
        k = bisect_right(self.starts, pos)
        return self.starts[k] if k < len(self.starts) else None


def extract(text: str, markers: list[Span] | None = None) -> Extraction:
    """Labelled values, first answer per field wins (later different answers are reported
    as conflicts). `markers` are spans of instruction-like text (prompt injection): a
    label inside an instruction's sentence is ignored, and an answer that runs into an
    instruction is cut before it, so injected text can never supply or replace a value."""
    out = Extraction()
    cuts = _Cuts(_cut_points(text, sorted(start for start, _end in markers or [])))
    chosen: dict[str, Occurrence] = {}
    for occ in _occurrences(text):
        if cuts.covers(occ.line[0]):
            out.dropped.append(occ)
            continue
        kept: list[IntakeValue] = []
        trimmed = False
        for v in occ.items:
            a, b = v.spans[0]
            cut = cuts.next_after(a)
            if cuts.covers(a):
                a = b = -1
            elif cut is not None and cut < b:  # cut before the first instruction inside
                a, b = _strip_span(text, a, cut)
            if a < 0 or b <= a:
                trimmed = True
                continue
            if (a, b) != v.spans[0]:
                trimmed = True
                v = IntakeValue(v.field, text[a:b], v.origin, [(a, b)])
            kept.append(v)
        if occ.items and not kept:
            out.dropped.append(occ)
            continue
        occ = Occurrence(occ.field, kept, occ.none, occ.line, occ.stated)
        if occ.field == "last_screenings" and occ.field in chosen:
            chosen[occ.field].items.extend(occ.items)
        elif occ.field in chosen:
            if occ.key() != chosen[occ.field].key():
                out.conflicts.append(occ)
            continue
        else:
            chosen[occ.field] = occ
        if trimmed:
            out.suspect.extend(occ.items)
    for occ in chosen.values():
        out.answered.add(occ.field)
        if occ.none:
            out.none_reported.add(occ.field)
            if occ.stated is not None:
                out.stated_none.append(occ.stated)
        out.values.extend(occ.items)
    return out


def _list_below(text: str, start: int, stop: int) -> list[Span]:
    """Bullet or indented lines right under a list label, up to a blank line or a label."""
    spans: list[Span] = []
    pos = start + 1
    while pos < stop:
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        line = text[pos:min(end, stop)]
        if not line.strip():
            break
        bullet = _BULLET.match(line)
        if bullet:
            s = pos + bullet.start(1)
            spans.append(_strip_span(text, s, pos + bullet.end(1)))
        elif line[:1] in (" ", "\t"):
            spans.append(_strip_span(text, pos, pos + len(line)))
        else:
            break
        pos = end + 1
    return [s for s in spans if s[1] > s[0] and not NONE_WORDS.match(text[s[0]:s[1]])]
