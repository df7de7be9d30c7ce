"""The one open-file dialog the desktop asks through (a model file, a portal recipe):
starts in the home folder and returns "" when cancelled."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

RECIPE_FILES = "Recipes (*.yaml *.yml)"
MODEL_FILES = "GGUF models (*.gguf)"


def ask_open_file(parent: QWidget, title: str, name_filter: str) -> str:
    """The chosen file's path, or "" when the dialog was cancelled."""
    path, _filter = QFileDialog.getOpenFileName(parent, title, str(Path.home()), name_filter)
    return str(path)
