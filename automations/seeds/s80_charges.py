"""Demo seed: charts and claims for the past weeks' visits, then the real charge capture
workflow over them. Most visits are documented and billed alike; a few carry the
findings a biller should see: a flu shot documented but not billed (product and
administration), a billed service the chart does not support, injection units that
differ (the chart states two, the claim bills one), a visit with nothing billed, and one
level-5 visit among Dr. Rivera's level-3s (an E/M outlier in her own distribution, the
claims' rendering provider; Dr. Chen has too few visits to be judged). Claims carry the
rendering provider as an 837 does (2310B), one the billing provider only (2010AA), and
the chart its documenting provider (Encounter.participant PPRF). Names and NPIs are
synthetic (the NPIs pass the Luhn check)."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta, timezone

from app import clock
from app.identity import Session
from automations.demo import seed_session
from automations.workflows.charge_review import review_charges

ORDER = 80
SNOMED, CVX, CPT = "http://snomed.info/sct", "http://hl7.org/fhir/sid/cvx", \
    "http://www.ama-assn.org/go/cpt"
CHECK_UP = ("185349003", "Encounter for check up")
PROVIDERS = ("Dr. Rivera", "Dr. Chen")  # as the schedule shows them
# name on the claim (NM1*82), NPI
RENDERING = {"Dr. Rivera": ("RIVERA, ELENA", "1987654328"),
             "Dr. Chen": ("CHEN, LI", "1555000003")}
BILLING = ("VALLEY FAMILY MEDICINE", "1444000008")  # 2010AA, the practice


def seed(session: Session, rng: random.Random) -> None:
    system = seed_session(session)
    today = clock.now().date()
    rows = system.vault.query(
        "SELECT p.id, c.payer_id FROM patients p JOIN coverages c ON c.patient_id = p.id "
        "ORDER BY p.id")
    if len(rows) < 6:
        return
    now = clock.iso(clock.now())
    visits: list[tuple[int, int, date, str, list[tuple[str, str, str, int]], list[
        tuple[str, int]]]] = []
    # (patient, payer, day, provider, chart items (kind, system, code, quantity), billed
    # lines (code, units))
    # 30 ordinary visits: documented visit, billed 99213 (some 99214), two providers.
    for n in range(30):
        patient_id, payer_id = rows[n % len(rows)]
        day = today - timedelta(days=5 + n)
        code = "99214" if n % 4 == 0 else "99213"
        visits.append((patient_id, payer_id, day, PROVIDERS[int(n % 3 == 0)], [], [(code, 1)]))
    # The planted findings, on the last week's visits.
    (p0, y0), (p1, y1), (p2, y2), (p3, y3), (p4, y4) = rows[0], rows[1], rows[2], rows[3], \
        rows[4]
    visits += [
        (p0, y0, today - timedelta(days=1), "Dr. Rivera",
         [("immunization", CVX, "140", 1)], [("99213", 1)]),            # flu shot unbilled
        (p1, y1, today - timedelta(days=2), "Dr. Chen",
         [("procedure", CPT, "93000", 1)], [("99213", 1), ("93000", 1), ("71046", 1)]),
        (p2, y2, today - timedelta(days=2), "Dr. Chen",  # 2 documented, 1 billed
         [("procedure", CPT, "96372", 2)], [("99212", 1), ("96372", 1)]),
        (p3, y3, today - timedelta(days=3), "Dr. Chen", [], []),         # nothing billed
        (p4, y4, today - timedelta(days=4), "Dr. Rivera", [], [("99215", 1)]),  # rare level
    ]
    with system.vault.write() as conn:
        for n, (patient_id, payer_id, day, provider, docs, lines) in enumerate(visits):
            start = datetime.combine(day, time(9 + n % 7, 0), tzinfo=timezone.utc)
            conn.execute("INSERT INTO appointments (patient_id, provider, start_at, visit_type,"
                         " status, created_at) VALUES (?,?,?,?,?,?)",
                         (patient_id, provider, clock.iso(start), "office_visit", "completed",
                          now))
            doctor, npi = RENDERING[provider]
            chart = [("encounter", SNOMED, CHECK_UP[0], 1)] + docs
            for kind, system_uri, code, quantity in chart:
                # The quantity as the chart states it (NULL for the visit itself).
                conn.execute(
                    "INSERT INTO clinical_records (patient_id, kind, code_system, code, "
                    "display, status, recorded_on, created_at, provider_name, provider_npi,"
                    " provider_from, quantity) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (patient_id, kind, system_uri, code,
                     CHECK_UP[1] if kind == "encounter" else "", "completed",
                     day.isoformat(), now, doctor, npi,
                     "PPRF" if kind == "encounter" else "encounter PPRF",
                     None if kind == "encounter" else str(quantity)))
            if not lines:
                continue
            # One claim in ten names no rendering provider: the billing provider stands
            # in (2010AA), as the 837 guide allows when they are the same.
            rendering = (*BILLING, "2010AA") if n % 10 == 9 else (doctor, npi, "2310B")
            cur = conn.execute(
                "INSERT INTO claims (claim_number, patient_id, payer_id, service_date, "
                "procedures, source, submitted_at, created_at, rendering_name, "
                "rendering_npi, rendering_from) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (f"CC{day:%m%d}{n:03d}", patient_id, payer_id, day.isoformat(),
                 "[" + ",".join(f'"{c}"' for c, _u in lines) + "]", "837P", now, now,
                 *rendering))
            for ordinal, (code, units) in enumerate(lines):
                conn.execute(
                    "INSERT INTO claim_lines (claim_id, ordinal, code, charge, units, "
                    "unit_basis, service_date) VALUES (?,?,?,?,?,?,?)",
                    (cur.lastrowid, ordinal, code, f"{95 + 40 * ordinal}.00", str(units),
                     "UN", day.isoformat()))
    # charge_review stays in shadow mode, as a new practice starts every kind.
    review_charges(system, start=today - timedelta(days=35), end=today)
