"""Clinical claims in free text: which symptoms, conditions, body sites and injuries a
text names, and whether it says the patient has them or not (NegEx-style negation).

The vocabulary is resources/clinical_vocabulary/ (ICD-10-CM words, public domain, plus a
curated list of everyday words and body sites; see the README there). Negation triggers
are medspaCy's ConText rule literals (MIT). We match words and triggers ourselves rather
than run medspaCy: it brings a whole spaCy pipeline (spaCy, thinc, PyRuSH and their
native dependencies, none installed here, so its speed was not measured) for a job that
this matcher does on an intake form in about 1 ms (measured on tests/fixtures/intake/
base.txt; a 200k-character source takes about 1 s, see test_clinical_claims.py), and
its rules are data we can read and test: the trigger lists are the same.

A mention is a run of clinical words, joined across small connectors ("pain in the left
knee"). Its polarity is negated when a forward trigger ("denies", "no") precedes it in
the same clause, or a backward trigger (": none", "- no") follows it before a comma.
"""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass
from functools import lru_cache

import yaml

from local_models.prompts import resources_dir

# Size limits: texts longer than these are only read up to the limit; grounding treats
# anything past it as absent, which can only fail a claim, never pass one.
MAX_SOURCE_CHARS = 200_000
MAX_OUTPUT_CHARS = 20_000
FORWARD_SCOPE_WORDS = 12  # "denies chest pain, shortness of breath, nausea or fever"
BACKWARD_SCOPE_WORDS = 6  # "Chest pain: no"
MAX_SPANS = 8  # source highlights kept per claim

_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*[A-Za-z]|[A-Za-z]")
# Words that may sit inside one mention between two clinical words.
_CONNECTORS = frozenset("of in on the to at her his their a an".split())
_CLAUSE_END = re.compile(r"[.;!?\n]|\s{3,}|\t")
_BACKWARD_END = re.compile(r"[^\S\n]*(?:[\n,;.)]|$)|[ ]{2,}|\t")


@dataclass(frozen=True)
class Mention:
    """A clinical term in a text: its canonical words, kind and polarity."""

    text: str
    start: int
    end: int
    kind: str  # symptom | condition | body_site | injury
    words: frozenset[str]
    negated: bool
    line: int  # index of the line (source segment) it is on


def _word_file(name: str) -> set[str]:
    text = (resources_dir() / "clinical_vocabulary" / name).read_text(encoding="utf-8")
    return {w.strip().lower() for w in text.splitlines() if w.strip() and
            not w.startswith("#")}


@lru_cache(maxsize=1)
def not_clinical() -> frozenset[str]:
    return frozenset(_word_file("not_clinical.txt"))


@lru_cache(maxsize=1)
def _curated() -> dict[str, object]:
    data = yaml.safe_load((resources_dir() / "clinical_vocabulary" / "curated.yaml")
                          .read_text(encoding="utf-8"))
    return dict(data)


@lru_cache(maxsize=1)
def same_as() -> dict[str, str]:
    table = _curated().get("same_as") or {}
    assert isinstance(table, dict)
    return {str(k).lower(): str(v).lower() for k, v in table.items()}


def _singulars(w: str) -> list[str]:
    out = []
    if len(w) > 4 and w.endswith("ies"):
        out.append(w[:-3] + "y")
    if len(w) > 4 and w.endswith("es"):
        out.append(w[:-2])
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        out.append(w[:-1])
    return out


def canonical(word: str) -> str:
    """A word's canonical form: lower case, possessive dropped, a plural made singular
    when the singular is a known word ("knees" -> "knee", but "diabetes" stays), and
    synonyms merged ("Allergies" -> "allergy")."""
    w = word.lower().strip("'-")
    if w.endswith("'s"):
        w = w[:-2]
    table = same_as()
    if w in table:
        return table[w]
    known = _raw_vocabulary()
    if w not in known or w.endswith("s"):
        for single in _singulars(w):
            if single in known:
                return table.get(single, single)
    return w


@lru_cache(maxsize=1)
def _raw_vocabulary() -> dict[str, str]:
    """Every clinical word as written in the lists -> its kind (curated kinds win)."""
    vocab: dict[str, str] = {}
    stop = not_clinical()
    for name, kind in (("conditions.txt", "condition"), ("symptoms.txt", "symptom")):
        for w in _word_file(name):
            if w not in stop:
                vocab[w] = kind
    for kind, key in (("body_site", "body_sites"), ("symptom", "symptoms"),
                      ("injury", "injuries"), ("condition", "conditions")):
        words = _curated().get(key) or []
        assert isinstance(words, list)
        for w in words:
            vocab[str(w).lower()] = kind
    return vocab


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, str]:
    """Canonical clinical word -> its kind."""
    vocab: dict[str, str] = {}
    for w, kind in _raw_vocabulary().items():
        vocab.setdefault(canonical(w), kind)
    for alias, target in same_as().items():
        vocab.setdefault(target, _raw_vocabulary().get(alias, "condition"))
    return vocab


def clinical_kind(word: str) -> str | None:
    w = word.lower()
    if w in not_clinical() or len(w) < 2:
        return None
    return vocabulary().get(canonical(w))


@lru_cache(maxsize=1)
def _triggers() -> dict[str, re.Pattern[str]]:
    data = yaml.safe_load((resources_dir() / "clinical_vocabulary" / "negation_triggers.yaml")
                          .read_text(encoding="utf-8"))
    out: dict[str, re.Pattern[str]] = {}
    for direction in ("forward", "backward", "terminate"):
        phrases = {str(p).strip().lower() for group in data.values()
                   for p in (group.get(direction) or [])}
        phrases.discard("")
        alts = []
        for p in sorted(phrases, key=len, reverse=True):
            body = re.escape(p).replace(r"\ ", r"\s+")
            left = r"(?<![A-Za-z0-9])" if p[0].isalnum() else ""
            right = r"(?![A-Za-z0-9])" if p[-1].isalnum() else ""
            alts.append(left + body + right)
        out[direction] = re.compile("|".join(alts), re.I)
    return out


def _inside(spans: list[tuple[int, int]], starts: list[int], pos: int) -> int:
    """Index of a span (sorted, non-overlapping) that holds pos, or -1."""
    i = bisect.bisect_right(starts, pos) - 1
    return i if i >= 0 and spans[i][0] <= pos < spans[i][1] else -1


def _negation_scopes(text: str) -> list[tuple[int, int]]:
    """Character ranges whose clinical words are negated. Every look-up is a bisect or
    bounded by the scope limits, so a 200k-character source stays linear."""
    trig = _triggers()
    scopes: list[tuple[int, int]] = []
    clause_ends = [m.start() for m in _CLAUSE_END.finditer(text)] + [len(text)]
    terminators = [m.start() for m in trig["terminate"].finditer(text)] + [len(text)]
    commas = [i for i, ch in enumerate(text) if ch == ","]
    # A backward trigger ends its clause ("Chest pain: no", "Numbness: denies"); one with
    # more words after it ("ROS: denies chest pain") is read forward instead.
    backward: list[re.Match[str]] = []
    pos = 0
    while pos < len(text):  # overlapping: ": none reported" holds ": none" and "none reported"
        m = trig["backward"].search(text, pos)
        if m is None:
            break
        if _BACKWARD_END.match(text, m.end()):
            backward.append(m)
        pos = m.start() + 1
    # ": no" is a backward trigger; the bare "no" inside it must not also look forward.
    # Backward matches overlap, so keep the longest one per start for this test.
    longest: dict[int, int] = {}
    for b in backward:
        longest[b.start()] = max(longest.get(b.start(), 0), b.end())
    b_spans = sorted(longest.items())
    b_starts = [a for a, _e in b_spans]

    def in_longer_backward(m: re.Match[str]) -> bool:
        i = bisect.bisect_right(b_starts, m.start()) - 1
        # the nearest few starts before m can hold it (backward triggers are short)
        for a, e in b_spans[max(0, i - 3):i + 1]:
            if a <= m.start() < e and e - a > m.end() - m.start():
                return True
        return False

    forward = [m for m in trig["forward"].finditer(text) if not in_longer_backward(m)]
    taken = [(m.start(), m.end()) for m in forward]
    taken_starts = [a for a, _e in taken]
    for m in forward:
        end = min(clause_ends[bisect.bisect_left(clause_ends, m.end())],
                  terminators[bisect.bisect_left(terminators, m.end())])
        for n, word in enumerate(_WORD.finditer(text, m.end(), end), 1):
            if n == FORWARD_SCOPE_WORDS:
                end = word.end()
                break
        scopes.append((m.end(), end))
    for m in backward:
        if _inside(taken, taken_starts, m.start()) >= 0:
            continue  # part of a forward trigger ("no known")
        start = 0
        i = bisect.bisect_left(clause_ends, m.start()) - 1
        if i >= 0:
            start = clause_ends[i] + 1
        i = bisect.bisect_left(commas, m.start()) - 1
        if i >= 0:
            start = max(start, commas[i] + 1)
        i = bisect.bisect_left(terminators, m.start()) - 1
        if i >= 0:
            start = max(start, terminators[i])
        # at most BACKWARD_SCOPE_WORDS words back, read from a bounded window
        window = max(start, m.start() - 40 * BACKWARD_SCOPE_WORDS)
        words = list(_WORD.finditer(text, window, m.start()))
        if len(words) > BACKWARD_SCOPE_WORDS or window > start:
            start = words[-min(len(words), BACKWARD_SCOPE_WORDS)].start() if words else m.start()
        scopes.append((start, m.start()))
    return scopes


def _negated_positions(text: str, scopes: list[tuple[int, int]]) -> list[bool]:
    """For each character, whether a negation scope covers it (a prefix sum, not a scan
    of every scope per mention)."""
    delta = [0] * (len(text) + 1)
    for a, b in scopes:
        if b > a:
            delta[a] += 1
            delta[b] -= 1
    out: list[bool] = []
    depth = 0
    for d in delta[:-1]:
        depth += d
        out.append(depth > 0)
    return out


def mentions(text: str, limit: int = MAX_SOURCE_CHARS) -> list[Mention]:
    """Clinical mentions in text (read up to `limit` characters), in order."""
    text = text[:limit]
    negated_at = _negated_positions(text, _negation_scopes(text))
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]
    found: list[Mention] = []
    run: list[re.Match[str]] = []
    pending: list[re.Match[str]] = []  # connectors after the last clinical word

    def close() -> None:
        if not run:
            return
        start, end = run[0].start(), run[-1].end()
        kinds = [clinical_kind(m.group()) for m in run]
        words = frozenset(canonical(m.group()) for m, k in zip(run, kinds) if k)
        kind = next((k for k in ("symptom", "injury", "condition", "body_site")
                     if k in kinds), "condition")
        found.append(Mention(text[start:end], start, end, kind, words, negated_at[start],
                             bisect.bisect_left(newlines, start)))
        run.clear()

    for m in _WORD.finditer(text):
        if run and _CLAUSE_END.search(text, run[-1].end(), m.start()) is not None:
            close()
            pending.clear()
        if run and re.search(r"[,:()\[\]/]", text[run[-1].end():m.start()]):
            close()
            pending.clear()
        if clinical_kind(m.group()):
            run.extend(pending)
            pending.clear()
            run.append(m)
        elif run and m.group().lower() in _CONNECTORS and len(pending) < 3:
            pending.append(m)
        else:
            close()
            pending.clear()
    close()
    return found


@dataclass(frozen=True)
class ClaimCheck:
    mention: Mention
    grounded: bool
    reason: str  # empty when grounded
    source_spans: tuple[tuple[int, int], ...] = ()


def check_claims(text: str, source: str, *, noun: str = "the summary",
                 where: str = "the form") -> list[ClaimCheck]:
    """Every clinical mention in `text` must be said, with the same polarity, on one line
    of `source` (so 'knee' and 'pain' from two unrelated lines do not ground 'knee
    pain'). Reasons are sentences for the reviewer."""
    if len(text) > MAX_OUTPUT_CHARS:
        whole = Mention(text[:40], 0, len(text), "condition", frozenset(), False, 0)
        return [ClaimCheck(whole, False, f"{noun} is too long to check "
                           f"({len(text)} characters)")]
    src_mentions = mentions(source)
    # (line, polarity) -> its words and mentions; word -> the (line, polarity) keys
    seg_words: dict[tuple[int, bool], set[str]] = {}
    seg_mentions: dict[tuple[int, bool], list[Mention]] = {}
    by_word: dict[str, set[tuple[int, bool]]] = {}
    for sm in src_mentions:
        key = (sm.line, sm.negated)
        seg_words.setdefault(key, set()).update(sm.words)
        seg_mentions.setdefault(key, []).append(sm)
        for w in sm.words:
            by_word.setdefault(w, set()).add(key)
    out: list[ClaimCheck] = []
    for m in mentions(text, MAX_OUTPUT_CHARS):
        keys: set[tuple[int, bool]] | None = None
        for w in m.words:
            keys = set(by_word.get(w, set())) if keys is None else keys & by_word.get(w, set())
        keys = keys or set()
        same = [k for k in keys if k[1] == m.negated]
        if same:  # a few highlights are enough for the reviewer
            spans = tuple(itertools.islice(((sm.start, sm.end) for k in sorted(same)
                                            for sm in seg_mentions[k] if sm.words & m.words),
                                           MAX_SPANS))
            out.append(ClaimCheck(m, True, "", spans))
            continue
        opposite = any(k[1] != m.negated for k in keys)
        if opposite and m.negated:
            reason = (f"{noun} says the patient does not have '{m.text}', but {where} "
                      "says they do")
        elif opposite:
            reason = f"{noun} names '{m.text}', which {where} says the patient does not have"
        else:
            reason = f"{noun} names '{m.text}', which {where} does not say"
        out.append(ClaimCheck(m, False, reason))
    return out


def allergy_segments(source: str) -> list[tuple[int, int]]:
    """Where the source lists allergies: each line naming an allergy, and the bullet or
    indented lines right under it."""
    out: list[tuple[int, int]] = []
    lines = source[:MAX_SOURCE_CHARS].split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    allergy_lines = {m.line for m in mentions(source) if "allergy" in m.words}
    for i in sorted(allergy_lines):
        end = i
        while end + 1 < len(lines) and re.match(r"[ \t]+\S|[ \t]*[-*\u2022]", lines[end + 1]):
            end += 1
        out.append((offsets[i], offsets[end] + len(lines[end])))
    return out
