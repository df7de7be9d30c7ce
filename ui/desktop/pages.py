"""The page registry: the main window's extension point.

A page is a QWidget subclass of `Page`, built by a factory from the `AppContext` (the
session, the worker, the message bridge). The main window shows a toolbar button for
every registered page the user's roles allow (`permission` is a matrix action). Pages
must drop every patient detail in `clear_phi()` (called on lock) and reload in
`refresh()` (called on show and after unlock).

To add a page (e.g. the PA board, the Models settings page), write a module with a
`Page` subclass and call `register_page(PageSpec(...))` at import, then list the module in
`PAGE_MODULES`; modules that fail to import because their service is absent are skipped.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from PySide6.QtWidgets import QWidget

from app.identity import Session
from ui.desktop.messages import MessageBridge
from ui.desktop.worker import Worker

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    """What a page needs, passed explicitly (no globals)."""

    session: Session
    worker: Worker
    bridge: MessageBridge
    vault_dir: Path
    # Set by the main window: open another page (key, optional argument).
    navigate: Callable[[str, Any], None] = field(default=lambda key, arg=None: None)


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


@dataclass(frozen=True)
class PageSpec:
    key: str
    title: str
    factory: Callable[[AppContext], Page]
    permission: str | None = None  # a permission-matrix action, None = everyone
    shortcut: str = ""
    order: int = 50


PAGES: dict[str, PageSpec] = {}

# Built-in page modules, imported in order; each calls register_page().
PAGE_MODULES = [
    "ui.desktop.queue_page",
    "ui.desktop.pa_board",
    "ui.desktop.patients_page",
    "ui.desktop.remittance_page",
    "ui.desktop.dashboard",
]


def register_page(spec: PageSpec) -> None:
    PAGES[spec.key] = spec


def load_pages() -> list[PageSpec]:
    for name in PAGE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:  # an optional page whose service is absent
            log.info("page module %s skipped: %s", name, type(exc).__name__)
    return sorted(PAGES.values(), key=lambda s: (s.order, s.key))
