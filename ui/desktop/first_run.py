"""The first-run wizard, shown when the app starts with no vault: the practice, the owner
account (strength-checked password, optional TOTP with a QR code), the recovery key (shown
once, printable as a PDF, acknowledged), the optional OS keyring, the model, the first
payers with their portal recipes (off until tested), and the action modes (all shadow).

The steps are automations.first_run's, the same as `offhold init`; slow ones (creating the
vault derives keys with argon2id, importing a model copies and hashes it) run on the
worker, and the page moves on when they are done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from app import clock
from app.domain import PlanType
from app.forms import password_feedback, payer_errors, practice_errors
from app.identity import MIN_PASSWORD_LENGTH
from app.queue.kinds import KINDS
from app.services import setup, users
from automations import first_run
from ui.desktop.files import MODEL_FILES, RECIPE_FILES, ask_open_file
from ui.desktop.messages import MessageBridge
from ui.desktop.worker import Worker
from ui.private_files import write_private

ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
         "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu", "America/Puerto_Rico")
NO_RECIPE = "(none yet)"
_INVALID = "QLineEdit { border: 1px solid #c62828; }"
KEYRING_TRADE_OFF = ("With a copy of the vault key in this computer's keyring, portal "
                     "checks run at night while nobody is logged in, but anyone who can "
                     "log in to this computer account can then open the vault without a "
                     "password.")
(P_PRACTICE, P_OWNER, P_TOTP, P_RECOVERY, P_KEYRING, P_MODEL, P_PAYERS, P_MODES) = range(8)


def _errors_label() -> QLabel:
    label = QLabel()
    label.setObjectName("formErrors")
    label.setWordWrap(True)
    return label


class PracticePage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Your practice")
        self.setSubTitle("These go on every letter and report.")
        self.edits = {key: QLineEdit() for key in ("name", "npi", "tin", "address", "phone")}
        self.zone = QComboBox()
        self.zone.setEditable(True)
        self.zone.addItems(list(ZONES))
        self.edits["address"].setPlaceholderText("12 Maple St | Springfield, IL 62701")
        self.edits["tin"].setPlaceholderText("12-3456789")
        form = QFormLayout(self)
        for key, label in (("name", "Practice name"), ("npi", "NPI"), ("tin", "Tax ID (TIN)"),
                           ("address", "Address"), ("phone", "Phone")):
            form.addRow(label, self.edits[key])
            self.edits[key].textChanged.connect(self.completeChanged)
        form.insertRow(1, "Time zone", self.zone)
        self.zone.currentTextChanged.connect(self.completeChanged)
        self.problems = _errors_label()
        form.addRow(self.problems)

    def values(self) -> dict[str, str]:
        return {**{k: e.text().strip() for k, e in self.edits.items()},
                "timezone": self.zone.currentText().strip()}

    def isComplete(self) -> bool:
        found = practice_errors(self.values())
        for key, edit in self.edits.items():
            edit.setStyleSheet(_INVALID if key in found else "")
        self.problems.setText("\n".join(f"{k}: {m}" for k, m in found.items()))
        return not found

    def details(self) -> setup.PracticeDetails:
        v = self.values()
        return setup.PracticeDetails(v["name"], v["timezone"], v["npi"], v["tin"],
                                     v["address"], v["phone"])


class OwnerPage(QWizardPage):
    """The owner account; leaving it creates the vault (no way back past it)."""

    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("The owner's account")
        self.setSubTitle("The owner manages users, settings and backups. Next creates the "
                         "vault.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Create the vault")
        self.user = QLineEdit("owner")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm = QLineEdit()
        self.confirm.setEchoMode(QLineEdit.EchoMode.Password)
        self.strength = QLabel()
        self.strength.setObjectName("passwordStrength")
        self.totp = QCheckBox("Also require a code from an authenticator app (TOTP)")
        form = QFormLayout(self)
        form.addRow("User name", self.user)
        form.addRow("Password", self.password)
        form.addRow("Password again", self.confirm)
        form.addRow("Strength", self.strength)
        form.addRow(self.totp)
        self.problems = _errors_label()
        form.addRow(self.problems)
        for edit in (self.user, self.password, self.confirm):
            edit.textChanged.connect(self.completeChanged)

    def isComplete(self) -> bool:
        level, problems = password_feedback(self.password.text(), self.user.text(),
                                            MIN_PASSWORD_LENGTH)
        self.strength.setText(level)
        if self.password.text() and self.confirm.text() != self.password.text():
            problems = [*problems, "the two passwords differ"]
        if not self.user.text().strip():
            problems = ["a user name is required", *problems]
        self.problems.setText("; ".join(problems) if self.password.text() else "")
        return not problems and level != "weak" and self.wiz.session is None

    def validatePage(self) -> bool:
        if self.wiz.session is not None:
            return True
        self.wiz.create_vault(self.user.text().strip(), self.password.text())
        return False  # the wizard moves on when the vault exists


class TotpPage(QWizardPage):
    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.uri = ""
        self.setTitle("Authenticator app")
        self.setSubTitle("Scan the code with an authenticator app, then type the 6 digits "
                         "it shows.")
        self.qr = QLabel()
        self.qr.setObjectName("totpQr")
        self.qr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.uri_label = QLabel()
        self.uri_label.setWordWrap(True)
        self.uri_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.code = QLineEdit()
        self.code.setPlaceholderText("123456")
        self.code.textChanged.connect(self.completeChanged)
        layout = QVBoxLayout(self)
        layout.addWidget(self.qr)
        layout.addWidget(self.uri_label)
        layout.addWidget(self.code)

    def initializePage(self) -> None:
        if self.uri:
            return
        session, owner = self.wiz.session, self.wiz.owner
        self.wiz.worker.run(lambda: users.enable_mfa(session, owner), done=self.show_uri,
                            label="Enrolling TOTP", phi=False)

    def show_uri(self, uri: str) -> None:
        import io

        import segno
        self.uri = uri
        png = io.BytesIO()
        segno.make(uri, error="m").save(png, kind="png", scale=5, border=2)
        pixmap = QPixmap()
        pixmap.loadFromData(png.getvalue(), "PNG")
        self.qr.setPixmap(pixmap)
        self.uri_label.setText(f"Or type the key: {uri.split('secret=')[1].split('&')[0]}")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return bool(self.uri) and setup.totp_code_ok(self.uri, self.code.text())


class RecoveryPage(QWizardPage):
    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Recovery key")
        self.setSubTitle("If every owner password is lost, this key is the only way into the "
                         "vault. It is shown this once.")
        self.key = QLabel()
        self.key.setObjectName("recoveryKey")
        font = QFont("monospace")
        font.setPointSize(13)
        font.setBold(True)
        self.key.setFont(font)
        self.key.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.pdf_button = QPushButton("Save as PDF to print…")
        self.pdf_button.setObjectName("recoveryPdf")
        self.pdf_button.clicked.connect(self.save_pdf)
        self.stored = QCheckBox("I have printed or stored it somewhere safe, away from this "
                                "computer")
        self.stored.setObjectName("recoveryStored")
        self.stored.toggled.connect(self.completeChanged)
        layout = QVBoxLayout(self)
        layout.addWidget(self.key)
        layout.addWidget(self.pdf_button)
        layout.addWidget(self.stored)

    def initializePage(self) -> None:
        self.key.setText(self.wiz.recovery)

    def choose_pdf_path(self) -> str:
        """Where to write the PDF (tests replace this). Empty means cancelled."""
        path, _filter = QFileDialog.getSaveFileName(self, "Recovery key PDF",
                                                    str(Path.home() / "recovery-key.pdf"),
                                                    "PDF (*.pdf)")
        return str(path)

    def save_pdf(self) -> None:
        path = self.choose_pdf_path()
        if not path:
            return
        name, key = self.wiz.practice_page.details().name, self.wiz.recovery
        created = clock.now().astimezone()

        def write() -> str:  # the key unlocks the vault: owner-only
            write_private(path, setup.recovery_key_pdf(name, key, created))
            return path

        self.wiz.worker.run(write, done=lambda p: self.wiz.bridge.info(
            f"Recovery key saved to {Path(p).name}; print it, then delete the file."),
            label="Writing the PDF", phi=False)

    def isComplete(self) -> bool:
        return self.stored.isChecked()


class KeyringPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        from app.vault import unattended
        self.setTitle("Unattended checks (optional)")
        self.use = QCheckBox("Keep a copy of the vault key in this computer's keyring")
        self.use.setObjectName("useKeyring")
        explain = QLabel(KEYRING_TRADE_OFF)
        explain.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.use)
        layout.addWidget(explain)
        if not unattended.backend_available():
            self.use.setEnabled(False)
            missing = QLabel("This computer has no keyring service, so checks run only "
                             "while someone is logged in.")
            missing.setWordWrap(True)
            layout.addWidget(missing)


class ModelPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("The writing model")
        self.setSubTitle("It drafts letters and summaries for people to review. Facts always "
                         "come from the documents themselves.")
        self.bundled = QRadioButton("The bundled small model (works offline now; its prose is "
                                    "weak: import a 3-4B model later for better drafts)")
        self.bundled.setChecked(True)
        self.imported = QRadioButton("Import a GGUF model file now")
        group = QButtonGroup(self)
        group.addButton(self.bundled)
        group.addButton(self.imported)
        self.path = QLineEdit()
        self.path.setReadOnly(True)
        self.browse = QPushButton("Choose file…")
        self.browse.clicked.connect(self.pick)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(self.browse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.bundled)
        layout.addWidget(self.imported)
        layout.addLayout(row)
        self.imported.toggled.connect(self.completeChanged)

    def choose_model_file(self) -> str:
        return ask_open_file(self, "GGUF model", MODEL_FILES)

    def pick(self) -> None:
        path = self.choose_model_file()
        if path:
            self.path.setText(path)
            self.imported.setChecked(True)
            self.completeChanged.emit()

    def model_file(self) -> str:
        return self.path.text() if self.imported.isChecked() else ""

    def isComplete(self) -> bool:
        return self.bundled.isChecked() or bool(self.path.text())


class PayersPage(QWizardPage):
    """The first payers, each with a portal recipe (installed, or a file); added at the
    end with their portals off until a test succeeds."""

    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.payers: list[first_run.FirstPayer] = []
        self.setTitle("Your payers")
        self.setSubTitle("Add the plans you work with most; more can be added later in "
                         "Settings → Payers. Portal checks stay off until a recipe is tested.")
        self.name = QLineEdit()
        self.name.setObjectName("firstPayerName")
        self.plan = QComboBox()
        self.plan.addItems([p.value for p in PlanType])
        self.plan.setCurrentText("commercial")
        self.days = QLineEdit()
        self.days.setPlaceholderText("standard decision days (commercial: by contract)")
        self.recipe = QComboBox()
        self.recipe.setEditable(False)
        self.recipe_file = QPushButton("Recipe file…")
        self.recipe_file.setObjectName("firstPayerRecipeFile")
        self.recipe_file.clicked.connect(self.pick_recipe)
        recipe_row = QHBoxLayout()
        recipe_row.addWidget(self.recipe, 1)
        recipe_row.addWidget(self.recipe_file)
        self.add = QPushButton("Add payer")
        self.add.setObjectName("addFirstPayer")
        self.add.clicked.connect(self.add_payer)
        self.problems = _errors_label()
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Payer", "Plan type", "Portal recipe"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.remove = QPushButton("Remove selected")
        self.remove.clicked.connect(self.remove_selected)
        form = QFormLayout()
        form.addRow("Payer name", self.name)
        form.addRow("Plan type", self.plan)
        form.addRow("Decision days", self.days)
        form.addRow("Portal recipe", recipe_row)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problems)
        layout.addWidget(self.add)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.remove)
        for edit in (self.name, self.days):
            edit.textChanged.connect(self.check)

    def initializePage(self) -> None:
        if self.recipe.count():
            return
        from ui.desktop.payers_tab import installed_recipes
        self.wiz.worker.run(lambda: installed_recipes(None), done=self._recipes,
                            label="Loading recipes", phi=False)

    def _recipes(self, names: list[str]) -> None:
        self.recipe.addItems([NO_RECIPE, *names])

    def choose_recipe_file(self) -> str:
        return ask_open_file(self, "Portal recipe", RECIPE_FILES)

    def pick_recipe(self) -> None:
        """A recipe file is checked as soon as it is picked, so a bad one is named here
        rather than at the end."""
        path = self.choose_recipe_file()
        if not path:
            return
        from automations.portal import load_recipe_file

        def checked(_recipe: Any) -> None:
            self.recipe.addItem(path)
            self.recipe.setCurrentText(path)

        self.wiz.worker.run(lambda: load_recipe_file(path), done=checked,
                            label="Checking the recipe", phi=False)

    def check(self) -> bool:
        values = {"name": self.name.text(), "decision_days_standard": self.days.text()}
        found = payer_errors(values, {p.name for p in self.payers})
        self.problems.setText("\n".join(m for k, m in found.items()
                                        if k != "name" or self.name.text()))
        self.add.setEnabled(not found)
        return not found

    def add_payer(self) -> None:
        if not self.check():
            return
        recipe = self.recipe.currentText()
        payer = first_run.FirstPayer(self.name.text().strip(), self.plan.currentText(),
                                     "" if recipe in ("", NO_RECIPE) else recipe,
                                     int(self.days.text()) if self.days.text() else None)
        self.payers.append(payer)
        row = self.table.rowCount()
        self.table.insertRow(row)
        for col, value in enumerate((payer.name, payer.plan_type,
                                     Path(payer.recipe).stem if payer.recipe else "-")):
            self.table.setItem(row, col, QTableWidgetItem(value))
        self.name.clear()
        self.days.clear()

    def remove_selected(self) -> None:
        row = self.table.currentRow()
        if 0 <= row < len(self.payers):
            del self.payers[row]
            self.table.removeRow(row)


class ModesPage(QWizardPage):
    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Shadow mode first")
        self.setSubTitle("Every kind of work starts in shadow mode: OffHold drafts what it "
                         "would do and people see it, but nothing is sent or changed until "
                         "you move a kind to 'approve each' (Settings → Action modes).")
        kinds = QListWidget()
        kinds.addItems([f"{spec.label}: shadow" for spec in KINDS.values()])
        layout = QVBoxLayout(self)
        layout.addWidget(kinds)
        self.status = QLabel()
        layout.addWidget(self.status)
        self.setFinalPage(True)

    def validatePage(self) -> bool:
        if self.wiz.summary is not None:
            return True
        self.wiz.apply_choices()
        return False


class FirstRunWizard(QWizard):
    """Emits `completed(session)` with the owner logged in when everything is set up."""

    completed = Signal(object)

    def __init__(self, vault_dir: Path, worker: Worker, bridge: MessageBridge,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRunWizard")
        self.setWindowTitle("Set up OffHold")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.vault_dir = Path(vault_dir)
        self.worker, self.bridge = worker, bridge
        self.session: Any = None
        self.recovery = ""
        self.owner = ""
        self.summary: dict[str, Any] | None = None
        self.practice_page = PracticePage()
        self.owner_page = OwnerPage(self)
        self.totp_page = TotpPage(self)
        self.recovery_page = RecoveryPage(self)
        self.keyring_page = KeyringPage()
        self.model_page = ModelPage()
        self.payers_page = PayersPage(self)
        self.modes_page = ModesPage(self)
        for pid, page in ((P_PRACTICE, self.practice_page), (P_OWNER, self.owner_page),
                          (P_TOTP, self.totp_page), (P_RECOVERY, self.recovery_page),
                          (P_KEYRING, self.keyring_page), (P_MODEL, self.model_page),
                          (P_PAYERS, self.payers_page), (P_MODES, self.modes_page)):
            self.setPage(pid, page)
        self.resize(760, 560)

    def nextId(self) -> int:
        current = self.currentId()
        if current == P_OWNER and not self.owner_page.totp.isChecked():
            return P_RECOVERY
        return super().nextId()

    def _advance(self) -> None:
        QTimer.singleShot(0, self.next)

    def create_vault(self, owner: str, password: str) -> None:
        details, directory = self.practice_page.details(), self.vault_dir
        self.owner_page.setEnabled(False)

        def done(result: tuple[Any, str]) -> None:
            self.session, self.recovery = result
            self.owner = owner
            self.owner_page.password.clear()  # the secret leaves the widgets at once
            self.owner_page.confirm.clear()
            self.owner_page.setEnabled(True)
            self._advance()

        self.worker.run(lambda: first_run.create_practice(directory, details, owner, password),
                        done=done, failed=lambda _e: self.owner_page.setEnabled(True),
                        label="Creating the vault", phi=False)

    def apply_choices(self) -> None:
        choices = first_run.SetupChoices(keyring=self.keyring_page.use.isChecked(),
                                         model_file=self.model_page.model_file(),
                                         payers=list(self.payers_page.payers))
        session = self.session
        self.modes_page.status.setText("Setting up…")

        def done(summary: dict[str, Any]) -> None:
            self.summary = summary
            self.modes_page.status.setText("Done.")
            QTimer.singleShot(0, self._finish)

        self.worker.run(lambda: first_run.finish(session, choices), done=done,
                        failed=lambda _e: self.modes_page.status.setText(
                            "Not finished: see the message, fix it and try again."),
                        label="Finishing the set-up", phi=False)

    def _finish(self) -> None:
        if self.validateCurrentPage():
            self.accept()

    def accept(self) -> None:
        super().accept()
        if self.session is not None:
            self.completed.emit(self.session)
