"""The engine: recipes -> Playwright steps, on one shared headless system Chromium.

Playwright's async API runs on the engine's own event-loop thread, so one browser serves
concurrent portal sessions (the sync API binds a browser to one thread). The public
methods are blocking and thread-safe; vault reads and audit writes stay on the caller's
thread. Nothing reaches disk: contexts are incognito (no profile), downloads are refused,
no trace/HAR/video is recorded, and screenshots are PNG bytes in memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import weakref
import concurrent.futures
from collections import Counter
from collections.abc import Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, AsyncIterator, TypeVar
from urllib.parse import urljoin, urlsplit

import pyotp
from playwright.async_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Playwright,
    Route,
    WebSocketRoute,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from app import audit, clock
from app.domain import Payer
from app.domain.portal import PortalCredentials
from app.errors import NotFound, ValidationError
from app.identity import Session, require
from app.services import patients, portal_credentials, practice
from automations.portal.errors import (
    HumanHandoff,
    LookupIncomplete,
    OffSiteRefused,
    PortalDisabled,
    PortalFailure,
    PortalUnavailable,
    RecipeBroken,
)
from automations.portal.fence import OriginFence
from automations.portal.recipes import (
    SECRET_VARS,
    KindSpec,
    Recipe,
    RecipeBook,
    Step,
    ValueSpec,
    load_recipes,
    origin_of,
    recipe_dirs,
)
from automations.portal.results import CheckResult

log = logging.getLogger(__name__)
T = TypeVar("T")

CHROMIUM_ARGS = ["--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-breakpad",
                 "--disable-gpu-shader-disk-cache", "--dns-prefetch-disable",
                 # One flag: Chromium honours only the last --disable-features, so this one
                 # replaces Playwright's own list and must repeat it (Playwright 1.5x's list
                 # first). Dropping it let Chromium preconnect to www.google.com (PreconnectToSearch,
                 # AimEnabled) on every launch; the origin fence refused it, but no request may
                 # leave for a third party at all.
                 "--disable-features=" + ",".join([
                     "AvoidUnnecessaryBeforeUnloadCheckSync", "DestroyProfileOnBrowserClose",
                     "HttpsUpgrades", "HttpsFirstBalancedModeAutoEnable", "LensOverlay",
                     "MediaRouter", "PaintHolding", "ThirdPartyStoragePartitioning",
                     "AvoidCorsURLLoaderRestartOnRedirect", "OptimizationHints",
                     "NetworkTimeServiceQuerying", "AimEnabled", "PreconnectToSearch",
                     "AutofillServerCommunication", "Translate", "InterestFeedContentSuggestions",
                     "CertificateTransparencyComponentUpdater", "DialMediaRouteProvider"])]
KIND_PERMISSION = {"pa_status": "pa.check", "eligibility": "eligibility.request",
                   "claim_status": "claim.manage"}


@dataclass(frozen=True)
class PortalQuery:
    """What to look up. member_id/reference are used only inside the browser, never logged.
    subject_type/subject_id/patient_id tie the audit row to the caller's record."""

    member_id: str
    reference: str = ""
    dob: date | None = None
    claim_number: str = ""
    service_date: date | None = None
    npi: str = ""  # default: the practice's NPI (setting practice_npi)
    subject_type: str = ""
    subject_id: str | int = ""
    patient_id: int | None = None


@dataclass
class CheckOutcome:
    """One look-up in check_many: exactly one of result / error is set."""

    payer_id: int
    payer: Payer | None
    recipe: str
    kind: str
    query: PortalQuery
    result: CheckResult | None = None
    error: PortalFailure | None = None


class _Retry(Exception):
    """Internal: worth another try in a fresh session (timeout, 5xx, expired session)."""

    def __init__(self, reason: str, screenshot: bytes | None = None, step: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.screenshot = screenshot
        self.step = step


class _Missing(Exception):
    """Internal: a selector was not on a loaded page."""

    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


@dataclass
class _Job:
    payer: Payer
    recipe: Recipe
    creds: PortalCredentials
    kind: str
    queries: list[tuple[int, PortalQuery]]
    origin: str = ""  # the payer's own origin: the only one the browser may reach
    hosts: set[str] = field(default_factory=set)  # host[:port] of every request let through
    blocked: Counter[str] = field(default_factory=Counter)  # refused requests by host
    blocked_navigation: str = ""  # the host a page tried to navigate to, if refused


def _top_level_navigation(route: Route) -> bool:
    """The page itself navigating (not a frame inside it, not a worker's request)."""
    try:
        return route.request.is_navigation_request() \
            and route.request.frame.parent_frame is None
    except PlaywrightError:  # a service worker's request has no frame
        return False


def _host(url: str) -> str:
    """host[:port] for the audit (no path or query: they may carry IDs)."""
    parts = urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1].lower() or parts.scheme or "?"


class PortalEngine:
    """One shared headless Chromium, a fresh context per portal session.

    concurrency: portal sessions at once (setting portal_concurrency);
    min_interval_seconds: gap between look-ups on the same portal (0 turns it off);
    shared_browser=False launches a browser per portal session (for the bench only);
    attempts / backoff_seconds: tries for a PortalUnavailable (backoff doubles);
    timeout_seconds / selector_timeout_seconds override the recipe's when given (tests);
    lookups_per_session: check_many splits a payer's look-ups into sessions of this size.
    """

    def __init__(self, *, recipes: RecipeBook | None = None, chromium_path: str | None = None,
                 concurrency: int = 3, min_interval_seconds: float = 2.0,
                 shared_browser: bool = True, attempts: int = 3, backoff_seconds: float = 1.0,
                 timeout_seconds: float | None = None,
                 selector_timeout_seconds: float | None = None,
                 lookups_per_session: int = 10) -> None:
        if concurrency < 1:
            raise ValidationError("portal_concurrency must be at least 1")
        if attempts < 1:
            raise ValidationError("attempts must be at least 1")
        self.recipes = recipes if recipes is not None else load_recipes()
        self.chromium_path = chromium_path or shutil.which("chromium") or "/usr/bin/chromium"
        self.concurrency = concurrency
        self.min_interval = max(0.0, float(min_interval_seconds))
        self.shared_browser = shared_browser
        self.attempts = attempts
        self.backoff = backoff_seconds
        self.timeout_override = timeout_seconds
        self.selector_timeout_override = selector_timeout_seconds
        self.lookups_per_session = max(1, lookups_per_session)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="portal-engine",
                                        daemon=True)
        self._thread.start()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._start_lock: asyncio.Lock | None = None
        self._sem: asyncio.Semaphore | None = None
        self._rate_locks: dict[str, asyncio.Lock] = {}
        self._last_visit: dict[str, float] = {}
        self._closed = False
        self.launches = 0  # browsers launched (the bench and tests read it)
        self.private_dir: str | None = None  # Chromium's own temp dir, wiped on close
        self.active_sessions = 0
        self.peak_sessions = 0  # most portal sessions open at once (tests check the bound)

    @classmethod
    def from_settings(cls, session: Session, *, recipes_dir: str | None = None,
                      **overrides: Any) -> "PortalEngine":
        """Build from practice settings (chromium_path, portal_concurrency,
        portal_min_interval_seconds, recipes_dir); keyword overrides win."""
        folder = recipes_dir if recipes_dir is not None else practice.get_setting(
            session, "recipes_dir")
        options: dict[str, Any] = {
            "recipes": load_recipes(recipe_dirs(folder or None)),
            "chromium_path": practice.get_setting(session, "chromium_path") or None,
            "concurrency": practice.get_setting(session, "portal_concurrency"),
            "min_interval_seconds": practice.get_setting(session,
                                                         "portal_min_interval_seconds"),
        }
        options.update(overrides)
        return cls(**options)

    def __enter__(self) -> "PortalEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the public, blocking surface ------------------------------------------------------

    def check(self, session: Session, payer: Payer | int | str, kind: str,
              query: PortalQuery, *, recipe: Recipe | None = None) -> CheckResult:
        """One look-up; raises a PortalFailure subclass on failure (audited either way).
        `recipe` overrides the payer's recipe (offhold recipe test)."""
        outcome = self._check_all(session, [(payer, kind, query)], recipe)[0]
        if outcome.error is not None:
            raise outcome.error
        assert outcome.result is not None
        return outcome.result

    def check_many(self, session: Session,
                   requests: Sequence[tuple[Payer | int | str, str, PortalQuery]]
                   ) -> list[CheckOutcome]:
        """Many look-ups, in input order; failures are returned, not raised."""
        return self._check_all(session, requests, None)

    def close(self) -> None:
        """Close the browser and the engine thread; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
            if self.private_dir is not None:
                shutil.rmtree(self.private_dir, ignore_errors=True)

    # -- orchestration (caller's thread) -----------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            raise RuntimeError("the portal engine is closed")
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro,
                                                                                self._loop)
        return future.result()

    def _resolve(self, session: Session, payer: Payer | int | str) -> Payer:
        if isinstance(payer, Payer):
            return patients.get_payer(session, payer.id)  # fresh: the switch may have moved
        if isinstance(payer, int):
            return patients.get_payer(session, payer)
        return patients.find_payer(session, payer)

    def _prepare(self, session: Session, payer: Payer, kind: str,
                 override: Recipe | None) -> tuple[Recipe, PortalCredentials, str]:
        if not payer.portal_enabled:
            raise PortalDisabled(f"portal checks are switched off for payer {payer.id} "
                                 f"({payer.name}); turn them on with 'offhold portal enable'")
        installed = self.recipes.get(payer.portal_recipe) \
            if payer.portal_recipe and payer.portal_recipe in self.recipes else None
        trying = override is not None and not (installed is not None
                                               and override.same_as(installed))
        if trying and override is not None:
            # A file that is not the payer's installed recipe decides where the payer's
            # log-in is typed: only those who may set recipes may try one (audited).
            require(session, "portal.configure", payer_id=payer.id, recipe=override.name)
        name = override.name if override is not None else payer.portal_recipe
        if not name:
            raise PortalDisabled(f"payer {payer.id} ({payer.name}) has no portal recipe")
        if override is None and name not in self.recipes:
            raise RecipeBroken(f"payer {payer.id} ({payer.name}) uses recipe {name!r}, which "
                               "is not installed (built-in or the practice's recipes_dir)")
        recipe = override if override is not None else self.recipes.get(name)
        if kind not in recipe.kinds:
            raise ValidationError(f"recipe {recipe.name!r} has no {kind} look-up; it has: "
                                  + ", ".join(recipe.kinds))
        try:
            creds = portal_credentials.credentials_for_visit(session, payer.id,
                                                             KIND_PERMISSION[kind])
        except NotFound as exc:
            raise PortalDisabled(f"no portal log-in is stored for payer {payer.id} "
                                 f"({payer.name}); add one with 'offhold portal set'") from exc
        return recipe, creds, self._origin(payer, recipe, installed, creds, trying)

    @staticmethod
    def _origin(payer: Payer, recipe: Recipe, installed: Recipe | None,
                creds: PortalCredentials, trying: bool) -> str:
        """The payer's own origin, set by the owner or office manager: the payer's portal
        URL (a payer field; `creds.url` carries it), else the installed recipe's portal.url. A recipe file being tried must point
        at the same site, or the payer's log-in is not used at all."""
        from app.forms import portal_url_problem
        # The payer's URL may predate the check (m0020 moved the log-in's URL as is); an
        # installed recipe's portal.url was never held to it (http to a remote host).
        source = "portal URL" if creds.url else "recipe's portal.url"
        problem = portal_url_problem(creds.url or (installed.url if installed else ""))
        if problem:
            raise OffSiteRefused(f"payer {payer.id} ({payer.name})'s {source} {problem}; "
                                 "its log-in is not typed there. Set the payer's address "
                                 "with 'offhold payer set PAYER --portal-url URL'")
        pinned = origin_of(creds.url) if creds.url else (
            origin_of(installed.url) if installed is not None else "")
        if not pinned:
            raise OffSiteRefused(f"payer {payer.id} ({payer.name}) has no portal address of "
                                 "its own; set one with 'offhold payer set PAYER --portal-url URL'")
        tried = origin_of(recipe.url) if not creds.url else ""  # where it would navigate
        host = (urlsplit(recipe.url).hostname or "").lower()
        if (tried and tried != pinned) or (
                trying and host != (urlsplit(pinned).hostname or "")):
            raise OffSiteRefused(f"recipe {recipe.name!r} points at {_host(recipe.url)}, not "
                                 f"at payer {payer.id} ({payer.name})'s portal "
                                 f"({_host(pinned)}); its log-in is used only there")
        return pinned

    def _check_all(self, session: Session,
                   requests: Sequence[tuple[Payer | int | str, str, PortalQuery]],
                   override: Recipe | None) -> list[CheckOutcome]:
        outcomes: list[CheckOutcome] = []
        jobs: dict[tuple[int, str], _Job] = {}
        for index, (payer_ref, kind, query) in enumerate(requests):
            if kind not in KIND_PERMISSION:
                raise ValidationError(f"unknown look-up kind {kind!r}; one of: "
                                      + ", ".join(KIND_PERMISSION))
            require(session, KIND_PERMISSION[kind])
            payer = self._resolve(session, payer_ref)
            try:
                recipe, creds, origin = self._prepare(session, payer, kind, override)
            except PortalFailure as exc:  # disabled, or no such recipe: no visit made
                outcomes.append(CheckOutcome(payer.id, payer, payer.portal_recipe or "", kind,
                                             query, error=exc))
                continue
            if not query.npi and "npi" in recipe.lookup_values(kind):
                query = replace(query, npi=str(practice.get_setting(session, "practice_npi")))
            missing = [n for n in recipe.required_lookups(kind) if not lookup_value(query, n)]
            if missing:  # refused before a visit: "not found" would send people hunting
                outcomes.append(CheckOutcome(payer.id, payer, recipe.name, kind, query,
                                             error=LookupIncomplete(
                                                 f"recipe {recipe.name!r} looks {kind} up by "
                                                 f"{', '.join(missing)}; this look-up has no "
                                                 f"{missing[0].replace('_', ' ')}")))
                continue
            outcomes.append(CheckOutcome(payer.id, payer, recipe.name, kind, query))
            job = jobs.setdefault((payer.id, kind), _Job(payer, recipe, creds, kind, [],
                                                          origin))
            job.queries.append((index, query))
        sessions: list[_Job] = []
        session_of: dict[int, _Job] = {}
        for job in jobs.values():
            size = self.lookups_per_session
            for start in range(0, len(job.queries), size):
                part = _Job(job.payer, job.recipe, job.creds, job.kind,
                            job.queries[start:start + size], job.origin)
                sessions.append(part)
                session_of.update((index, part) for index, _q in part.queries)
        if sessions:
            results = self._run(self._run_jobs(sessions))
            for index, item in results.items():
                if isinstance(item, CheckResult):
                    outcomes[index].result = item
                else:
                    outcomes[index].error = item
        self._audit(session, outcomes, session_of)
        return outcomes

    def _audit(self, session: Session, outcomes: list[CheckOutcome],
               session_of: dict[int, _Job]) -> None:
        vault = session.vault
        reported: set[int] = set()  # a browser session's blocked hosts, audited once
        with vault.write() as conn:
            for index, o in enumerate(outcomes):
                details: dict[str, Any] = {"recipe": o.recipe, "kind": o.kind,
                                           "subject_type": o.query.subject_type,
                                           "subject_id": str(o.query.subject_id)}
                job = session_of.get(index)
                if job is not None:  # every host the browser reached, and every one refused
                    details["hosts"] = sorted(job.hosts)
                    details["blocked_hosts"] = sorted(job.blocked)
                    if id(job) not in reported:
                        reported.add(id(job))
                        for host, count in sorted(job.blocked.items()):
                            audit.record(vault, conn, session, "portal.request_blocked",
                                         "payer", o.payer_id,
                                         details={"host": host, "requests": count,
                                                  "recipe": o.recipe, "kind": o.kind,
                                                  "allowed_origin": job.origin,
                                                  "navigation": host == job.blocked_navigation})
                shot: bytes | None = None
                if o.result is not None:
                    details.update(outcome="ok" if o.result.found else "not_found",
                                   status=o.result.status, attempts=o.result.attempts,
                                   duration_ms=o.result.duration_ms)
                    shot = o.result.screenshot
                elif o.error is not None:
                    details.update(outcome=o.error.outcome, reason=str(o.error),
                                   attempts=o.error.attempts)
                    shot = o.error.screenshot
                if shot:  # ties the visit to the evidence blob the caller stores (blobs.sha256)
                    details["screenshot_sha256"] = hashlib.sha256(shot).hexdigest()
                audit.record(vault, conn, session, "portal.visit", "payer", o.payer_id,
                             patient_id=o.query.patient_id, details=details)
                log.info("portal visit payer=%s recipe=%s kind=%s outcome=%s", o.payer_id,
                         o.recipe, o.kind, details.get("outcome"))

    # -- the event-loop side -----------------------------------------------------------------

    async def _run_jobs(self, jobs: list[_Job]) -> dict[int, CheckResult | PortalFailure]:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.concurrency)
            self._start_lock = asyncio.Lock()
        merged: dict[int, CheckResult | PortalFailure] = {}
        for part in await asyncio.gather(*(self._run_job(j) for j in jobs)):
            merged.update(part)
        return merged

    async def _launch(self) -> Browser:
        if self._playwright is None:
            self._playwright = await async_playwright().start()
        if not os.path.exists(self.chromium_path):
            raise PortalUnavailable(f"Chromium was not found at {self.chromium_path}; set "
                                    "the chromium_path setting")
        self.launches += 1
        if self.private_dir is None:
            self.private_dir = _private_dir()
            # also wiped if the engine is dropped unclosed or the process exits
            weakref.finalize(self, shutil.rmtree, self.private_dir, True)
        # Playwright adds --no-sandbox unless chromium_sandbox is set; only root needs it.
        return await self._playwright.chromium.launch(
            executable_path=self.chromium_path, headless=True, args=CHROMIUM_ARGS,
            chromium_sandbox=hasattr(os, "geteuid") and os.geteuid() != 0,
            # Chromium also keeps a crash-report database and a settings cache under the
            # user's ~/.config and ~/.cache: into the wiped dir with the rest
            env={**os.environ, "TMPDIR": self.private_dir,
                 "XDG_CONFIG_HOME": self.private_dir, "XDG_CACHE_HOME": self.private_dir})

    async def _shared(self) -> Browser:
        assert self._start_lock is not None
        async with self._start_lock:
            if self._browser is None or not self._browser.is_connected():
                self._browser = await self._launch()
            return self._browser

    async def _shutdown(self) -> None:
        if self._browser is not None:
            try:
                await self._browser.close()
            except PlaywrightError:
                pass
            self._browser = None
        if self._playwright is not None:
            await self._playwright.stop()
            self._playwright = None

    @staticmethod
    async def _fence(context: BrowserContext, job: _Job) -> None:
        """Every request, of any kind, goes to the payer's own origin or nowhere: the log-in
        typed into its fields can only be sent back to it. Refused hosts are counted for
        the audit; data: and blob: URLs never leave the browser. The pattern is a regex so
        Playwright matches it in the browser's driver: requests to the payer's origin are
        not held for a round trip to Python (the proxy records their hosts)."""
        others = re.compile("^(?!" + re.escape(job.origin) + "(?:[/?#]|$)|data:|blob:)")

        async def on_request(route: Route) -> None:
            url = route.request.url
            try:
                if origin_of(url) == job.origin or url.startswith(("data:", "blob:")):
                    await route.continue_()  # the pattern should not have sent these
                else:
                    job.blocked[_host(url)] += 1
                    if _top_level_navigation(route):
                        job.blocked_navigation = _host(url)
                    await route.abort("blockedbyclient")
            except PlaywrightError:
                pass  # the page or context closed while the request was held

        async def on_socket(socket: WebSocketRoute) -> None:
            same = origin_of(socket.url.replace("ws", "http", 1)) == job.origin
            if same:
                job.hosts.add(_host(socket.url))
                socket.connect_to_server()
            else:
                job.blocked[_host(socket.url)] += 1
                await socket.close()

        await context.route(others, on_request)
        await context.route_web_socket(lambda _url: True, on_socket)

    @asynccontextmanager
    async def _page(self, job: _Job) -> AsyncIterator[Page]:
        own: Browser | None = None
        if self.shared_browser:
            browser = await self._shared()
        else:
            own = browser = await self._launch()

        def report(host: str, let_through: bool, page_load: bool) -> None:
            if let_through:
                job.hosts.add(host)
            else:
                job.blocked[host] += 1
                if page_load:
                    job.blocked_navigation = host

        # Routing refuses first hops with a clear error; the proxy also sees redirects
        # and records the hosts let through.
        # "<-loopback>": Chromium would otherwise send 127.0.0.1 around the proxy.
        fence = OriginFence(job.origin, report)
        context = await browser.new_context(
            accept_downloads=False, service_workers="block",
            viewport={"width": 1100, "height": 800},
            proxy={"server": await fence.start(), "bypass": "<-loopback>"})
        await self._fence(context, job)
        self.active_sessions += 1
        self.peak_sessions = max(self.peak_sessions, self.active_sessions)
        try:
            yield await context.new_page()
        finally:
            self.active_sessions -= 1
            try:
                await context.close()
            finally:
                await fence.close()
                if own is not None:
                    await own.close()

    async def _rate_wait(self, key: str) -> None:
        if self.min_interval <= 0:
            return
        lock = self._rate_locks.setdefault(key, asyncio.Lock())
        async with lock:
            wait = self._last_visit.get(key, 0.0) + self.min_interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last_visit[key] = time.monotonic()

    async def _run_job(self, job: _Job) -> dict[int, CheckResult | PortalFailure]:
        done: dict[int, CheckResult | PortalFailure] = {}
        pending = list(job.queries)
        base = job.creds.url or job.recipe.url
        if not base.endswith("/"):
            base += "/"
        attempt = 0
        assert self._sem is not None
        while pending:
            attempt += 1
            try:
                async with self._sem:
                    async with self._page(job) as page:
                        runner = _Runner(self, page, job, base)
                        await self._rate_wait(base)
                        await runner.login()
                        while pending:
                            index, query = pending[0]
                            started = time.monotonic()
                            result = await runner.lookup(query)
                            result.attempts = attempt
                            result.duration_ms = int((time.monotonic() - started) * 1000)
                            done[index] = result
                            pending.pop(0)
                            if pending:
                                await self._rate_wait(base)
            except PlaywrightError as exc:  # the browser or page died under us
                log.warning("portal session error payer=%s recipe=%s: %s", job.payer.id,
                            job.recipe.name, type(exc).__name__)
                retry = _Retry("the browser session failed")
                if attempt >= self.attempts:
                    error = PortalUnavailable(f"{job.payer.name} portal check failed after "
                                              f"{attempt} tries: {retry.reason}",
                                              attempts=attempt)
                    for index, _q in pending:
                        done[index] = error
                    break
                await asyncio.sleep(self.backoff * (2 ** (attempt - 1)))
            except _Retry as exc:
                if attempt >= self.attempts:
                    error = PortalUnavailable(
                        f"{job.payer.name} portal unavailable after {attempt} tries: "
                        f"{exc.reason}", screenshot=exc.screenshot, step=exc.step,
                        attempts=attempt)
                    for index, _q in pending:
                        done[index] = error
                    break
                await asyncio.sleep(self.backoff * (2 ** (attempt - 1)))
            except PortalFailure as exc:
                exc.attempts = attempt
                for index, _q in pending:
                    done[index] = exc
                break
        return done


class _Runner:
    """Drives one portal session (one context, one page) through a recipe."""

    def __init__(self, engine: PortalEngine, page: Page, job: _Job, base: str) -> None:
        self.engine = engine
        self.page = page
        self.job = job
        self.recipe = job.recipe
        self.base = base
        self.nav_ms = 1000 * (engine.timeout_override or job.recipe.timeout_seconds)
        self.sel_ms = 1000 * (engine.selector_timeout_override
                              or job.recipe.selector_timeout_seconds)
        self.vars: dict[str, str] = dict(job.recipe.variables)
        self.not_found: tuple[str, ...] = ()  # watched along with the detectors (look-ups)
        self.saw_not_found = False

    # values ------------------------------------------------------------------------------

    def _value(self, template: str, step: Step) -> str:
        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in SECRET_VARS:
                # Recipes are checked for this on load; this is the last line before a
                # secret leaves the vault: a field fill, on a page of the payer's origin.
                if step.action != "fill" or origin_of(self.page.url) != self.job.origin:
                    raise OffSiteRefused(f"{self.recipe.name}: the portal log-in may only be "
                                         "typed into a field on the payer's own site "
                                         f"({_host(self.job.origin)})", step=step.where)
            if name == "username":
                return self.job.creds.username
            if name == "password":
                return self.job.creds.password
            if name == "totp":
                if not self.job.creds.totp_seed:
                    raise HumanHandoff(f"{self.job.payer.name} asks for an MFA code and no "
                                       "TOTP seed is stored; a person must log in",
                                       step=step.where)
                return pyotp.TOTP(self.job.creds.totp_seed).now()
            return self.vars.get(name, "")
        return re.sub(r"\{([a-z_]+)\}", sub, template)

    async def _shot(self, stop_loading: bool = False) -> bytes | None:
        for _ in range(2 if stop_loading else 1):
            try:
                if stop_loading:  # a page still loading never settles for a screenshot;
                    # the first stop can race the pending navigation, hence two tries
                    await self.page.evaluate("window.stop()")
                return await self.page.screenshot(type="png", full_page=True,
                                                  timeout=self.nav_ms)
            except PlaywrightError:
                continue
        return None

    # pages -------------------------------------------------------------------------------

    async def _present(self, selectors: tuple[str, ...]) -> bool:
        """Any of the selectors on the page now (no waiting): one round trip."""
        if not selectors:
            return False
        locator = self.page.locator(selectors[0])
        for sel in selectors[1:]:
            locator = locator.or_(self.page.locator(sel))
        return await locator.count() > 0

    async def _inspect(self, status: int | None, step: Step) -> None:
        """After every page load: server errors, then the recipe's detectors."""
        self._refused_navigation(step)  # a redirect off the site ends on the fence's 403
        if status is not None and status >= 500:
            raise _Retry(f"HTTP {status}", await self._shot(), step.where)
        d = self.recipe.detect
        self.saw_not_found = False
        if not await self._present(tuple(s for k in d for s in d[k]) + self.not_found):
            return  # the usual case, in one round trip
        name = self.job.payer.name
        if await self._present(d["maintenance"]):
            raise PortalUnavailable(f"{name} portal shows a maintenance notice",
                                    screenshot=await self._shot(), step=step.where)
        if await self._present(d["handoff"]):
            raise HumanHandoff(f"{name} portal shows a CAPTCHA or notice page that needs a "
                               "person", screenshot=await self._shot(), step=step.where)
        if await self._present(d["session_expired"]):
            raise _Retry("the portal session expired mid-visit", await self._shot(),
                         step.where)
        if await self._present(d["login_failed"]):
            raise HumanHandoff(f"{name} portal refused the stored user name or password",
                               screenshot=await self._shot(), step=step.where)
        if await self._present(d["mfa_failed"]):
            raise HumanHandoff(f"{name} portal refused the MFA code",
                               screenshot=await self._shot(), step=step.where)
        self.saw_not_found = bool(self.not_found)  # none of the detectors: a 'no match' page

    async def _find(self, step: Step) -> Locator:
        locator = self.page.locator(step.selector).first
        try:
            await locator.wait_for(state="attached", timeout=self.sel_ms)
        except PlaywrightTimeout as exc:
            await self._inspect(None, step)  # maybe it is a notice page, not a new layout
            raise _Missing(step.where) from exc
        return locator

    async def _step(self, step: Step) -> bool | None:
        """Run one step; True when it loaded a page, None when its if_present selector
        was not on the page (skipped)."""
        if step.if_present and not await self._present((step.if_present,)):
            return None
        if step.action == "block":
            navigated: bool | None = False
            for inner in step.steps:
                moved = await self._step(inner)
                navigated = moved if moved is not None else navigated
            return navigated
        try:
            if step.action == "goto":
                url = urljoin(self.base, self._value(step.value, step))
                response = await self.page.goto(url, timeout=self.nav_ms, wait_until="load")
                await self._inspect(response.status if response else None, step)
            elif step.action == "fill":
                await (await self._find(step)).fill(self._value(step.value, step),
                                                    timeout=self.sel_ms)
            elif step.action == "select":
                await (await self._find(step)).select_option(self._value(step.value, step),
                                                             timeout=self.sel_ms)
            elif step.action == "check":
                await (await self._find(step)).check(timeout=self.sel_ms)
            elif step.action == "expect":
                await self._find(step)
            elif step.action == "click":
                target = await self._find(step)
                if step.navigates:
                    async with self.page.expect_navigation(timeout=self.nav_ms,
                                                           wait_until="load") as nav:
                        await target.click(timeout=self.sel_ms)
                    response = await nav.value
                    await self._inspect(response.status if response else None, step)
                else:
                    await target.click(timeout=self.sel_ms)
        except PlaywrightTimeout as exc:
            self._refused_navigation(step)
            raise _Retry(f"no answer within {self.nav_ms / 1000:g}s",
                         await self._shot(stop_loading=True), step.where) from exc
        except PlaywrightError as exc:
            self._refused_navigation(step, str(exc))
            if "net::" in str(exc) or "Target" in str(exc):
                raise _Retry("connection failed", None, step.where) from exc
            raise
        return step.action == "goto" or (step.action == "click" and step.navigates)

    def _refused_navigation(self, step: Step, error: str = "") -> None:
        """A navigation the fence refused is the recipe's or the page's doing, not the
        network's: no retry, a person looks at it."""
        host = self.job.blocked_navigation
        if not host and self.job.blocked and ("ERR_BLOCKED_BY_CLIENT" in error
                                              or "ERR_TUNNEL_CONNECTION_FAILED" in error):
            host = ", ".join(sorted(self.job.blocked))
        if host:
            raise OffSiteRefused(f"{self.job.payer.name} portal: the page tried to go to "
                                 f"another site ({host}); the browser blocked it",
                                 step=step.where)

    async def login(self) -> None:
        for step in self.recipe.login:
            try:
                await self._step(step)
            except _Missing as exc:
                raise RecipeBroken(f"{self.recipe.name}: the log-in page changed (no "
                                   f"{step.selector!r})", screenshot=await self._shot(),
                                   step=exc.step) from exc

    async def lookup(self, query: PortalQuery) -> CheckResult:
        spec = self.recipe.kinds[self.job.kind]
        self.vars.update(
            member_id=query.member_id, reference=query.reference,
            dob=query.dob.isoformat() if query.dob else "",
            dob_us=query.dob.strftime("%m/%d/%Y") if query.dob else "",
            claim_number=query.claim_number, npi=query.npi,
            service_date=query.service_date.isoformat() if query.service_date else "",
            service_date_us=query.service_date.strftime("%m/%d/%Y")
            if query.service_date else "")
        self.not_found = spec.not_found
        navigated = False
        try:
            for step in spec.steps:
                try:
                    moved = await self._step(step)
                except _Missing as exc:
                    if await self._present(spec.not_found):
                        return await self._not_found()
                    raise RecipeBroken(f"{self.recipe.name}: the {self.job.kind} page changed"
                                       f" (no {step.selector!r})",
                                       screenshot=await self._shot(), step=exc.step) from exc
                navigated = moved if moved is not None else navigated
                if navigated and self.saw_not_found:
                    return await self._not_found()
        finally:
            self.not_found = ()
        if not navigated and await self._present(spec.not_found):
            return await self._not_found()
        for sentinel in spec.sentinels:
            if await self._present((sentinel,)):
                continue  # the usual case: no waiting
            try:
                await self.page.locator(sentinel).first.wait_for(state="attached",
                                                                 timeout=self.sel_ms)
            except PlaywrightTimeout as exc:
                raise RecipeBroken(f"{self.recipe.name}: the {self.job.kind} result page is "
                                   f"not the expected one (sentinel {sentinel!r} missing)",
                                   screenshot=await self._shot(), step="sentinels") from exc
        return await self._extract(spec)

    async def _not_found(self) -> CheckResult:
        return self._result(False, None, "", {}, None, None, None, await self._shot() or b"")

    def _result(self, found: bool, status: str | None, text: str, fields: dict[str, str],
                units: int | None, start: date | None, end: date | None, shot: bytes,
                wording: str = "") -> CheckResult:
        return CheckResult(payer_id=self.job.payer.id, payer_name=self.job.payer.name,
                           recipe=self.recipe.name, kind=self.job.kind, found=found,
                           status=status, status_text=text, units=units, valid_from=start,
                           valid_through=end, fields=fields, screenshot=shot,
                           checked_at=clock.now(), wording=wording or text)

    async def _extract(self, spec: KindSpec) -> CheckResult:
        scope: Page | Locator = self.page
        if spec.row:
            rows = self.page.locator(spec.row)
            if spec.row_contains:
                wanted = self._value(spec.row_contains, Step("row"))
                if wanted:
                    rows = rows.filter(has_text=wanted)
            if await rows.count() == 0:
                if spec.row_contains and self.vars.get("reference"):
                    return await self._not_found()
                raise RecipeBroken(f"{self.recipe.name}: no result rows match {spec.row!r}",
                                   screenshot=await self._shot(), step="row")
            scope = rows.first
        fields: dict[str, str] = {}
        for name, fspec in spec.fields.items():
            loc = scope.locator(fspec.selector)
            texts = [] if fspec.attr else await loc.all_inner_texts()  # one round trip
            if not texts and (fspec.attr == "" or await loc.count() == 0):
                if fspec.required:
                    raise RecipeBroken(f"{self.recipe.name}: field {name!r} not on the page "
                                       f"({fspec.selector!r})", screenshot=await self._shot(),
                                       step=f"fields.{name}")
                fields[name] = ""
                continue
            raw = (await loc.first.get_attribute(fspec.attr) or "") if fspec.attr \
                else texts[0]
            text = " ".join(raw.split())
            if fspec.regex:
                match = re.search(fspec.regex, text)
                text = match.group(1) if match else ""
            fields[name] = text
        status_text = fields.get(spec.status_field, "")
        status = self.recipe.normalize(self.job.kind, status_text)
        shot = await self._shot() or b""
        if status is None:
            raise RecipeBroken(f"{self.recipe.name}: the portal's status words are not in "
                               "the recipe's status map", screenshot=shot, step="status")
        return self._result(True, status, status_text, fields,
                            _units(spec.units, fields), _date(spec.valid_from, fields),
                            _date(spec.valid_through, fields), shot,
                            fields.get(spec.wording_field, ""))


def lookup_value(query: PortalQuery, name: str) -> str:
    """The query's value for a recipe's look-up name (recipes.LOOKUP_OF), '' when unset."""
    value = getattr(query, name, "")
    return value.isoformat() if isinstance(value, date) else str(value or "")


def _private_dir() -> str:
    """A 0700 temp dir for Chromium (its singleton socket and scratch files), wiped when
    the engine closes. Chromium aborts when the socket path passes the 107-byte Unix
    limit, so a deep TMPDIR falls back to a short dir under /tmp."""
    base = tempfile.gettempdir()
    if len(os.path.join(base, "offhold-chromium-XXXXXXXX")) + 50 > 107:
        base = "/tmp"
    return tempfile.mkdtemp(prefix="offhold-chromium-", dir=base)


def _pick(spec: ValueSpec, fields: dict[str, str]) -> str:
    text = fields.get(spec.field, "")
    if spec.regex and text:
        match = re.search(spec.regex, text)
        text = match.group(1) if match else ""
    return text.strip()


def _units(spec: ValueSpec | None, fields: dict[str, str]) -> int | None:
    if spec is None:
        return None
    text = _pick(spec, fields)
    digits = re.search(r"\d+", text)
    return int(digits.group(0)) if digits else None


def _date(spec: ValueSpec | None, fields: dict[str, str]) -> date | None:
    if spec is None:
        return None
    text = _pick(spec, fields)
    if not text:
        return None
    for fmt in spec.formats:
        try:
            if "%Y" in fmt or "%y" in fmt:
                return datetime.strptime(text, fmt).date()
            return infer_year(datetime.strptime(f"2000 {text}", f"%Y {fmt}").date())
        except ValueError:
            continue
    return None


def infer_year(month_day: date, today: date | None = None) -> date:
    """A date shown without a year ('through 03/31') is the next such date from about six
    months ago: portals show current authorizations, which end in the near future."""
    today = today or clock.now().date()
    for year in range(today.year - 1, today.year + 5):
        try:
            candidate = month_day.replace(year=year)
        except ValueError:  # 02/29 in a non-leap year
            continue
        if (candidate - today).days >= -183:
            return candidate
    raise ValueError(f"no year fits {month_day:%m/%d}")  # unreachable: a leap year comes
