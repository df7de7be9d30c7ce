"""Denials end to end: import an 835, get denial_review tasks with the appeal letter
(PDF in the vault + editable text) and the corrected-claim worksheet, deadlines from the
payer (Medicare: 120 days; CO-29 not appealable), and the approval effect."""

from __future__ import annotations

import io
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from pypdf import PdfReader

from app import clock, queue
from app.services import patients, remittance
from app.x12.synth import SynthClaim, SynthLine, build_835
from automations.workflows import denials

D = Decimal
PAID_ON = date(2026, 10, 1)


def denied(number: str, carc: str, *, remarks: tuple[str, ...] = (), filing: str = "12",
           status: str = "4") -> SynthClaim:
    return SynthClaim(number, status, "ZZYZXQUELL", "QUINTESSA", "ZQM4455667",
                      date(2026, 9, 1),
                      [SynthLine("99214", D("200.00"), D("0.00"), [("CO", carc, D("200.00"))],
                                 list(remarks), ["25"])],
                      payer_claim_number=f"PCN{number}", filing=filing)


def run(session: Any, claims: list[SynthClaim], payer: str = "Acme Health",
        trace: str = "T1") -> Any:
    clock.set_clock(lambda: datetime(2026, 10, 3, 12, 0, tzinfo=timezone.utc))
    data = build_835(claims, payer_name=payer, payer_id="PAYERX", trace=trace,
                     paid_on=PAID_ON)
    return denials.import_835_file(session, data)


def test_denial_task_with_drafts(practice: Any) -> None:
    result = run(practice, [denied("C50", "50", remarks=("N115",))])
    assert result.denials == 1 and len(result.tasks) == 1
    task = queue.get_task(practice, result.tasks[0])
    assert task.kind == "denial_review" and task.role == "biller"
    assert task.patient_id is not None
    assert task.payload["category"] == "medical_necessity"
    assert task.payload["appeal_deadline"] == "2027-03-30"  # Acme: 180 days
    assert "CO-50" in task.draft and "N115" in task.draft and "99214" in task.draft
    assert "Reconsideration" in task.draft
    labels = {e.label: e for e in task.evidence}
    pdf_ev = labels["Appeal letter draft (PDF)"]
    assert pdf_ev.blob_id is not None
    pdf, mime = queue.blob_data(practice, pdf_ev.blob_id, task.id)
    assert mime == "application/pdf" and pdf.startswith(b"%PDF")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    for needle in ("C50", "PCNC50", "CO-50", "99214", "Zzyzxquell",
                   "medical necessity"):
        assert needle in text, needle
    worksheet = labels["Corrected-claim worksheet"].excerpt
    assert "REF*F8" in worksheet and "PCNC50" in worksheet and "7 (replacement" in worksheet


def test_cpt_codes_only_no_descriptions(practice: Any) -> None:
    result = run(practice, [denied("C97", "97")])
    task = queue.get_task(practice, result.tasks[0])
    assert "99214" in task.draft
    # no words from a CPT descriptor (the AMA's text) are ever added
    for word in ("Office or other outpatient", "established patient", "Evaluation and"):
        assert word not in task.draft


def test_medicare_timely_filing_is_not_appealable(practice: Any) -> None:
    patients.add_payer(practice, "Medicare Part B", "medicare_ffs")
    result = run(practice, [denied("C29", "29", filing="MB")], payer="Medicare Part B")
    task = queue.get_task(practice, result.tasks[0])
    assert task.draft.startswith("NOT APPEALABLE")
    assert task.payload["appealable"] is False and task.payload["appeal_deadline"] is None
    assert not any(e.mime == "application/pdf" for e in task.evidence)
    row = practice.vault.query_one("SELECT appealable, appeal_deadline, category FROM "
                                   "remit_claims WHERE claim_number = 'C29'")
    assert row == (0, None, "timely_filing")


def test_medicare_redetermination_window_is_120_days(practice: Any) -> None:
    patients.add_payer(practice, "Medicare Part B", "medicare_ffs")
    result = run(practice, [denied("C16", "16", remarks=("MA130",), filing="MB")],
                 payer="Medicare Part B")
    task = queue.get_task(practice, result.tasks[0])
    assert task.payload["appeal_deadline"] == "2027-01-29"  # 2026-10-01 + 120 days
    assert task.payload["action"] == "fix_and_resubmit"


def test_non_denials_make_no_task(practice: Any) -> None:
    paid = SynthClaim("OK1", "1", "ZZYZXQUELL", "QUINTESSA", "ZQM4455667", date(2026, 9, 1),
                      [SynthLine("99213", D("150.00"), D("90.00"),
                                 [("CO", "45", D("40.00")), ("PR", "3", D("20.00"))])])
    reversal = SynthClaim("OK0", "22", "ZZYZXQUELL", "QUINTESSA", "ZQM4455667",
                          date(2026, 9, 1), [SynthLine("99213", D("-150.00"), D("-150.00"))])
    result = run(practice, [paid, reversal])
    assert result.denials == 0 and result.tasks == []
    rows = dict(practice.vault.query("SELECT claim_number, next_action FROM remit_claims"))
    assert rows == {"OK1": "bill_patient", "OK0": "no_action"}


def test_claim_in_vault_is_matched_and_updated(practice: Any) -> None:
    payer_id, patient_id = practice.vault.query_one(
        "SELECT payer_id, patient_id FROM coverages LIMIT 1")
    with practice.vault.write() as conn:
        conn.execute("INSERT INTO claims (claim_number, patient_id, payer_id, created_at) "
                     "VALUES ('C18', ?, ?, 'x')", (patient_id, payer_id))
    run(practice, [denied("C18", "18")])
    status, pcn = practice.vault.query_one("SELECT status, payer_claim_number FROM claims "
                                           "WHERE claim_number = 'C18'")
    assert status == "denied" and pcn == "PCNC18"
    rc = practice.vault.query_one("SELECT claim_id, category FROM remit_claims")
    assert rc[0] is not None and rc[1] == "duplicate"


def test_approval_stores_the_final_letter(practice: Any) -> None:
    queue.set_mode(practice, "denial_review", "approve_each")
    result = run(practice, [denied("C51", "50")])
    task = queue.get_task(practice, result.tasks[0])
    edited = task.draft.replace("To whom it may concern:", "Dear appeals reviewer:")
    done = queue.approve(practice, task.id, edited)
    assert done.state.value == "done"
    final = [e for e in queue.get_task(practice, task.id).evidence
             if e.label == "Approved appeal letter (PDF)"]
    assert len(final) == 1
    assert final[0].blob_id is not None
    pdf, _mime = queue.blob_data(practice, final[0].blob_id, task.id)
    assert "Dear appeals reviewer" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert practice.vault.query_one("SELECT worked_at FROM remit_claims")[0] is not None


def test_review_pane_detail(practice: Any) -> None:
    result = run(practice, [denied("C16", "16", remarks=("N290",))])
    rc_id = queue.get_task(practice, result.tasks[0]).payload["remit_claim_id"]
    detail = remittance.remit_claim_detail(practice, rc_id)
    assert detail["category"] == "missing_info" and detail["denial"]
    assert detail["adjustments"][0]["carc"] == "16"
    assert "missing" in detail["adjustments"][0]["reason"].lower() or \
        detail["adjustments"][0]["reason"]
    assert detail["remarks"][0]["code"] == "N290"
    assert detail["lines"][0]["code"] == "99214"
    # Acme files within 90 days of the date of service (2026-09-01)
    assert detail["timely_filing_deadline"] == "2026-11-30"


def test_nothing_written_to_disk(practice: Any, tmp_path: Any, private_tmp: Any) -> None:
    from tests.conftest import files_containing
    run(practice, [denied("C50", "50")])
    assert files_containing(private_tmp, b"ZQM4455667") == []
    assert files_containing(practice.vault.directory, b"ZQM4455667") == []


def test_letter_export_is_explicit_and_audited(practice: Any, tmp_path: Any) -> None:
    import os
    import stat
    result = run(practice, [denied("C52", "50")])
    path = remittance.export_letter(practice, result.tasks[0], tmp_path)
    assert path.read_bytes().startswith(b"%PDF")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert practice.vault.query_one("SELECT count(*) FROM audit_log WHERE action = "
                                    "'denial.letter_export'")[0] == 1
    # Overwriting a file the user's umask left world-readable narrows it too.
    old = tmp_path / "old.pdf"
    old.write_bytes(b"x")
    os.chmod(old, 0o644)
    assert stat.S_IMODE(remittance.export_letter(practice, result.tasks[0], old)
                        .stat().st_mode) == 0o600


def test_letters_render_while_the_vault_stays_writable(practice: Any, monkeypatch: Any) -> None:
    """A long render must not hold the write lock: while each letter renders, another
    thread commits a write (it would wait for the whole import if the lock were held)."""
    import threading

    from app import audit
    real = denials.appeal_pdf
    seen: list[tuple[bool, bool]] = []

    def slow_render(facts: Any, **kw: Any) -> bytes:
        other = threading.Thread(target=audit.record_now, args=(
            practice.vault, audit.SystemActor(), "test.during_render"))
        other.start()
        other.join(10)
        seen.append((practice.vault.in_transaction, not other.is_alive()))
        return real(facts, **kw)

    monkeypatch.setattr(denials, "appeal_pdf", slow_render)
    result = run(practice, [denied("C50", "50", remarks=("N115",)), denied("C97", "97")])
    assert len(result.tasks) == 2
    assert seen == [(False, True), (False, True)]  # one render per letter, none in the write
    assert practice.vault.query_one("SELECT count(*) FROM audit_log WHERE action = "
                                    "'test.during_render'")[0] == 2
    for task_id in result.tasks:
        pdfs = [e for e in queue.get_task(practice, task_id).evidence
                if e.mime == "application/pdf"]
        assert len(pdfs) == 1 and pdfs[0].blob_id is not None


def test_a_change_between_render_and_write_renders_that_letter_again(
        practice: Any, monkeypatch: Any) -> None:
    from app.services import remittance as remit_svc
    real_plan = remit_svc.plan_remittances

    def plan_then_rename(session: Any, remits: Any) -> Any:
        planned = real_plan(session, remits)
        with session.vault.write() as conn:  # another user renames the patient meanwhile
            conn.execute("UPDATE patients SET first_name = 'Quilla'")
        return planned

    monkeypatch.setattr(remit_svc, "plan_remittances", plan_then_rename)
    result = run(practice, [denied("C50", "50")])
    task = queue.get_task(practice, result.tasks[0])
    blob = next(e.blob_id for e in task.evidence if e.mime == "application/pdf")
    assert blob is not None
    pdf, _mime = queue.blob_data(practice, blob, task.id)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "Quilla" in text
