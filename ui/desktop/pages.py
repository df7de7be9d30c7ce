"""Pages: the main window's extension point.

A page is a QWidget subclass of `Page`, built from the `AppContext` (the session, the
worker, the message bridge). The main window shows a toolbar button for every declared
page the user's roles allow (`permission` is a matrix action). Pages must drop every
patient detail in `clear_phi()` (called on lock) and reload in `refresh()` (called on
show and after unlock).

To add a page, write a module with a `Page` subclass and declare it in `PAGES` in
ui/desktop/extensions.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from PySide6.QtWidgets import QWidget

from app.identity import Role, Session
from app.queue.changes import Changes
from ui.desktop.changes import ChangeHub
from ui.desktop.extensions import PAGES, PageSpec
from ui.desktop.messages import MessageBridge
from ui.desktop.worker import Worker


@dataclass
class AppContext:
    """What a page needs, passed explicitly (no globals)."""

    session: Session
    worker: Worker
    bridge: MessageBridge
    vault_dir: Path
    # Set by the main window: open another page (key, optional argument).
    navigate: Callable[[str, Any], None] = field(default=lambda key, arg=None: None)
    changes: ChangeHub = field(default_factory=ChangeHub)

    def operate(self, fn: Callable[[], Any], *, done: Callable[[Any], None] | None = None,
                label: str = "", source: object = None,
                changed: Callable[[Any], Changes] = Changes.of) -> None:
        """Run a mutation on the worker; on the GUI thread, `done(result)` and then one
        announcement of what it changed (from the result: tasks, or a Changes)."""
        def finished(result: Any) -> None:
            if done is not None:
                done(result)
            self.changes.announce(changed(result), source)

        self.worker.run(fn, done=finished, label=label)


class Page(QWidget):
    """Base class for main-window pages."""

    title = "Page"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx

    def refresh(self) -> None:
        """Reload from the services (through ctx.worker)."""

    def clear_phi(self) -> None:
        """Forget and hide every patient detail (the app is locking)."""

    def open_item(self, arg: Any) -> None:
        """Show one item (a task id, a patient id) when navigated to with an argument."""

    def on_changed(self, changes: Changes) -> None:
        """Another page's operation, or another process, changed the vault: refresh what
        of this page it touches. Called on open pages, visible or not, while unlocked."""


# The page each role opens on after a login (issue 12: Today is the front desk's home
# page; the others work from the queue). A person with several roles gets the page of the
# first of them in this order, so an owner who also covers the desk still starts on the
# queue; a page the session may not open is skipped.
START_PAGES: tuple[tuple[Role, str], ...] = (
    (Role.OWNER, "queue"), (Role.OFFICE_MANAGER, "queue"), (Role.BILLER, "queue"),
    (Role.FRONT_DESK, "today"))


def start_page(roles: frozenset[Role] | set[Role], available: list[str]) -> str | None:
    """The key of the page to open first for `roles`, among the `available` page keys
    (toolbar order): the roles' start page, else the first available page."""
    for role, key in START_PAGES:
        if role in roles and key in available:
            return key
    return available[0] if available else None


def load_pages() -> list[PageSpec]:
    """The declared pages (ui/desktop/extensions.py), in toolbar order."""
    return sorted(PAGES, key=lambda s: (s.order, s.key))
