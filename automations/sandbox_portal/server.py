"""The sandbox portal's HTTP server: stdlib ThreadingHTTPServer (no framework: the pages
are small templates and a dependency would buy nothing), in-memory state, fault switches.

Request logging is switched off on purpose: the default handler writes request lines to
stderr and we keep even synthetic member IDs out of logs.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterable
from urllib.parse import parse_qs, urlsplit

import pyotp

from app import clock
from automations.sandbox_portal.seed import (
    CLEARING_PAYERS,
    RECIPE_PORTALS,
    SANDBOX_ACCOUNTS,
    status_on,
)

# offsite_pixel: every page loads an image from `target` (a third-party tracker);
# offsite_redirect: signing in redirects to `target` (a hijacked or phishing portal).
# survey: Northwind's search page opens a feedback dialog over the form (give a count for
# "some days"); letters: Northwind's results carry the payer's letter, with a reply date or
# an appeal window in its own words.
FAULTS = ("slow", "http_500", "session_expiry", "layout_changed", "captcha", "interstitial",
          "maintenance", "offsite_pixel", "offsite_redirect", "survey", "letters")
PORTALS = ("clearing", "northwind", "bluestem")
SESSION_IDLE_SECONDS = 15 * 60


@dataclass
class Fault:
    count: int | None = None  # fires this many more times, then switches off (None: always)
    seconds: float = 5.0       # slow pages: delay per page
    portal: str = ""           # "" = every portal
    target: str = ""           # offsite_*: the other site's base URL


class State:
    """All the sandbox knows, in memory, behind one lock."""

    def __init__(self, seed: dict[str, Any] | None) -> None:
        self.lock = threading.Lock()
        self.seed: dict[str, Any] = seed or {"accounts": {}, "cases": [], "members": [],
                                             "claims": []}
        self.faults: dict[str, Fault] = {}
        self.offset_days = 0
        self.offset_hours = 0.0  # finer than days: lets a test cross midnight at the payer
        self.sessions: dict[str, dict[str, Any]] = {}
        self.hits = 0

    def accounts(self, portal: str) -> dict[str, str]:
        return dict(self.seed.get("accounts", {}).get(portal) or SANDBOX_ACCOUNTS[portal])

    def today(self) -> date:
        return (clock.now() + timedelta(days=self.offset_days, hours=self.offset_hours)).date()

    def set_fault(self, name: str, on: bool = True, *, count: int | None = None,
                  seconds: float | None = None, portal: str = "", target: str = "") -> None:
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; one of: {', '.join(FAULTS)}")
        if portal and portal not in PORTALS:
            raise ValueError(f"unknown portal {portal!r}; one of: {', '.join(PORTALS)}")
        with self.lock:
            if on:
                self.faults[name] = Fault(count=count, seconds=5.0 if seconds is None
                                          else seconds, portal=portal,
                                          target=target or "http://localhost:9/")
            else:
                self.faults.pop(name, None)

    def fire(self, name: str, portal: str) -> Fault | None:
        """The fault if it is on for this portal; counts one use of a counted fault."""
        with self.lock:
            fault = self.faults.get(name)
            if fault is None or (fault.portal and fault.portal != portal):
                return None
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    del self.faults[name]
            return fault

    def is_on(self, name: str, portal: str) -> bool:
        with self.lock:
            fault = self.faults.get(name)
            return fault is not None and (not fault.portal or fault.portal == portal)

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.offset_days = 0
            self.offset_hours = 0.0
            self.sessions.clear()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"faults": {k: {"count": f.count, "seconds": f.seconds, "portal": f.portal}
                               for k, f in self.faults.items()},
                    "offset_days": self.offset_days, "offset_hours": self.offset_hours,
                    "today": self.today().isoformat(),
                    "sessions": len(self.sessions), "cases": len(self.seed.get("cases", [])),
                    "hits": self.hits}

    # -- sessions ---------------------------------------------------------------------------

    def new_session(self, portal: str, stage: str) -> str:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.sessions[token] = {"portal": portal, "stage": stage, "seen": time.monotonic(),
                                    "payer": ""}
        return token

    def session(self, portal: str, token: str | None) -> dict[str, Any] | None:
        if not token:
            return None
        with self.lock:
            sess = self.sessions.get(token)
            if sess is None or sess["portal"] != portal:
                return None
            if time.monotonic() - sess["seen"] > SESSION_IDLE_SECONDS:
                del self.sessions[token]
                return None
            sess["seen"] = time.monotonic()
            return sess

    def drop_session(self, token: str | None) -> None:
        with self.lock:
            self.sessions.pop(token or "", None)

    # -- data -------------------------------------------------------------------------------

    def cases(self, portal: str, payer: str, member_id: str, reference: str = ""
              ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(case, current event) pairs visible today for this member (and reference)."""
        today = self.today()
        found = []
        for case in self.seed.get("cases", []):
            if case["portal"] != portal or (payer and case["payer"] != payer):
                continue
            if case["member_id"].strip().upper() != member_id.strip().upper():
                continue
            if reference and case["reference"].strip().upper() != reference.strip().upper():
                continue
            event = status_on(case["timeline"], date.fromisoformat(case["submitted"]), today)
            if event is not None:
                found.append((case, event))
        return found

    def case_fault(self, found: list[tuple[dict[str, Any], dict[str, Any]]]) -> str:
        """The fault scripted for one of these cases on the payer's today ('' if none)."""
        today = self.today().isoformat()
        for case, _event in found:
            fault = case.get("fault")
            if fault and fault.get("on") in (None, today):
                return str(fault["name"])
        return ""

    def case_by_ref(self, portal: str, reference: str
                    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        today = self.today()
        for case in self.seed.get("cases", []):
            if case["portal"] == portal and case["reference"] == reference:
                event = status_on(case["timeline"], date.fromisoformat(case["submitted"]),
                                  today)
                if event is not None:
                    return case, event
        return None

    def member(self, portal: str, payer: str, member_id: str) -> dict[str, Any] | None:
        for m in self.seed.get("members", []):
            if m["portal"] == portal and (not payer or m["payer"] == payer) and \
                    m["member_id"].strip().upper() == member_id.strip().upper():
                return dict(m)
        return None

    def claim(self, portal: str, member_id: str, claim_number: str
              ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        for c in self.seed.get("claims", []):
            if c["portal"] == portal and c["member_id"].upper() == member_id.strip().upper() \
                    and c["claim_number"].upper() == claim_number.strip().upper():
                event = status_on(c["timeline"], date.fromisoformat(c["submitted"]),
                                  self.today())
                if event is not None:
                    return c, event
        return None


# -- rendering helpers ----------------------------------------------------------------------

def us_date(iso: str | None, with_year: bool = True) -> str:
    if not iso:
        return ""
    d = date.fromisoformat(iso)
    return d.strftime("%m/%d/%Y" if with_year else "%m/%d")


class Response:
    def __init__(self, body: str = "", status: int = 200, *, location: str = "",
                 cookies: dict[str, str] | None = None, ctype: str = "text/html; charset=utf-8"
                 ) -> None:
        self.body = body.encode("utf-8")
        self.status = status
        self.location = location
        self.cookies = cookies or {}
        self.ctype = ctype


def redirect(location: str, cookies: dict[str, str] | None = None) -> Response:
    return Response("", 303, location=location, cookies=cookies)


def html_page(title: str, body: str, style: str, brand: str) -> Response:
    return Response(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{style}</style></head>"
        f"<body><header class='brand'>{brand}</header><main>{body}</main>"
        "<footer>Sandbox portal for OffHold testing. Synthetic data only.</footer>"
        "</body></html>")


CLEARING_STYLE = ("body{font-family:Arial,sans-serif;margin:0;background:#f3f6f9}"
                  ".brand{background:#0b4f8a;color:#fff;padding:12px 24px;font-size:20px}"
                  "main{padding:24px}table{border-collapse:collapse;background:#fff}"
                  "td,th{border:1px solid #c8d3de;padding:6px 10px}"
                  ".alert{padding:8px;background:#fde8e8;border:1px solid #e0a0a0}")
NORTHWIND_STYLE = ("body{font-family:Georgia,serif;margin:0;background:#fff}"
                   ".brand{background:#1d3b2a;color:#e9f3ea;padding:18px 32px;font-size:24px}"
                   "main{padding:32px;max-width:900px}#nw-pa-table td,#nw-claim-table td"
                   "{padding:8px 14px;border-bottom:1px solid #ccc}")
BLUESTEM_STYLE = ("body{font-family:'Courier New',monospace;background:#fffbe6;margin:16px}"
                  ".brand{font-weight:bold;font-size:18px;border-bottom:3px double #555}"
                  "th{text-align:left;padding-right:24px}")


def _server_error() -> Response:
    return Response("<html><body><h1>500 Internal Server Error</h1></body></html>", 500)


def _common_fault_pages(portal: str, state: State) -> Response | None:
    if state.fire("http_500", portal):
        return _server_error()
    if state.is_on("maintenance", portal):
        brand = {"clearing": "ClearPath Provider Portal", "northwind": "Northwind Provider Hub",
                 "bluestem": "BLUESTEM MEDICAID PROVIDER WEB"}[portal]
        return html_page("Scheduled maintenance",
                         "<div id='maintenance-notice' class='maintenance'><h1>Scheduled "
                         "maintenance</h1><p>This site is unavailable during scheduled "
                         "maintenance. Please try again later.</p></div>", "", escape(brand))
    return None


def _captcha(brand: str, style: str) -> Response:
    return html_page("Security check", (
        "<div id='captcha-box' class='captcha-challenge'><h2>Security check</h2>"
        "<p>Please confirm you are not a robot.</p><div class='captcha-widget'>"
        "<label><input type='checkbox' id='captcha-check'> I'm not a robot</label></div>"
        "</div>"), style, brand)


def _interstitial(portal: str, brand: str, style: str) -> Response:
    return html_page("Important notice", (
        "<div id='interstitial-notice' class='interstitial'><h2>Important notice</h2>"
        "<p>Our terms of use have changed. Please read and acknowledge them to continue.</p>"
        f"<form method='post' action='/{portal}/notice'><button id='ack-btn' type='submit'>"
        "I acknowledge</button></form></div>"), style, brand)


# -- the clearing portal --------------------------------------------------------------------

CLEARING_WORDS = {
    "submitted": "Request received",
    "pended": "Pended for clinical review",
    "additional_info_requested": "Additional information requested – see letter",
    "approved": "Certified – {units} units through {through}",
    "partially_approved": "Partially certified – {units} of {requested} units through "
                          "{through}",
    "denied": "Not certified – {reason}",
    "cancelled": "Cancelled by provider",
    "expired": "Authorization expired",
}
NORTHWIND_WORDS = {
    "submitted": "Received",
    "pended": "Pended for clinical review",
    "additional_info_requested": "Pended – additional information needed",
    "approved": "Approved – {units} units through {through_short}",
    "partially_approved": "Approved in part – {units} of {requested} units through "
                          "{through_short}",
    "denied": "Denied – {reason}",
    "cancelled": "Withdrawn",
    "expired": "Expired",
}
BLUESTEM_WORDS = {
    "submitted": "RECEIVED - NOT YET REVIEWED",
    "pended": "PENDING - MEDICAL REVIEW",
    "additional_info_requested": "RFI ISSUED - AWAITING PROVIDER RESPONSE",
    "approved": "APPROVED",
    "partially_approved": "APPROVED - MODIFIED",
    "denied": "DENIED",
    "cancelled": "VOID",
    "expired": "EXPIRED",
}


def word(words: dict[str, str], case: dict[str, Any], event: dict[str, Any]) -> str:
    return words[event["status"]].format(
        units=event.get("units", ""), requested=event.get("requested", case.get(
            "requested_units", "")), through=us_date(event.get("valid_through")),
        through_short=us_date(event.get("valid_through"), with_year=False),
        reason=event.get("reason", "not medically necessary"))


def _ids(names: Iterable[str], changed: bool) -> dict[str, str]:
    """Element ids/classes; a 'layout change' renames every one of them."""
    return {n: (f"v2-{n.replace('-', '_')}-fld" if changed else n) for n in names}


class Portal:
    name = ""
    brand = ""
    style = ""
    login_path = ""

    def __init__(self, state: State) -> None:
        self.state = state

    def page(self, title: str, body: str) -> Response:
        return html_page(title, body, self.style, self.brand)

    def expired(self) -> Response:
        return redirect(f"/{self.name}/{self.login_path}?expired=1")

    def handle(self, method: str, path: str, form: dict[str, str], query: dict[str, str],
               token: str | None) -> Response:
        raise NotImplementedError

    def search_expiry(self, token: str | None) -> bool:
        """Fault: the session dies just as a search is sent (mid-visit)."""
        if self.state.fire("session_expiry", self.name):
            self.state.drop_session(token)
            return True
        return False

    def scripted_fault(self, found: list[tuple[dict[str, Any], dict[str, Any]]]
                       ) -> tuple[Response | None, bool]:
        """A search that found a case with a fault scripted for today: the page to send
        instead (HTTP 500, a CAPTCHA), or True when the results get a new layout."""
        fault = self.state.case_fault(found)
        if fault == "http_500":
            return _server_error(), False
        if fault == "captcha":
            return _captcha(self.brand, self.style), False
        return None, fault == "layout_changed"

    def after_login(self, token: str, home: str) -> Response:
        cookie = {f"sbx_{self.name}": token}
        offsite = self.state.fire("offsite_redirect", self.name)
        if offsite is not None:
            return redirect(f"{offsite.target}{self.name}/home?from=login", cookie)
        if self.state.is_on("interstitial", self.name):
            return redirect(f"/{self.name}/notice", cookie)
        return redirect(home, cookie)

    def cookie_ok(self, username: str, password: str) -> bool:
        acct = self.state.accounts(self.name)
        return secrets.compare_digest(username.strip(), acct["username"]) and \
            secrets.compare_digest(password, acct["password"])


class Clearing(Portal):
    name = "clearing"
    brand = "ClearPath Provider Portal &middot; multi-payer"
    style = CLEARING_STYLE
    login_path = "login"

    def handle(self, method: str, path: str, form: dict[str, str], query: dict[str, str],
               token: str | None) -> Response:
        sess = self.state.session(self.name, token)
        changed = self.state.is_on("layout_changed", self.name)
        ids = _ids(["payer-select", "payer-continue", "nav-auth", "nav-elig", "auth-member",
                    "auth-ref", "auth-submit", "auth-results", "auth-results-title",
                    "auth-no-match", "elig-member", "elig-submit", "elig-title",
                    "elig-status", "elig-plan", "elig-effective", "elig-no-match"], changed)
        if path in ("", "login"):
            if method == "POST":
                if self.cookie_ok(form.get("user", ""), form.get("password", "")):
                    return self.after_login(self.state.new_session(self.name, "authed"),
                                            "/clearing/home")
                return self.login_page(error=True)
            if self.state.is_on("captcha", self.name):
                return _captcha(self.brand, self.style)
            return self.login_page(expired=query.get("expired") == "1")
        if sess is None:
            return self.expired()
        if path == "notice":
            if method == "POST":
                return redirect("/clearing/home")
            return _interstitial(self.name, self.brand, self.style)
        if path == "home":
            options = "".join(f"<option value='{k}'>{escape(v)}</option>"
                              for k, v in CLEARING_PAYERS.items())
            return self.page("Choose a payer", (
                "<h2>Select a payer</h2><form method='post' action='/clearing/select-payer'>"
                f"<label for='{ids['payer-select']}'>Payer</label> "
                f"<select id='{ids['payer-select']}' name='payer'><option value=''>-- choose "
                f"--</option>{options}</select> <button id='{ids['payer-continue']}' "
                "type='submit'>Continue</button></form><a id='signout' href='/clearing/logout'>"
                "Sign out</a>"))
        if path == "select-payer" and method == "POST":
            if form.get("payer") not in CLEARING_PAYERS:
                return redirect("/clearing/home")
            sess["payer"] = form["payer"]
            return redirect("/clearing/services")
        if path == "logout":
            self.state.drop_session(token)
            return redirect("/clearing/login")
        if not sess.get("payer"):
            return redirect("/clearing/home")
        payer_label = escape(CLEARING_PAYERS[sess["payer"]])
        if path == "services":
            return self.page("Services", (
                f"<h2>{payer_label}</h2><ul class='services'>"
                f"<li><a id='{ids['nav-auth']}' href='/clearing/auth'>Authorizations &amp; "
                "Referrals</a></li>"
                f"<li><a id='{ids['nav-elig']}' href='/clearing/eligibility'>Eligibility and "
                "Benefits</a></li></ul><a href='/clearing/home'>Change payer</a>"))
        if path == "auth" and method == "GET":
            return self.page("Authorization inquiry", (
                f"<h2>{payer_label}: Authorization Inquiry</h2>"
                "<form method='post' action='/clearing/auth'>"
                f"<label>Member ID <input id='{ids['auth-member']}' name='member_id'></label> "
                f"<label>Reference # <input id='{ids['auth-ref']}' name='reference'></label> "
                f"<button id='{ids['auth-submit']}' type='submit'>Submit</button></form>"))
        if path == "auth" and method == "POST":
            if self.search_expiry(token):
                return self.expired()
            found = self.state.cases(self.name, sess["payer"], form.get("member_id", ""),
                                     form.get("reference", ""))
            page, relayout = self.scripted_fault(found)
            if page is not None:
                return page
            if relayout:
                ids, changed = _ids(ids, True), True
            title = "Your requests" if changed else "Authorization Inquiry Results"
            if not found:
                return self.page("Results", (
                    f"<h2 id='{ids['auth-results-title']}'>{title}</h2>"
                    f"<p id='{ids['auth-no-match']}' class='no-match'>No authorizations match "
                    "your search.</p>"))
            rows = "".join(
                f"<tr><td class='ref'>{escape(c['reference'])}</td>"
                f"<td class='member'>{escape(c['member_id'])}</td>"
                f"<td class='svc'>{escape(c['service_code'])}</td>"
                f"<td class='status'>{escape(word(CLEARING_WORDS, c, e))}</td>"
                f"<td class='submitted'>{us_date(c['submitted'])}</td></tr>" for c, e in found)
            return self.page("Results", (
                f"<h2 id='{ids['auth-results-title']}'>{title}</h2>"
                f"<p>Payer: {payer_label}</p><table class='{ids['auth-results']}'>"
                "<thead><tr><th>Reference #</th><th>Member ID</th><th>Service</th>"
                f"<th>Status</th><th>Submitted</th></tr></thead><tbody>{rows}</tbody></table>"
                "<p><a href='/clearing/auth'>New search</a></p>"))
        if path == "eligibility" and method == "GET":
            return self.page("Eligibility", (
                f"<h2>{payer_label}: Eligibility and Benefits</h2>"
                "<form method='post' action='/clearing/eligibility'>"
                f"<label>Member ID <input id='{ids['elig-member']}' name='member_id'></label> "
                f"<button id='{ids['elig-submit']}' type='submit'>Check eligibility</button>"
                "</form>"))
        if path == "eligibility" and method == "POST":
            if self.search_expiry(token):
                return self.expired()
            member = self.state.member(self.name, sess["payer"], form.get("member_id", ""))
            head = f"<h2 id='{ids['elig-title']}'>Eligibility and Benefits</h2>"
            if member is None:
                return self.page("Eligibility", head + (
                    f"<p id='{ids['elig-no-match']}'>Subscriber not found.</p>"))
            active = member["active"] and not (
                member.get("terminated") and member["terminated"] <= self.state.today()
                .isoformat())
            return self.page("Eligibility", head + (
                "<dl>"
                f"<dt>Coverage</dt><dd id='{ids['elig-status']}'>"
                f"{'Active Coverage' if active else 'Inactive – coverage terminated'}</dd>"
                f"<dt>Plan</dt><dd id='{ids['elig-plan']}'>{escape(member['plan'])}</dd>"
                f"<dt>Effective</dt><dd id='{ids['elig-effective']}'>"
                f"{us_date(member.get('effective'))}</dd></dl>"))
        return Response("<h1>404 Not Found</h1>", 404)

    def login_page(self, error: bool = False, expired: bool = False) -> Response:
        note = ""
        if error:
            note = "<div class='alert' id='login-error'>Invalid user ID or password.</div>"
        if expired:
            note = ("<div class='alert' id='session-expired-msg'>Your session has expired. "
                    "Please sign in again.</div>")
        return self.page("Sign in", (
            f"{note}<h2>Provider sign in</h2><form id='signin-form' method='post' "
            "action='/clearing/login'><label>User ID <input id='userId' name='user'></label>"
            "<label>Password <input id='passwd' name='password' type='password'></label>"
            "<button id='signin-btn' type='submit'>Sign in</button></form>"))


class Northwind(Portal):
    name = "northwind"
    brand = "Northwind National Health &mdash; Provider Hub"
    style = NORTHWIND_STYLE
    login_path = "signin"

    def handle(self, method: str, path: str, form: dict[str, str], query: dict[str, str],
               token: str | None) -> Response:
        sess = self.state.session(self.name, token)
        changed = self.state.is_on("layout_changed", self.name)
        ids = _ids(["nw-nav-pa", "nw-nav-claims", "nw-member", "nw-authnum", "nw-search",
                    "nw-pa-table", "nw-no-results", "nw-results-title", "nw-claim-member",
                    "nw-claim-number", "nw-claim-search", "nw-claim-table", "nw-claim-status",
                    "nw-claim-none", "nw-status", "nw-authnum-cell"], changed)
        if path in ("", "signin"):
            if method == "POST":
                if self.cookie_ok(form.get("username", ""), form.get("password", "")):
                    new = self.state.new_session(self.name, "mfa")
                    return redirect("/northwind/mfa", {f"sbx_{self.name}": new})
                return self.signin_page(error=True)
            if self.state.is_on("captcha", self.name):
                return _captcha(self.brand, self.style)
            return self.signin_page(expired=query.get("expired") == "1")
        if sess is None:
            return self.expired()
        if path == "mfa":
            if method == "POST":
                seed = self.state.accounts(self.name).get("totp_seed", "")
                if seed and pyotp.TOTP(seed).verify(form.get("code", "").strip(),
                                                    valid_window=1):
                    sess["stage"] = "authed"
                    return self.after_login(token or "", "/northwind/dashboard")
                return self.mfa_page(error=True)
            return self.mfa_page()
        if sess["stage"] != "authed":
            return redirect("/northwind/mfa")
        if path == "notice":
            if method == "POST":
                return redirect("/northwind/dashboard")
            return _interstitial(self.name, self.brand, self.style)
        if path == "signout":
            self.state.drop_session(token)
            return redirect("/northwind/signin")
        if path == "dashboard":
            return self.page("Dashboard", (
                "<h1>Welcome back</h1><nav>"
                f"<a id='{ids['nw-nav-pa']}' href='/northwind/priorauth'>Prior Authorizations</a>"
                f" | <a id='{ids['nw-nav-claims']}' href='/northwind/claims'>Claims</a> | "
                "<a id='nw-signout' href='/northwind/signout'>Sign out</a></nav>"))
        if path == "priorauth" and method == "GET":
            survey = ""
            if self.state.fire("survey", self.name):  # covers the form until dismissed
                survey = ("<div id='nw-survey' role='dialog' style='position:fixed;inset:0;"
                          "background:rgba(0,0,0,.45);z-index:10'><div style='background:#fff;"
                          "margin:120px auto;padding:24px;width:360px'><p>How are we doing? "
                          "Take a 2-minute survey.</p><button id='nw-survey-close' "
                          "type='button' onclick=\"document.getElementById('nw-survey')"
                          ".remove()\">No thanks</button></div></div>")
            return self.page("Prior authorizations", survey + (
                "<h1>Prior Authorization Lookup</h1><form method='post' "
                "action='/northwind/priorauth'>"
                f"<p><label>Member ID<br><input id='{ids['nw-member']}' name='member'></label>"
                f"</p><p><label>Authorization number (optional)<br><input "
                f"id='{ids['nw-authnum']}' name='authnum'></label></p>"
                f"<button id='{ids['nw-search']}' type='submit'>Search</button></form>"))
        if path == "priorauth" and method == "POST":
            if self.search_expiry(token):
                return self.expired()
            found = self.state.cases(self.name, "", form.get("member", ""),
                                     form.get("authnum", ""))
            page, relayout = self.scripted_fault(found)
            if page is not None:
                return page
            if relayout:
                ids, changed = _ids(ids, True), True
            title = "Requests" if changed else "Prior Authorization Results"
            head = f"<h1 id='{ids['nw-results-title']}'>{title}</h1>"
            if not found:
                return self.page("Results", head + (
                    f"<p id='{ids['nw-no-results']}'>We couldn't find any authorizations for "
                    "that search.</p>"))
            letters = self.state.is_on("letters", self.name)
            rows = "".join(
                f"<tr><td class='{ids['nw-authnum-cell']}'>{escape(c['reference'])}</td>"
                f"<td class='nw-member'>{escape(c['member_id'])}</td>"
                f"<td class='nw-service'>CPT {escape(c['service_code'])}</td>"
                f"<td class='{ids['nw-status']}'>{escape(word(NORTHWIND_WORDS, c, e))}</td>"
                f"<td class='nw-updated'>{us_date(self.updated(c, e))}</td>"
                + (f"<td class='nw-letter'>{escape(self.letter(c, e))}</td>" if letters
                   else "") + "</tr>"
                for c, e in found)
            return self.page("Results", head + (
                f"<table id='{ids['nw-pa-table']}'><thead><tr><th>Auth #</th><th>Member ID"
                "</th><th>Service</th><th>Status</th><th>Last updated</th></tr></thead>"
                f"<tbody>{rows}</tbody></table>"))
        if path == "claims" and method == "GET":
            return self.page("Claims", (
                "<h1>Claim Status</h1><form method='post' action='/northwind/claims'>"
                f"<p><label>Member ID<br><input id='{ids['nw-claim-member']}' name='member'>"
                f"</label></p><p><label>Claim number<br><input id='{ids['nw-claim-number']}'"
                " name='claim'></label></p>"
                f"<button id='{ids['nw-claim-search']}' type='submit'>Find claim</button>"
                "</form>"))
        if path == "claims" and method == "POST":
            if self.search_expiry(token):
                return self.expired()
            hit = self.state.claim(self.name, form.get("member", ""), form.get("claim", ""))
            head = "<h1>Claim Status Results</h1>"
            if hit is None:
                return self.page("Claim", head + f"<p id='{ids['nw-claim-none']}'>No claim "
                                 "found.</p>")
            c, e = hit
            status = {"received": "Received", "in_process": "In process",
                      "pended": "Pended – awaiting information",
                      "paid": f"Paid ${e.get('paid', '')}",
                      "partially_paid": f"Paid in part ${e.get('paid', '')}",
                      "denied": f"Denied ({e.get('reason', '')})"}[e["status"]]
            return self.page("Claim", head + (
                f"<table id='{ids['nw-claim-table']}'><tr><th>Claim #</th><td>"
                f"{escape(c['claim_number'])}</td></tr><tr><th>Date of service</th><td>"
                f"{us_date(c['service_date'])}</td></tr><tr><th>Billed</th><td>"
                f"${escape(c['billed'])}</td></tr><tr><th>Status</th>"
                f"<td class='{ids['nw-claim-status']}'>{escape(status)}</td></tr></table>"))
        return Response("<h1>Page not found</h1>", 404)

    @classmethod
    def letter(cls, case: dict[str, Any], event: dict[str, Any]) -> str:
        """The payer's letter, with its deadline in its own words."""
        sent = date.fromisoformat(cls.updated(case, event))
        if event["status"] == "additional_info_requested":
            due = (sent + timedelta(days=10)).strftime("%m/%d/%Y")
            return (f"Letter of {sent:%m/%d/%Y}: we need the last two office notes to "
                    f"decide. A reply is due by {due}.")
        if event["status"] == "denied":
            return (f"Letter of {sent:%m/%d/%Y}: the service is not medically necessary as "
                    "documented. You may appeal within 180 days of this letter.")
        return ""

    @staticmethod
    def updated(case: dict[str, Any], event: dict[str, Any]) -> str:
        return (date.fromisoformat(case["submitted"]) + timedelta(days=int(event["day"]))
                ).isoformat()

    def signin_page(self, error: bool = False, expired: bool = False) -> Response:
        note = ""
        if error:
            note = "<p id='nw-login-error' class='err'>We don't recognize that sign-in.</p>"
        if expired:
            note = ("<p id='nw-session-expired' class='err'>For your security you were "
                    "signed out. Please sign in again.</p>")
        return self.page("Sign in", (
            f"<h1>Provider sign in</h1>{note}<form method='post' action='/northwind/signin'>"
            "<p><label>Username<br><input id='nw-username' name='username'></label></p>"
            "<p><label>Password<br><input id='nw-password' name='password' type='password'>"
            "</label></p><button id='nw-signin' type='submit'>Sign In</button></form>"))

    def mfa_page(self, error: bool = False) -> Response:
        note = ("<p id='nw-otp-error' class='err'>That code didn't work. Try again.</p>"
                if error else "")
        return self.page("Verify", (
            f"<h1>Verify it's you</h1>{note}<p>Enter the 6-digit code from your "
            "authenticator app.</p><form method='post' action='/northwind/mfa'>"
            "<input id='nw-otp' name='code' inputmode='numeric' autocomplete='one-time-code'>"
            " <button id='nw-verify' type='submit'>Verify</button></form>"))


class Bluestem(Portal):
    name = "bluestem"
    brand = "BLUESTEM STATE MEDICAID &mdash; PROVIDER WEB SERVICES"
    style = BLUESTEM_STYLE
    login_path = "logon"

    def handle(self, method: str, path: str, form: dict[str, str], query: dict[str, str],
               token: str | None) -> Response:
        sess = self.state.session(self.name, token)
        changed = self.state.is_on("layout_changed", self.name)
        ids = _ids(["lnk-pa", "lnk-elig", "RECIP_ID", "PA_NUM", "SUBMIT_PA", "PA_LIST",
                    "case-link", "NO_RECS", "CASE_DETAIL", "PA_STATUS", "UNITS_AUTH",
                    "BEGIN_DT", "END_DT", "DECISION_RSN", "ELIG_RECIP", "SUBMIT_ELIG",
                    "ELIG_STATUS", "ELIG_NONE"], changed)
        if path in ("", "logon"):
            if method == "POST":
                if self.cookie_ok(form.get("USERID", ""), form.get("PASSWD", "")):
                    return self.after_login(self.state.new_session(self.name, "authed"),
                                            "/bluestem/menu")
                return self.logon_page(error=True)
            if self.state.is_on("captcha", self.name):
                return _captcha(self.brand, self.style)
            return self.logon_page(expired=query.get("expired") == "1")
        if sess is None:
            return self.expired()
        if path == "notice":
            if method == "POST":
                return redirect("/bluestem/menu")
            return _interstitial(self.name, self.brand, self.style)
        if path == "menu":
            return self.page("MAIN MENU", (
                "<h3>MAIN MENU</h3><ol>"
                f"<li><a id='{ids['lnk-pa']}' href='/bluestem/pa'>PRIOR AUTHORIZATION INQUIRY"
                "</a></li>"
                f"<li><a id='{ids['lnk-elig']}' href='/bluestem/elig'>RECIPIENT ELIGIBILITY "
                "VERIFICATION</a></li><li><a id='LOGOFF' href='/bluestem/logoff'>LOG OFF</a>"
                "</li></ol>"))
        if path == "logoff":
            self.state.drop_session(token)
            return redirect("/bluestem/logon")
        if path == "pa" and method == "GET":
            return self.page("PA INQUIRY", (
                "<h3>PRIOR AUTHORIZATION INQUIRY</h3><form method='post' action='/bluestem/pa'>"
                f"<table><tr><th>RECIPIENT ID:</th><td><input id='{ids['RECIP_ID']}' "
                f"name='RECIP_ID' size='12'></td></tr><tr><th>PA NUMBER:</th><td><input "
                f"id='{ids['PA_NUM']}' name='PA_NUM' size='14'></td></tr></table>"
                f"<input type='submit' id='{ids['SUBMIT_PA']}' value='SUBMIT'></form>"))
        if path == "pa" and method == "POST":
            if self.search_expiry(token):
                return self.expired()
            found = self.state.cases(self.name, "", form.get("RECIP_ID", ""),
                                     form.get("PA_NUM", ""))
            page, relayout = self.scripted_fault(found)
            if page is not None:
                return page
            if relayout:
                ids = _ids(ids, True)
            if not found:
                return self.page("PA INQUIRY", (
                    f"<h3>PA INQUIRY RESULTS</h3><p id='{ids['NO_RECS']}'>NO RECORDS FOUND"
                    " FOR THE CRITERIA ENTERED</p>"))
            rows = "".join(
                f"<tr><td>{escape(c['reference'])}</td><td>{us_date(c['submitted'])}</td>"
                f"<td><a class='{ids['case-link']}' href='/bluestem/case/"
                f"{escape(c['reference'])}'>VIEW</a></td></tr>" for c, _e in found)
            return self.page("PA INQUIRY", (
                f"<h3>PA INQUIRY RESULTS</h3><table id='{ids['PA_LIST']}'><tr><th>PA NUMBER"
                f"</th><th>RECEIVED</th><th></th></tr>{rows}</table>"))
        if path.startswith("case/"):
            if self.search_expiry(token):
                return self.expired()
            hit = self.state.case_by_ref(self.name, path[len("case/"):])
            if hit is None:
                return Response("<h3>CASE NOT FOUND</h3>", 404)
            c, e = hit
            title = "CASE" if changed else "PRIOR AUTHORIZATION CASE DETAIL"
            decided = e["status"] in ("approved", "partially_approved", "expired")
            return self.page("CASE DETAIL", (
                f"<h3>{title}</h3><table id='{ids['CASE_DETAIL']}'>"
                f"<tr><th>PA NUMBER</th><td>{escape(c['reference'])}</td></tr>"
                f"<tr><th>RECIPIENT ID</th><td>{escape(c['member_id'])}</td></tr>"
                f"<tr><th>PROCEDURE</th><td>{escape(c['service_code'])}</td></tr>"
                f"<tr><th>PA STATUS</th><td id='{ids['PA_STATUS']}'>"
                f"{escape(BLUESTEM_WORDS[e['status']])}</td></tr>"
                f"<tr><th>UNITS REQUESTED</th><td>{c.get('requested_units', '')}</td></tr>"
                f"<tr><th>UNITS AUTHORIZED</th><td id='{ids['UNITS_AUTH']}'>"
                f"{e.get('units', '') if decided else ''}</td></tr>"
                f"<tr><th>BEGIN DATE</th><td id='{ids['BEGIN_DT']}'>"
                f"{us_date(e.get('valid_from')) if decided else ''}</td></tr>"
                f"<tr><th>END DATE</th><td id='{ids['END_DT']}'>"
                f"{us_date(e.get('valid_through')) if decided else ''}</td></tr>"
                f"<tr><th>DECISION REASON</th><td id='{ids['DECISION_RSN']}'>"
                f"{escape(str(e.get('reason', '')).upper())}</td></tr></table>"
                "<p><a href='/bluestem/pa'>NEW INQUIRY</a> <a href='/bluestem/menu'>MAIN MENU"
                "</a></p>"))
        if path == "elig" and method == "GET":
            return self.page("ELIGIBILITY", (
                "<h3>RECIPIENT ELIGIBILITY VERIFICATION</h3><form method='post' "
                f"action='/bluestem/elig'>RECIPIENT ID: <input id='{ids['ELIG_RECIP']}' "
                f"name='RECIP_ID'> <input type='submit' id='{ids['SUBMIT_ELIG']}' "
                "value='VERIFY'></form>"))
        if path == "elig" and method == "POST":
            if self.search_expiry(token):
                return self.expired()
            member = self.state.member(self.name, "", form.get("RECIP_ID", ""))
            head = "<h3>ELIGIBILITY RESPONSE</h3>"
            if member is None:
                return self.page("ELIGIBILITY", head + f"<p id='{ids['ELIG_NONE']}'>RECIPIENT"
                                 " NOT ON FILE</p>")
            active = member["active"] and not (
                member.get("terminated") and member["terminated"] <= self.state.today()
                .isoformat())
            text = "ELIGIBLE - FULL MEDICAID BENEFITS" if active else "NOT ELIGIBLE"
            return self.page("ELIGIBILITY", head + (
                f"<table><tr><th>STATUS</th><td id='{ids['ELIG_STATUS']}'>{text}</td></tr>"
                f"<tr><th>PROGRAM</th><td>{escape(member['plan'].upper())}</td></tr></table>"))
        return Response("<h3>NOT FOUND</h3>", 404)

    def logon_page(self, error: bool = False, expired: bool = False) -> Response:
        note = ""
        if error:
            note = "<p id='LOGON_ERR'>INVALID USER ID OR PASSWORD</p>"
        if expired:
            note = "<p id='SESSION_MSG'>YOUR SESSION HAS TIMED OUT. PLEASE LOG ON AGAIN.</p>"
        return self.page("LOG ON", (
            f"<h3>PROVIDER LOG ON</h3>{note}<form method='post' action='/bluestem/logon'>"
            "<table><tr><th>USER ID:</th><td><input id='USERID' name='USERID'></td></tr>"
            "<tr><th>PASSWORD:</th><td><input id='PASSWD' name='PASSWD' type='password'>"
            "</td></tr></table><input type='submit' id='LOGON' value='LOG ON'></form>"))


# -- the server -------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """No request logging (see module docstring)."""

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        form: dict[str, str] = {}
        if method == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        parts = url.path.strip("/").split("/", 1)
        try:
            if parts[0] == "__admin":
                response = self._admin(parts[1] if len(parts) > 1 else "", {**query, **form})
            elif parts[0] in self.server.portals:
                with state.lock:
                    state.hits += 1
                portal = self.server.portals[parts[0]]
                slow = state.fire("slow", portal.name)
                if slow is not None:
                    time.sleep(slow.seconds)
                response = _common_fault_pages(portal.name, state) or portal.handle(
                    method, parts[1] if len(parts) > 1 else "", form, query,
                    self._cookie(f"sbx_{portal.name}"))
                pixel = state.fire("offsite_pixel", portal.name)
                if pixel is not None and response.body.endswith(b"</body></html>"):
                    response.body = response.body[:-len(b"</body></html>")] + (
                        f"<img id='offsite-pixel' src='{pixel.target}pixel.png' alt=''>"
                        "</body></html>").encode("utf-8")
            elif url.path in ("", "/"):
                links = "".join(f"<li><a href='/{p}/'>{p}</a></li>" for p in PORTALS)
                response = Response(f"<html><body><h1>OffHold sandbox portals</h1><ul>{links}"
                                    "</ul></body></html>")
            else:
                response = Response("<h1>404</h1>", 404)
        except ValueError as exc:
            response = Response(json.dumps({"error": str(exc)}), 400,
                                ctype="application/json")
        self._send(response)

    def _cookie(self, name: str) -> str | None:
        jar = SimpleCookie(self.headers.get("Cookie") or "")
        morsel = jar.get(name)
        return morsel.value if morsel else None

    def _admin(self, action: str, params: dict[str, str]) -> Response:
        state = self.server.state
        if action == "fault":
            name = params.get("name", "")
            count = int(params["count"]) if params.get("count") else None
            seconds = float(params["seconds"]) if params.get("seconds") else None
            state.set_fault(name, params.get("on", "1") not in ("0", "false", "off"),
                            count=count, seconds=seconds, portal=params.get("portal", ""),
                            target=params.get("target", ""))
        elif action == "reset":
            state.reset()
        elif action == "clock":
            with state.lock:
                if params.get("date"):
                    target = date.fromisoformat(params["date"])
                    state.offset_days = (target - clock.now().date()).days
                    state.offset_hours = 0.0
                else:
                    if params.get("day") is not None:
                        state.offset_days = int(params["day"])
                    if params.get("hours") is not None:
                        state.offset_hours = float(params["hours"])
        elif action == "seed":
            body = params.get("seed")
            if not body:
                raise ValueError("POST the seed JSON as the 'seed' form field")
            state.seed = json.loads(body)
        elif action not in ("", "state"):
            return Response(json.dumps({"error": f"unknown admin action {action!r}"}), 404,
                            ctype="application/json")
        return Response(json.dumps(state.snapshot()), ctype="application/json")

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.ctype)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        if response.location:
            self.send_header("Location", response.location)
        for name, value in response.cookies.items():
            self.send_header("Set-Cookie", f"{name}={value}; Path=/; HttpOnly; SameSite=Lax")
        self.end_headers()
        self.wfile.write(response.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that gave up on a slow page is normal here; anything else is a bug
        worth seeing (without the request line, which may carry a member ID)."""
        import sys
        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)

    def __init__(self, address: tuple[str, int], state: State) -> None:
        super().__init__(address, _Handler)
        self.state = state
        self.portals: dict[str, Portal] = {p.name: p for p in
                                           (Clearing(state), Northwind(state), Bluestem(state))}


class SandboxPortal:
    """The sandbox server in a background thread. port=0 picks a free port."""

    def __init__(self, seed: dict[str, Any] | None = None, *, port: int = 0,
                 host: str = "127.0.0.1", faults: Iterable[str] = ()) -> None:
        self.state = State(seed)
        for name in faults:
            self.state.set_fault(name)
        self._server = _Server((host, port), self.state)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{self.port}"

    def portal_url(self, recipe_or_portal: str) -> str:
        """The base URL of a recipe's portal (or a portal by name), ending in '/'."""
        portal = RECIPE_PORTALS.get(recipe_or_portal, (recipe_or_portal, ""))[0]
        if portal not in PORTALS:
            raise ValueError(f"no sandbox portal for {recipe_or_portal!r}")
        return f"{self.url}/{portal}/"

    def start(self) -> "SandboxPortal":
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            kwargs={"poll_interval": 0.1},
                                            name="sandbox-portal", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Run in the calling thread (the CLI)."""
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> "SandboxPortal":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- Python-side admin (same effect as the admin URLs) ---------------------------------

    def set_fault(self, name: str, on: bool = True, *, count: int | None = None,
                  seconds: float | None = None, portal: str = "", target: str = "") -> None:
        self.state.set_fault(name, on, count=count, seconds=seconds, portal=portal,
                             target=target)

    def reset(self) -> None:
        self.state.reset()

    def set_day(self, day: int) -> None:
        with self.state.lock:
            self.state.offset_days = int(day)

    def set_date(self, target: date) -> None:
        with self.state.lock:
            self.state.offset_days = (target - clock.now().date()).days

    def load_seed(self, seed: dict[str, Any]) -> None:
        with self.state.lock:
            self.state.seed = seed

    def today(self) -> date:
        return self.state.today()

    def hits(self) -> int:
        return self.state.hits
