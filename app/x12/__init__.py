"""X12 005010 for the revenue cycle: a tokenizer that reads its separators from the ISA,
envelope and count validation, parsers for 835 (X221A1), 270/271 (X279A1) and 277
(X212/X214) into app.domain.revenue types, and a 270 writer. Every problem is an
`X12Error` (an `ImportRejected`) naming the segment, its index and its byte offset."""

from app.x12.envelope import Interchange, parse_envelope
from app.x12.errors import X12Error
from app.x12.tokenizer import Separators, tokenize

__all__ = ["Interchange", "Separators", "X12Error", "detect_kind", "parse_envelope",
           "tokenize"]


def detect_kind(data: bytes | str) -> str:
    """The transaction set of a file (ST01 of its first transaction: '835', '271', ...),
    for an import dialog that accepts any X12 file. Raises X12Error if unreadable."""
    inter = parse_envelope(data, lenient=True)
    txns = inter.transactions()
    if not txns:
        raise inter.tokens.error("no transaction sets in the file", 0)
    return txns[0].set_id
