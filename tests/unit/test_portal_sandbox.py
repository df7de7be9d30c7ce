"""The sandbox portal over plain HTTP (no browser): seed timelines, log-in flows, the
admin URLs and every fault switch."""

from __future__ import annotations

import http.cookiejar
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import pyotp
import pytest

from automations.sandbox_portal import (
    FAULTS,
    SANDBOX_ACCOUNTS,
    ClaimSeed,
    PaSeedRecord,
    SandboxPortal,
    build_seed,
)
from automations.sandbox_portal.seed import pa_timeline, status_on

TODAY = date.today()
SEED = build_seed([
    PaSeedRecord("NW1", "NW-1", "northwind", TODAY - timedelta(days=1), "approved",
                 decide_after_days=3),
    PaSeedRecord("BS1", "BS-1", "bluestem_medicaid", TODAY, "denied"),
    PaSeedRecord("SU1", "SU-1", "clearinghouse_summit", TODAY, "pended"),
    PaSeedRecord("HB1", "HB-1", "clearinghouse_harbor", TODAY - timedelta(days=10),
                 "partially_approved", units=12),
], claims=[ClaimSeed("NW1", "C-1", "northwind", TODAY - timedelta(days=20))])


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxPortal]:
    with SandboxPortal(SEED) as portal:
        yield portal


@pytest.fixture(autouse=True)
def _reset(sandbox: SandboxPortal) -> None:
    sandbox.reset()


class Browser:
    """A cookie-keeping HTTP client: enough to walk the portals' forms."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[int, str, str]:
        return self._open(path, None)

    def post(self, path: str, **form: str) -> tuple[int, str, str]:
        return self._open(path, urlencode(form).encode())

    def _open(self, path: str, data: bytes | None) -> tuple[int, str, str]:
        try:
            with self.opener.open(self.base + path, data=data, timeout=10) as r:
                return r.status, r.geturl(), r.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.geturl(), exc.read().decode("utf-8")


def northwind_login(b: Browser) -> None:
    acct = SANDBOX_ACCOUNTS["northwind"]
    _s, url, _ = b.post("/northwind/signin", username=acct["username"],
                        password=acct["password"])
    assert url.endswith("/northwind/mfa")
    _s, url, _ = b.post("/northwind/mfa", code=pyotp.TOTP(acct["totp_seed"]).now())
    assert url.endswith("/northwind/dashboard")


def admin(sandbox: SandboxPortal, action: str, **params: Any) -> dict[str, Any]:
    with urllib.request.urlopen(f"{sandbox.url}/__admin/{action}?{urlencode(params)}") as r:
        data: dict[str, Any] = json.loads(r.read())
        return data


def test_timelines_follow_the_scripted_outcome() -> None:
    rec = PaSeedRecord("M", "R", "northwind", TODAY, "info_requested_then_approved",
                       decide_after_days=2)
    timeline = pa_timeline(rec)
    assert [(e["day"], e["status"]) for e in timeline] == [
        (0, "submitted"), (1, "pended"), (2, "additional_info_requested"), (5, "approved")]
    assert status_on(timeline, TODAY, TODAY - timedelta(days=1)) is None
    assert status_on(timeline, TODAY, TODAY + timedelta(days=3))["status"] == \
        "additional_info_requested"
    with pytest.raises(ValueError, match="unknown scripted outcome"):
        pa_timeline(PaSeedRecord("M", "R", "northwind", TODAY, "lost_in_the_mail"))
    with pytest.raises(ValueError, match="no portal for recipe"):
        build_seed([PaSeedRecord("M", "R", "acme", TODAY)])
    json.dumps(SEED)  # JSON-able


def test_northwind_needs_a_valid_totp_code(sandbox: SandboxPortal) -> None:
    b = Browser(sandbox.url)
    acct = SANDBOX_ACCOUNTS["northwind"]
    _s, _u, body = b.post("/northwind/signin", username=acct["username"], password="nope")
    assert "nw-login-error" in body
    b.post("/northwind/signin", username=acct["username"], password=acct["password"])
    _s, url, body = b.get("/northwind/priorauth")
    assert url.endswith("/northwind/mfa")  # no search before MFA
    _s, _u, body = b.post("/northwind/mfa", code="000000")
    assert "nw-otp-error" in body
    northwind_login(b)
    _s, _u, body = b.post("/northwind/priorauth", member="NW1", authnum="NW-1")
    assert "Pended for clinical review" in body


def test_admin_clock_advances_statuses(sandbox: SandboxPortal) -> None:
    b = Browser(sandbox.url)
    northwind_login(b)
    assert admin(sandbox, "clock", day=2)["offset_days"] == 2
    _s, _u, body = b.post("/northwind/priorauth", member="NW1", authnum="NW-1")
    assert "Approved – 12 units through" in body
    state = admin(sandbox, "clock", day=0, hours=48)
    assert state["offset_hours"] == 48 and state["today"] == (TODAY + timedelta(days=2)
                                                               ).isoformat()
    target = TODAY + timedelta(days=30)
    assert admin(sandbox, "clock", date=target.isoformat())["today"] == target.isoformat()
    _s, _u, body = b.post("/northwind/claims", member="NW1", claim="C-1")
    assert "Paid $112.40" in body


def test_each_payer_has_its_own_words(sandbox: SandboxPortal) -> None:
    sandbox.set_day(20)
    b = Browser(sandbox.url)
    acct = SANDBOX_ACCOUNTS["bluestem"]
    b.post("/bluestem/logon", USERID=acct["username"], PASSWD=acct["password"])
    _s, _u, body = b.post("/bluestem/pa", RECIP_ID="BS1", PA_NUM="BS-1")
    assert "case-link" in body
    _s, _u, body = b.get("/bluestem/case/BS-1")
    assert "PRIOR AUTHORIZATION CASE DETAIL" in body and ">DENIED<" in body
    acct = SANDBOX_ACCOUNTS["clearing"]
    b.post("/clearing/login", user=acct["username"], password=acct["password"])
    b.post("/clearing/select-payer", payer="harbor")
    _s, _u, body = b.post("/clearing/auth", member_id="HB1", reference="HB-1")
    assert "Partially certified – 6 of 12 units through" in body
    _s, _u, body = b.post("/clearing/auth", member_id="SU1", reference="SU-1")
    assert "auth-no-match" in body  # Summit's case is not visible under Harbor


@pytest.mark.parametrize("fault, path, check", [
    ("http_500", "/bluestem/logon", lambda s, b: s == 500),
    ("maintenance", "/clearing/login", lambda s, b: "maintenance-notice" in b),
    ("captcha", "/northwind/signin", lambda s, b: "captcha-box" in b),
    ("layout_changed", "/bluestem/logon", lambda s, b: "USERID" in b),  # log-in unchanged
])
def test_fault_pages(sandbox: SandboxPortal, fault: str, path: str, check: Any) -> None:
    admin(sandbox, "fault", name=fault, on=1)
    status, _u, body = Browser(sandbox.url).get(path)
    assert check(status, body)
    admin(sandbox, "fault", name=fault, on=0)
    status, _u, body = Browser(sandbox.url).get(path)
    assert status == 200 and "maintenance-notice" not in body and "captcha-box" not in body


def test_session_expiry_interstitial_and_layout_change(sandbox: SandboxPortal) -> None:
    b = Browser(sandbox.url)
    admin(sandbox, "fault", name="interstitial", on=1, portal="bluestem")
    acct = SANDBOX_ACCOUNTS["bluestem"]
    _s, url, body = b.post("/bluestem/logon", USERID=acct["username"], PASSWD=acct["password"])
    assert url.endswith("/bluestem/notice") and "interstitial-notice" in body
    admin(sandbox, "fault", name="layout_changed", on=1, portal="bluestem")
    _s, _u, body = b.get("/bluestem/pa")
    assert "id='RECIP_ID'" not in body and "v2-" in body
    admin(sandbox, "fault", name="session_expiry", on=1, count=1)
    _s, url, body = b.post("/bluestem/pa", RECIP_ID="BS1", PA_NUM="BS-1")
    assert url.endswith("/bluestem/logon?expired=1") and "SESSION_MSG" in body
    assert "session_expiry" not in admin(sandbox, "state")["faults"]  # count=1 used up


def test_admin_refuses_unknown_faults_and_reset_clears(sandbox: SandboxPortal) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        admin(sandbox, "fault", name="gremlins", on=1)
    with caught.value as error:
        assert error.code == 400 and b"unknown fault" in error.read()
    for name in FAULTS:
        admin(sandbox, "fault", name=name, on=1, seconds=0)
    assert set(admin(sandbox, "state")["faults"]) == set(FAULTS)
    seed = build_seed([PaSeedRecord("NEW1", "NEW-1", "bluestem_medicaid", TODAY, "denied")])
    req = urllib.request.Request(f"{sandbox.url}/__admin/seed",
                                 data=urlencode({"seed": json.dumps(seed)}).encode())
    with urllib.request.urlopen(req) as r:
        assert json.loads(r.read())["cases"] == 1
    sandbox.load_seed(SEED)
    state = admin(sandbox, "reset")
    assert state["faults"] == {} and state["offset_days"] == 0


def test_cli_style_start_with_faults_on_a_free_port() -> None:
    with SandboxPortal(None, port=0, faults=["maintenance"]) as portal:
        assert portal.port > 0 and portal.portal_url("northwind").endswith("/northwind/")
        _s, _u, body = Browser(portal.url).get("/northwind/signin")
        assert "maintenance-notice" in body
    with pytest.raises(ValueError, match="unknown fault"):
        SandboxPortal(None, faults=["nope"])


def test_seed_from_a_vaults_pas(practice: Any) -> None:
    """The sandbox can be seeded from the vault's own PAs (what `offhold sandbox-portal
    --vault DIR` does); payers without a sandbox recipe are left out."""
    from app.services import patients
    from app.services import prior_auth as pa_svc
    from automations.sandbox_portal.from_vault import default_outcome, seed_from_vault
    patients.update_payer(practice, patients.find_payer(practice, "Acme Health").id,
                          portal_recipe="northwind")
    [patient] = patients.list_patients(practice, "Zzyzxquell")
    pa = pa_svc.add_prior_auth(practice, patient_id=patient.id, payer="Acme Health",
                               cpt_code="97110", units=8,
                               service_date=TODAY + timedelta(days=10), payer_ref="ACME-1")
    seed = seed_from_vault(practice)
    [case] = seed["cases"]
    assert (case["member_id"], case["reference"], case["portal"]) == ("ZQM4455667", "ACME-1",
                                                                      "northwind")
    assert case["requested_units"] == 8 and case["service_code"] == "97110"
    outcome, days = default_outcome(pa.id)
    assert case["timeline"] == pa_timeline(PaSeedRecord(
        "ZQM4455667", "ACME-1", "northwind", pa.submitted_at.date(), outcome,
        decide_after_days=days, units=8))
    with SandboxPortal(seed) as portal:
        b = Browser(portal.url)
        northwind_login(b)
        _s, _u, body = b.post("/northwind/priorauth", member="ZQM4455667", authnum="ACME-1")
        assert "nw-pa-table" in body
