"""The desktop's extension lists, declared once as data: the main window's pages, the
settings dialog's extra tabs, and the task detail pane's kind-specific tabs.

Entries name their widget class by path ("package.module:Class") and are imported when
first shown, which keeps startup light. Nothing is filled by an import's side effect, and
an import error is a bug that surfaces (tests/gui/test_pages.py loads every entry).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


def load(path: str) -> Any:
    """The object named "package.module:attribute"."""
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


@dataclass(frozen=True)
class PageSpec:
    """A main-window page: a `Page` subclass built from the AppContext."""

    key: str
    title: str
    factory: str  # "package.module:PageClass"
    permission: str | None = None  # a permission-matrix action, None = everyone
    shortcut: str = ""
    order: int = 50


@dataclass(frozen=True)
class SettingsTab:
    """A settings-dialog tab: factory(ctx) -> QWidget, shown to holders of `permission`."""

    title: str
    permission: str | None
    factory: str


PAGES: tuple[PageSpec, ...] = (
    PageSpec("queue", "Work queue", "ui.desktop.queue_page:QueuePage", shortcut="Ctrl+1",
             order=10),
    PageSpec("today", "Today", "ui.desktop.today_page:TodayPage", permission="patient.view",
             shortcut="Ctrl+0", order=12),
    PageSpec("pa_board", "PA board", "ui.desktop.pa_board:PABoardPage", permission="pa.check",
             shortcut="Ctrl+4", order=15),
    PageSpec("patients", "Patients", "ui.desktop.patients_page:PatientsPage",
             permission="patient.view", shortcut="Ctrl+2", order=20),
    PageSpec("remittances", "Remittances", "ui.desktop.remittance_page:RemittancePage",
             permission="remit.import", shortcut="Ctrl+5", order=25),
    PageSpec("dashboard", "Dashboard", "ui.desktop.dashboard:DashboardPage", shortcut="Ctrl+3",
             order=30),
    PageSpec("outbox", "Outbox", "ui.desktop.outbox_page:OutboxPage",
             permission="outreach.draft", shortcut="Ctrl+6", order=28),
    PageSpec("referrals", "Referrals", "ui.desktop.referrals_page:ReferralsPage",
             permission="patient.view", shortcut="Ctrl+7", order=22),
)

SETTINGS_TABS: tuple[SettingsTab, ...] = (
    SettingsTab("Models", "model.generate", "ui.desktop.models_page:ModelsTab"),
    SettingsTab("Portals", "settings.view", "ui.desktop.portals_page:PortalsTab"),
    SettingsTab("Payers", "settings.view", "ui.desktop.payers_tab:PayersTab"),
)

# kind -> "package.module:Class"; the class is built with the detail pane, has
# show_task(task), and may have a static accepts(task) to decline a task.
DETAIL_TABS: dict[str, str] = {
    "intake_review": "ui.desktop.intake_pane:IntakeReviewTab",
    "charge_review": "ui.desktop.charge_pane:ChargeReviewTab",
    "referral_triage": "ui.desktop.referral_pane:ReferralSummaryTab",
}
