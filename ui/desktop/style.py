"""The app's look: Fusion with a light palette and a small stylesheet (banners, the
shadow-mode warning, the lock screen)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication

STYLESHEET = """
QMainWindow, QDialog { background: #f6f7f9; }
QToolBar#pagesToolbar { background: #1f3a5f; border: none; spacing: 4px; padding: 4px; }
QToolBar#pagesToolbar QToolButton { color: white; padding: 6px 12px; border-radius: 4px;
    font-weight: 600; }
QToolBar#pagesToolbar QToolButton:checked { background: #3d6aa8; }
QToolBar#pagesToolbar QToolButton:hover { background: #2f5688; }
QLabel#sectionLabel { font-weight: 700; color: #1f3a5f; padding: 4px 2px; }
QListView#queueSidebar { background: white; border: 1px solid #d5d9e0; padding: 2px; }
QListView#queueSidebar::item { padding: 6px 4px; }
QListView#patientList { background: white; border: 1px solid #d5d9e0; }
QListView#patientList::item { padding: 5px 4px; border-bottom: 1px solid #eef0f3; }
QListView#patientList::item:selected { background: #dce8f7; color: #1f3a5f; }
QListView#queueSidebar::item:selected { background: #dce8f7; color: #1f3a5f; }
QTableView { background: white; gridline-color: #e6e8ec; border: 1px solid #d5d9e0;
    selection-background-color: #cfe0f6; selection-color: #111; }
QHeaderView::section { background: #eceff3; padding: 4px 6px; border: none;
    border-right: 1px solid #d5d9e0; font-weight: 600; }
QLabel#detailTitle { font-size: 15px; font-weight: 700; color: #1a1a1a; }
QLabel#detailMeta { color: #4a5361; }
QLabel#shadowBanner { background: #fff4c2; border: 1px solid #e0c45c; color: #5c4a00;
    padding: 6px; border-radius: 4px; font-weight: 600; }
QPushButton#approveButton:enabled { background: #2e7d32; color: white; font-weight: 700;
    border-radius: 4px; padding: 5px 12px; }
QPushButton#approveButton:disabled { background: #c9cdd3; color: #6b7280; border-radius: 4px;
    padding: 5px 12px; }
QFrame#banner { background: #e8f1fb; border-bottom: 1px solid #b9d1ee; }
QFrame#banner[level="warning"] { background: #fff4d6; border-bottom: 1px solid #e9c46a; }
QFrame#banner[level="error"], QFrame#banner[level="critical"] { background: #fde2e1;
    border-bottom: 1px solid #e5a3a0; }
QListWidget#paColumn { background: #eef1f5; border: 1px solid #d5d9e0; }
QListWidget#paColumn::item { border: 1px solid #d5d9e0; border-radius: 4px; padding: 6px;
    color: #1a1a1a; }
QListWidget#paColumn::item:selected { border: 2px solid #3d6aa8; }
QWidget#lockScreen { background: #1f3a5f; }
QWidget#lockBox { background: white; border-radius: 8px; padding: 18px; }
QLabel#lockTitle { font-size: 20px; font-weight: 700; color: #1f3a5f; }
QLabel#loginHeading { font-size: 22px; font-weight: 800; color: #1f3a5f; }
QLabel#loginSub { color: #4a5361; }
QLabel#loginError { color: #a4161a; font-weight: 600; }
"""


def apply_style(app: QApplication) -> None:
    """Fusion and the palette: cheap, applied before the login window. The stylesheet
    (parsed and matched against every widget) waits for the main window, which keeps
    the cold start to the login window close to a bare Qt window's."""
    app.setStyle("Fusion")
    palette = app.palette()
    palette.setColor(QPalette.ColorRole.Window, QColor("#f6f7f9"))
    palette.setColor(QPalette.ColorRole.Base, QColor("#ffffff"))
    palette.setColor(QPalette.ColorRole.AlternateBase, QColor("#f3f5f8"))
    palette.setColor(QPalette.ColorRole.Highlight, QColor("#cfe0f6"))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor("#111111"))
    app.setPalette(palette)


def apply_stylesheet(app: QApplication) -> None:
    if app.styleSheet() != STYLESHEET:
        app.setStyleSheet(STYLESHEET)


def app_icon() -> QIcon:
    """A drawn icon (no image file to ship): the tray and the window use it."""
    pixmap = QPixmap(64, 64)
    pixmap.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor("#1f3a5f"))
    painter.setPen(QColor("#1f3a5f"))
    painter.drawRoundedRect(2, 2, 60, 60, 12, 12)
    painter.setPen(QColor("#ffffff"))
    font = QFont()
    font.setPixelSize(40)
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, "O")
    painter.end()
    return QIcon(pixmap)
