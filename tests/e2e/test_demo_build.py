"""The full demo, built as `offhold demo` builds it (real Chromium for the seed's portal
check, the bundled model): every task in it was made by a workflow over demo data, none
is a placeholder; the kinds only failures make (portal errors, changed pages, a portal
asking for a person, a failed job, a missed PA deadline) are there; and the outbox holds
messages that went through approval and the send run."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import clock
from app.identity import Session, unlock
from app.services import outbox
from automations.demo import DEMO_USERS, build_demo
from automations.outbox import SmsCsvChannel
from automations.seeds import s10_practice, s42_pa_time_rules, s65_watched_folder, s90_outbox

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PERSONS = {str(u["user"]) for u in DEMO_USERS}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Session, bool]]:
    """The demo's owner session, and whether texts could go out while it was built (quiet
    hours hold them, as in production)."""
    directory = tmp_path_factory.mktemp("demo") / "vault"
    build_demo(directory)
    owner = DEMO_USERS[0]
    session = unlock(directory, str(owner["user"]), str(owner["password"]))
    try:
        sendable = outbox.quiet_reason(session, clock.now()) is None
        yield session, sendable
    finally:
        session.vault.close()


def test_every_task_was_made_by_a_workflow(demo: tuple[Session, bool]) -> None:
    session, _ = demo
    tasks = session.vault.query("SELECT id, kind, natural_key FROM tasks")
    assert len(tasks) > 50
    assert not [t for t in tasks if str(t[2]).startswith("demo:")]
    made_by = dict(session.vault.query(
        "SELECT CAST(object_id AS INTEGER), actor || '/' || role FROM audit_log "
        "WHERE action = 'task.create' AND object_type = 'task'"))
    assert set(made_by) == {t[0] for t in tasks}  # each task's creation is audited
    by_person = {k: v for k, v in made_by.items() if v.split("/")[0] in PERSONS}
    assert not by_person, f"tasks made by a demo user, not a workflow: {by_person}"
    assert {v.split("/")[1] for v in made_by.values()} == {"system"}


def test_failures_and_deadlines_have_their_tasks(demo: tuple[Session, bool]) -> None:
    session, _ = demo
    rows = session.vault.query(
        "SELECT kind, natural_key, title, payload, subject_type FROM tasks WHERE kind IN "
        "('pa_escalation', 'portal_failure', 'recipe_broken', 'human_handoff', "
        "'automation_failure')")
    by_kind: dict[str, list[tuple[str, str, dict[str, object], str]]] = {}
    for kind, key, title, payload, subject in rows:
        by_kind.setdefault(kind, []).append((key, title, json.loads(payload), subject))
    assert set(by_kind) == {"pa_escalation", "portal_failure", "recipe_broken",
                            "human_handoff", "automation_failure"}
    # the overdue expedited request (s42), found by the PA time rules
    overdue_pa = session.vault.query_one("SELECT id FROM prior_auths WHERE payer_ref = ?",
                                         (s42_pa_time_rules.OVERDUE_REF,))[0]
    assert f"pa:{overdue_pa}:overdue:" in " ".join(k for k, *_ in by_kind["pa_escalation"])
    # the seed's real portal check: one scripted fault per failure the engine reports
    outcomes = {"portal_failure": "portal_unavailable", "recipe_broken": "recipe_broken",
                "human_handoff": "human_handoff"}
    for kind, outcome in outcomes.items():
        [(key, _title, payload, subject)] = by_kind[kind]
        assert key.startswith(f"portal:{kind}:") and subject == "payer"
        assert payload["outcome"] == outcome and payload["last_subject_type"] == "prior_auth"
        shots = session.vault.query(
            "SELECT b.mime FROM task_evidence e JOIN tasks t ON t.id = e.task_id "
            "JOIN blobs b ON b.id = e.blob_id WHERE t.natural_key = ?", (key,))
        assert ("image/png",) in shots  # what the browser saw
    [(key, _t, payload, subject)] = by_kind["automation_failure"]
    assert key.startswith("import-watch:") and payload["job_id"] == "import-watch"
    run = session.vault.query_one("SELECT details FROM audit_log WHERE action = "
                                  "'pa.check_run' ORDER BY id DESC LIMIT 1")
    assert json.loads(run[0])["failures"] == 3
    # failure titles name no patient
    names = {n for row in session.vault.query("SELECT first_name, last_name FROM patients")
             for n in row}
    for kind in ("portal_failure", "recipe_broken", "human_handoff", "automation_failure"):
        for _key, title, _p, _s in by_kind[kind]:
            assert not [n for n in names if n in title], title
    failed = Path(str(session.vault.directory)) / s65_watched_folder.FOLDER / "failed"
    assert [p.name for p in failed.iterdir()] == ["ehr_claims_export.837"]


def test_the_outbox_holds_approved_messages(demo: tuple[Session, bool]) -> None:
    session, sendable = demo
    rows = outbox.list_messages(session)
    by_channel: dict[str, list[str]] = {}
    for row in rows:
        by_channel.setdefault(str(row["channel"]), []).append(str(row["state"]))
    # no email server in the demo: the email waits; texts go out unless quiet hours hold
    assert by_channel["email"] == ["ready"]
    assert by_channel["sms"] == (["sent", "sent"] if sendable else ["ready", "ready"])
    approved = session.vault.query(
        "SELECT count(*) FROM audit_log WHERE action = 'task.approve' AND actor = ?",
        (str(DEMO_USERS[0]["user"]),))[0][0]
    assert approved == len(rows) == sum(s90_outbox.APPROVE.values())
    if sendable:
        folder = Path(str(session.vault.directory)) / s90_outbox.SMS_FOLDER
        [export] = list(folder.iterdir())
        header, *lines = list(csv.reader(io.StringIO(export.read_text(encoding="utf-8"))))
        assert header == list(SmsCsvChannel.HEADER) and len(lines) == 2
        phone = header.index("phone")
        assert all(line[phone].startswith("+1217555") for line in lines)  # E.164


def test_the_schedule_was_made_through_the_appointments_service(
        demo: tuple[Session, bool]) -> None:
    """The demo schedule (s10's visits, their no-shows, s70's freed slot) carries its audit
    rows, as if the front desk had booked them; later seeds' visits arrive with imports."""
    session, _ = demo
    audited = {int(r[0]): str(r[1]) for r in session.vault.query(
        "SELECT CAST(object_id AS INTEGER), group_concat(action) FROM audit_log "
        "WHERE object_type = 'appointment' GROUP BY object_id")}
    rows = session.vault.query("SELECT id, status FROM appointments WHERE id <= ?",
                               (len(s10_practice.FIRST),))
    assert {r[1] for r in rows} >= {"scheduled", "no_show", "cancelled"}
    done = {"no_show": "appointment.no_show", "cancelled": "appointment.cancel"}
    for appointment_id, status in rows:
        actions = audited.get(int(appointment_id), "")
        assert "appointment.create" in actions, appointment_id
        assert done.get(status, "appointment.create") in actions, (appointment_id, status)
