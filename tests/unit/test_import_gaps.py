"""Small import defects (issue 12): an 837's malformed birth date is refused without
echoing it, and two failed files with the same bytes in the watched folder each get
their own task."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from app.errors import ImportRejected
from app.identity import Session
from app.services import imports, practice
from automations.workflows.watched_folder import run_watched_folder
from tests.unit.test_import_837 import CLAIMS, build_837

OLD = time.time() - 3600


@pytest.mark.parametrize("skip_bad", [False, True])
def test_a_malformed_birth_date_is_refused_without_its_value(owner_session: Session,
                                                             skip_bad: bool) -> None:
    data = build_837(CLAIMS, dob="19801399")
    with pytest.raises(ImportRejected) as info:
        imports.import_837(owner_session, data, skip_bad=skip_bad)
    text = str(info.value)
    assert "invalid birth date" in text and re.search(r"at segment \d+ \(DMG\)", text)
    assert "1980" not in text and "1399" not in text
    with pytest.raises(ImportRejected, match="invalid birth date") as preview:
        imports.preview_import(owner_session, "837", [("c.837", data)])
    assert "19801399" not in str(preview.value)


def test_two_failed_files_with_the_same_bytes_get_a_task_each(owner_session: Session,
                                                              tmp_path: Path) -> None:
    folder = tmp_path / "ehr-export"
    folder.mkdir()
    practice.set_setting(owner_session, "import_watch_dir", str(folder))
    for name in ("monday.json", "tuesday.json"):
        path = folder / name
        path.write_bytes(b'{"resourceType": "Bundle", "entry": [')
        os.utime(path, (OLD, OLD))
    summary = run_watched_folder(Session.system(owner_session.vault, "import_watch"))
    assert summary.failed == 2 and len(set(summary.task_ids)) == 2
    drafts = [r[0] for r in owner_session.vault.query(
        "SELECT draft FROM tasks WHERE kind = 'automation_failure' ORDER BY id")]
    assert ["monday.json" in drafts[0], "tuesday.json" in drafts[1]] == [True, True]


def test_the_watched_folder_deletes_through_the_verified_audited_path(
        owner_session: Session, tmp_path: Path) -> None:
    folder = tmp_path / "ehr-export"
    folder.mkdir()
    practice.set_setting(owner_session, "import_watch_dir", str(folder))
    practice.set_setting(owner_session, "import_watch_delete", True)
    path = folder / "zzyzxquell.ndjson"
    path.write_bytes(b'{"resourceType": "Patient", "id": "p1", "name": [{"family": "Q"}], '
                     b'"birthDate": "1970-01-01"}\n')
    os.utime(path, (OLD, OLD))
    summary = run_watched_folder(Session.system(owner_session.vault, "import_watch"))
    assert (summary.imported, summary.deleted) == (1, 1) and not path.exists()
    [(actor, details)] = owner_session.vault.query(
        "SELECT actor, details FROM audit_log WHERE action = 'import.source_deleted'")
    assert actor == "import_watch" and "zzyzxquell" not in details


def test_a_claims_detail_is_an_audited_view(owner_session: Session) -> None:
    """claim_detail shows the patient's diagnoses; it read them without an audit row."""
    imports.import_837(owner_session, build_837(CLAIMS))
    claim_id, patient_id = owner_session.vault.query_one(
        "SELECT id, patient_id FROM claims WHERE claim_number = 'PCN1001'")
    detail = imports.claim_detail(owner_session, claim_id)
    assert detail["diagnoses"] == ["E119"]
    assert owner_session.vault.query(
        "SELECT actor, object_type, object_id, patient_id FROM audit_log WHERE action = "
        "'claim.view'") == [("owner", "claim", str(claim_id), patient_id)]
