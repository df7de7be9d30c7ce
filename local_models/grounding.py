"""Grounding: is every value and every claim found in the source text?

Matching is normalized (case, whitespace, dash and quote variants), dates match across
formats (03/04/1980 = 1980-03-04 = March 4, 1980), phone numbers and IDs match on their
digits/letters only, and drug names match across simple brand/generic pairs from
resources/intake/drug_names.yaml. Every match returns character spans into the source, so
the review pane can highlight where a value came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Callable, Iterable

import yaml

from local_models import clinical
from local_models.prompts import resources_dir

Span = tuple[int, int]

MONTHS = {m: i + 1 for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"])}
MONTHS.update({m[:3]: n for m, n in list(MONTHS.items())})
MONTHS["sept"] = 9
_MONTH_RE = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|" \
            r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_DATE_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"), "ymd"),
    (re.compile(r"\b(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})\b"), "mdy"),
    (re.compile(_MONTH_RE + r"\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b", re.I), "Mdy"),
    (re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTH_RE + r"\.?,?\s+(\d{4})\b", re.I),
     "dMy"),
]
_TRANS = str.maketrans({"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-",
                        "\u2014": "-", "\u2019": "'", "\u2018": "'", "\u201c": '"',
                        "\u201d": '"', "\u00a0": " "})

# Capitalised words that are ordinary English or form vocabulary, not names.
COMMON_WORDS = frozenset("""
a an and or the this that these those he she they we you i it his her their our your its
there here what when where who why how all any some each every both also but if so then
hi hello dear thanks thank please reply call text stop visit visits appointment office
takes take taking uses use using needs wants has is was reports states lists notes came
comes presents seen seeks currently recently today she he patient's
is are was were be been has have had do does did will would can could may might should
patient patients pt mr mrs ms dr doctor new existing adult reason visit reasons for of in on
at to with without by from as not no none nkda known unknown yes denies reports reported
history medical medication medications med meds allergy allergies problem problems
insurance member id dob date birth address phone summary intake form smoking smoker
never former current last screening screenings mammogram colonoscopy pap vaccine flu
primary secondary plan group name first middle policy holder today daily twice once per
mg mcg ml tablet tablets capsule as needed prn morning evening night bedtime
follow followup up also other age years old male female sex review please see note notes
information info none reported chief complaint complaints pain emergency contact
january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday
""".split())


# Words model prose may use without finding them in the form (strict mode): grammar,
# phrasing and form vocabulary. A clinical word is never exempt, whatever this list says.
PHRASING_WORDS = COMMON_WORDS | frozenset("""
about after again against already am around because been before being below between
can't cannot during few further having into itself more most my myself nor only own same
she's he's than through too under until very which while whom with within would
includes including listed lists mentions mentioned noted states stated says said written
report reporting describes described due given gives following follows including
she her hers him his they them their patient's reason's mg/day one two three four
kg lbs lb cm mm times time per every each day days week weeks month months year years
born aged lives living prefers preferred would like wants needs asks asked requests
following up follow-up seen see seeing here coming visiting presenting present presents
known reported reports denied noted list listed currently usually sometimes often
""".split())


@dataclass(frozen=True)
class Claim:
    kind: str  # number | date | drug | dose | name | clinical | allergen | word
    text: str
    start: int  # in the checked text
    end: int
    grounded: bool
    source_spans: tuple[Span, ...] = ()
    reason: str = ""  # for the reviewer, when not grounded


@dataclass
class GroundingReport:
    claims: list[Claim] = field(default_factory=list)
    injection: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.injection and all(c.grounded for c in self.claims)

    @property
    def ungrounded(self) -> list[Claim]:
        return [c for c in self.claims if not c.grounded]

    @property
    def reasons(self) -> list[str]:
        """One sentence per ungrounded claim, for the task."""
        return list(dict.fromkeys(c.reason for c in self.ungrounded if c.reason))


# -- normalization ----------------------------------------------------------------------

def _normalize_map(text: str, keep: str = "text") -> tuple[str, list[int]]:
    """Normalized text and, for each of its characters, the index in the original.
    keep='text': lowercase, one space for any whitespace run; keep='alnum': letters and
    digits only (IDs, phone numbers)."""
    out: list[str] = []
    idx: list[int] = []
    text = text.translate(_TRANS)
    prev_space = True
    for i, ch in enumerate(text):
        if keep == "alnum":
            if ch.isalnum():
                out.append(ch.lower())
                idx.append(i)
            continue
        if ch.isspace():
            if not prev_space:
                out.append(" ")
                idx.append(i)
            prev_space = True
            continue
        prev_space = False
        out.append(ch.lower())
        idx.append(i)
    return "".join(out), idx


def normalize(text: str) -> str:
    return _normalize_map(text)[0].strip()


def _boundary_ok(source: str, start: int, end: int) -> bool:
    before = source[start - 1] if start > 0 else " "
    after = source[end] if end < len(source) else " "
    first, last = source[start], source[end - 1]
    return not (first.isalnum() and before.isalnum()) and not (last.isalnum() and after.isalnum())


def _search(source: str, needle: str, keep: str) -> list[Span]:
    norm_src, idx = _normalize_map(source, keep)
    norm_needle = _normalize_map(needle, keep)[0].strip()
    if not norm_needle:
        return []
    spans: list[Span] = []
    pos = norm_src.find(norm_needle)
    while pos >= 0:
        start, end = idx[pos], idx[pos + len(norm_needle) - 1] + 1
        if _boundary_ok(source, start, end):
            spans.append((start, end))
        pos = norm_src.find(norm_needle, pos + 1)
    return spans


def find_text(source: str, value: str) -> list[Span]:
    """Whole-word, case- and whitespace-insensitive occurrences of value."""
    return _search(source, value, "text")


def find_id(source: str, value: str) -> list[Span]:
    """IDs match on letters and digits only: 'ZQM-445 5667' = 'zqm4455667'."""
    return _search(source, value, "alnum")


def find_phone(source: str, value: str) -> list[Span]:
    digits = re.sub(r"\D", "", value)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) < 7:
        return []
    spans = []
    for m in re.finditer(r"\+?[\d(][\d\s().-]{5,}\d", source):
        found = re.sub(r"\D", "", m.group())
        if len(found) == 11 and found.startswith("1"):
            found = found[1:]
        if found == digits:
            spans.append((m.start(), m.end()))
    return spans


# -- dates --------------------------------------------------------------------------------

def _year(text: str) -> int:
    y = int(text)
    if y < 100:  # two-digit years: a birth year 40+ years back is far more likely
        y += 1900 if y > date.today().year % 100 else 2000
    return y


def _month(name: str) -> int:
    name = name.lower().rstrip(".")
    return MONTHS.get(name) or MONTHS[name[:3]]


def find_dates(text: str) -> list[tuple[date, Span]]:
    found: list[tuple[date, Span]] = []
    taken: list[Span] = []
    for pattern, order in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            g = m.groups()
            try:
                if order == "ymd":
                    d = date(int(g[0]), int(g[1]), int(g[2]))
                elif order == "mdy":
                    d = date(_year(g[2]), int(g[0]), int(g[1]))
                elif order == "Mdy":
                    d = date(int(g[2]), _month(g[0]), int(g[1]))
                else:
                    d = date(int(g[2]), _month(g[1]), int(g[0]))
            except (ValueError, KeyError):
                continue
            found.append((d, (m.start(), m.end())))
            taken.append((m.start(), m.end()))
    return sorted(found, key=lambda item: item[1])


def parse_date(text: str) -> date | None:
    dates = find_dates(text.strip())
    return dates[0][0] if len(dates) == 1 else None


def find_date(source: str, value: str | date) -> list[Span]:
    wanted = value if isinstance(value, date) else parse_date(value)
    if wanted is None:
        return []
    return [span for d, span in find_dates(source) if d == wanted]


# -- drugs --------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def drug_lexicon() -> dict[str, str]:
    """Every known drug name (lowercase) -> its canonical generic name."""
    data = yaml.safe_load((resources_dir() / "intake" / "drug_names.yaml").read_text("utf-8"))
    lexicon: dict[str, str] = {}
    for generic, brands in (data.get("drugs") or {}).items():
        lexicon[str(generic).lower()] = str(generic).lower()
        for brand in brands or []:
            lexicon[str(brand).lower()] = str(generic).lower()
    return lexicon


def drug_variants(name: str) -> set[str]:
    lexicon = drug_lexicon()
    canonical = lexicon.get(name.lower().strip())
    if canonical is None:
        return {name.lower().strip()}
    return {k for k, v in lexicon.items() if v == canonical}


def find_drugs_in(text: str) -> list[tuple[str, Span]]:
    """Drug names from the lexicon mentioned in text (longest names first)."""
    hits: list[tuple[str, Span]] = []
    for name in sorted(drug_lexicon(), key=len, reverse=True):
        for span in find_text(text, name):
            if not any(span[0] < e and s < span[1] for _, (s, e) in hits):
                hits.append((name, span))
    return sorted(hits, key=lambda h: h[1])


def find_drug(source: str, name: str) -> list[Span]:
    spans: list[Span] = []
    for variant in drug_variants(name):
        spans.extend(find_text(source, variant))
    return sorted(set(spans))


def find_value(source: str, value: str, kind: str = "text") -> list[Span]:
    """Spans of a structured value in the source, by the value's kind."""
    if not value.strip():
        return []
    if kind == "date":
        return find_date(source, value) or find_text(source, value)
    if kind == "phone":
        return find_phone(source, value)
    if kind == "id":
        return find_id(source, value)
    if kind == "drug":
        return find_text(source, value) or find_drug(source, value.split()[0])
    return find_text(source, value)


# -- claims in free text ------------------------------------------------------------------

_INJECTION = re.compile(
    r"ignore\s+(?:all\s+|any\s+|the\s+)?(?:previous|prior|above|earlier|preceding)"
    r"|disregard\s+(?:all|any|the|previous|prior|above|these|your)"
    r"|(?:system|developer)\s+(?:prompt|message|instruction)"
    r"|new\s+instructions?|you\s+are\s+now|act\s+as\s+(?:a|an|the)|jailbreak"
    r"|mark(?:ed)?\s+(?:this\s+|it\s+|the\s+\w+\s+)?(?:as\s+)?(?:approved|verified|complete)"
    r"|auto[- ]?approve|approve\s+(?:this|the|all|it|immediately)"
    r"|override|do\s+not\s+(?:flag|review|check)|without\s+review"
    r"|set\s+(?:the\s+)?(?:status|allerg\w*|medications?|member|insurance|dob)"
    r"|change\s+(?:the\s+)?(?:status|allerg\w*|medications?|member|insurance|dob)"
    r"|delete\s+(?:the|all|this)|<<<|>>>|\[/?inst\]|###\s*instruction"
    r"|^[ \t]*(?:system|assistant|user)\s*:|admin\s+mode"
    r"|<\|im_(?:start|end)\|>",
    re.I | re.M)


# Instructions in plain words, with no "ignore previous" in them (issue 10, item 16):
# changing what the record says, steering the summary, sending the chart somewhere,
# talking to the software, or skipping the person who reviews. Each needs its object or
# its destination in the same sentence, so a form's own "Please list any allergies:" or a
# patient's "I stopped taking aspirin" is not one. tests/fixtures/intake/
# injection_paraphrases.yaml holds the paraphrases and benign notes they are tested on.
_S = r"[^.!?\n]"  # within one sentence
_FIELD = r"(?:allerg\w*|medications?|meds|insurance|member\s+(?:id|number)|policy|dob|" \
    r"date\s+of\s+birth|problems?|history|diagnos\w+)"
_PARAPHRASE = re.compile(
    r"\b(?:record|enter|put|write|set|mark|code|log|document|save|file|update|change|list)"
    + _S + r"{0,40}?\b" + _FIELD + _S + r"{0,30}?\b(?:as|to)\s+(?!medications?\b|drugs?\b|"
    r"foods?\b|latex\b)\S"
    r"|\breplace\b" + _S + r"{0,40}\b" + _FIELD + _S + r"{0,30}\bwith\b"
    r"|\bput\s+(?:none|nothing|n/?a|no)\b"
    r"|\blist\s+no\s+" + _FIELD +
    r"|\bleave\b" + _S + r"{0,30}\b(?:blank|empty)\b"
    r"|\b(?:remove|delete|erase|clear|take)\b" + _S + r"{0,40}\b(?:from|off)\b" + _S +
    r"{0,25}\b(?:list|record|chart|file|entries)\b"
    r"|\b(?:delete|erase|clear|wipe)\s+(?:the\s+|all\s+|my\s+|any\s+)?" + _S +
    r"{0,25}\b(?:list|entries|record|" + _FIELD + r")"
    r"|\bas\s+a\s+mistake\b"
    r"|\b(?:write|say|state|put|note|mention)\b" + _S + r"{0,30}\b(?:in|into)\s+(?:the|your)\s+"
    r"summary|\byour\s+summary\b|\bsummari[sz]e\s+(?:this|the)\b" + _S + r"{0,30}\bas\b"
    r"|\b(?:respond|reply|answer|output)\s+(?:only\s+)?(?:with|only)\b|\bfrom\s+now\s+on\b"
    r"|\b(?:empty|blank)\s+summary\b"
    r"|\b(?:e-?mail|send|forward|fax|upload|share|export|transmit|post|mail)\b" + _S +
    r"{0,60}\b(?:chart|records?|file|data|results|information)\b" + _S +
    r"{0,40}(?:\S+@\S+|https?://|\d{3}[-. ]\d{4}|\bto\s+me\b|\bbelow\b|\babove\b|"
    r"\bemployer\b)"
    r"|(?:^[ \t]*|(?<=[.!?]\s)|\b(?:to\s+the|dear|attention|hey|hello)\s+)(?:ai|a\.i\.|assistant|bot|"
    r"chatbot|model|llm|software|system|computer|automation)\b" + _S + r"{0,20}[,:]"
    r"|\bwhoever\s+(?:reads|processes|handles|opens)\b"
    r"|\b(?:ai|assistant|system|software|model)\s+(?:should|must|will|needs\s+to)\b"
    r"|\b(?:skip|bypass|avoid)\b" + _S + r"{0,20}\b(?:review|check|approval|staff|human)"
    r"|\bno\s+(?:need\s+for\s+)?(?:a\s+)?(?:human|person|staff)\b" + _S +
    r"{0,20}\b(?:check|review|look|needed)|\bwithout\s+(?:a\s+)?(?:person|human|staff|review)"
    r"|\balready\s+(?:been\s+)?(?:reviewed|approved|signed\s+off|verified)"
    r"|\b(?:consider|treat)\s+(?:this|the)\s+(?:form|intake|task|record)\b" + _S +
    r"{0,15}\b(?:verified|reviewed|approved|complete|done)"
    r"|\bclose\s+(?:this|the)\s+task\b|\bpretend\b"
    r"|\bdo\s+not\s+(?:show|tell|display|mention)\b",
    re.I | re.M)


# Every alternative of _PARAPHRASE holds one of these words. Running the big alternation
# only around them keeps the scan linear and fast: over a whole 1 MB form it took about
# 2 s on the 2-core machine; a word scan plus windows takes a small fraction of that.
_PARA_TRIGGERS = frozenset("""
record enter put write set mark code log document save file update change list replace
leave remove delete erase clear take wipe mistake say state note mention your summarize
summarise respond reply answer output from empty blank email e-mail mail send forward fax
upload share export transmit post ai assistant bot chatbot model llm software system
computer automation whoever skip bypass avoid no without already consider treat close
pretend do
""".split())
_WORD_RE = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)?")
# Size limit: at most this many characters of windows are searched (a real form has a few
# thousand). A text made of trigger words would otherwise cost the full scan, about 3 s
# per MB; past the limit only the known attack phrases (_INJECTION, whole text) apply.
MAX_PARAPHRASE_SCAN = 256_000


def _paraphrase_matches(text: str) -> list[re.Match[str]]:
    windows: list[list[int]] = []
    budget = MAX_PARAPHRASE_SCAN
    for w in _WORD_RE.finditer(text):
        if budget <= 0:
            break
        if w.group().lower() in _PARA_TRIGGERS:
            start, end = max(0, w.start() - 80), min(len(text), w.end() + 160)
            if windows and start <= windows[-1][1]:
                budget -= end - windows[-1][1]
                windows[-1][1] = end
            else:
                budget -= end - start
                windows.append([start, end])
    out: list[re.Match[str]] = []
    for start, end in windows:
        out.extend(_PARAPHRASE.finditer(text, start, end))
    return out


def injection_markers(text: str) -> list[tuple[str, Span]]:
    """Phrases that read as instructions to a machine rather than answers on a form:
    the known attack phrases, and the same requests in plain words (paraphrases)."""
    found = [(m.group(), (m.start(), m.end())) for m in _INJECTION.finditer(text)]
    for m in _paraphrase_matches(text):
        if not any(m.start() < e and s < m.end() for _p, (s, e) in found):
            found.append((m.group().strip(), (m.start(), m.end())))
    return sorted(found, key=lambda item: item[1])


def _rest_of_line(text: str, start: int) -> str:
    end = text.find("\n", start)
    return text[start:len(text) if end < 0 else end]


def _dose_after(text: str, start: int) -> tuple[int, int, str] | None:
    """The dose/frequency written right after a drug name, up to punctuation or 'and'."""
    m = re.match(r"[ \t]*\(?[ \t]*([^,;.()\n]*?)(?=\s+and\s|\s*[,;.()]|\s*$)",
                 text[start:])
    if m is None or not re.search(r"\d", m.group(1)):
        return None
    return start + m.start(1), start + m.end(1), normalize(m.group(1))


def _clause_at(text: str, pos: int) -> Span:
    """The sentence around pos. Semicolons do not end it: a list of allergies is joined
    with them ("Allergies: penicillin; sulfa")."""
    starts = [m.end() for m in re.finditer(r"[.!?\n]", text[:pos])]
    end = re.search(r"[.!?\n]", text[pos:])
    return (starts[-1] if starts else 0), (pos + end.start() if end else len(text))


def check_text(text: str, source: str, *, allowed: Iterable[str] = (), strict: bool = False,
               noun: str = "the summary", where: str = "the form") -> GroundingReport:
    """Every number, date, drug, capitalised name and clinical term (symptom, condition,
    body site, injury, with its negation) in `text` must be found in `source` (or in
    `allowed`, trusted strings our own code supplied, e.g. the practice name). A drug or
    word named as an allergy must be on the form's allergy line. With `strict`, every
    other word must be in the source too, unless it is plain phrasing (PHRASING_WORDS).
    Instruction-like phrases in `text` fail the check too. `noun` and `where` name the
    two texts in the reasons ("the summary names 'sore throat', which the form does not
    say")."""
    trusted = "\n".join(allowed)
    report = GroundingReport()
    reasons = {"number": "the number", "date": "the date", "drug": "the drug",
               "dose": "the dose"}

    def grounded_spans(finder: Callable[[str, str], list[Span]],
                       value: str) -> tuple[Span, ...]:
        """Spans in the source; (-1, -1) marks a value found only in the trusted strings."""
        spans = tuple(finder(source, value))
        if not spans and trusted and finder(trusted, value):
            return ((-1, -1),)
        return spans

    covered: list[Span] = []

    def free(s: int, e: int) -> bool:
        return not any(s < ce and cs < e for cs, ce in covered)

    for d, (s, e) in find_dates(text):
        spans = tuple(find_date(source, d)) or (((-1, -1),) if find_date(trusted, d) else ())
        report.claims.append(Claim("date", text[s:e], s, e, bool(spans), spans))
        covered.append((s, e))
    for name, (s, e) in find_drugs_in(text):
        spans = grounded_spans(find_drug, name)
        report.claims.append(Claim("drug", text[s:e], s, e, bool(spans), spans))
        covered.append((s, e))
        dose = _dose_after(text, e)
        if dose is not None:  # "metformin 850 mg twice daily": the dose must match too
            d_start, d_end, wanted = dose
            found = [(a, b) for a, b in find_drug(source, name)
                     if wanted in normalize(_rest_of_line(source, b))]
            report.claims.append(Claim("dose", text[d_start:d_end], d_start, d_end,
                                       bool(found), tuple(found)))
            covered.append((d_start, d_end))
    source_numbers = {n.lstrip("0") or "0" for n in re.findall(r"\d+", source + "\n" + trusted)}
    for m in re.finditer(r"\d+(?:[.,]\d+)*", text):
        if not free(m.start(), m.end()):
            continue
        parts = [p.lstrip("0") or "0" for p in re.findall(r"\d+", m.group().replace(",", ""))]
        whole = m.group().replace(",", "")
        ok = (whole in source + trusted) or all(p in source_numbers for p in parts) and \
            len(parts) == 1
        report.claims.append(Claim("number", m.group(), m.start(), m.end(), ok,
                                   tuple(find_text(source, m.group()))))
    for m in re.finditer(r"\b[A-Z][A-Za-z'\-]+\b", text):
        word = m.group()
        base = re.split(r"['\u2019]", word)[0].lower()  # "It's" -> "it", "Doe's" -> "doe"
        if not free(m.start(), m.end()) or base in COMMON_WORDS or \
                word.lower() in COMMON_WORDS or clinical.clinical_kind(word):
            continue  # clinical words are checked below, with their negation
        spans = grounded_spans(find_text, word)
        report.claims.append(Claim("name", word, m.start(), m.end(), bool(spans), spans))
    # Clinical terms, with their polarity ("denies chest pain" is not "chest pain").
    clinical_src = source + ("\n" + trusted if trusted else "")
    for check in clinical.check_claims(text, clinical_src, noun=noun, where=where):
        mention = check.mention
        report.claims.append(Claim("clinical", mention.text, mention.start, mention.end,
                                   check.grounded, check.source_spans, check.reason))
        covered.append((mention.start, mention.end))
    # A drug or word said to be an allergy must be on the form's allergy lines.
    allergy_text = [source[a:b] for a, b in clinical.allergy_segments(source)]
    for said in clinical.mentions(text, clinical.MAX_OUTPUT_CHARS):
        if "allergy" not in said.words or said.negated:
            continue
        # From the allergy word (or the drug right before it: "penicillin allergy") to the
        # end of its sentence: "takes metformin; allergic to sulfa" names one allergen.
        _s, c_end = _clause_at(text, said.start)
        before = re.search(r"([A-Za-z][A-Za-z'\-]*)[ \t]*$", text[_s:said.start])
        c_start = _s + before.start(1) if before is not None and \
            find_drugs_in(before.group(1)) else said.start
        for w in re.finditer(r"[A-Za-z][A-Za-z'\-]*[A-Za-z]", text[c_start:c_end]):
            word = w.group()
            s_, e_ = c_start + w.start(), c_start + w.end()
            if word.lower() in PHRASING_WORDS or word.lower() in clinical.not_clinical() \
                    or "allergy" in {clinical.canonical(word)} or len(word) < 3:
                continue
            ok = any(find_text(seg, word) or find_drug(seg, word) for seg in allergy_text)
            if not ok:
                report.claims.append(Claim(
                    "allergen", word, s_, e_, False, (),
                    f"{noun} names '{word}' as an allergy, which {where} does not list as one"))
                covered.append((s_, e_))
    for claim in report.claims:
        if not claim.grounded and not claim.reason:
            object.__setattr__(claim, "reason", f"{noun} names {reasons.get(claim.kind, '')} "
                               f"'{claim.text}', which {where} does not say".replace("  ", " "))
    if strict:  # closed world: any other word must be in the source too
        known = {clinical.canonical(w) for w in re.findall(r"[A-Za-z][A-Za-z'\-]*",
                                                              source + "\n" + trusted)}
        covered.extend((c.start, c.end) for c in report.claims)  # one reason per word
        for w in re.finditer(r"[A-Za-z][A-Za-z'\-]*[A-Za-z]", text):
            word = w.group()
            low = word.lower()
            if not free(w.start(), w.end()) or low in PHRASING_WORDS or \
                    re.split(r"'", low)[0] in PHRASING_WORDS or clinical.canonical(word) in known:
                continue
            report.claims.append(Claim("word", word, w.start(), w.end(), False, (),
                                       f"{noun} says '{word}', which {where} does not say"))
    report.claims.sort(key=lambda c: c.start)
    # In generated text a bare claim of approval is as bad as an instruction.
    report.injection = [phrase for phrase, _ in injection_markers(text)] + re.findall(
        r"\b(?:approved|verified|authori[sz]ed)\b", text, re.I)
    return report
