"""A task's files (evidence blobs, the intake form) are read through the task: only by
someone who may work that task, audited with its patient. Before, `blob_data` took a bare
blob id, so any user who could view tasks could open any stored file (a front desk user a
denial appeal letter) by counting ids, and no audit row said so."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import queue
from app.errors import NotFound, PermissionDenied
from app.identity import Session, unlock
from app.services import patients, users

LETTER = b"%PDF-1.4 appeal letter for a patient"


def test_a_tasks_file_is_read_through_the_task_by_those_who_may_work_it(
        owner_session: Session, vault_dir: Path) -> None:
    owner = owner_session
    ann = patients.add_patient(owner, "Ann", "Evidencia", "1970-01-01").id
    denial, _ = queue.create_task(
        owner, "denial_review", "evidence-test:denial", "Denial", patient_id=ann,
        evidence=[queue.NewEvidence("Appeal letter draft (PDF)", blob=LETTER,
                                    mime="application/pdf")])
    other, _ = queue.create_task(owner, "denial_review", "evidence-test:other", "Other")
    [evidence] = queue.get_task(owner, denial.id).evidence
    assert evidence.blob_id is not None
    blob_id = evidence.blob_id

    assert queue.blob_data(owner, blob_id, denial.id) == (LETTER, "application/pdf")
    [(patient_id, details)] = owner.vault.query(
        "SELECT patient_id, details FROM audit_log WHERE action = 'evidence.view'")
    assert patient_id == ann and f'"blob_id": {blob_id}' in details
    with pytest.raises(NotFound):  # a file of another task, asked through this one
        queue.blob_data(owner, blob_id, other.id)

    users.add_user(owner, "fran", "front-desk-pass-1", ["front_desk"])
    desk = unlock(vault_dir, "fran", "front-desk-pass-1")
    with pytest.raises(PermissionDenied):
        queue.blob_data(desk, blob_id, denial.id)
    denied = owner.vault.query("SELECT actor FROM audit_log WHERE action = "
                               "'permission.denied' AND object_id = ?", (str(denial.id),))
    assert [a for (a,) in denied] == ["fran"]
