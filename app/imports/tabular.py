"""CSV exports of the patient roster and the schedule. EHRs name their columns their own
way, so a column mapping (saved under a name, app.services.imports) says which column
holds each field; `suggest` guesses one from the headers for the first import, and
`preview` shows the first rows as mapped before anything is stored.

Rows are validated into plain records; a bad row is reported by its line number and the
field at fault, never its value. An import streams the export twice (csv over a text
stream of the bytes): a validation pass that keeps only the IDs seen and the bad rows,
then the write, which reads and maps each row again as it stores it. Measured on a
generated 50 MB roster (400k rows of 11 columns): holding the rows as lists and the
records as dicts peaked at 599 MB traced (12x; maxrss 1.4 GB), the streamed validation
at 52 MB (1.0x, the IDs seen; maxrss +9 MB over the file's bytes).
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Iterator

from app import clock
from app.errors import ImportRejected
from app.imports.common import LIMITS, MB, BadRecord, Deadline, Limits, check_size

TARGETS: dict[str, dict[str, bool]] = {  # field -> required
    "patients": {"id": True, "first_name": True, "last_name": True, "dob": True,
                 "sex": False, "phone": False, "email": False, "address": False,
                 "member_id": False, "payer": False, "group_number": False},
    "appointments": {"id": True, "patient_id": True, "start": False, "date": False,
                     "time": False, "provider": False, "visit_type": False,
                     "status": False},
}
# Header spellings seen in EHR exports, for the suggested mapping (lower case, no spaces
# or punctuation).
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "patientid", "mrn", "chartnumber", "accountnumber"),
    "appointments.id": ("appointmentid", "apptid", "id", "encounterid", "visitid",
                        "scheduleid"),
    "patient_id": ("patientid", "mrn", "chartnumber", "patientmrn", "accountnumber"),
    "first_name": ("firstname", "first", "fname", "givenname", "patientfirstname"),
    "last_name": ("lastname", "last", "lname", "surname", "familyname", "patientlastname"),
    "dob": ("dob", "dateofbirth", "birthdate", "birthdt", "patientdob"),
    "sex": ("sex", "gender"),
    "phone": ("phone", "phonenumber", "cellphone", "mobile", "homephone"),
    "email": ("email", "emailaddress"),
    "address": ("address", "streetaddress", "address1"),
    "member_id": ("memberid", "subscriberid", "policynumber", "insuranceid", "policyid"),
    "payer": ("payer", "insurance", "insurancename", "primaryinsurance", "carrier"),
    "group_number": ("group", "groupnumber", "groupno"),
    "start": ("start", "startdatetime", "datetime", "scheduledat", "appointmentdatetime",
              "apptdatetime"),
    "date": ("date", "appointmentdate", "apptdate", "visitdate"),
    "time": ("time", "appointmenttime", "appttime"),
    "provider": ("provider", "doctor", "physician", "rendering", "providername"),
    "visit_type": ("visittype", "appointmenttype", "appttype", "type", "reason"),
    "status": ("status", "appointmentstatus", "apptstatus"),
}
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y", "%Y%m%d")
TIME_FORMATS = ("%H:%M", "%H:%M:%S", "%I:%M %p", "%I:%M%p", "%I:%M:%S %p")
STATUS_WORDS = {"scheduled": "scheduled", "booked": "scheduled", "confirmed": "scheduled",
                "pending": "scheduled", "arrived": "scheduled", "checkedin": "scheduled",
                "completed": "completed", "complete": "completed", "checkedout": "completed",
                "seen": "completed", "fulfilled": "completed", "noshow": "no_show",
                "cancelled": "cancelled", "canceled": "cancelled",
                "rescheduled": "cancelled"}
SEX_WORDS = {"f": "F", "female": "F", "m": "M", "male": "M", "x": "X", "other": "X",
             "u": "U", "unknown": "U"}


@dataclass
class Mapping:
    """Which column holds each field, for one kind of export from one source."""

    name: str
    target: str  # 'patients' or 'appointments'
    columns: dict[str, str]  # field -> header
    source: str = ""  # IDs are the source's own: a schedule refers to its roster's IDs
    date_format: str = ""  # strptime format when the export's dates are not guessable

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ImportRejected(f"unknown import target {self.target[:20]!r}; use "
                                 + " or ".join(TARGETS))
        fields = TARGETS[self.target]
        unknown = sorted(set(self.columns) - set(fields))
        if unknown:
            raise ImportRejected(f"unknown field(s) for {self.target}: "
                                 f"{', '.join(u[:20] for u in unknown)}; fields are "
                                 + ", ".join(fields))
        missing = [f for f, required in fields.items() if required and f not in self.columns]
        if self.target == "appointments" and "start" not in self.columns \
                and "date" not in self.columns:
            missing.append("start (or date and time)")
        if missing:
            raise ImportRejected(f"the mapping {self.name!r} does not say which column "
                                 f"holds: {', '.join(missing)}")
        self.source = self.source or self.name

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target, "columns": self.columns,
                "source": self.source, "date_format": self.date_format}


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.casefold())


def suggest(target: str, headers: list[str]) -> dict[str, str]:
    """A first guess at the mapping from the header names (the person confirms it)."""
    by_key = {_key(h): h for h in headers}
    out: dict[str, str] = {}
    for name in TARGETS.get(target, {}):
        for alias in ALIASES.get(f"{target}.{name}", ALIASES.get(name, ())):
            if alias in by_key and by_key[alias] not in out.values():
                out[name] = by_key[alias]
                break
    return out


@dataclass
class Table:
    headers: list[str]
    rows: list[tuple[int, list[str]]]  # (line number, cells)


def _encoding(data: bytes) -> str:
    """UTF-8 (with or without BOM) when every byte decodes so, else Windows-1252. Checked
    a megabyte at a time, so the whole file is never held as text."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for start in range(0, len(data), MB):
            decoder.decode(view[start:start + MB], final=start + MB >= len(data))
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8-sig"


def read_rows(data: bytes, limits: Limits = LIMITS
              ) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The headers, and an iterator over the rows (line number, cells) read as they are
    asked for: the file is never held as text nor as a list of rows. Raises
    ImportRejected naming the line (the header's problems at once, a row's as the
    iterator reaches it)."""
    check_size(len(data), limits.max_csv_bytes, "CSV file")
    if b"\x00" in data[:4096]:
        raise ImportRejected("the file contains NUL bytes (UTF-16 or a spreadsheet?); "
                             "export it as CSV text", "byte " + str(data.find(b"\x00")))
    stream = io.TextIOWrapper(io.BytesIO(data), encoding=_encoding(data), errors="replace",
                              newline="")
    sample = stream.read(8192)
    stream.seek(0)
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(stream, dialect)
    try:
        first = next(reader, None)
    except csv.Error as exc:
        raise ImportRejected(f"not readable as CSV: {str(exc)[:80]}", "line 1") from None
    if first is None:
        raise ImportRejected("the file is empty")
    headers = [c.strip() for c in first]
    if not any(headers):
        raise ImportRejected("the first line has no column names", "line 1")

    def rows() -> Iterator[tuple[int, list[str]]]:
        line = reader.line_num + 1
        count = 0
        try:
            for cells in reader:
                start, line = line, reader.line_num + 1
                if not any(c.strip() for c in cells):
                    continue
                if sum(len(c) for c in cells) > limits.max_line_bytes:
                    raise ImportRejected("the row is too long", f"line {start}")
                count += 1
                if count > limits.max_records:
                    raise ImportRejected(f"more than {limits.max_records} rows; split the "
                                         "export", f"line {start}")
                yield start, cells
        except csv.Error as exc:
            raise ImportRejected(f"not readable as CSV: {str(exc)[:80]}", f"line {line}") \
                from None
    return headers, rows()


def read_table(data: bytes, limits: Limits = LIMITS, max_rows: int | None = None) -> Table:
    """Headers and rows of a CSV export (UTF-8 with or without BOM, else Windows-1252;
    comma, semicolon, tab or pipe separated), reading no further than `max_rows` (the
    preview). Raises ImportRejected naming the line."""
    headers, rows = read_rows(data, limits)
    return Table(headers, list(itertools.islice(rows, max_rows)))


@dataclass
class CsvBatch:
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (position,..)
    bad: list[BadRecord] = field(default_factory=list)
    rows: int = 0


@dataclass
class CsvCheck:
    """The validation pass over a whole export: how many rows, and the bad ones."""

    rows: int = 0
    bad: list[BadRecord] = field(default_factory=list)


def _date(text: str, fmt: str) -> date:
    for f in ((fmt,) if fmt else DATE_FORMATS):
        try:
            return datetime.strptime(text, f).date()
        except ValueError:
            continue
    raise ValueError("not a date in " + (fmt or "YYYY-MM-DD or MM/DD/YYYY"))


def _start(cells: dict[str, str], fmt: str) -> str:
    if cells.get("start"):
        text = cells["start"]
        try:
            return datetime.fromisoformat(text).isoformat()
        except ValueError:
            pass
        day_text, _, time_text = text.partition(" ")
    else:
        day_text, time_text = cells.get("date", ""), cells.get("time", "")
    day = _date(day_text.strip(), fmt)
    for f in TIME_FORMATS:
        try:
            at = datetime.strptime(time_text.strip().upper(), f).time()
            return datetime.combine(day, at).isoformat()
        except ValueError:
            continue
    raise ValueError("start: no time of day in HH:MM or HH:MM AM/PM")


class _RowMapper:
    """Validates rows one at a time into records for the mapping's target; keeps only the
    IDs seen (a repeated ID is a bad row), so a whole export can stream through it."""

    def __init__(self, headers: list[str], mapping: Mapping, limits: Limits) -> None:
        self.index: dict[str, int] = {}
        for name, header in mapping.columns.items():
            if header not in headers:
                raise ImportRejected(f"the file has no column {header[:40]!r} (mapped to "
                                     f"{name}); its columns are: "
                                     + ", ".join(h[:30] for h in headers[:30]), "line 1")
            self.index[name] = headers.index(header)
        self.mapping = mapping
        self.required = [f for f, req in TARGETS[mapping.target].items() if req]
        self.deadline = Deadline(limits.seconds)
        self.seen: dict[str, int] = {}  # id -> line

    def __call__(self, line: int, cells: list[str]) -> tuple[str, dict[str, Any] | BadRecord]:
        position = f"line {line}"
        self.deadline.check(position)
        values = {name: (cells[i].strip() if i < len(cells) else "")
                  for name, i in self.index.items()}
        try:
            missing = [f for f in self.required if not values.get(f)]
            if missing:
                raise ValueError(f"{', '.join(missing)}: empty")
            if values["id"] in self.seen:
                raise ValueError(f"id repeats the row on line {self.seen[values['id']]}")
            record = (_patient(values, self.mapping) if self.mapping.target == "patients"
                      else _appointment(values, self.mapping))
        except ValueError as exc:
            return position, BadRecord(position, str(exc)[:160], values.get("id", ""))
        self.seen[values["id"]] = line
        return position, record


def map_rows(table: Table, mapping: Mapping, limits: Limits = LIMITS) -> CsvBatch:
    """Validate every row into a record for the mapping's target. Bad rows are listed
    with their line number and the field at fault."""
    one = _RowMapper(table.headers, mapping, limits)
    batch = CsvBatch()
    for line, cells in table.rows:
        batch.rows += 1
        position, record = one(line, cells)
        if isinstance(record, BadRecord):
            batch.bad.append(record)
        else:
            batch.records.append((position, record))
    return batch


def iter_records(data: bytes, mapping: Mapping, limits: Limits = LIMITS
                 ) -> Iterator[tuple[str, dict[str, Any] | BadRecord]]:
    """Every row of the export as (position, record or BadRecord), read, validated and
    handed over one at a time. The same bytes give the same sequence each time, so an
    import validates in one pass and writes in a second without holding the records."""
    headers, rows = read_rows(data, limits)
    one = _RowMapper(headers, mapping, limits)
    for line, cells in rows:
        yield one(line, cells)


def validate_csv(data: bytes, mapping: Mapping, limits: Limits = LIMITS) -> CsvCheck:
    """The validation pass: the row count and the bad rows (a malformed file raises
    ImportRejected with its line). Holds the rows' IDs, never the rows."""
    checked = CsvCheck()
    for _position, record in iter_records(data, mapping, limits):
        checked.rows += 1
        if isinstance(record, BadRecord):
            checked.bad.append(record)
    return checked


def _patient(v: dict[str, str], mapping: Mapping) -> dict[str, Any]:
    try:
        dob = _date(v["dob"], mapping.date_format)
    except ValueError as exc:
        raise ValueError(f"dob: {exc}") from None
    if dob > clock.now().date():
        raise ValueError("dob: in the future")
    sex = v.get("sex", "")
    if sex and _key(sex) not in SEX_WORDS:
        raise ValueError("sex: not F, M, X or U")
    if bool(v.get("member_id")) != bool(v.get("payer")):
        raise ValueError("member_id and payer: one is given without the other")
    return {"id": v["id"], "first_name": v["first_name"], "last_name": v["last_name"],
            "dob": dob.isoformat(), "sex": SEX_WORDS.get(_key(sex), ""),
            "phone": v.get("phone", ""), "email": v.get("email", ""),
            "address": v.get("address", ""), "member_id": v.get("member_id", ""),
            "payer": v.get("payer", ""), "group_number": v.get("group_number", "")}


def _appointment(v: dict[str, str], mapping: Mapping) -> dict[str, Any]:
    if not v.get("start") and not v.get("date"):
        raise ValueError("start: empty")
    try:
        start = _start(v, mapping.date_format)
    except ValueError as exc:
        raise ValueError(str(exc) if str(exc).startswith("start") else f"start: {exc}") \
            from None
    status = v.get("status", "")
    if status and _key(status) not in STATUS_WORDS:
        raise ValueError("status: not scheduled, completed, no-show or cancelled")
    return {"id": v["id"], "patient_id": v["patient_id"], "start_at": start,
            "provider": v.get("provider", ""), "visit_type": _visit_type(v),
            "status": STATUS_WORDS.get(_key(status), "scheduled")}


def _visit_type(v: dict[str, str]) -> str:
    """The practice's visit types are keys (office_visit, new_patient, ...)."""
    text = re.sub(r"[^a-z0-9]+", "_", v.get("visit_type", "").casefold()).strip("_")
    return text[:40] or "office_visit"


def preview(table: Table, mapping: Mapping | None, rows: int = 5) -> dict[str, Any]:
    """The first rows as the file has them and, with a mapping, as OffHold reads them."""
    out: dict[str, Any] = {"headers": table.headers,
                           "rows": [cells for _line, cells in table.rows[:rows]]}
    if mapping is not None:
        head = Table(table.headers, table.rows[:rows])
        batch = map_rows(head, mapping)
        out["mapped"] = [r for _p, r in batch.records]
        out["problems"] = [str(b) for b in batch.bad]
    return out
