"""Intake review: storing a processed form as an `intake_review` task, the review pane's
view of it, and what approval does (write the reviewed fields to the patient record).

The task's payload holds the IntakeResult (source text, values with spans, flags,
discrepancies, summaries); its draft holds the editable fields as JSON, so edits go
through the queue's audited edit path and approval applies exactly what the person saw.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import date, timedelta
from typing import Any

from app import audit, clock, queue
from app.domain import Task
from app.domain.intake import FIELDS, LIST_FIELDS, PATIENT_FIELDS, Box, IntakeResult, Span
from app.errors import NotFound, ValidationError
from app.identity import Session, require
from app.services import patients

REVIEW_WITHIN = timedelta(days=1)  # intake forms are reviewed by the next business day


def fields_to_draft(fields: dict[str, Any]) -> str:
    """The editable draft: known fields only, in review order, as pretty JSON."""
    ordered = {k: fields[k] for k in FIELDS if k in fields}
    return json.dumps(ordered, indent=2, ensure_ascii=False)


def draft_to_fields(draft: str, *, check_dates: bool = True) -> dict[str, Any]:
    """Parse and check an (edited) draft; the message names the bad field. Viewing passes
    check_dates=False: a date the form wrote unreadably is shown for the person to fix
    (it carries an unreadable_date flag), and is checked when saved or approved."""
    try:
        data = json.loads(draft)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"the intake fields are not valid JSON (line {exc.lineno}, "
                              f"column {exc.colno}: {exc.msg})") from exc
    if not isinstance(data, dict):
        raise ValidationError("the intake fields must be a JSON object")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ValidationError(f"unknown intake field(s): {', '.join(unknown)}")
    for key, value in data.items():
        if key in LIST_FIELDS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValidationError(f"intake field {key} must be a list of text items")
        elif not isinstance(value, str):
            raise ValidationError(f"intake field {key} must be text")
    for key in ("dob", "subscriber_dob"):
        if data.get(key) and check_dates:
            try:
                born = date.fromisoformat(data[key])
            except ValueError as exc:
                raise ValidationError(f"intake field {key} must be YYYY-MM-DD, got "
                                      f"{data[key]!r}") from exc
            if born > clock.now().date():
                raise ValidationError(f"intake field {key} is in the future")
    return data


def create_review(session: Session, result: IntakeResult, *, data: bytes, mime: str,
                  natural_key: str, sha256: str, title: str) -> tuple[Task, bool]:
    """Store the form (as a vault blob) and its review task, in one transaction."""
    require(session, "intake.import")
    fields = {k: v for k, v in result.fields_dict().items()
              if k in result.answered or k in result.none_reported}
    vault = session.vault
    with vault.write() as conn:
        evidence = [queue.NewEvidence("Intake form as received", excerpt=mime, blob=data,
                                      mime=mime)]
        if result.source_text:
            evidence.append(queue.NewEvidence("Source text", excerpt=result.source_text[:500],
                                              blob=result.source_text.encode("utf-8"),
                                              mime="text/plain; charset=utf-8"))
        task, created = queue.create_task(
            session, "intake_review", natural_key, title, draft=fields_to_draft(fields),
            due_at=clock.now() + REVIEW_WITHIN,
            priority=queue.PRIORITY_HIGH if any(f.severity == "critical"
                                                for f in result.flags) else
            queue.PRIORITY_NORMAL,
            subject_type="patient" if result.patient_id else "intake",
            subject_id=result.patient_id or natural_key, patient_id=result.patient_id,
            payload=result.to_json(), evidence=evidence)
        if created:
            blob_id = next((e.blob_id for e in task.evidence
                            if e.label == "Intake form as received"), None)
            status = "manual_entry" if result.source_kind.value in ("scanned_pdf", "image") \
                and not result.source_text else "review"  # OCR read it: a normal review
            conn.execute("INSERT INTO intake_forms (sha256, source_kind, blob_id, patient_id, "
                         "task_id, status, received_at, received_by) VALUES (?,?,?,?,?,?,?,?)",
                         (sha256, result.source_kind.value, blob_id, result.patient_id,
                          task.id, status, clock.iso(clock.now()), session.username))
            audit.record(vault, conn, session, "intake.import", "task", task.id,
                         patient_id=result.patient_id,
                         details={"source_kind": result.source_kind.value,
                                  "sha256": sha256, "values": len(result.values),
                                  "flags": sorted({f.code for f in result.flags}),
                                  "summary_origin": result.summary_origin,
                                  "match": result.match})
    return task, created



def find_patient(session: Session, first: str, last: str, dob_iso: str,
                 member_id: str) -> tuple[int | None, str]:
    """Match a form to one patient: by member ID, else by last name + DOB (+ first name if
    that is ambiguous). Returns (patient_id or None, how)."""
    require(session, "patient.view")
    vault = session.vault
    if member_id:
        key = "".join(c for c in member_id.lower() if c.isalnum())
        rows = vault.query("SELECT DISTINCT patient_id FROM coverages WHERE lower(replace("
                           "replace(member_id, '-', ''), ' ', '')) = ?", (key,))
        if len(rows) == 1:
            return int(rows[0][0]), "member_id"
    if last and dob_iso:
        rows = vault.query("SELECT id, first_name FROM patients WHERE dob = ? AND "
                           "lower(last_name) = lower(?)", (dob_iso, last.strip()))
        if len(rows) > 1 and first:
            rows = [r for r in rows if str(r[1]).lower() == first.strip().lower()]
        if len(rows) == 1:
            return int(rows[0][0]), "name_dob"
    return None, "none"


@dataclass
class Highlight:
    start: int
    end: int
    field: str
    grounded: bool
    boxes: list[Box] = dc_field(default_factory=list)  # OCR'd: where on the scan (page, 0..1)


@dataclass
class IntakeReview:
    """Everything the review pane shows for one intake task."""

    task: Task
    result: IntakeResult
    fields: dict[str, Any]  # the current (possibly edited) draft fields
    highlights: list[Highlight]

    @property
    def source_text(self) -> str:
        return self.result.source_text


def highlights(result: IntakeResult) -> list[Highlight]:
    out = [Highlight(s, e, v.field, v.grounded, list(v.boxes)) for v in result.values
           for s, e in v.spans]
    out += [Highlight(s, e, v.field, True, list(v.boxes)) for v in result.stated_none
            for s, e in v.spans]
    out += [Highlight(s, e, "flag:" + f.code, False) for f in result.flags for s, e in f.spans]
    return sorted(out, key=lambda h: (h.start, h.end))


def review(session: Session, task_id: int) -> IntakeReview:
    """The review pane's data (an audited view of the task)."""
    task = queue.get_task(session, task_id)
    if task.kind != "intake_review":
        raise ValidationError(f"task {task_id} is a {task.kind} task, not an intake review")
    result = IntakeResult.from_json(task.payload)
    return IntakeReview(task, result, draft_to_fields(task.draft, check_dates=False),
                        highlights(result))


def save_fields(session: Session, task_id: int, fields: dict[str, Any]) -> Task:
    """Save the reviewer's edits (validated) as the task's draft, through the audited path."""
    draft = fields_to_draft(fields)
    draft_to_fields(draft)
    return queue.edit_draft(session, task_id, draft)


def apply_intake(session: Session, task: Task) -> str:
    """The intake_review effect: write the reviewed fields to the patient record (audited
    before/after by update_patient), or create the patient when the form matched none."""
    fields = draft_to_fields(task.draft)
    result = IntakeResult.from_json(task.payload)
    if result.source_kind.value in ("scanned_pdf", "image") and not any(
            fields.get(k) for k in PATIENT_FIELDS):
        raise ValidationError("this form was a scan: type its values into the fields first")
    changes = {k: fields[k] for k in PATIENT_FIELDS if k in fields and (
        k in LIST_FIELDS or str(fields[k]).strip())}
    patient_id = task.patient_id
    if patient_id is None:
        if not (fields.get("first_name") and fields.get("last_name") and fields.get("dob")):
            raise ValidationError("no matching patient: first name, last name and date of "
                                  "birth are needed to create one")
        created = patients.add_patient(session, fields["first_name"], fields["last_name"],
                                       fields["dob"], sex=fields.get("sex", ""),
                                       phone=fields.get("phone", ""),
                                       email=fields.get("email", ""),
                                       address=fields.get("address", ""))
        patient_id = created.id
        changes = {k: v for k, v in changes.items() if k in LIST_FIELDS}
        note = f"created patient {patient_id}"
    else:
        current = patients._load_patient(session, patient_id)
        changes = {k: v for k, v in changes.items() if _differs(getattr(current, k), v)}
        note = f"updated patient {patient_id}"
    if changes:
        patients.update_patient(session, patient_id, **changes)
    insurance = patients.apply_form_insurance(
        session, patient_id, str(fields.get("insurance") or ""),
        str(fields.get("member_id") or ""), str(fields.get("group_number") or ""),
        subscriber_name=str(fields.get("subscriber_name") or ""),
        subscriber_dob=str(fields.get("subscriber_dob") or ""),
        subscriber_relationship=str(fields.get("subscriber_relationship") or ""))
    with session.vault.write() as conn:
        conn.execute("UPDATE intake_forms SET status = 'applied', patient_id = ? "
                     "WHERE task_id = ?", (patient_id, task.id))
        if task.patient_id is None:
            conn.execute("UPDATE tasks SET patient_id = ? WHERE id = ?", (patient_id, task.id))
    return f"{note}: {', '.join(sorted(changes)) or 'no changes'}" + (
        f"; {insurance}" if insurance else "")


def _differs(current: Any, new: Any) -> bool:
    if isinstance(current, date):
        return bool(current.isoformat() != new)
    return bool(current != new)


def spans_text(text: str, spans: list[Span]) -> list[str]:
    return [text[s:e] for s, e in spans]


def get_form_blob(session: Session, task_id: int) -> tuple[bytes, str]:
    """The original file for the review pane's viewer."""
    require(session, "task.view")  # before the look-up: a refusal says nothing of the form
    row = session.vault.query_one("SELECT blob_id FROM intake_forms WHERE task_id = ?",
                                  (task_id,))
    if row is None or row[0] is None:
        raise NotFound(f"no intake form stored for task {task_id}")
    return queue.blob_data(session, int(row[0]), task_id)
