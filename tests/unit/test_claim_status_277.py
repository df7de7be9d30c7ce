"""277 claim status: statuses attached to claims, claim_status tasks for rejections,
pends and information requests, idempotent re-import, rejected files write nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app import queue
from app.services.claim_status import outcome
from app.x12.errors import X12Error
from app.x12.x277 import parse_277
from automations.workflows import claim_status

X12 = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "x12"  # ../shared/corpus


def test_parse_claim_level_statuses() -> None:
    got = parse_277((X12 / "277/lfh__claim-level-status.277").read_bytes())
    assert [(c.claim_number, c.primary.category, c.primary.code) for c in got
            if c.primary] == [("SM123456", "P3", "317"), ("J0234567", "F0", "3"),
                              ("MA345678", "F2", "88")]
    assert got[0].payer_claim_number == "05347006051" and got[0].member_id == "123456789A"
    assert got[2].line_statuses[0][0] == "99203"  # a service-line status, code only


def test_277ca_rejection() -> None:
    got = parse_277((X12 / "277/imsweb__x12_277CA_rejected.txt").read_bytes())
    assert [(s.category, s.code) for s in got[0].statuses] == [("A7", "562")]


@pytest.mark.parametrize("category, expected", [
    ("A7", "rejected"), ("A3", "rejected"), ("F2", "denied"), ("P3", "pended"),
    ("P5", "pended"), ("R4", "info_requested"), ("F1", "finalized"), ("A2", "accepted")])
def test_outcomes(category: str, expected: str) -> None:
    assert outcome(category) == expected


def test_import_creates_tasks_and_updates_claims(practice: Any) -> None:
    payer_id = practice.vault.query_one("SELECT id FROM payers LIMIT 1")[0]
    with practice.vault.write() as conn:
        conn.execute("INSERT INTO claims (claim_number, payer_id, created_at) VALUES "
                     "('SM123456', ?, 'x')", (payer_id,))
    data = (X12 / "277/lfh__claim-level-status.277").read_bytes()
    result = claim_status.import_277_file(practice, data)
    assert result.stored == 3 and len(result.tasks) == 2  # P3 pended, F2 denied
    rejects = claim_status.import_277_file(
        practice, (X12 / "277/imsweb__x12_277CA_rejected.txt").read_bytes())
    task = queue.get_task(practice, rejects.tasks[0])
    assert task.payload["outcome"] == "rejected" and "new original claim" in task.draft
    tasks = [queue.get_task(practice, t) for t in result.tasks]
    assert {t.payload["outcome"] for t in tasks} == {"pended", "denied"}
    assert all(t.kind == "claim_status" for t in tasks)
    rejected = next(t for t in tasks if t.payload["outcome"] == "denied")
    assert rejected.priority == queue.PRIORITY_HIGH and "F2" in rejected.draft
    row = practice.vault.query_one("SELECT status, status_detail, payer_claim_number FROM "
                                   "claims WHERE claim_number = 'SM123456'")
    assert row == ("pended", "277 P3:317", "05347006051")
    again = claim_status.import_277_file(practice, data)
    assert again.stored == 0 and again.duplicates == 3 and again.tasks == []


def test_pend_277_creates_task(practice: Any) -> None:
    result = claim_status.import_277_file(practice, (X12 / "277/stupidedi__1.era").read_bytes(),
                                          lenient=True)
    assert len(result.tasks) == 1
    assert queue.get_task(practice, result.tasks[0]).payload["category"] == "P5"
    assert any("IEA02" in f for f in result.findings)  # lenient: flagged and kept
    stored = practice.vault.query_one("SELECT findings, lenient FROM x12_imports")
    assert "IEA02" in stored[0] and stored[1] == 1


def test_truncated_277_is_rejected_and_nothing_written(practice: Any) -> None:
    data = (X12 / "malformed/277/oopfactory__FromBogeyone.txt").read_bytes()
    before = practice.vault.query_one("SELECT count(*) FROM claim_statuses")[0]
    with pytest.raises(X12Error, match="no SE") as info:
        claim_status.import_277_file(practice, data, lenient=True)
    assert info.value.segment_id == "ST"
    assert practice.vault.query_one("SELECT count(*) FROM claim_statuses")[0] == before
    assert practice.vault.query_one("SELECT count(*) FROM tasks")[0] == 0
