"""Writing X12: the 270 eligibility inquiry (005010X279A1). Separators are parameters
(defaults * : ^ ~); values are cleaned of separator characters so a name can never
break the structure. The output is checked by our own parser and by pyx12 in tests."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, datetime

from app.x12.tokenizer import Separators

DEFAULT_SEPARATORS = Separators("*", ":", "^", "~")


@dataclass
class Inquiry:
    sender_id: str
    receiver_id: str
    control_number: int  # ISA13/GS06
    payer_name: str
    payer_id: str
    provider_name: str
    provider_npi: str
    member_last: str
    member_first: str
    member_id: str
    member_dob: date | None
    service_date: date
    trace_number: str
    service_types: tuple[str, ...] = ("30",)
    production: bool = True


def _clean(value: str, seps: Separators, limit: int = 60) -> str:
    bad = {seps.element, seps.component, seps.segment, seps.repetition or ""}
    out = "".join(ch for ch in value.upper() if ch not in bad and ch.isprintable())
    return out.strip()[:limit]


def build_270(q: Inquiry, now: datetime, seps: Separators = DEFAULT_SEPARATORS) -> bytes:
    e, t = seps.element, seps.segment
    c = f"{q.control_number % 10**9:09d}"
    seg: list[list[str]] = [
        ["BHT", "0022", "13", _clean(q.trace_number, seps, 30), f"{now:%Y%m%d}",
         f"{now:%H%M}"],
        ["HL", "1", "", "20", "1"],
        ["NM1", "PR", "2", _clean(q.payer_name, seps), "", "", "", "", "PI",
         _clean(q.payer_id, seps, 80)],
        ["HL", "2", "1", "21", "1"],
        ["NM1", "1P", "2", _clean(q.provider_name, seps), "", "", "", "", "XX",
         _clean(q.provider_npi, seps, 10)],
        ["HL", "3", "2", "22", "0"],
        ["TRN", "1", _clean(q.trace_number, seps, 50), "9" + f"{zlib.crc32(q.sender_id.encode()) % 10**9:09d}"],
        ["NM1", "IL", "1", _clean(q.member_last, seps), _clean(q.member_first, seps, 35), "",
         "", "", "MI", _clean(q.member_id, seps, 80)],
    ]
    if q.member_dob:
        seg.append(["DMG", "D8", f"{q.member_dob:%Y%m%d}"])
    seg.append(["DTP", "291", "D8", f"{q.service_date:%Y%m%d}"])
    seg.append(["EQ", (seps.repetition or "^").join(q.service_types)])
    body = [["ST", "270", "0001", "005010X279A1"], *seg]
    body.append(["SE", str(len(body) + 1), "0001"])
    isa = ["ISA", "00", " " * 10, "00", " " * 10, "ZZ", _clean(q.sender_id, seps, 15).ljust(15),
           "ZZ", _clean(q.receiver_id, seps, 15).ljust(15), f"{now:%y%m%d}", f"{now:%H%M}",
           seps.repetition or "^", "00501", c, "0", "P" if q.production else "T",
           seps.component]
    gs = ["GS", "HS", _clean(q.sender_id, seps, 15), _clean(q.receiver_id, seps, 15),
          f"{now:%Y%m%d}", f"{now:%H%M}", str(q.control_number % 10**9), "X", "005010X279A1"]
    trailer = [["GE", "1", str(q.control_number % 10**9)], ["IEA", "1", c]]
    lines = [isa, gs, *body, *trailer]
    return ("".join(e.join(s) + t + "\n" for s in lines)).encode("ascii", "replace")
