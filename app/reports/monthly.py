"""The owner's monthly PDF (reportlab, charts with reportlab.graphics).

De-identified by construction: it is drawn only from `PracticeMetrics`, which holds
counts, rates, dollars, payer names, codes and internal ids. The optional appendix is the
one place identifiers appear; every page of it carries a PHI banner. Returns bytes; the
caller (app.services.reports) writes and audits the export.
"""

from __future__ import annotations

import io
import math
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from app import clock
from app.queue.kinds import KINDS
from app.reports.metrics import AGING_BUCKETS, QUEUE_AGING, Period, Reader, local_day

if TYPE_CHECKING:
    from app.services.reports import PracticeMetrics

TEMPLATE_VERSION = "monthly-report-1"
PHI_BANNER = "PHI - CONFIDENTIAL - contains patient identifiers - owner only"
INK = colors.HexColor("#1f2a44")
ACCENT = colors.HexColor("#2f6db5")
MUTED = colors.HexColor("#6b7280")
LIGHT = colors.HexColor("#eef2f8")
SERIES = (ACCENT, colors.HexColor("#e39b2d"), colors.HexColor("#4f9a6a"))
WIDTH = LETTER[0] - 1.5 * inch

_styles = getSampleStyleSheet()
H1 = ParagraphStyle("h1", parent=_styles["Heading1"], textColor=INK, fontSize=18,
                    spaceAfter=8)
H2 = ParagraphStyle("h2", parent=_styles["Heading2"], textColor=INK, fontSize=13,
                    spaceBefore=10, spaceAfter=4)
BODY = ParagraphStyle("body", parent=_styles["BodyText"], fontSize=9.5, leading=12.5)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8, leading=10, textColor=MUTED)
SMALL_RIGHT = ParagraphStyle("small_right", parent=SMALL, alignment=TA_RIGHT)
CELL = ParagraphStyle("cell", parent=BODY, fontSize=8, leading=10)
NOTE = ParagraphStyle("note", parent=BODY, textColor=MUTED, fontName="Helvetica-Oblique")


# -- formatting ---------------------------------------------------------------------------

def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def money(value: Decimal | float | None) -> str:
    return "n/a" if value is None else f"${value:,.2f}"


def _kind_label(name: str) -> str:
    spec = KINDS.get(name)
    return spec.label if spec else name


def _p(text: str, style: ParagraphStyle = BODY) -> Paragraph:
    return Paragraph(escape(text), style)


def _table(rows: list[list[Any]], widths: list[float] | None = None,
           align_right_from: int = 1) -> Table:
    # A heading sits over its column: right-aligned where the figures below are.
    head = [c if isinstance(c, Flowable) else
            _p(str(c), SMALL_RIGHT if col >= align_right_from else SMALL)
            for col, c in enumerate(rows[0])]
    body = [head, *rows[1:]]
    table = Table(body, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), LIGHT),
        ("FONTSIZE", (0, 1), (-1, -1), 9),
        ("ALIGN", (align_right_from, 1), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, INK),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#d9dee7")),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]))
    return table


def _absent(note: str) -> Paragraph:
    return _p(f"Not available: {note}.", NOTE)


# -- charts -------------------------------------------------------------------------------

def bar_chart(title: str, labels: list[str], series: list[list[float]],
              names: list[str] | None = None, *, horizontal: bool = False,
              height: float = 170, value_format: str = "{:,.0f}") -> Drawing:
    """A titled bar chart; several series are grouped and get a legend."""
    drawing = Drawing(WIDTH, height)
    drawing.add(String(0, height - 12, title, fontName="Helvetica-Bold", fontSize=9.5,
                       fillColor=INK))
    chart: HorizontalBarChart | VerticalBarChart
    if horizontal:
        chart = HorizontalBarChart()
        chart.x, chart.y = 150, 18
        chart.width, chart.height = WIDTH - 190, height - 42
        chart.categoryAxis.labels.boxAnchor = "e"
        chart.categoryAxis.labels.dx = -4
    else:
        chart = VerticalBarChart()
        chart.x, chart.y = 40, 30
        chart.width, chart.height = WIDTH - 60, height - 56
        chart.categoryAxis.labels.angle = 0
        chart.categoryAxis.labels.boxAnchor = "n"
    chart.data = [tuple(s) for s in series]
    chart.categoryAxis.categoryNames = labels
    chart.categoryAxis.labels.fontSize = 7.5
    chart.valueAxis.labels.fontSize = 7.5
    chart.valueAxis.valueMin = 0
    top = max((v for s in series for v in s), default=0)
    chart.valueAxis.valueMax = top * 1.2 if top else 1
    if all(float(v).is_integer() for s in series for v in s):
        # Counts: whole-number ticks only (reportlab would pick 0.5 steps for small ones).
        chart.valueAxis.valueStep = max(1, math.ceil(chart.valueAxis.valueMax / 5))
    chart.valueAxis.labelTextFormat = value_format.format
    chart.barLabels.fontSize = 7
    chart.barLabelFormat = value_format.format
    chart.barLabels.nudge = 7
    chart.groupSpacing = 6
    for i in range(len(series)):
        chart.bars[i].fillColor = SERIES[i % len(SERIES)]
        chart.bars[i].strokeColor = None
    drawing.add(chart)
    if names and len(series) > 1:
        legend = Legend()
        legend.x, legend.y = WIDTH - 90 * len(names), height - 6
        legend.fontSize = 8
        legend.alignment = "right"
        legend.columnMaximum = 1
        legend.deltax = 90
        legend.colorNamePairs = [(SERIES[i % len(SERIES)], n) for i, n in enumerate(names)]
        drawing.add(legend)
    return drawing


# -- pages --------------------------------------------------------------------------------

def _summary_rows(cur: PracticeMetrics, prev: PracticeMetrics) -> list[list[str]]:
    def row(label: str, get: Any, fmt: Any, better: str = "") -> list[str]:
        a, b = get(cur), get(prev)
        if a is None or b is None:
            change = ""
        else:
            delta = a - b
            shown = f"{abs(delta) * 100:.0f} pts" if fmt is pct else fmt(abs(delta))
            change = "same" if abs(delta) < 1e-9 else f"{'+' if delta > 0 else '-'}{shown}"
        return [label, fmt(a) if a is not None else "n/a",
                fmt(b) if b is not None else "n/a", change]

    def count(value: int) -> str:
        return f"{value:,}"

    return [
        ["Figure", cur.period.label, prev.period.label, "Change"],
        row("Prior auth decisions", lambda x: x.prior_auth.decisions, count),
        row("PA cycle time, median (days)",
            lambda x: x.prior_auth.overall.median_days if x.prior_auth.overall else None,
            num),
        row("PA decided on time",
            lambda x: x.prior_auth.overall.on_time_rate if x.prior_auth.overall else None,
            pct),
        row("Claims adjudicated", lambda x: x.revenue.adjudicated, count),
        row("Denial rate", lambda x: x.revenue.denial_rate, pct),
        row("Denied dollars", lambda x: x.revenue.denied_dollars, money),
        row("A/R at month end", lambda x: x.revenue.ar_total, money),
        row("Days in A/R", lambda x: x.revenue.days_in_ar, num),
        row("Visits checked before the day", lambda x: x.eligibility.checked_rate, pct),
        row("Tasks created", lambda x: sum(x.queues.created_by_kind.values()), count),
        row("Tasks done", lambda x: sum(x.queues.done_by_kind.values()), count),
        row("Median hours to action", lambda x: x.queues.median_hours_to_action, num),
        row("Overdue at month end", lambda x: x.queues.overdue, count),
        row("Exceptions", lambda x: sum(x.queues.exceptions.values()), count),
        row("Staff hours saved", lambda x: x.hours.hours, num),
    ]


def _prior_auth(cur: PracticeMetrics) -> list[Flowable]:
    pa = cur.prior_auth
    out: list[Flowable] = [_p("Prior authorization", H1)]
    if not pa.available:
        return out + [_absent(pa.note)]
    status = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in
                       sorted(pa.submitted_by_status.items())) or "none"
    out.append(_p(f"Submitted this month, by current status: {status}. Decisions this "
                  f"month: {pa.decisions}. Stalls flagged: {pa.stalls}; decision clocks "
                  f"overdue: {pa.escalations}."))
    if pa.by_payer:
        payers = list(pa.by_payer)
        out.append(bar_chart("Cycle time by payer (days, submission to decision)", payers,
                             [[s.median_days or 0 for s in pa.by_payer.values()],
                              [s.p90_days or 0 for s in pa.by_payer.values()]],
                             ["median", "90th percentile"], horizontal=True,
                             height=60 + 28 * len(payers), value_format="{:,.1f}"))
        rows: list[list[Any]] = [["Payer", "Decisions", "Median days", "90th pct days", "On time"]]
        rows += [[p, s.decisions, num(s.median_days), num(s.p90_days), pct(s.on_time_rate)]
                 for p, s in pa.by_payer.items()]
        out += [Spacer(1, 6), _table(rows, [2.6 * inch, 0.9 * inch, 1 * inch, 1.1 * inch,
                                            0.8 * inch])]
        rows = [["Service (CPT)", "Decisions", "Median days", "90th pct days", "On time"]]
        rows += [[c, s.decisions, num(s.median_days), num(s.p90_days), pct(s.on_time_rate)]
                 for c, s in pa.by_service.items()]
        out += [Spacer(1, 8), _table(rows, [2.6 * inch, 0.9 * inch, 1 * inch, 1.1 * inch,
                                            0.8 * inch])]
    else:
        out.append(_absent("no decisions fell in this month"))
    out.append(_p("Delay risk: open requests already slower than the payer's own median",
                  H2))
    if pa.delay_risk:
        rows = [["PA", "Payer", "CPT", "Open (days)", "Payer median (days)"]]
        rows += [[f"#{r['pa_id']}", r["payer"], r["service"], num(r["open_days"]),
                  num(r["payer_median_days"])] for r in pa.delay_risk]
        out.append(_table(rows, [0.7 * inch, 2.4 * inch, 0.9 * inch, 1 * inch, 1.4 * inch],
                          align_right_from=3))
    else:
        out.append(_p("None.", NOTE))
    return out


def _revenue(cur: PracticeMetrics) -> list[Flowable]:
    rev = cur.revenue
    out: list[Flowable] = [_p("Revenue cycle", H1)]
    if not rev.available:
        out.append(_absent(rev.note))
    else:
        if rev.note:
            out.append(_p(rev.note + ".", NOTE))
        out.append(_p(
            f"Claims adjudicated: {rev.adjudicated}; denied: {rev.denied} (denial rate "
            f"{pct(rev.denial_rate)}); denied dollars {money(rev.denied_dollars)}. Denials "
            f"worked within {rev.rework_days} days: {pct(rev.rework_rate)}. Patient "
            f"responsibility billed: {money(rev.patient_responsibility)}."))
        if rev.dollars_by_category:
            cats = list(rev.dollars_by_category)[:8]
            out.append(bar_chart("Denied dollars by category", [c.replace("_", " ")
                                                                for c in cats],
                                 [[float(rev.dollars_by_category[c]) for c in cats]],
                                 horizontal=True, height=60 + 24 * len(cats),
                                 value_format="${:,.0f}"))
            rows: list[list[Any]] = [["Payer", "Denied dollars"]] + [[p, money(v)] for p, v in
                                                    rev.dollars_by_payer.items()]
            rows2: list[list[Any]] = [["Group-CARC", "Denied dollars"]] + [[c, money(v)] for c, v in
                                                          list(rev.dollars_by_carc.items())[:10]]
            out.append(Table([[_table(rows, [2.2 * inch, 1.1 * inch]),
                               _table(rows2, [1.3 * inch, 1.1 * inch])]], hAlign="LEFT",
                             style=[("VALIGN", (0, 0), (-1, -1), "TOP")]))
        a = rev.appeals
        out.append(_p(f"Appeals of this month's denials: {a.get('appealed', 0)} sent; "
                      f"{a.get('overturned', 0)} overturned, {a.get('upheld', 0)} upheld, "
                      f"{a.get('pending', 0)} awaiting the payer."))
    out.append(_p("Accounts receivable at month end", H2))
    if rev.ar_note:
        out.append(_absent(rev.ar_note))
        return out
    if not rev.ar_total:
        out.append(_p("No open insurance balances at month end."))
        return out
    out.append(KeepTogether([
        bar_chart("Insurance A/R by age (days since service)", list(AGING_BUCKETS),
                  [[float(rev.ar_buckets[b]) for b in AGING_BUCKETS]], height=150,
                  value_format="${:,.0f}"),
        _p(f"Total {money(rev.ar_total)} on {sum(rev.ar_claims.values())} claims; days in "
           f"A/R {num(rev.days_in_ar)}.")]))
    return out


def _eligibility_schedule(cur: PracticeMetrics) -> list[Flowable]:
    el, sc = cur.eligibility, cur.schedule
    out: list[Flowable] = [_p("Eligibility and schedule", H1)]
    if el.available:
        out.append(_p(f"Visits this month: {el.visits}; eligibility checked before the day "
                      f"of service: {el.checked_before} ({pct(el.checked_rate)}). Coverage "
                      f"gaps found: {el.gaps_found}."))
        if el.note:
            out.append(_p(el.note + ".", NOTE))
    else:
        out.append(_absent(el.note))
    out.append(_p("No-shows", H2))
    if sc.available:
        for title, data in (("Provider", sc.no_show_by_provider),
                            ("Visit type", sc.no_show_by_visit_type)):
            rows: list[list[Any]] = [[title, "No-shows", "Visits", "No-show rate"]]
            rows += [[k.replace("_", " "), ns, seen, pct(ns / seen if seen else None)]
                     for k, (ns, seen) in data.items()]
            out += [_table(rows, [2.6 * inch, 0.9 * inch, 0.9 * inch, 1.1 * inch]),
                    Spacer(1, 6)]
    else:
        out.append(_absent(sc.note))
    out.append(_p(sc.refilled_note[0].upper() + sc.refilled_note[1:] + ".", NOTE))
    return out


def _queues(cur: PracticeMetrics) -> list[Flowable]:
    q, h = cur.queues, cur.hours
    out: list[Flowable] = [_p("Work queues", H1)]
    if not q.available:
        out.append(_absent(q.note))
    else:
        kinds = sorted(set(q.created_by_kind) | set(q.done_by_kind))
        if kinds:
            out.append(bar_chart("Tasks created and done, by kind",
                                 [_kind_label(k) for k in kinds],
                                 [[q.created_by_kind.get(k, 0) for k in kinds],
                                  [q.done_by_kind.get(k, 0) for k in kinds]],
                                 ["created", "done"], horizontal=True,
                                 height=60 + 30 * len(kinds)))
        rows: list[list[Any]] = [["Open at month end, by age (days)"] + list(QUEUE_AGING),
                ["Tasks"] + [q.open_aging[b] for b in QUEUE_AGING]]
        out += [Spacer(1, 6), _table(rows, [2.6 * inch] + [0.8 * inch] * 4)]
        out.append(_p(f"Median time from creation to a person's first action: "
                      f"{num(q.median_hours_to_action)} hours. Overdue at month end: "
                      f"{q.overdue}."))
    out.append(_p("Staff hours saved", H2))
    if h.available:
        rows = [["Work done by OffHold", "Count", "Minutes each", "Hours"]]
        rows += [[label, c, num(mins, 0), num(c * mins / 60)]
                 for label, (c, mins) in h.items.items()]
        rows.append(["Total", "", "", num(h.hours)])
        out.append(_table(rows, [3.4 * inch, 0.7 * inch, 1 * inch, 0.8 * inch]))
    else:
        out.append(_absent(h.note))
    return out


def _trust(cur: PracticeMetrics, tz: ZoneInfo) -> list[Flowable]:
    out: list[Flowable] = [_p("Trust and modes", H1), _p(
        "Per task kind, decisions on tasks created this month. A task whose effect failed "
        "after approval counts as failed, not approved.")]
    rows: list[list[Any]] = [["Kind", "Mode", "Decided", "Approved", "Edited", "Effect failed",
             "Median min to act"]]
    for name, fig in cur.trust.items():
        if not fig.decided:
            continue
        rows.append([_kind_label(name), cur.modes.get(name, "shadow").replace("_", " "),
                     fig.decided, pct(fig.approval_rate), pct(fig.edit_rate), fig.failed,
                     num(fig.median_minutes_to_action, 0)])
    if len(rows) > 1:
        out.append(_table(rows, [1.9 * inch, 1 * inch, 0.6 * inch, 0.75 * inch, 0.65 * inch,
                                 0.85 * inch, 0.85 * inch], align_right_from=2))
    else:
        out.append(_absent("no task created this month was decided yet"))
    by_mode: dict[str, list[str]] = {}
    for name, mode in sorted(cur.modes.items()):
        by_mode.setdefault(mode, []).append(_kind_label(name))
    out.append(_p("Modes now: " + "; ".join(f"{mode.replace('_', ' ')}: {', '.join(names)}"
                                             for mode, names in sorted(by_mode.items()))
                  + ".", SMALL))
    out.append(_p("Mode changes this month", H2))
    if cur.mode_changes:
        rows = [["When", "Kind", "From", "To", "By"]]
        rows += [[f"{clock.parse_iso(c['ts']).astimezone(tz):%Y-%m-%d %H:%M %Z}",
                  _kind_label(c["kind"]),
                  str(c["before"]).replace("_", " "), str(c["after"]).replace("_", " "),
                  c["by"]] for c in cur.mode_changes]
        out.append(_table(rows, [1.5 * inch, 1.9 * inch, 1 * inch, 1 * inch, 1.1 * inch],
                          align_right_from=9))
    else:
        out.append(_p("None.", NOTE))
    out.append(_p("Exceptions", H2))
    q = cur.queues
    if q.exceptions:
        rows = [["Exception", "Raised this month"]]
        rows += [[_kind_label(k), v] for k, v in q.exceptions.items()]
        out.append(_table(rows, [3 * inch, 1.3 * inch]))
    else:
        out.append(_p("None raised this month.", NOTE))
    return out


METHOD_NOTES = (
    ("Period", "The calendar month in the practice's time zone; a task or event belongs to "
     "the month its time stamp falls in. 'Last month' is computed the same way."),
    ("Prior authorization", "Cycle time runs from submission to the first decision "
     "(approved, partially approved or denied) in the PA's status history, in days; the "
     "90th percentile interpolates between ranks. On time: decided by the decision clock "
     "due time (CMS-0057-F, 45 CFR 147.136 or the payer's contract). Delay risk: an open "
     "request older than its payer's median cycle time."),
    ("Denials", "Adjudicated claims are the claims in 835 remittances paid this month "
     "(payment date, else import date), reversals (CLP02 22) excluded. Denial rate = denied "
     "/ adjudicated. Denied dollars: a denied claim's adjustments other than contractual "
     "write-downs (CO-45 and kin) and patient responsibility (group PR). Reworked: worked "
     "within the rework window (setting report_rework_days). Appeals: denials whose appeal "
     "draft was approved; overturned or upheld by the claim's next remittance."),
    ("A/R", "Insurance A/R at month end = charge - paid - contractual write-downs - "
     "patient responsibility, over remittances received by then, aged from the date of "
     "service. Days in A/R = A/R / (charges for services in the last 90 days / 90)."),
    ("Eligibility", "A visit counts as checked when a 271 for the patient arrived before "
     "the local day of the visit. Cancelled visits are left out."),
    ("Queues", "Created and done by the task's own time stamps; open at month end means "
     "created before it and not yet done or rejected then. Time to action: creation to "
     "a person's first action."),
    ("Hours saved", "Work the app did x the practice's minutes per manual task (settings "
     "minutes_per_*). Defaults: 20 min per PA check (CAQH Index 2016, manual prior "
     "authorization), 8 min per eligibility, claim status or denial look-up (CAQH Index 2016,"
     " the average manual transaction), 5 min per message (estimate). For scale: the AMA's "
     "2024 survey puts prior authorization at about 12 staff hours per physician per week."),
    ("Privacy", "The body of this report is de-identified: counts, rates, dollars, payer "
     "names, codes and internal reference numbers only. CPT codes are shown as numbers, "
     "without descriptions."),
)


def _method(cur: PracticeMetrics) -> list[Flowable]:
    out: list[Flowable] = [_p("Method notes", H1)]
    for title, text in METHOD_NOTES:
        out += [_p(title, H2), _p(text)]
    out.append(_p(f"Report template {TEMPLATE_VERSION}.", SMALL))
    return out


# -- the appendix (identifiers) -----------------------------------------------------------

def appendix_rows(db: Reader, period: Period, tz: ZoneInfo) -> list[list[str]]:
    """Who is behind this month's denials (by the same payment day as the figures) and
    the PAs open at its end: the owner-only appendix. PHI."""
    _start, end = period.bounds
    first_day = period.start.astimezone(tz).date()
    last_day = (period.end - timedelta(microseconds=1)).astimezone(tz).date()
    rows: list[list[str]] = []
    for number, last, first, member, category, paid_on in db.query(
            "SELECT c.claim_number, coalesce(p.last_name, c.patient_last), "
            "coalesce(p.first_name, c.patient_first), c.member_id, c.category, "
            "coalesce(m.payment_date, m.received_at) FROM remit_claims c "
            "JOIN remittances m ON m.id = c.remittance_id LEFT JOIN patients p "
            "ON p.id = c.patient_id WHERE c.is_denial = 1 AND c.status_code != '22' "
            "ORDER BY c.id"):
        day = local_day(paid_on, tz)
        if first_day <= day <= last_day:
            rows.append(["Denial", f"claim {number}", f"{last}, {first}", member,
                         f"{category.replace('_', ' ')}, paid {day.isoformat()}"])
    for pa_id, last, first, member, status, payer in db.query(
            "SELECT a.id, p.last_name, p.first_name, coalesce(v.member_id, ''), a.status, "
            "y.name FROM prior_auths a JOIN patients p ON p.id = a.patient_id JOIN payers y "
            "ON y.id = a.payer_id LEFT JOIN coverages v ON v.id = a.coverage_id WHERE "
            "a.status IN ('submitted','pending','info_requested') AND a.submitted_at < ? "
            "ORDER BY a.id", (end,)):
        rows.append(["Open PA", f"PA #{pa_id}", f"{last}, {first}", member,
                     f"{status.replace('_', ' ')}, {payer}"])
    return rows


def _appendix(rows: list[list[str]]) -> list[Flowable]:
    out: list[Flowable] = [NextPageTemplate("phi"), PageBreak(),
                           _p("Appendix: identifiers (PHI)", H1), _p(
        "Owner only. This appendix names patients and member IDs behind the figures above. "
        "Its export is recorded in the audit log; keep the file encrypted or print and "
        "shred it.")]
    if not rows:
        return out + [_p("No denials or open prior authorizations this month.", NOTE)]
    table: list[list[Any]] = [["What", "Reference", "Patient", "Member ID", "Detail"]]
    table += [[_p(cell, CELL) for cell in row] for row in rows]
    return out + [_table(table, [0.8 * inch, 1.1 * inch, 1.6 * inch, 1.2 * inch,
                                 2.2 * inch], align_right_from=9)]


# -- the document -------------------------------------------------------------------------

def render_monthly(cur: PracticeMetrics, prev: PracticeMetrics, *, practice: str,
                   timezone: ZoneInfo, generated_by: str, generated_at: datetime,
                   appendix: list[list[str]] | None = None) -> bytes:
    """The report as PDF bytes. `appendix` (rows from `appendix_rows`) adds the PHI pages."""
    buffer = io.BytesIO()
    local = generated_at.astimezone(timezone)
    footer = f"{practice} - monthly report, {cur.period.label}"

    def normal(canvas: Canvas, doc: BaseDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(MUTED)
        canvas.drawString(0.75 * inch, 0.5 * inch, footer + " - de-identified")
        canvas.drawRightString(LETTER[0] - 0.75 * inch, 0.5 * inch, f"page {doc.page}")
        canvas.restoreState()

    def phi(canvas: Canvas, doc: BaseDocTemplate) -> None:
        canvas.saveState()
        canvas.setFillColor(colors.HexColor("#b42318"))
        canvas.rect(0, LETTER[1] - 0.45 * inch, LETTER[0], 0.45 * inch, stroke=0, fill=1)
        canvas.setFillColor(colors.white)
        canvas.setFont("Helvetica-Bold", 10)
        canvas.drawCentredString(LETTER[0] / 2, LETTER[1] - 0.29 * inch, PHI_BANNER)
        canvas.setFillColor(colors.HexColor("#b42318"))
        canvas.setFont("Helvetica-Bold", 7.5)
        canvas.drawString(0.75 * inch, 0.5 * inch, f"{footer} - PHI, owner only")
        canvas.drawRightString(LETTER[0] - 0.75 * inch, 0.5 * inch, f"page {doc.page}")
        canvas.restoreState()

    doc = BaseDocTemplate(buffer, pagesize=LETTER, title=f"{practice} - {cur.period.label}",
                          author="OffHold", subject="Monthly report",
                          leftMargin=0.75 * inch, rightMargin=0.75 * inch,
                          topMargin=0.8 * inch, bottomMargin=0.8 * inch)
    frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="body")
    doc.addPageTemplates([PageTemplate("normal", [frame], onPage=normal),
                          PageTemplate("phi", [frame], onPage=phi)])
    story: list[Flowable] = [
        Spacer(1, 2.2 * inch),
        _p(practice, ParagraphStyle("cover1", parent=H1, fontSize=26, leading=32)),
        _p(f"Monthly report - {cur.period.label}",
           ParagraphStyle("cover2", parent=H1, fontSize=16, textColor=ACCENT)),
        Spacer(1, 0.3 * inch),
        _p(f"Generated by {generated_by} on {local:%B %d, %Y at %H:%M} "
           f"({local.tzname()})."),
        _p("De-identified: counts, rates and dollars; no patient names or member IDs."
           + (" An owner-only appendix with identifiers follows the method notes; each of "
              "its pages is marked PHI." if appendix is not None else "")),
        PageBreak(),
        _p(f"Summary: {cur.period.label} against {prev.period.label}", H1),
        _table(_summary_rows(cur, prev), [2.6 * inch, 1.3 * inch, 1.3 * inch, 1.2 * inch]),
        Spacer(1, 8),
        _p("n/a: no data for that figure in the month (each section says why).", SMALL),
    ]
    for section in (_prior_auth, _revenue, _eligibility_schedule, _queues, _method):
        story += [PageBreak(), *section(cur)]
        if section is _queues:
            story += [PageBreak(), *_trust(cur, timezone)]
    if appendix is not None:
        story += _appendix(appendix)
    doc.build(story)
    return buffer.getvalue()
