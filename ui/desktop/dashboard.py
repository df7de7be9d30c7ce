"""The dashboard: trust figures per kind (approval and edit rates as a chart, plus a
table with time to action) and queue counts. QtCharts is imported here only, so the
login window starts without it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBarSeries,
    QBarSet,
    QChart,
    QChartView,
    QHorizontalBarSeries,
    QValueAxis,
)
from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from app import queue
from app.identity import Session
from app.services import vault_health
from app.queue.kinds import kinds_for_roles
from app.queue.changes import Changes
from app.reports.trust import TrustFigures, trust_figures
from ui.desktop.models import kind_label
from ui.desktop.pages import AppContext, Page


@dataclass
class DashboardData:
    trust: dict[str, TrustFigures]
    counts: dict[str, int]
    modes: dict[str, str]
    vault_check: dict[str, Any] | None = None


def load_dashboard(session: Session) -> DashboardData:
    return DashboardData(trust_figures(session), queue.queue_counts(session),
                         {k: m.value for k, m in queue.all_modes(session).items()},
                         vault_health.last_check(session))


def vault_check_text(check: dict[str, Any] | None) -> str:
    """The last integrity check, in one line (weekly, scheduled; or `offhold vault check`)."""
    if check is None:
        return "Vault integrity: not checked yet (runs weekly)"
    when = str(check.get("checked_at", ""))[:10]
    if check.get("ok"):
        return f"Vault integrity: OK (checked {when})"
    problems = "; ".join(str(p) for p in check.get("problems", [])[:2])
    return f"Vault integrity: DAMAGED (checked {when}): {problems} — restore a good backup"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


class DashboardPage(Page):
    title = "Dashboard"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.data: DashboardData | None = None
        self.trust_chart = QChartView()
        self.trust_chart.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.trust_chart.setMinimumHeight(260)
        self.count_chart = QChartView()
        self.count_chart.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.count_chart.setMinimumHeight(260)
        self.table = QTableWidget(0, 7)
        self.table.setHorizontalHeaderLabels(["Kind", "Mode", "Open", "Decided", "Approved",
                                              "Edited", "Median min to action"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.summary = QLabel()
        self.summary.setObjectName("detailTitle")
        self.health = QLabel()
        self.health.setObjectName("vaultHealth")
        self.health.setWordWrap(True)
        layout = QGridLayout(self)
        layout.addWidget(self.summary, 0, 0)
        layout.addWidget(self.health, 0, 1)
        layout.addWidget(self.trust_chart, 1, 0)
        layout.addWidget(self.count_chart, 1, 1)
        layout.addWidget(self.table, 2, 0, 1, 2)
        layout.setRowStretch(1, 3)
        layout.setRowStretch(2, 2)
        # The monthly PDF is the owner's (report.monthly); others never see the button.
        self.report_button = QPushButton("Monthly report…")
        self.report_button.setToolTip("Save the owner's monthly PDF report")
        self.report_button.setVisible(ctx.session.can("report.monthly"))
        self.report_button.clicked.connect(self.open_report_dialog)
        layout.addWidget(self.report_button, 3, 1, Qt.AlignmentFlag.AlignRight)
        self.report_dialog: QWidget | None = None

    def open_report_dialog(self) -> None:
        from ui.desktop.report_dialog import MonthlyReportDialog
        self.report_dialog = MonthlyReportDialog(self.ctx, self)
        self.report_dialog.open()  # window-modal without a nested event loop

    def refresh(self) -> None:
        session = self.ctx.session
        self.ctx.worker.run(lambda: load_dashboard(session), done=self.show_data,
                            label="Loading dashboard")

    def on_changed(self, changes: Changes) -> None:
        self.refresh()  # counts and trust figures move with every decision

    def show_data(self, data: DashboardData) -> None:
        self.data = data
        kinds = [k for k in kinds_for_roles(self.ctx.session.roles)]
        open_total = sum(data.counts.get(k, 0) for k in kinds)
        decided = sum(data.trust[k].decided for k in kinds if k in data.trust)
        self.summary.setText(f"{open_total} open tasks · {decided} decided so far · trust "
                             "figures include shadow-mode verdicts")
        self.health.setText(vault_check_text(data.vault_check))
        self.health.setProperty("damaged", bool(data.vault_check) and
                                not data.vault_check.get("ok"))
        self._trust_chart(kinds, data)
        self._count_chart(kinds, data)
        self.table.setRowCount(len(kinds))
        for row, k in enumerate(kinds):
            t = data.trust.get(k)
            minutes = t.median_minutes_to_action if t else None
            values = [kind_label(k), data.modes.get(k, "shadow").replace("_", " "),
                      str(data.counts.get(k, 0)), str(t.decided if t else 0),
                      _pct(t.approval_rate if t else None), _pct(t.edit_rate if t else None),
                      "–" if minutes is None else f"{minutes:.0f}"]
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(row, col, item)

    def _trust_chart(self, kinds: list[str], data: DashboardData) -> None:
        shown = [k for k in kinds if data.trust.get(k) and data.trust[k].decided]
        approved, edited = QBarSet("Approval rate %"), QBarSet("Edit rate %")
        for k in shown:
            t = data.trust.get(k)
            approved.append(100 * (t.approval_rate or 0) if t else 0)
            edited.append(100 * (t.edit_rate or 0) if t else 0)
        series = QBarSeries()
        series.append(approved)
        series.append(edited)
        chart = QChart()
        chart.addSeries(series)
        chart.setTitle("Trust figures by kind" if shown else
                       "Trust figures by kind: no decisions yet (they appear as people "
                       "approve, edit, reject or give shadow verdicts)")
        axis_x = QBarCategoryAxis()
        axis_x.append([kind_label(k) for k in shown])
        axis_y = QValueAxis()
        axis_y.setRange(0, 100)
        axis_y.setLabelFormat("%d%%")
        chart.addAxis(axis_x, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(axis_y, Qt.AlignmentFlag.AlignLeft)
        series.attachAxis(axis_x)
        series.attachAxis(axis_y)
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        self._set_chart(self.trust_chart, chart)

    def _count_chart(self, kinds: list[str], data: DashboardData) -> None:
        kinds = list(reversed(kinds))  # bar categories run bottom-up: keep the sidebar order
        counts = QBarSet("Open tasks")
        for k in kinds:
            counts.append(data.counts.get(k, 0))
        series = QHorizontalBarSeries()
        series.append(counts)
        chart = QChart()
        chart.addSeries(series)
        chart.setTitle("Open tasks by queue")
        axis_y = QBarCategoryAxis()
        axis_y.append([kind_label(k) for k in kinds])
        axis_x = QValueAxis()
        top = max([data.counts.get(k, 0) for k in kinds] + [1]) + 1
        step = 1 if top <= 10 else 5 if top <= 50 else 10 ** (len(str(top)) - 1)
        top = -(-top // step) * step  # whole-number ticks
        axis_x.setRange(0, top)
        axis_x.setTickCount(top // step + 1)
        axis_x.setLabelFormat("%d")
        chart.addAxis(axis_y, Qt.AlignmentFlag.AlignLeft)
        chart.addAxis(axis_x, Qt.AlignmentFlag.AlignBottom)
        series.attachAxis(axis_y)
        series.attachAxis(axis_x)
        chart.legend().hide()
        self._set_chart(self.count_chart, chart)

    @staticmethod
    def _set_chart(view: QChartView, chart: QChart) -> None:
        old = view.chart()
        view.setChart(chart)
        if old is not None:
            old.deleteLater()
