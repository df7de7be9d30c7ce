"""Faults scripted for one sandbox case: a search that finds that case errors, shows a
CAPTCHA or a new layout on the scripted day only, while the same portal's other cases
answer as usual (what the demo's portal check relies on)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from automations.sandbox_portal import (CASE_FAULTS, SANDBOX_ACCOUNTS, PaSeedRecord,
                                        SandboxPortal, build_seed)
from tests.unit.test_portal_sandbox import Browser, northwind_login

TODAY = date.today()
FAULT_DAY = TODAY - timedelta(days=1)
SEED = build_seed([
    PaSeedRecord("NW1", "NW-1", "northwind", TODAY - timedelta(days=6), "approved"),
    PaSeedRecord("NW2", "NW-2", "northwind", TODAY - timedelta(days=6), "pended",
                 fault="captcha", fault_on=FAULT_DAY),
    PaSeedRecord("BS1", "BS-1", "bluestem_medicaid", TODAY - timedelta(days=6), "pended",
                 fault="layout_changed", fault_on=FAULT_DAY),
    PaSeedRecord("HB1", "HB-1", "clearinghouse_harbor", TODAY - timedelta(days=6), "pended",
                 fault="http_500"),  # no date: every day
])


@pytest.fixture
def sandbox() -> Iterator[SandboxPortal]:
    with SandboxPortal(SEED) as portal:
        yield portal


def test_a_captcha_for_one_case_on_its_day_only(sandbox: SandboxPortal) -> None:
    sandbox.set_date(FAULT_DAY)
    b = Browser(sandbox.url)
    northwind_login(b)
    _s, _u, body = b.post("/northwind/priorauth", member="NW2", authnum="NW-2")
    assert "captcha-box" in body and "id='nw-pa-table'" not in body
    _s, _u, body = b.post("/northwind/priorauth", member="NW1", authnum="NW-1")
    assert "captcha-box" not in body and "NW-1" in body  # the other case answers
    sandbox.set_date(TODAY)
    _s, _u, body = b.post("/northwind/priorauth", member="NW2", authnum="NW-2")
    assert "captcha-box" not in body and "Pended for clinical review" in body


def test_a_changed_layout_for_one_case(sandbox: SandboxPortal) -> None:
    sandbox.set_date(FAULT_DAY)
    b = Browser(sandbox.url)
    acct = SANDBOX_ACCOUNTS["bluestem"]
    b.post("/bluestem/logon", USERID=acct["username"], PASSWD=acct["password"])
    _s, _u, body = b.post("/bluestem/pa", RECIP_ID="BS1", PA_NUM="BS-1")
    assert "id='PA_LIST'" not in body and "v2-PA_LIST-fld" in body
    _s, _u, body = b.get("/bluestem/pa")  # the portal's other pages keep their layout
    assert "id='RECIP_ID'" in body
    sandbox.set_date(TODAY)
    _s, _u, body = b.post("/bluestem/pa", RECIP_ID="BS1", PA_NUM="BS-1")
    assert "id='PA_LIST'" in body


def test_a_server_error_every_day_when_no_date_is_given(sandbox: SandboxPortal) -> None:
    b = Browser(sandbox.url)
    acct = SANDBOX_ACCOUNTS["clearing"]
    b.post("/clearing/login", user=acct["username"], password=acct["password"])
    b.post("/clearing/select-payer", payer="harbor")
    for day in (TODAY, TODAY + timedelta(days=3)):
        sandbox.set_date(day)
        status, _u, body = b.post("/clearing/auth", member_id="HB1", reference="HB-1")
        assert status == 500 and "Internal Server Error" in body
    status, _u, body = b.post("/clearing/auth", member_id="XX9", reference="XX-9")
    assert status == 200 and "auth-no-match" in body  # a search that finds no case


def test_an_unknown_case_fault_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown case fault 'gremlins'"):
        build_seed([PaSeedRecord("NW1", "NW-1", "northwind", TODAY, fault="gremlins")])
    assert set(CASE_FAULTS) == {"http_500", "layout_changed", "captcha"}
