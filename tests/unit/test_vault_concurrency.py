"""One writer, concurrent readers: a page loads while an 835 import holds the writer,
a write sees its own changes, and nobody can write past the writer's lock."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlcipher3

from app import clock, queue
from app.x12.synth import SynthClaim, SynthLine, build_835
from automations.workflows import denials

D = Decimal
PAGE_BUDGET_S = 0.100


def _big_835(claims: int) -> bytes:
    def claim(i: int) -> SynthClaim:
        carc, paid = ("50", D("0.00")) if i % 40 == 0 else ("45", D("150.00"))
        status = "4" if paid == 0 else "1"
        return SynthClaim(f"L{i:05d}", status, "ZZYZXQUELL", "QUINTESSA", "ZQM4455667",
                          date(2026, 9, 1),
                          [SynthLine("99214", D("200.00"), paid,
                                     [("CO", carc, D("200.00") - paid)], [], [])],
                          payer_claim_number=f"PCN{i:05d}")
    return build_835([claim(i) for i in range(claims)], payer_name="Acme Health",
                     payer_id="PAYERX", trace="BIG1", paid_on=date(2026, 10, 1))


def _page(session: Any) -> float:
    """What the queue page does on load: its rows and the sidebar counts."""
    start = time.perf_counter()
    queue.list_tasks(session, limit=50)
    queue.queue_counts(session)
    return time.perf_counter() - start


def test_queue_page_loads_while_an_import_holds_the_writer(practice: Any) -> None:
    clock.set_clock(lambda: datetime(2026, 10, 3, 12, 0, tzinfo=timezone.utc))
    for i in range(300):
        queue.create_task(practice, "pa_followup", f"page:{i}", f"Check PA {i}")
    _page(practice)  # the pool's first reader is opened outside the timing
    data = _big_835(400)
    held, release = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def importer() -> None:
        try:
            with practice.vault.write():  # the import's transaction, kept open
                denials.import_835_file(practice, data)
                held.set()
                release.wait(30)
        except BaseException as exc:  # reported on the test's thread
            failure.append(exc)
            held.set()

    thread = threading.Thread(target=importer)
    thread.start()
    try:
        assert held.wait(120) and not failure, failure
        before = practice.vault.query_one("SELECT count(*) FROM remit_claims")[0]
        # best of three: the other core is shared with other work
        took = min(_page(practice) for _ in range(3))
    finally:
        release.set()
        thread.join(60)
    assert not failure, failure
    assert took < PAGE_BUDGET_S, f"page took {took * 1000:.0f} ms behind the writer"
    assert before == 0  # the page saw the last commit, not the import under way
    assert practice.vault.query_one("SELECT count(*) FROM remit_claims")[0] == 400


def test_a_write_reads_its_own_changes_and_others_the_last_commit(practice: Any) -> None:
    seen_elsewhere: list[int] = []
    with practice.vault.write() as conn:
        conn.execute("INSERT INTO action_modes (kind, mode) VALUES ('outreach', 'approve_each')")
        assert practice.vault.query_one(
            "SELECT count(*) FROM action_modes WHERE kind = 'outreach'")[0] == 1
        other = threading.Thread(target=lambda: seen_elsewhere.append(practice.vault.query_one(
            "SELECT count(*) FROM action_modes WHERE kind = 'outreach'")[0]))
        other.start()
        other.join(10)
    assert seen_elsewhere == [0]  # not blocked, and no uncommitted row
    assert practice.vault.query_one(
        "SELECT count(*) FROM action_modes WHERE kind = 'outreach'")[0] == 1


def test_a_read_is_one_snapshot(practice: Any) -> None:
    with practice.vault.read() as conn:
        first = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
        writer = threading.Thread(target=queue.create_task,
                                  args=(practice, "pa_followup", "snap", "Snapshot"))
        writer.start()
        writer.join(30)
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == first
    assert practice.vault.query_one("SELECT count(*) FROM audit_log")[0] > first


def test_read_connections_refuse_writes(practice: Any) -> None:
    with practice.vault.read() as conn, pytest.raises(sqlcipher3.OperationalError,
                                                      match="readonly"):
        conn.execute("INSERT INTO action_modes (kind, mode) VALUES ('outreach', 'shadow')")


def test_a_closed_vault_reads_nothing(practice: Any) -> None:
    practice.vault.query("SELECT count(*) FROM tasks")
    practice.vault.close()
    with pytest.raises(sqlcipher3.ProgrammingError):
        practice.vault.query("SELECT count(*) FROM tasks")
