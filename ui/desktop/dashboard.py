"""The dashboard: the practice's figures for a chosen period against the one before it
(tiles and two comparison charts; a click opens the tasks, PAs or claims behind a
figure), trust figures per kind (approval and edit rates as a chart, plus a table with
time to action) and queue counts. Figures load on the worker and reload on the change
signal. QtCharts is imported here only, so the login window starts without it."""

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
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app import queue
from app.identity import Session
from app.services import vault_health
from app.queue.kinds import kinds_for_roles
from app.queue.changes import Changes
from app.denials.view import CATEGORY_LABEL
from app.reports import dashboard as dash
from app.reports.trust import TrustFigures, trust_figures
from app.services import reports
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
        trust_tab = QWidget()
        trust_layout = QGridLayout(trust_tab)
        trust_layout.addWidget(self.trust_chart, 0, 0)
        trust_layout.addWidget(self.count_chart, 0, 1)
        trust_layout.addWidget(self.table, 1, 0, 1, 2)
        trust_layout.setRowStretch(0, 3)
        trust_layout.setRowStretch(1, 2)
        self.tabs = QTabWidget()
        # The practice's figures are the owner's and office manager's (report.export).
        self.figures_tab: FiguresTab | None = None
        if ctx.session.can("report.export"):
            self.figures_tab = FiguresTab(ctx, self)
            self.tabs.addTab(self.figures_tab, "Practice figures")
        self.tabs.addTab(trust_tab, "Trust and queues")
        layout = QGridLayout(self)
        layout.addWidget(self.summary, 0, 0)
        layout.addWidget(self.health, 0, 1)
        layout.addWidget(self.tabs, 1, 0, 1, 2)
        layout.setRowStretch(1, 1)
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
        if self.figures_tab is not None:
            self.figures_tab.refresh()

    def clear_phi(self) -> None:
        if self.figures_tab is not None:
            self.figures_tab.clear_phi()

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
        self.health.setProperty("damaged", data.vault_check is not None and
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


# -- the practice's figures -----------------------------------------------------------------

FIGURE_COLUMNS = 4
TREND_STYLE = {"good": "color: #1b7a3a;", "bad": "color: #b3261e;"}
# A line on the tile saying where a figure comes from when it is not what it seems to add
# up: hours saved are counted from the app's automated work (eligibility and claim status
# reads, portal checks, drafts), so they show while "Tasks done" is 0.
TILE_SOURCE = {"hours_saved": "from automated checks and drafts, not tasks done"}


def nice_axis(top: float) -> tuple[float, int]:
    """(axis top, tick count) with whole-number ticks: 1, 2 or 5 times a power of ten."""
    if top <= 0:
        return 4.0, 5
    raw = top * 1.1 / 4
    power = 10 ** max(0, len(str(int(raw))) - 1)
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    ticks = int(-(-top * 1.1 // step))
    return float(step * ticks), ticks + 1


class FiguresTab(QWidget):
    """Tiles for a chosen period against the previous one and two comparison charts; a
    tile or a bar opens what stands behind it."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.figures: dash.Figures | None = None
        self.period = QComboBox()
        self.period.setObjectName("dashboardPeriod")
        for key, label in dash.PERIODS.items():
            self.period.addItem(label, key)
        self.period.setCurrentIndex(list(dash.PERIODS).index("30d"))
        self.period.currentIndexChanged.connect(lambda _i: self.refresh())
        self.compared = QLabel()
        self.compared.setObjectName("dashboardCompared")
        top = QHBoxLayout()
        top.addWidget(QLabel("Period"))
        top.addWidget(self.period)
        top.addWidget(self.compared, 1)
        self.tiles: dict[str, QPushButton] = {}
        self.tile_labels: dict[str, tuple[QLabel, ...]] = {}
        self.tile_grid = QGridLayout()
        self.charts = [QChartView(), QChartView()]
        for view in self.charts:
            view.setRenderHint(QPainter.RenderHint.Antialiasing)
            view.setMinimumHeight(230)
        charts = QHBoxLayout()
        for view in self.charts:
            charts.addWidget(view, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(self.tile_grid)
        layout.addLayout(charts, 1)
        self.items_dialog: FigureItemsDialog | None = None

    def refresh(self) -> None:
        session, choice = self.ctx.session, str(self.period.currentData())
        self.ctx.worker.run(lambda: reports.dashboard_figures(session, choice),
                            done=self.show_figures, label="Loading figures")

    def show_figures(self, figures: dash.Figures) -> None:
        self.figures = figures
        self.compared.setText(f"{figures.period.label} compared with "
                              f"{figures.previous.label}")
        for n, f in enumerate(figures.figures):
            if f.key not in self.tiles:
                self.tile_grid.addWidget(self._tile(f.key), n // FIGURE_COLUMNS,
                                         n % FIGURE_COLUMNS)
            label, value, change, *source = self.tile_labels[f.key]
            label.setText(f.label)
            for caption in source:
                caption.setText(TILE_SOURCE[f.key])
            value.setText(f.text())
            change.setText(f.change())
            change.setStyleSheet(TREND_STYLE.get(f.direction, ""))
            tile = self.tiles[f.key]
            tile.setAccessibleName(f"{f.label}: {f.text()}, {f.change()}")
            tile.setToolTip(f.note + ("\nClick to see what is behind it."
                                      if f.behind and f.behind.ids else ""))
        for view, comparison in zip(self.charts, figures.charts):
            DashboardPage._set_chart(view, self._comparison_chart(comparison, figures))

    def _tile(self, key: str) -> QPushButton:
        """A clickable tile: the figure's name, its value large, the change below."""
        tile = QPushButton()
        tile.setObjectName(f"figure_{key}")
        tile.setMinimumHeight(92)
        tile.clicked.connect(lambda _c=False, k=key: self.open_figure(k))
        box = QVBoxLayout(tile)
        box.setSpacing(2)
        labels = (QLabel(), QLabel(), QLabel()) + ((QLabel(),) if key in TILE_SOURCE else ())
        labels[1].setStyleSheet("font-size: 20px; font-weight: 600;")
        if key in TILE_SOURCE:
            labels[3].setObjectName(f"figureSource_{key}")
            labels[3].setStyleSheet("color: #5f6368; font-size: 11px;")
        for lab in labels:
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            lab.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            box.addWidget(lab)
        self.tiles[key] = tile
        self.tile_labels[key] = labels
        return tile

    def _comparison_chart(self, c: dash.Comparison, figures: dash.Figures) -> QChart:
        # Horizontal bars: category names read whole on the left (they were cut short
        # under vertical bars on the screenshot). Categories run bottom-up: reversed.
        cats = list(reversed(range(len(c.categories))))
        current = QBarSet(figures.period.label)
        previous = QBarSet(figures.previous.label)
        current.append([c.current[i] for i in cats])
        previous.append([c.previous[i] for i in cats])
        current.clicked.connect(
            lambda n, c=c, cats=cats: self.open_behind(c.title, c.behind[cats[n]]))
        series = QHorizontalBarSeries()
        series.append(previous)
        series.append(current)  # drawn above its previous-period bar
        chart = QChart()
        chart.addSeries(series)
        chart.setTitle(c.title if c.categories else f"{c.title}: none in either period")
        axis_y = QBarCategoryAxis()
        axis_y.append([kind_label(c.categories[i]) if c.unit == "" else
                       CATEGORY_LABEL.get(c.categories[i], c.categories[i]) for i in cats])
        axis_x = QValueAxis()
        top, ticks = nice_axis(max(c.current + c.previous + [0.0]))
        axis_x.setRange(0, top)
        axis_x.setTickCount(ticks)
        axis_x.setLabelFormat("$%.0f" if c.unit == "$" else "%.0f")
        chart.addAxis(axis_y, Qt.AlignmentFlag.AlignLeft)
        chart.addAxis(axis_x, Qt.AlignmentFlag.AlignBottom)
        series.attachAxis(axis_y)
        series.attachAxis(axis_x)
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        return chart

    def open_figure(self, key: str) -> None:
        if self.figures is None:
            return
        figure = next(f for f in self.figures.figures if f.key == key)
        if figure.behind is None or not figure.behind.ids:
            self.ctx.bridge.info(f"{figure.label}: nothing to list behind it in "
                                 f"{self.figures.period.label.lower()}"
                                 + (f" ({figure.note})" if figure.note else "") + ".")
        else:
            self.open_behind(f"{figure.label}: {figure.text()} ({self.figures.period.label})",
                             figure.behind)

    def open_behind(self, title: str, behind: dash.Behind) -> None:
        """List what stands behind a figure (loaded on the worker); opening a row shows
        its task in the queue."""
        self.items_dialog = FigureItemsDialog(self.ctx, title, self)
        session = self.ctx.session
        self.ctx.worker.run(lambda: reports.figure_items(session, behind.kind,
                                                         list(behind.ids)),
                            done=self.items_dialog.show_items, label="Loading the list")
        self.items_dialog.open()

    def clear_phi(self) -> None:
        if self.items_dialog is not None:
            self.items_dialog.reject()
            self.items_dialog = None


class FigureItemsDialog(QDialog):
    """The tasks, PAs or claims behind a figure; Open (or a double-click) shows the row's
    task in the work queue."""

    def __init__(self, ctx: AppContext, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.items: list[dict[str, Any]] = []
        self.setWindowTitle(title)
        self.resize(760, 420)
        self.table = QTableWidget(0, 4)
        self.table.setObjectName("figureItems")
        self.table.setHorizontalHeaderLabels(["What", "Item", "State", "Due"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.cellDoubleClicked.connect(lambda row, _c: self.open_row(row))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.open_button = buttons.addButton("Open task",
                                             QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.clicked.connect(lambda: self.open_row(self.table.currentRow()))
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(title))
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)

    def show_items(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.table.setRowCount(len(items))
        for row, item in enumerate(items):
            what = kind_label(item["what"]) if item["what"] not in (
                "prior_auth", "remit_claim") else {"prior_auth": "Prior authorization",
                                                   "remit_claim": "Remitted claim"}[item["what"]]
            for col, value in enumerate([what, item["title"], item["state"].replace("_", " "),
                                         item["due"]]):
                self.table.setItem(row, col, QTableWidgetItem(value))

    def open_row(self, row: int) -> None:
        if not 0 <= row < len(self.items):
            return
        task_id = self.items[row].get("task_id")
        if task_id is None:
            target = "pa_board" if self.items[row]["what"] == "prior_auth" else "remittances"
            self.ctx.navigate(target, None)
        else:
            self.ctx.navigate("queue", int(task_id))
        self.accept()
