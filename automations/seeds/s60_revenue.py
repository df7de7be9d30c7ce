"""Demo seed: the revenue cycle. Claims for demo patients, a commercial and a Medicare
835 with a spread of outcomes (paid, patient share, missing info, medical necessity,
authorization, bundling, duplicate, coverage ended, timely filing, a reversal and a
provider-level offset), 271 responses for patients seen soon (active with a deductible,
inactive, changed plan), the pre-visit eligibility check, and a 277 with a rejection and
a pend. All synthetic, built with app.x12.synth and imported through the real workflows."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from app import clock
from app.identity import Session
from app.services.practice import set_setting
from app.x12.synth import SynthClaim, SynthLine, build_271, build_277, build_835
from automations.demo import seed_session
from automations.workflows import claim_status, denials, eligibility

ORDER = 60
D = Decimal


def _patients(session: Session, payer: str) -> list[Any]:
    return session.vault.query(
        "SELECT p.id, p.first_name, p.last_name, p.dob, c.member_id, y.id FROM patients p "
        "JOIN coverages c ON c.patient_id = p.id JOIN payers y ON y.id = c.payer_id "
        "WHERE y.name = ? ORDER BY p.id", (payer,))


def _line(code: str, charge: str, paid: str, *adj: tuple[str, str, str],
          remarks: tuple[str, ...] = (), mods: tuple[str, ...] = ()) -> SynthLine:
    return SynthLine(code, D(charge), D(paid), [(g, c, D(a)) for g, c, a in adj],
                     list(remarks), list(mods))


def seed(session: Session, rng: random.Random) -> None:
    set_setting(session, "practice_npi", "1234567893")
    # the letterhead on the demo's appeal letters (a fictional address; 555 numbers)
    set_setting(session, "practice_address", "100 Maple Street, Suite 2, Springfield, IL 62701")
    set_setting(session, "practice_phone", "(555) 010-0100")
    set_setting(session, "practice_tin", "12-3456789")
    system = seed_session(session)
    today = clock.now().date()
    dos = today - timedelta(days=35)
    paid_on = today - timedelta(days=3)
    claims_made: list[tuple[int, str, int]] = []

    def claim(row: Any, n: int, status: str, lines: list[SynthLine],
              filing: str = "CI") -> SynthClaim:
        number = f"MS{row[0]:04d}{n}"
        claims_made.append((row[0], number, row[5]))
        return SynthClaim(number, status, row[2].upper(), row[1].upper(), row[4],
                          dos - timedelta(days=n), lines, payer_claim_number=f"NW{number}",
                          filing=filing)

    nw = _patients(session, "Northwind National Health")
    commercial = [
        claim(nw[0], 1, "1", [_line("99213", "150.00", "85.00", ("CO", "45", "45.00"),
                                    ("PR", "3", "20.00"))]),
        claim(nw[0], 2, "4", [_line("99214", "210.00", "0.00", ("CO", "16", "210.00"),
                                    remarks=("N290",))]),
        claim(nw[1], 1, "4", [_line("93000", "60.00", "0.00", ("CO", "50", "60.00"),
                                    remarks=("N115",)),
                              _line("99214", "210.00", "0.00", ("CO", "50", "210.00"))]),
        claim(nw[1], 2, "4", [_line("73721", "480.00", "0.00", ("CO", "197", "480.00"))]),
        claim(nw[2], 1, "1", [_line("99214", "210.00", "120.00", ("CO", "45", "60.00"),
                                    ("PR", "2", "30.00"), mods=("25",)),
                              _line("69210", "95.00", "0.00", ("CO", "97", "95.00"))]),
        claim(nw[2], 2, "4", [_line("99213", "150.00", "0.00", ("CO", "18", "150.00"))]),
        claim(nw[3], 1, "4", [_line("99213", "150.00", "0.00", ("CO", "27", "150.00"))]),
        claim(nw[4], 1, "1", [_line("99203", "240.00", "0.00", ("CO", "45", "60.00"),
                                    ("PR", "1", "180.00"))]),
        claim(nw[5], 1, "22", [_line("99213", "-150.00", "-85.00", ("CO", "45", "-45.00"),
                                     ("PR", "3", "-20.00"))]),
        claim(nw[5], 2, "1", [_line("99214", "210.00", "140.00", ("CO", "45", "50.00"),
                                    ("PR", "3", "20.00"))]),
    ]
    mc = _patients(session, "Medicare Part B")
    medicare = [
        claim(mc[0], 1, "4", [_line("99214", "210.00", "0.00", ("CO", "29", "210.00"))],
              filing="MB"),
        claim(mc[1], 1, "1", [_line("99213", "150.00", "78.40", ("CO", "45", "52.00"),
                                    ("PR", "2", "19.60"))], filing="MB"),
        claim(mc[2], 1, "4", [_line("G0439", "175.00", "0.00", ("CO", "16", "175.00"),
                                    remarks=("MA130", "N265"))], filing="MB"),
    ]
    with session.vault.write() as conn:
        for patient_id, number, payer_id in claims_made:
            conn.execute("INSERT INTO claims (claim_number, patient_id, payer_id, service_date, "
                         "submitted_at, created_at) VALUES (?,?,?,?,?,?)",
                         (number, patient_id, payer_id, dos.isoformat(),
                          clock.iso(clock.now() - timedelta(days=30)), clock.iso(clock.now())))
    denials.import_835_file(system, build_835(
        commercial, payer_name="Northwind National Health", payer_id="NORTHW", trace="EFT88231",
        paid_on=paid_on, plb=[("WO", "NWMS00011OVERPAY", D("12.50")), ("L6", "INT", D("-1.25"))]))
    denials.import_835_file(system, build_835(
        medicare, payer_name="Medicare Part B", payer_id="MEDICA", trace="EFT77120",
        paid_on=paid_on, control=2))

    # 271s for patients seen in the next day, then the pre-visit check.
    soon = session.vault.query(
        "SELECT DISTINCT a.patient_id FROM appointments a WHERE a.status = 'scheduled' AND "
        "a.start_at >= ? AND a.start_at < ? ORDER BY a.patient_id",
        (clock.iso(clock.now()), clock.iso(clock.now() + timedelta(days=1))))
    variants = [
        [["1", "IND", "30", "", "CHOICE PPO"], ["C", "IND", "30", "", "", "29", "400.00"],
         ["A", "IND", "30", "", "", "", "", "0.2"], ["G", "IND", "30", "", "", "29", "2500.00"]],
        [["6", "IND", "30"]],
        [["1", "IND", "30", "", "NEW SILVER HMO"], ["B", "IND", "98", "", "", "27", "25.00"]],
        [["1", "IND", "30", "", "CHOICE PPO"], ["B", "IND", "98", "", "", "27", "30.00"]],
    ]
    for n, (patient_id,) in enumerate(soon[:4]):
        row = session.vault.query_one(
            "SELECT p.first_name, p.last_name, p.dob, c.member_id, y.name, y.payer_code "
            "FROM patients p JOIN coverages c ON c.patient_id = p.id JOIN payers y ON "
            "y.id = c.payer_id WHERE p.id = ?", (patient_id,))
        with session.vault.write() as conn:
            conn.execute("UPDATE coverages SET plan_name = 'CHOICE PPO' WHERE patient_id = ?",
                         (patient_id,))
        eligibility.import_271_file(system, build_271(
            payer_name=row[4], payer_id=row[5] or "PAYER", last=row[1].upper(),
            first=row[0].upper(), member_id=row[3], dob=date.fromisoformat(row[2]),
            benefits=variants[n % len(variants)], trace=f"ELIG{patient_id}", on=today,
            control=10 + n))
    eligibility.check_upcoming_visits(system, days_ahead=1)

    status_rows = [(number, f"NW{number}", "", "", "", s) for (_p, number, _y), s in
                   zip(claims_made[:3], ["A7:562", "P3:317", "F1:65"])]
    for i, (number, pcn, _l, _f, _m, s) in enumerate(status_rows):
        r = session.vault.query_one(
            "SELECT p.last_name, p.first_name, c.member_id FROM claims k JOIN patients p ON "
            "p.id = k.patient_id JOIN coverages c ON c.patient_id = p.id WHERE "
            "k.claim_number = ?", (number,))
        status_rows[i] = (number, pcn, r[0].upper(), r[1].upper(), r[2], s)
    claim_status.import_277_file(system, build_277(
        payer_name="Northwind National Health", claims=status_rows, on=today, control=30))
