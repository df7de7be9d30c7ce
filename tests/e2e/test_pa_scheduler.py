"""`offhold run` killed with SIGKILL mid-run and restarted: the checks it missed run, and no
task is duplicated. The scheduler runs as its own process (real APScheduler, job store in
the vault, real Chromium) against the sandbox portal, on a fast faked cadence (--every 2)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import pytest

from app import audit, clock
from app.identity import Session, init_vault, unlock
from app.services import patients
from app.services import portal_credentials as pc
from app.services import prior_auth as pa_svc
from automations.sandbox_portal import (RECIPE_PORTALS, SANDBOX_ACCOUNTS, PaSeedRecord,
                                        SandboxPortal, build_seed)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "owner-password-1"
TODAY = date.today()
# (payer, plan, recipe, member, ref, days ago, outcome, decide after)
CASES = [
    ("Northwind National Health", "commercial", "northwind", "NWK0000001", "NW-K1", 3,
     "info_requested_then_approved", 3),
    ("Summit Medicare Advantage", "medicare_advantage", "clearinghouse_summit", "SUK0000001",
     "SUM-K1", 1, "approved", 3),
    ("Bluestem State Medicaid", "medicaid", "bluestem_medicaid", "BSK0000001", "BSM-K1", 2,
     "denied", 4),
    ("Harbor Marketplace QHP", "qhp", "clearinghouse_harbor", "HBK0000001", "HQ-K1", 1,
     "pended", 3),
]
NAMES = ["Wolcott Fernsby", "Marisol Quenby", "Tobiah Raddleston", "Ysolde Kittredge"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxPortal]:
    seed = build_seed([PaSeedRecord(member, ref, recipe, TODAY - timedelta(days=ago), outcome,
                                    after) for _p, _pl, recipe, member, ref, ago, outcome,
                       after in CASES])
    with SandboxPortal(seed) as portal:
        yield portal


def _vault(directory: Path, sandbox: SandboxPortal) -> dict[str, int]:
    session, _ = init_vault(directory, "Kill Test Practice", "owner", PASSWORD)
    try:
        tz = pa_svc.practice_zone(session)
        ids = {}
        for (payer_name, plan, recipe, member, ref, ago, _o, _a), name in zip(CASES, NAMES):
            payer = patients.add_payer(session, payer_name, plan, portal_recipe=recipe,
                                       portal_enabled=True)
            account = SANDBOX_ACCOUNTS[RECIPE_PORTALS[recipe][0]]
            pc.set_credentials(session, payer.id, url=sandbox.portal_url(recipe),
                               username=account["username"], password=account["password"],
                               totp_seed=account.get("totp_seed"))
            first, last = name.split()
            pid = patients.add_patient(session, first, last, "1958-07-09", member_id=member,
                                       payer=payer_name).id
            submitted = datetime.combine(TODAY - timedelta(days=ago), dtime(9), tzinfo=tz)
            ids[ref] = pa_svc.add_prior_auth(session, patient_id=pid, payer=payer_name,
                                             cpt_code="97110", units=12,
                                             service_date=TODAY + timedelta(days=30),
                                             submitted_at=submitted, payer_ref=ref).id
        return ids
    finally:
        session.vault.close()


def _start(directory: Path, tmp: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OFFHOLD_VAULT": str(directory), "OFFHOLD_USER": "owner",
           "OFFHOLD_PASSWORD": PASSWORD, "TMPDIR": str(tmp), "PYTHONPATH": str(ROOT)}
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ui.cli", "-v", "run", "--every", "2", "--sweep-seconds",
             "1"], cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True)


def _wait(what: str, predicate: Callable[[], bool], proc: subprocess.Popen[bytes],
          log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            pytest.fail(f"scheduler exited ({proc.returncode}) before {what}:\n"
                        + log.read_text(errors="replace")[-3000:])
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}:\n" + log.read_text(errors="replace")[-3000:])


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the scheduler's own process group (it, Playwright's driver, Chromium)."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def test_sigkill_mid_run_then_restart_catches_up_without_duplicates(
        tmp_path: Path, sandbox: SandboxPortal) -> None:
    directory = tmp_path / "vault"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    log = tmp_path / "scheduler.log"
    sandbox.reset()
    ids = _vault(directory, sandbox)
    # The test reads the vault while the scheduler writes; it writes nothing itself then.
    reader = unlock(directory, "owner", PASSWORD)
    vault = reader.vault

    def status(ref: str) -> str:
        return str(vault.query_one("SELECT status FROM prior_auths WHERE id = ?",
                                   (ids[ref],))[0])

    def visits() -> int:
        return int(vault.query_one("SELECT count(*) FROM audit_log WHERE action = "
                                   "'portal.visit'")[0])

    first = _start(directory, tmp, log)
    try:
        _wait("the first checks", lambda: status("NW-K1") == "info_requested"
              and status("SUM-K1") == "pending" and status("BSM-K1") == "pending"
              and status("HQ-K1") == "pending", first, log)
        before = visits()
        # Kill mid-run: more checks done, and at least one next check waiting in the store.
        _wait("more checks", lambda: visits() >= before + 2 and bool(vault.query(
            "SELECT 1 FROM apscheduler_jobs WHERE id LIKE 'pa-check:%'")), first, log)
    finally:
        _kill_group(first, signal.SIGKILL)
    assert first.returncode == -signal.SIGKILL

    # While it is down the payers decide, and the planned check times pass.
    sandbox.set_day(3)
    stored = vault.query("SELECT id, next_run_time FROM apscheduler_jobs")
    planned = [clock.parse_iso(r[0]).timestamp() for r in vault.query(
        "SELECT next_check_at FROM prior_auths WHERE status IN "
        "('submitted','pending','info_requested')")]
    assert planned
    # A check that was running when it died keeps only its hour-long backstop in the job
    # store; its real plan is the vault's next_check_at. Wait for the plans, and for any
    # stored check due soon, to pass (never for a backstop).
    now = time.time()
    soon = [at for job_id, at in stored if job_id.startswith("pa-check:") and at - now < 60]
    time.sleep(max(0.0, max([*planned, *([min(soon)] if soon else [])]) - now) + 0.5)
    restart = time.time()
    missed = [job_id for job_id, at in stored if job_id.startswith("pa-check:") and at < restart]
    assert missed or not soon, f"expected missed check jobs in the job store, found {stored}"
    assert all(at < restart for at in planned)
    restart_iso = clock.iso(datetime.fromtimestamp(restart).astimezone())

    second = _start(directory, tmp, log)
    try:
        _wait("the catch-up", lambda: status("NW-K1") == "approved"
              and status("SUM-K1") == "approved" and status("BSM-K1") == "denied"
              and vault.query_one("SELECT last_checked_at FROM prior_auths WHERE id = ?",
                                  (ids["HQ-K1"],))[0] > restart_iso, second, log)
        _kill_group(second, signal.SIGTERM)  # a clean stop this time
    finally:
        if second.poll() is None:
            _kill_group(second, signal.SIGKILL)
    assert second.returncode == 0, log.read_text(errors="replace")[-2000:]
    reader.vault.close()

    session = unlock(directory, "owner", PASSWORD)
    try:
        _assert_no_duplicates(session, ids)
        assert audit.verify(session.vault).ok
        starts = session.vault.query_one("SELECT count(*) FROM audit_log WHERE action = "
                                         "'scheduler.start'")[0]
        assert starts == 2
    finally:
        session.vault.close()
    text = log.read_bytes()
    assert b"scheduler started" in text
    for needle in [m for *_x, m, _r, _a, _o, _d in CASES] + [n.split()[1] for n in NAMES]:
        assert needle.encode() not in text, "PHI in the scheduler's log output"
    assert b"Traceback" not in text, text.decode(errors="replace")[-3000:]


def _assert_no_duplicates(session: Session, ids: dict[str, int]) -> None:
    keys = [r[0] for r in session.vault.query("SELECT natural_key FROM tasks")]
    assert len(keys) == len(set(keys))
    for ref, pa_id in ids.items():
        history = [r[0] for r in session.vault.query(
            "SELECT status FROM pa_status_history WHERE pa_id = ? ORDER BY id", (pa_id,))]
        assert all(a != b for a, b in zip(history, history[1:])), (ref, history)
        portal_changes = history[1:]  # the first row is the manual 'submitted'
        followups = Counter(r[0] for r in session.vault.query(
            "SELECT json_extract(payload, '$.status') FROM tasks WHERE kind = 'pa_followup' "
            "AND subject_id = ?", (str(pa_id),)))
        assert followups == Counter(portal_changes), (ref, followups, portal_changes)
    expected = {"NW-K1": ["submitted", "info_requested", "approved"],
                "SUM-K1": ["submitted", "pending", "approved"],
                "BSM-K1": ["submitted", "pending", "denied"],
                "HQ-K1": ["submitted", "pending"]}
    for ref, statuses in expected.items():
        got = [r[0] for r in session.vault.query(
            "SELECT status FROM pa_status_history WHERE pa_id = ? ORDER BY id", (ids[ref],))]
        assert got == statuses, (ref, got)
    next_actions = [r[0] for r in session.vault.query(
        "SELECT natural_key FROM tasks WHERE kind = 'pa_next_action'")]
    assert len(next_actions) == 2  # the info request and the denial, once each
