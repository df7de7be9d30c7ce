"""Demo seed: incoming referrals through the real import and triage (a letter with an
urgent foot ulcer, a routine FHIR ServiceRequest, a letter with no reason, one for a
specialty the practice does not see) and outbound referrals at each point of their loop,
some late, then the real loop check. All synthetic."""

from __future__ import annotations

import json
import random
from datetime import timedelta

from app import clock
from app.identity import Session
from app.services import referrals
from automations.demo import seed_session
from automations.workflows.referrals import check_referral_loops, import_referral

ORDER = 85


def _letter(first: str, last: str, dob: str, lines: list[str]) -> bytes:
    return "\n".join(["Lakeside Clinic - Referral", "", f"Patient: {first} {last}",
                      f"DOB: {dob}", "Referring provider: Dr. Ames, Lakeside Clinic", *lines]
                     ).encode()


def seed(session: Session, rng: random.Random) -> None:
    system = seed_session(session)
    rows = system.vault.query("SELECT id, first_name, last_name, dob FROM patients "
                              "ORDER BY id LIMIT 8")
    if len(rows) < 8:
        return
    people = [(int(r[0]), str(r[1]), str(r[2]),
               f"{str(r[3])[5:7]}/{str(r[3])[8:10]}/{str(r[3])[:4]}") for r in rows]
    (p0, f0, l0, d0), (p1, f1, l1, d1), (p2, f2, l2, d2), (p3, f3, l3, d3) = people[4:8]
    import_referral(system, _letter(f0, l0, d0, [
        "Referred to: Family medicine", "Urgency: routine",
        "Reason for referral: Worsening diabetic foot ulcer, please see soon.",
        "Diagnosis: E11.621, L97.419", "Referral number: LC-20931"]))
    service_request = {
        "resourceType": "Bundle", "type": "collection", "entry": [
            {"fullUrl": "urn:uuid:demo-p", "resource": {
                "resourceType": "Patient", "id": "demo-p",
                "name": [{"family": l1, "given": [f1]}],
                "birthDate": f"{d1[6:]}-{d1[:2]}-{d1[3:5]}"}},
            {"fullUrl": "urn:uuid:demo-sr", "resource": {
                "resourceType": "ServiceRequest", "id": "demo-sr-1", "status": "active",
                "intent": "order", "priority": "routine",
                "subject": {"reference": "urn:uuid:demo-p"},
                "identifier": [{"value": "LC-20977"}],
                "reasonCode": [{"text": "Establish care; hypertension follow-up"}],
                "authoredOn": clock.now().date().isoformat()}}]}
    import_referral(system, json.dumps(service_request).encode())
    # the first letter shows the model's checked summary; the rest need no model time
    import_referral(system, _letter(f2, l2, d2, ["Referred to: Family medicine",
                                                 "Please see this patient."]), use_model=False)
    import_referral(system, _letter(f3, l3, d3, ["Referred to: Orthopaedic surgery",
                                                 "Reason for referral: Knee replacement "
                                                 "evaluation"]), use_model=False)
    now = clock.now()
    (q0, *_), (q1, *_), (q2, *_), (q3, *_) = people[:4]
    late_send = referrals.send_referral(system, q0, "Lakeside Cardiology",
                                        specialty="cardiology", reason="Palpitations",
                                        sent_at=now - timedelta(days=20))
    booked = referrals.send_referral(system, q1, "Riverbend Dermatology",
                                     specialty="dermatology", reason="Changing mole",
                                     urgency="urgent", sent_at=now - timedelta(days=25))
    referrals.record_step(system, booked, "scheduled", at=now - timedelta(days=22),
                          appointment_at=now - timedelta(days=6))
    closed = referrals.send_referral(system, q2, "North Shore GI", specialty="gastroenterology",
                                     reason="Screening colonoscopy",
                                     sent_at=now - timedelta(days=60))
    for step, ago in (("scheduled", 55), ("seen", 30), ("report_received", 20)):
        referrals.record_step(system, closed, step, at=now - timedelta(days=ago))
    referrals.send_referral(system, q3, "Lakeside Cardiology", specialty="cardiology",
                            reason="Murmur", sent_at=now - timedelta(days=2))
    del late_send
    check_referral_loops(system)
