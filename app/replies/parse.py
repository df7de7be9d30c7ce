"""Reading patients' replies, as a small practice's vendors deliver them, and what a reply
says (yes, no, stop, or anything else for a person).

- Text messages: the texting vendor's replies export, a CSV with the sender's number,
  the text, when it arrived and the vendor's reference for the message or thread. Our
  outgoing CSV carries `reference` = `offhold-outbox-<id>`; vendors echo such a custom
  field in their replies export, which is how a reply finds its message first.
- Email: one RFC 5322 message as the practice's mail client (or fetchmail/getmail) drops
  it into a Maildir. Our Message-IDs are `<offhold-outbox-<id>-task-<task>@offhold.invalid>`,
  so a reply's In-Reply-To/References name the message.

Every source is bounded before and while it is parsed (bytes, rows, wall clock); a bad
row refuses the whole file with its line, so nothing is half-recorded. Returned replies
hold PHI (numbers, addresses, words): never log them.
"""

from __future__ import annotations

import csv
import email
import email.errors
import email.policy
import email.utils
import hashlib
import io
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from enum import Enum
from html.parser import HTMLParser
from typing import Any, cast
from zoneinfo import ZoneInfo

import phonenumbers

from app.errors import ImportRejected
from app.imports.common import MB, Deadline, check_size


@dataclass(frozen=True)
class ReplyLimits:
    """Bounds for reply sources. A vendor's daily replies export is a few KB (one short
    line per reply); 4 MB is ~50k replies. Measured with tracemalloc on the 2-core dev box
    (tests/unit/test_replies.py): a 3.8 MB export of 50k replies peaked at 44 MB (11.7x)
    and parsed in 2.4 s; a 2 MB email at 17 MB (8.4x) in 0.1 s."""

    max_csv_bytes: int = 4 * MB
    max_rows: int = 50_000
    max_text_chars: int = 5_000  # a vendor joins long texts: 10 segments are ~1.6k chars
    max_email_bytes: int = 2 * MB  # a reply with a photo attached is read up to here
    max_emails: int = 1_000  # per run; the rest wait for the next run
    seconds: float = 60.0


LIMITS = ReplyLimits()

OUTBOX_REF = re.compile(r"offhold-outbox-(\d{1,12})")


class Intent(str, Enum):
    YES = "yes"
    NO = "no"
    STOP = "stop"
    OTHER = "other"


@dataclass(frozen=True, slots=True)  # slots: a full export holds ~50k of them
class InboundReply:
    """One reply. `key` is unique per inbound message (the vendor's id, the email's
    Message-ID, else a digest of its content), so a source read twice records it once."""

    channel: str  # "sms" or "email"
    sender: str  # E.164 number, or the lower-case address
    text: str  # the patient's own words (quoted text and signatures left out)
    received_at: datetime  # aware
    ref: str  # the vendor's message/thread reference, or In-Reply-To and References
    key: str
    position: str  # where in the source ("line 4", "message <maildir key>")

    @property
    def outbox_ids(self) -> tuple[int, ...]:
        """The outbox messages the reference names, in order, without repeats."""
        return tuple(dict.fromkeys(int(i) for i in OUTBOX_REF.findall(self.ref)))

    @property
    def intent(self) -> Intent:
        return intent(self.text)


# CTIA's standard opt-out keywords; a carrier honours them alone in a message.
STOP_WORDS = frozenset({"stop", "stopall", "stop all", "unsubscribe", "cancel", "end", "quit",
                        "optout", "opt out", "revoke"})
YES_WORDS = frozenset({"yes", "y", "yeah", "yep", "yup", "sure", "ok", "okay", "1",
                       "confirm", "confirmed", "accept", "absolutely"})
NO_WORDS = frozenset({"no", "n", "nope", "2", "decline", "pass"})
POLITE = frozenset({"please", "pls", "thanks", "thank", "you", "thx", "ty", "much"})
YES_EXTRA = frozenset({"i'll", "ill", "i", "will", "take", "it", "that", "works", "sounds",
                       "good", "great"})


def intent(text: str) -> Intent:
    """YES/NO/STOP only when the whole reply says just that ("Yes please", "no thank
    you", "STOP"); anything with more in it ("yes but later?") is for a person."""
    words = re.sub(r"[^\w\s']", " ", text.casefold()).split()
    phrase = " ".join(words)
    if phrase in STOP_WORDS:
        return Intent.STOP
    if not words or len(words) > 6:
        return Intent.OTHER
    first, rest = words[0], words[1:]
    if first in YES_WORDS and all(w in POLITE or w in YES_EXTRA for w in rest):
        return Intent.YES
    if first in NO_WORDS and all(w in POLITE for w in rest):
        return Intent.NO
    return Intent.OTHER


def e164(phone: str, region: str = "US") -> str | None:
    """The number in E.164 (+15551234567), or None when it is not a valid number."""
    try:
        number = phonenumbers.parse(phone[:40], region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normal_address(address: str) -> str:
    """An email address as compared: the bare address, lower case."""
    return email.utils.parseaddr(address)[1].strip().lower()


# -- the texting vendor's replies export ---------------------------------------------------

COLUMNS: dict[str, tuple[str, ...]] = {
    "from": ("from", "from_number", "fromnumber", "sender", "phone", "mobile"),
    "text": ("message", "text", "body", "reply"),
    "received_at": ("received_at", "receivedat", "received", "date", "timestamp", "time"),
    "reference": ("reference", "ref", "thread_id", "threadid", "conversation_id",
                  "in_reply_to", "message_ref"),
    "id": ("id", "reply_id", "replyid", "message_id", "messageid", "sid"),
}
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M",
                 "%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p")


def _column_map(header: list[str]) -> dict[str, int]:
    keys = [re.sub(r"[^a-z0-9_]", "", h.strip().lower().replace(" ", "_")) for h in header]
    found: dict[str, int] = {}
    for name, aliases in COLUMNS.items():
        for alias in aliases:
            if alias in keys:
                found[name] = keys.index(alias)
                break
    missing = [n for n in ("from", "text", "received_at") if n not in found]
    if missing:
        raise ImportRejected("the replies export needs columns for the sender's number, the "
                             "text and the time received (e.g. from, message, received_at); "
                             f"missing: {', '.join(missing)}", "line 1")
    return found


def parse_time(text: str, zone: ZoneInfo) -> datetime:
    """ISO 8601 (with or without an offset) or a US date and time; without an offset the
    time is the practice's (`zone`). Raises ValueError."""
    value = text.strip()
    if not value or len(value) > 40:
        raise ValueError("no time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        for fmt in _TIME_FORMATS:
            try:
                parsed = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
        else:
            raise
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def parse_sms_csv(data: bytes, zone: ZoneInfo, limits: ReplyLimits = LIMITS
                  ) -> list[InboundReply]:
    """Every reply in the vendor's export, or ImportRejected naming the first bad line."""
    check_size(len(data), limits.max_csv_bytes, "replies export")
    deadline = Deadline(limits.seconds)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRejected("the replies export is not UTF-8 text (export it as CSV, "
                             "UTF-8)", f"byte {exc.start}") from exc
    if "\x00" in text:
        raise ImportRejected("the replies export holds NUL bytes: not a CSV file",
                             f"byte {text.index(chr(0))}")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    replies: list[InboundReply] = []
    try:
        header = next(reader, None)
        if header is None:
            raise ImportRejected("the replies export is empty", "line 1")
        cols = _column_map(header)
        for row in reader:
            line = f"line {reader.line_num}"
            deadline.check(line)
            if not any(cell.strip() for cell in row):
                continue
            if len(replies) >= limits.max_rows:
                raise ImportRejected(f"the replies export has more than {limits.max_rows} "
                                     "replies (split it)", line)
            replies.append(_sms_row(row, cols, zone, limits, line))
    except csv.Error as exc:
        raise ImportRejected(f"the replies export is not valid CSV ({exc})",
                             f"line {reader.line_num}") from exc
    return replies


def _sms_row(row: list[str], cols: dict[str, int], zone: ZoneInfo, limits: ReplyLimits,
             line: str) -> InboundReply:
    def cell(name: str) -> str:
        i = cols.get(name)
        return row[i].strip() if i is not None and i < len(row) else ""

    sender = e164(cell("from"))
    if sender is None:
        raise ImportRejected("the sender's number is missing or not a valid phone number",
                             line)
    words = cell("text")
    if len(words) > limits.max_text_chars:
        raise ImportRejected(f"the reply text is over {limits.max_text_chars} characters",
                             line)
    try:
        received = parse_time(cell("received_at"), zone)
    except ValueError as exc:
        raise ImportRejected("the time received is missing or not a date and time "
                             "(e.g. 2026-12-01 14:05 or ISO 8601)", line) from exc
    ref = cell("reference")[:500]
    own_id = cell("id")[:200]
    key = own_id or _digest(sender, clock_text(received), words)
    return InboundReply("sms", sender, words, received, ref, f"sms:{key}", line)


def clock_text(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


# -- email replies ---------------------------------------------------------------------------

_QUOTE_HEADER = re.compile(r"^(on .{1,300} wrote:?|-{2,} ?original message ?-{2,}|"
                           r"from: .{1,300}|_{5,})$", re.IGNORECASE)
_SENT_FROM = re.compile(r"^sent from my .{0,80}$|^get outlook for .{0,40}$", re.IGNORECASE)


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "p", "div", "blockquote"):
            self.parts.append("\n")


def own_words(body: str, limit: int = LIMITS.max_text_chars) -> str:
    """The reply's new text: stops at the quoted message ("> ...", "On ... wrote:", an
    Outlook header) or a signature ("-- "), leaves out "Sent from my iPhone"."""
    kept: list[str] = []
    for raw in body[:limit * 4].splitlines():
        line = raw.strip()
        if line.startswith(">") or raw.rstrip("\r\n") == "-- " or _QUOTE_HEADER.match(line):
            break
        if _SENT_FROM.match(line):
            continue
        kept.append(line)
    return "\n".join(kept).strip()[:limit]


# The email library parses a header when it is read, in time and memory that grow faster
# than its length: one 64 KB From of "(x)" comments took 4.8 s, of encoded words 339 MB,
# and 1.5 MB ones (inside the size cap) ran past 25 s or were killed; a 3.9 KB
# Content-Type took 0.25 s, 900 bytes 0.02 s. So a header is cut to MAX_HEADER_CHARS
# before it is parsed (References keeps its oldest ids, among them our message's), and
# an email of more parts than MAX_PARTS (each with its headers) is refused.
MAX_HEADER_CHARS = 1000
MAX_PARTS = 100


class _Headers(email.policy.EmailPolicy):
    """policy.default, with every header cut to MAX_HEADER_CHARS before it is parsed."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if not hasattr(value, "name"):  # raw, not parsed yet
            value = value[:MAX_HEADER_CHARS]
        return super().header_fetch_parse(name, value)


_POLICY = _Headers()


def parse_email(data: bytes, position: str, limits: ReplyLimits = LIMITS) -> InboundReply:
    """One emailed reply, or ImportRejected (too large, no sender, no date, unreadable)."""
    if len(data) > limits.max_email_bytes:
        raise ImportRejected(f"the email is {len(data) / MB:.1f} MB; replies are read up to "
                             f"{limits.max_email_bytes // MB} MB", position)
    try:
        message = cast(EmailMessage, email.message_from_bytes(data, policy=_POLICY))
        if sum(1 for _part in message.walk()) > MAX_PARTS:
            raise ImportRejected(f"the email has more than {MAX_PARTS} parts", position)
        sender = normal_address(str(message.get("From", "")))
        date_header = message.get("Date")
        received = email.utils.parsedate_to_datetime(str(date_header)) if date_header \
            else None
        part = message.get_body(preferencelist=("plain", "html"))
        body = part.get_content() if part is not None else ""
        html = part is not None and part.get_content_type() == "text/html"
        ref = " ".join(str(message.get(h, "")) for h in ("In-Reply-To", "References"))
        message_id = str(message.get("Message-ID", "")).strip()
    except RecursionError as exc:
        # MIME parts nested ~1000 deep (67 KB is enough): the library's walk recurses
        raise ImportRejected("the email's parts are nested too deeply to read",
                             position) from exc
    except (email.errors.MessageError, LookupError, ValueError, TypeError, AttributeError,
            IndexError) as exc:
        # a broken header or an unknown charset: the email library's errors
        raise ImportRejected(f"the email cannot be read ({type(exc).__name__})",
                             position) from exc
    if not sender or "@" not in sender:
        raise ImportRejected("the email has no sender address", position)
    if received is None:
        raise ImportRejected("the email has no readable Date header", position)
    if received.tzinfo is None:
        raise ImportRejected("the email's Date header has no time zone", position)
    if not isinstance(body, str):
        body = ""
    if html:
        reader = _TextOnly()
        reader.feed(body[:limits.max_text_chars * 8])
        body = "".join(reader.parts)
    words = own_words(body, limits.max_text_chars)
    key = message_id[:300] or _digest(sender, clock_text(received), words)
    return InboundReply("email", sender, words, received, ref[:2000], f"email:{key}",
                        position)
