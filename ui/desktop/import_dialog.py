"""Import records from the practice's systems: 837 claims, FHIR bundles or NDJSON, CSV
roster and schedule exports. The person picks the files, sees a preview (the first rows,
and for CSV the column each field is read from, saved as a named mapping), chooses
whether to skip bad records, and imports with a progress bar; after a verified import
it offers to delete the source file (it holds PHI the vault now keeps). Everything runs
through app.services.imports on the worker: role checks, validation, the one transaction
and the audit are there; this dialog only gathers choices and shows results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from app.errors import KnownError
from app.imports.common import ImportOutcome
from app.imports.files import read_import_file
from app.imports.tabular import TARGETS, Mapping
from app.queue.changes import EVERYTHING
from app.services import imports
from ui.desktop.pages import AppContext
from ui.desktop.tables import fill_table, readonly_table

KINDS = [("837", "Claims (837P / 837I)"), ("fhir", "FHIR R4 (bundles or NDJSON)"),
         ("csv", "CSV export (roster or schedule)")]
LABEL = "Importing records"
NOT_MAPPED = "(not in this file)"


class ImportDialog(QDialog):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Import records")
        self.resize(900, 600)
        self.kind = QComboBox()
        for key, text in KINDS:
            self.kind.addItem(text, key)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.paths = QLineEdit()
        self.paths.setPlaceholderText("files to import (several for a bulk NDJSON export)")
        browse = QPushButton("Choose files…")
        browse.clicked.connect(self.browse)
        picked = QHBoxLayout()
        picked.addWidget(self.paths, 1)
        picked.addWidget(browse)
        self.mapping = QComboBox()
        self.mapping.setEditable(True)
        self.mapping.setToolTip("A saved column mapping, or a new name to save this one")
        self.target = QComboBox()
        self.target.addItems(list(TARGETS))
        self.fields = readonly_table(["Field", "Column in the file"])
        self.preview_table: QTableWidget = readonly_table([""])
        self.skip_bad = QCheckBox("Skip bad records (they are listed, and the choice is "
                                  "recorded in the audit log)")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel("Choose the files, then Preview.")
        self.status.setWordWrap(True)
        self.preview_button = QPushButton("Preview")
        self.preview_button.clicked.connect(self.preview)
        self.import_button = QPushButton("Import")
        self.import_button.setEnabled(False)
        self.import_button.clicked.connect(self.run_import)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.addButton(self.preview_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.import_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.form = QFormLayout()
        self.form.addRow("Kind", self.kind)
        self.form.addRow("Files", picked)
        self.form.addRow("Column mapping", self.mapping)
        self.form.addRow("The file holds", self.target)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.fields)
        layout.addWidget(self.preview_table, 1)
        layout.addWidget(self.skip_bad)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.headers: list[str] = []
        self.delete_box: QMessageBox | None = None  # the offer to delete the source file
        ctx.worker.progress.connect(self._progress)
        self._kind_changed()
        if ctx.session.can("records.import"):
            session = ctx.session
            ctx.worker.run(lambda: imports.list_mappings(session), done=self._mappings,
                           label="Loading mappings")

    # -- choices -------------------------------------------------------------------------

    def current_kind(self) -> str:
        return str(self.kind.currentData())

    def _kind_changed(self) -> None:
        csv = self.current_kind() == "csv"
        for widget in (self.mapping, self.target, self.fields):
            widget.setVisible(csv)
        self.import_button.setEnabled(False)

    def _mappings(self, saved: list[dict[str, Any]]) -> None:
        self.saved = {m["name"]: m for m in saved}
        self.mapping.clear()
        self.mapping.addItems(sorted(self.saved))
        self.mapping.setCurrentText("")

    def choose_files(self) -> list[str]:
        """Ask for files (tests replace this). An empty list means cancelled."""
        paths, _filter = QFileDialog.getOpenFileNames(self, "Files to import", str(Path.home()))
        return list(paths)

    def browse(self) -> None:
        chosen = self.choose_files()
        if chosen:
            self.paths.setText(" ; ".join(chosen))

    def files(self) -> list[Path]:
        return [Path(p.strip()) for p in self.paths.text().split(";") if p.strip()]

    def _mapping_from_table(self) -> Mapping | None:
        name = self.mapping.currentText().strip()
        columns: dict[str, str] = {}
        for row in range(self.fields.rowCount()):
            combo = self.fields.cellWidget(row, 1)
            item = self.fields.item(row, 0)
            if isinstance(combo, QComboBox) and item is not None \
                    and combo.currentText() != NOT_MAPPED:
                columns[item.text()] = combo.currentText()
        if not columns:
            return None
        return Mapping(name or "preview", self.target.currentText(), columns)

    def _show_fields(self, suggested: dict[str, str], saved: dict[str, str]) -> None:
        names = list(TARGETS[self.target.currentText()])
        self.fields.setRowCount(len(names))
        fill_table(self.fields, [[n, ""] for n in names])
        for row, name in enumerate(names):
            # Reuse the row's combo: a replaced cell widget lingers until deleteLater runs
            # and was seen drawn over the field names.
            existing = self.fields.cellWidget(row, 1)
            combo = existing if isinstance(existing, QComboBox) else QComboBox()
            combo.clear()
            combo.addItems([NOT_MAPPED, *self.headers])
            chosen = saved.get(name) or suggested.get(name)
            if chosen in self.headers:
                combo.setCurrentText(chosen)
            if combo is not existing:
                self.fields.setCellWidget(row, 1, combo)

    # -- preview and import (on the worker) ----------------------------------------------

    def preview(self) -> None:
        files, kind, session = self.files(), self.current_kind(), self.ctx.session
        if not files:
            self.status.setText("Choose the files first.")
            return
        saved = getattr(self, "saved", {}).get(self.mapping.currentText().strip())
        mapping: Mapping | None = None
        if kind == "csv":
            if saved is not None:
                self.target.setCurrentText(saved["target"])
                mapping = Mapping(saved["name"], saved["target"], saved["columns"],
                                  saved["source"], saved.get("date_format", ""))
            elif self.fields.rowCount():
                try:
                    mapping = self._mapping_from_table()
                except KnownError as exc:  # a mapping missing fields: say which
                    self.status.setText(str(exc))
                    mapping = None
        target = self.target.currentText()

        def job() -> dict[str, Any]:
            data = [(p.name, read_import_file(p, kind)) for p in files]
            return imports.preview_import(session, kind, data, mapping=mapping,
                                          target=target)

        def done(shown: dict[str, Any]) -> None:
            self.headers = list(shown["columns"])
            if kind == "csv":
                self._show_fields(shown.get("suggested", {}),
                                  dict(mapping.columns) if mapping else {})
            rows = shown["mapped"] if kind == "csv" and shown.get("mapped") else shown["rows"]
            columns = list(rows[0]) if rows and isinstance(rows[0], dict) else self.headers
            self.preview_table.setColumnCount(len(columns))
            self.preview_table.setHorizontalHeaderLabels(columns)
            fill_table(self.preview_table, [
                [str(r.get(c, "")) for c in columns] if isinstance(r, dict)
                else [str(v) for v in r] for r in rows])
            bad = shown["bad"]
            self.status.setText(
                f"{shown['records']} record(s) read" + (f"; {len(bad)} bad: " + "; ".join(
                    bad[:3]) if bad else "; none bad")
                + (" — check the columns, then Import" if kind == "csv" else ""))
            self.import_button.setEnabled(True)

        self.ctx.worker.run(job, done=done, label="Previewing the import")

    def _progress(self, label: str, done: int, total: int) -> None:
        if label == LABEL:
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)

    def run_import(self) -> None:
        files, kind, session = self.files(), self.current_kind(), self.ctx.session
        skip = self.skip_bad.isChecked()
        mapping: Mapping | None = None
        if kind == "csv":
            try:
                mapping = self._mapping_from_table()
            except KnownError as exc:
                self.status.setText(str(exc))
                return
            name = self.mapping.currentText().strip()
            if mapping is None or not name:
                self.status.setText("Name the column mapping: it is saved and reused for "
                                    "this source's next exports.")
                return
            mapping.name = name
            # A saved mapping keeps what the table does not show: whose IDs the rows carry
            # and the date format (set with `offhold import mapping`).
            kept = getattr(self, "saved", {}).get(name)
            if kept is not None:
                mapping.source = str(kept.get("source", ""))
                mapping.date_format = str(kept.get("date_format", ""))

        def job(progress: Any) -> ImportOutcome:
            data = [(p.name, read_import_file(p, kind)) for p in files]
            if kind == "837":
                return imports.import_837(session, data[0][1], skip_bad=skip,
                                          progress=progress)
            if kind == "fhir":
                return imports.import_fhir(session, data, skip_bad=skip, progress=progress)
            assert mapping is not None
            saved = imports.save_mapping(session, mapping.name, mapping.target,
                                         mapping.columns, source=mapping.source,
                                         date_format=mapping.date_format)
            return imports.import_csv(session, data[0][1], saved.name, skip_bad=skip,
                                      file_name=data[0][0], progress=progress)

        def done(outcome: ImportOutcome) -> None:
            self.progress.setRange(0, 1)
            self.progress.setValue(1)
            text = (f"Imported: {outcome.created} new, {outcome.updated} updated, "
                    f"{outcome.unchanged} unchanged")
            if outcome.skipped:
                text += f"; {len(outcome.skipped)} skipped: " + "; ".join(
                    str(b) for b in outcome.skipped[:5])
            self.status.setText(text)
            self.ctx.bridge.info(text.split(";")[0] + ".")
            self.ctx.changes.announce(EVERYTHING, self)
            # Not when records were skipped: they exist only in the file (the service
            # refuses too). An 837 or CSV import reads the first file.
            if outcome.import_id is not None and not outcome.skipped:
                self.offer_delete(kind, outcome.import_id,
                                  files if kind == "fhir" else files[:1])

        def failed(exc: BaseException) -> None:
            self.progress.setValue(0)
            self.status.setText(f"Nothing was imported: {exc}")

        self.ctx.worker.run(job, done=done, failed=failed, label=LABEL, progress=True)

    # -- the source file, after a verified import ----------------------------------------

    def offer_delete(self, kind: str, import_id: int, files: list[Path]) -> None:
        """Ask (without a nested event loop) whether to delete the imported files: they
        hold PHI the vault now keeps. The service verifies the import before deleting."""
        names = ", ".join(p.name for p in files)
        box = QMessageBox(QMessageBox.Icon.Question, "Delete the imported file?",
                          f"{names} is imported and its records are in the vault. The file "
                          "holds patient information: delete it from this computer?",
                          QMessageBox.StandardButton.NoButton, self)
        delete = box.addButton("Delete the file", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep it", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.finished.connect(lambda _result: self._delete_chosen(
            box.clickedButton() is delete, kind, import_id, files))
        self.delete_box = box
        box.open()

    def _delete_chosen(self, chosen: bool, kind: str, import_id: int,
                       files: list[Path]) -> None:
        box, self.delete_box = self.delete_box, None
        if box is not None:
            box.deleteLater()
        if not chosen:
            return
        session = self.ctx.session
        before = self.status.text()

        def deleted(count: int) -> None:
            self.status.setText(f"{before}. The imported file was deleted."
                                if count == 1 else f"{before}. {count} files were deleted.")

        def kept(exc: BaseException) -> None:
            self.status.setText(f"{before}. The file was kept: {exc}")

        self.ctx.worker.run(lambda: imports.delete_imported_files(session, kind, import_id,
                                                                  files),
                            done=deleted, failed=kept, label="Deleting the imported file")
