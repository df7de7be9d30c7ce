"""Claim status workflow: import a 277 (or 277CA) and queue a `claim_status` task for
each rejected, pended or information-requested claim. One transaction per import.
Desktop import dialog: `import_277_file(session, data, lenient=False)`."""

from __future__ import annotations

from datetime import timedelta

from app import clock, queue
from app.identity import Session, require
from app.services import claim_status
from app.services.remittance import ImportResult
from app.x12.envelope import parse_envelope
from app.x12.x277 import parse_277

KIND = "claim_status"
NEXT_STEP = {
    "rejected": "Correct the claim and resubmit it (a rejected claim was never adjudicated, "
                "so send it as a new original claim, frequency 1).",
    "denied": "The payer denied the claim; the 835 will carry the reason codes and the "
              "denial queue will draft the next step.",
    "pended": "The payer is holding the claim; send what it asks for, or check back in a "
              "few days.",
    "info_requested": "The payer asks for more information; send it with the claim number.",
}


def import_277_file(session: Session, data: bytes, *, lenient: bool = False) -> ImportResult:
    require(session, "claim.manage")
    inter = parse_envelope(data, lenient=lenient)  # raises X12Error; nothing written
    statuses = parse_277(inter, lenient=lenient)
    with session.vault.write() as conn:
        result, stored = claim_status.store_277(session, conn, statuses, data,
                                                lenient=lenient, findings=inter.findings)
        for s in stored:
            if s.outcome not in NEXT_STEP:
                continue
            st = s.status
            lines = [f"Claim {st.claim_number} (payer claim {st.payer_claim_number or '-'})"]
            for info in st.statuses:
                lines.append(f"- {info.category} {claim_status.category_text(info.category)}; "
                             f"{info.code} {claim_status.status_text(info.code)}")
            for code, info in st.line_statuses:
                lines.append(f"- line {code}: {info.category}:{info.code} "
                             f"{claim_status.status_text(info.code)}")
            lines += ["", NEXT_STEP[s.outcome]]
            primary = st.statuses[0]
            task, _created = queue.create_task(
                session, KIND, f"claim_status:{s.status_row_id}",
                f"Claim {s.outcome}: {primary.category}:{primary.code} claim "
                f"{st.claim_number}"[:200], draft="\n".join(lines),
                due_at=clock.now() + timedelta(days=2 if s.outcome == "rejected" else 5),
                priority=queue.PRIORITY_HIGH if s.outcome in ("rejected", "denied")
                else queue.PRIORITY_NORMAL,
                subject_type="claim_status", subject_id=s.status_row_id,
                patient_id=s.patient_id,
                payload={"claim_number": st.claim_number, "outcome": s.outcome,
                         "category": primary.category, "code": primary.code},
                evidence=[queue.NewEvidence("277 status", excerpt=f"{primary.category}:"
                                                                   f"{primary.code}")])
            conn.execute("UPDATE claim_statuses SET task_id = ? WHERE id = ?",
                         (task.id, s.status_row_id))
            result.tasks.append(task.id)
    return result
