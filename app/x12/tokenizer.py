"""X12 tokenizer: separators read from the ISA, segments split with positions kept.

Written by hand rather than taken from pyx12 because (measured, 1,000-claim synthetic
835 on the 2-core dev box): pyx12's validating parse took ~2.7 s against ~55 ms for our
full parse to domain objects (about 50x), and its bare reader alone (X12Reader, one
object per element) is still ~2-4x slower than our whole parse (bench/x12.py prints it
each run); imports also need the exact segment index and byte offset of a problem and a
mapping to our domain types. pyx12 stays as the cross-check in tests (same segments and
elements on every corpus file; its guide validation agrees) and as an optional strict
validator (app.x12.strict).

Text is decoded as latin-1 so one character is one byte: character offsets are byte
offsets. Segments are plain lists of strings (element 0 is the segment ID) because that
is the cheapest shape to build; the transaction parsers map them to domain objects.
"""

from __future__ import annotations

import gc
import re
from dataclasses import dataclass, field

from app.x12.errors import X12Error

_WS = " \t\r\n"
_BOM = "\xef\xbb\xbf"  # a UTF-8 byte order mark, seen through latin-1
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}\Z")
ISA_ELEMENTS = 16
# Caps checked before anything is built. Measured: a 10k-claim 835 is 2.7 MB and ~100k
# segments and peaks at 70 MB parsed; one-letter garbage costs ~90 bytes of Python per
# input byte once split (10 MB took 938 MB), so IDs and the segment count are checked on
# the text first, and the file size before it is even decoded.
MAX_X12_BYTES = 16 * 1024 * 1024
MAX_SEGMENTS = 400_000


@dataclass(frozen=True, slots=True)
class Separators:
    element: str
    component: str
    repetition: str | None  # ISA11 in 00501 and later; 'U' (a standards ID) before that
    segment: str


@dataclass
class Tokens:
    """A tokenized file: segments (lists of elements) and what is needed to place them."""

    text: str
    base: int  # offset of the first segment (after a BOM, whitespace or preamble)
    separators: Separators
    segments: list[list[str]]
    raw: list[str]  # the unstripped pieces between terminators, for offsets
    findings: list[str] = field(default_factory=list)
    headerless: bool = False
    tags: list[str] = field(default_factory=list)  # segment IDs, for list.index lookups

    def offset(self, index: int) -> int:
        """Byte offset of segment `index` (0-based) in the original file."""
        if index >= len(self.raw):
            return len(self.text)
        step = len(self.separators.segment)
        pos = self.base + sum(len(p) for p in self.raw[:index]) + step * index
        piece = self.raw[index]
        return pos + len(piece) - len(piece.lstrip(_WS))

    def position(self, index: int) -> str:
        """'segment N (ID) at byte B' with N 1-based, as a person counts."""
        if index >= len(self.segments):
            return f"end of file at byte {len(self.text)}"
        tag = self.segments[index][0] if self.segments[index] else "?"
        return f"segment {index + 1} ({tag[:3]}) at byte {self.offset(index)}"

    def error(self, reason: str, index: int) -> X12Error:
        tag = self.segments[index][0] if index < len(self.segments) else ""
        return X12Error(reason, self.position(index), segment_index=index,
                        byte_offset=self.offset(index), segment_id=tag)


def _reject(reason: str, offset: int) -> X12Error:
    return X12Error(reason, f"byte {offset}", segment_index=0, byte_offset=offset)


def check_size(size: int) -> None:
    """Refuse a file over MAX_X12_BYTES (the CLI calls this on the file's size before
    reading it)."""
    if size > MAX_X12_BYTES:
        raise _reject(f"the file is {size / (1024 * 1024):.1f} MB; X12 imports are limited "
                      f"to {MAX_X12_BYTES // (1024 * 1024)} MB (a practice's 835, 271 or 277 "
                      "is far smaller; ask the sender to split it)", 0)


def decode(data: bytes | str) -> str:
    check_size(len(data))
    if isinstance(data, str):
        return data
    nul = data.find(b"\x00", 0, 4096)
    if nul >= 0:
        raise _reject("the file contains NUL bytes (UTF-16 or binary?); X12 must be "
                      "8-bit text", nul)
    return data.decode("latin-1")


def read_separators(text: str, start: int) -> tuple[Separators, int]:
    """Separators from the ISA at `start`; returns them and the end of the ISA segment.

    The ISA is fixed width in the standard, but some senders trim its padding, so the
    16 elements are counted rather than assuming byte 105."""
    if text[start:start + 3] != "ISA" or len(text) < start + 4:
        raise _reject("the file does not start with an ISA segment", start)
    element = text[start + 3]
    if element.isalnum() or element in _WS:
        raise _reject(f"invalid element separator {element!r} after ISA", start + 3)
    pos = start + 3
    for _ in range(ISA_ELEMENTS - 1):
        pos = text.find(element, pos + 1)
        if pos < 0:
            raise _reject("the ISA segment is truncated (fewer than 16 elements)", start)
    # pos is the separator before ISA16; ISA16 is one character, the terminator follows.
    if pos + 2 >= len(text):
        raise _reject("the ISA segment is truncated (no segment terminator)", start)
    component, segment = text[pos + 1], text[pos + 2]
    if segment == "\r" and text[pos + 3:pos + 4] == "\n":
        segment = "\r\n"
    if segment.isalnum() or segment == element or component == element:
        raise _reject(f"invalid separators in the ISA (element {element!r}, component "
                      f"{component!r}, segment {segment!r})", start)
    isa = text[start:pos + 2].split(element)
    repetition: str | None = None
    if isa[12] >= "00501" and len(isa[11]) == 1 and not isa[11].isalnum():
        repetition = isa[11]
    return Separators(element, component, repetition, segment), pos + 2


def _headerless_separators(text: str, start: int) -> Separators:
    """ST..SE with no envelope (lenient only): element after 'ST', terminator after the
    control number, component guessed from the first composite seen."""
    element = text[start + 2]
    pos = start + 3
    while pos < len(text) and (text[pos].isalnum() or text[pos] == element):
        pos += 1
    if pos >= len(text):
        raise _reject("no segment terminator after the ST segment", start)
    segment = text[pos]
    match = re.search(r"(?:SVC|EQ|STC)" + re.escape(element) + r"[A-Z0-9]{1,2}([^A-Za-z0-9 ])",
                      text)
    component = match.group(1) if match else ":"
    return Separators(element, component, None, segment)


def tokenize(data: bytes | str, *, lenient: bool = False) -> Tokens:
    """Split a file into segments. Only the envelope's own bytes are checked here."""
    # Hundreds of thousands of small lists and no reference cycles: the cyclic GC would
    # only rescan them (about 15% of the time on a 10k-claim file, bench/x12.py).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _tokenize(data, lenient)
    finally:
        if enabled:
            gc.enable()


def _tokenize(data: bytes | str, lenient: bool) -> Tokens:
    text = decode(data)
    start = 0
    if text.startswith(_BOM):
        start = len(_BOM)
    while start < len(text) and text[start] in _WS:
        start += 1
    findings: list[str] = []
    headerless = False
    if text[start:start + 3] != "ISA":
        isa_at = text.find("ISA", start)
        st_at = start if text[start:start + 2] == "ST" else -1
        if lenient and isa_at > 0:
            findings.append(f"{isa_at - start} bytes of text before the ISA were ignored")
            start = isa_at
        elif lenient and st_at >= 0:
            headerless = True
            findings.append("no ISA/GS envelope: separators inferred from the ST segment")
        elif not text[start:].strip():
            raise _reject("the file is empty", start)
        else:
            raise _reject("the file does not start with an ISA segment", start)
    if headerless:
        seps = _headerless_separators(text, start)
    else:
        seps, _end = read_separators(text, start)
    _scan_ids(text, start, seps)
    if text.count(seps.segment, start) > MAX_SEGMENTS:
        raise _reject(f"the file has more than {MAX_SEGMENTS:,} segments; X12 imports are "
                      "limited to that", start)
    body = text[start:]
    raw = body.split(seps.segment)
    # Line breaks or indentation between segments: strip them (rarely needed, so tested
    # once on the whole text instead of per segment).
    term = seps.segment
    needs_strip = any(c not in term and (term + c) in body for c in _WS) or body[:1] in _WS
    el = seps.element
    if needs_strip:
        pieces = [p.strip(_WS) for p in raw]
    else:
        pieces = raw
    # Drop trailing empty pieces (after the last terminator) but not interior ones.
    n = len(pieces)
    while n and not pieces[n - 1]:
        n -= 1
    if n < len(pieces):
        raw = raw[:n]
        pieces = pieces[:n]
    segments = [p.split(el) for p in pieces]
    tokens = Tokens(text, start, seps, segments, raw, findings, headerless)
    _check_ids(tokens)
    return tokens


def _scan_ids(text: str, start: int, seps: Separators) -> None:
    """The first segment (after a terminator) whose ID is not 2-3 upper-case letters or
    digits, found by one regex pass over the text, before any segment list is built."""
    term, el = re.escape(seps.segment), re.escape(seps.element)
    ws = "[ \t\r\n]"
    # Terminators and line breaks at the very end are dropped, as the tokenizer does;
    # searching up to them keeps the scan linear (no look-ahead to the end per segment).
    tail = len(text.rstrip(seps.segment + _WS))
    bad = re.compile(f"{term}(?!{ws}*[A-Z][A-Z0-9]{{1,2}}(?:{el}|{term}|{ws}*\\Z))")
    match = bad.search(text, start, tail)
    if match is None:
        return
    after = match.end()
    nxt = text.find(seps.segment, after)
    piece = text[after:nxt if nxt >= 0 else len(text)]
    tag = piece.strip(_WS).split(seps.element, 1)[0]
    index = text.count(seps.segment, start, match.start()) + 1
    offset = after + len(piece) - len(piece.lstrip(_WS))
    what = "an empty segment" if not tag else f"invalid segment ID {tag[:12]!r}"
    raise X12Error(what, f"segment {index + 1} ({tag[:3]}) at byte {offset}",
                   segment_index=index, byte_offset=offset, segment_id=tag)


def _check_ids(tokens: Tokens) -> None:
    """Every segment ID is 2-3 upper-case letters/digits. Checked on the distinct IDs, so
    it costs next to nothing on a big file."""
    tags = tokens.tags = [s[0] for s in tokens.segments]
    for tag in set(tags):
        if not _SEGMENT_ID.match(tag):
            index = tags.index(tag)
            what = "an empty segment" if not tag else f"invalid segment ID {tag[:12]!r}"
            raise tokens.error(what, index)
