"""The "Payers" settings tab: the payer directory (plan type, decision days, filing and
appeal windows), each payer's portal recipe (an installed one or a .yaml file, picked
with a file dialog; a new recipe never turns the portal on) and its fee schedule per
visit type. Calls app.services (payer.manage, portal.configure; audited there)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.domain import Payer, PlanType
from app.forms import amount_errors, payer_errors
from app.queue.changes import NOTHING
from app.services import appointments, patients, practice
from ui.desktop.files import RECIPE_FILES, ask_open_file
from ui.desktop.pages import AppContext
from ui.desktop.tables import fill_table, readonly_table

NO_RECIPE = "(none)"
_INVALID = "QLineEdit { border: 1px solid #c62828; }"
_NUMBERS = (("decision_days_standard", "Standard decision (days)"),
            ("decision_hours_expedited", "Expedited decision (hours)"),
            ("appeal_window_days", "Appeal window (days)"),
            ("timely_filing_days", "Timely filing (days)"))


def installed_recipes(folder: str | None) -> list[str]:
    from automations.portal import load_recipes, recipe_dirs
    return load_recipes(recipe_dirs(folder or None)).names()


class PayersTab(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.setObjectName("payersTab")
        self.payers: list[Payer] = []
        self.table = readonly_table(["Payer", "Plan type", "Decision days", "Recipe",
                                     "Portal"])
        self.table.setObjectName("payersTable")
        self.table.currentCellChanged.connect(lambda row, *_: self._selected(row))
        self.name = QLineEdit()
        self.name.setObjectName("payerName")
        self.plan_type = QComboBox()
        self.plan_type.addItems([p.value for p in PlanType])
        self.code = QLineEdit()
        self.numbers = {key: QLineEdit() for key, _label in _NUMBERS}
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Plan type", self.plan_type)
        form.addRow("Payer ID on claims", self.code)
        for key, label in _NUMBERS:
            form.addRow(label, self.numbers[key])
            self.numbers[key].textChanged.connect(self.validate)
        # The payer's portal address: its origin is the only site the payer's log-in is
        # typed into, so owners and office managers (portal.configure) set it.
        self.portal_url = QLineEdit()
        self.portal_url.setObjectName("portalUrl")
        self.portal_url.setPlaceholderText("https://portal.example-payer.com (http only on "
                                           "this machine)")
        form.addRow("Portal URL", self.portal_url)
        self.portal_url.textChanged.connect(self.validate)
        self.name.textChanged.connect(self.validate)
        self.problems = QLabel()
        self.problems.setObjectName("formErrors")
        self.new_button = QPushButton("New payer")
        self.new_button.clicked.connect(self.new_payer)
        self.save_button = QPushButton("Save payer")
        self.save_button.setObjectName("savePayer")
        self.save_button.clicked.connect(self.save)
        payer_buttons = QHBoxLayout()
        payer_buttons.addWidget(self.new_button)
        payer_buttons.addWidget(self.save_button)
        payer_buttons.addStretch(1)

        self.recipe = QComboBox()
        self.recipe.setObjectName("recipeChoice")
        self.recipe_button = QPushButton("Use this recipe")
        self.recipe_button.clicked.connect(lambda: self.set_recipe(self.recipe.currentText()))
        self.recipe_file_button = QPushButton("Recipe file…")
        self.recipe_file_button.setObjectName("recipeFile")
        self.recipe_file_button.setToolTip("A .yaml portal recipe of the practice's own: it "
                                           "is checked, then kept in the recipes folder")
        self.recipe_file_button.clicked.connect(self.pick_recipe_file)
        recipe_row = QHBoxLayout()
        recipe_row.addWidget(QLabel("Portal recipe"))
        recipe_row.addWidget(self.recipe, 1)
        recipe_row.addWidget(self.recipe_button)
        recipe_row.addWidget(self.recipe_file_button)

        self.fees = readonly_table(["Visit type", "Allowed amount"])
        self.fees.setObjectName("feeTable")
        self.fee_type = QComboBox()
        self.fee_type.setEditable(True)
        self.fee_amount = QLineEdit()
        self.fee_amount.setPlaceholderText("$ allowed, or empty to remove")
        self.fee_button = QPushButton("Set fee")
        self.fee_button.setObjectName("setFee")
        self.fee_button.clicked.connect(self.set_fee)
        self.fee_amount.textChanged.connect(self._check_fee)
        fee_row = QHBoxLayout()
        fee_row.addWidget(self.fee_type, 1)
        fee_row.addWidget(self.fee_amount, 1)
        fee_row.addWidget(self.fee_button)

        manage = ctx.session.can("payer.manage")
        portal = ctx.session.can("portal.configure")
        for widget in (self.name, self.plan_type, self.code, *self.numbers.values(),
                       self.new_button, self.save_button, self.fee_type, self.fee_amount,
                       self.fee_button):
            widget.setEnabled(manage)
        for widget in (self.recipe, self.recipe_button, self.recipe_file_button):
            widget.setEnabled(portal)
        # Only someone who may set the address has it checked: a biller cannot edit it,
        # so a stored address the check refuses must not stop them saving anything else.
        self.may_set_url = portal and manage
        self.portal_url.setEnabled(self.may_set_url)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(form)
        layout.addWidget(self.problems)
        layout.addLayout(payer_buttons)
        layout.addLayout(recipe_row)
        layout.addWidget(QLabel("Fee schedule (what this payer allows per visit type; "
                                "estimates use it)"))
        layout.addWidget(self.fees)
        layout.addLayout(fee_row)
        self.reload()

    # -- loading
    def reload(self) -> None:
        session = self.ctx.session

        def load() -> Any:
            folder = practice.get_setting(session, "recipes_dir")
            from app.services import eligibility
            return (patients.list_payers(session), installed_recipes(folder),
                    appointments.list_fees(session), sorted(eligibility.visit_types(session)))

        self.ctx.worker.run(load, done=self.show_payers, label="Loading payers", phi=False)

    def show_payers(self, data: tuple[list[Payer], list[str], list[Any], list[str]]) -> None:
        payers, recipes, fees, visit_types = data
        row = self.table.currentRow()
        self.payers, self.all_fees = payers, fees
        fill_table(self.table, [[p.name, p.plan_type.value,
                                 str(p.decision_days_standard or "by law"),
                                 p.portal_recipe or NO_RECIPE,
                                 "on" if p.portal_enabled else "off"] for p in payers])
        self.recipe.clear()
        self.recipe.addItems([NO_RECIPE, *recipes])
        self.fee_type.clear()
        self.fee_type.addItems(visit_types)
        if 0 <= row < len(payers):
            self._selected(row)

    def current(self) -> Payer | None:
        row = self.table.currentRow()
        return self.payers[row] if 0 <= row < len(self.payers) else None

    def _selected(self, row: int) -> None:
        p = self.payers[row] if 0 <= row < len(self.payers) else None
        if p is None:
            return
        self.name.setText(p.name)
        self.name.setReadOnly(True)
        self.plan_type.setCurrentText(p.plan_type.value)
        self.code.setText(p.payer_code)
        for key, edit in self.numbers.items():
            value = getattr(p, key)
            edit.setText("" if value is None else str(value))
        self.recipe.setCurrentText(p.portal_recipe or NO_RECIPE)
        self.portal_url.setText(p.portal_url)
        fill_table(self.fees, [[f.visit_type, f"${f.allowed_amount}"]
                               for f in getattr(self, "all_fees", []) if f.payer_id == p.id])
        self.validate()

    # -- the payer
    def new_payer(self) -> None:
        self.table.clearSelection()
        self.table.setCurrentCell(-1, -1)
        self.name.setReadOnly(False)
        for edit in (self.name, self.code, *self.numbers.values(), self.portal_url):
            edit.clear()
        self.name.setFocus()
        self.validate()

    def _values(self) -> dict[str, str]:
        values = {k: e.text().strip() for k, e in self.numbers.items()}
        if self.may_set_url:
            values["portal_url"] = self.portal_url.text().strip()
        if not self.name.isReadOnly():
            values["name"] = self.name.text().strip()
        return values

    def validate(self) -> bool:
        names = {p.name for p in self.payers} if not self.name.isReadOnly() else None
        found = payer_errors(self._values(), names)
        self.name.setStyleSheet(_INVALID if "name" in found else "")
        for key, edit in self.numbers.items():
            edit.setStyleSheet(_INVALID if key in found else "")
        self.portal_url.setStyleSheet(_INVALID if "portal_url" in found else "")
        self.problems.setText("\n".join(f"{k.replace('_', ' ')}: {m}"
                                        for k, m in found.items()))
        self.save_button.setEnabled(not found and self.ctx.session.can("payer.manage"))
        return not found

    def save(self) -> None:
        if not self.validate():
            return
        session = self.ctx.session
        numbers = {k: int(v) if v else None for k, v in
                   ((k, e.text().strip()) for k, e in self.numbers.items())}
        plan, code = self.plan_type.currentText(), self.code.text().strip()
        url = self.portal_url.text().strip() if self.may_set_url else ""
        current = self.current() if self.name.isReadOnly() else None
        if current is None:
            name = self.name.text().strip()
            n = numbers
            self.ctx.operate(lambda: patients.add_payer(
                session, name, plan, payer_code=code,
                decision_days_standard=n["decision_days_standard"],
                decision_hours_expedited=n["decision_hours_expedited"],
                appeal_window_days=n["appeal_window_days"],
                timely_filing_days=n["timely_filing_days"], portal_url=url),
                             done=lambda _p: self.reload(), label="Adding the payer",
                             changed=lambda _p: NOTHING)
        else:
            changes: dict[str, Any] = {k: v for k, v in numbers.items()
                                       if getattr(current, k) != v}
            if plan != current.plan_type.value:
                changes["plan_type"] = plan
            if code != current.payer_code:
                changes["payer_code"] = code
            if self.may_set_url and url != current.portal_url:
                changes["portal_url"] = url
            if not changes:
                return
            payer_id = current.id
            self.ctx.operate(lambda: patients.update_payer(session, payer_id, **changes),
                             done=lambda _p: self.reload(), label="Saving the payer",
                             changed=lambda _p: NOTHING)

    # -- the recipe
    def choose_recipe_file(self) -> str:
        """Ask for a recipe file (tests replace this). Empty means cancelled."""
        return ask_open_file(self, "Portal recipe", RECIPE_FILES)

    def pick_recipe_file(self) -> None:
        path = self.choose_recipe_file()
        if path:
            self.set_recipe(path)

    def set_recipe(self, recipe: str) -> None:
        current = self.current()
        if current is None:
            self.ctx.bridge.warning("Select a payer first.")
            return
        from automations.portal.install import set_payer_recipe
        session, payer_id = self.ctx.session, current.id
        name = "none" if recipe == NO_RECIPE else recipe

        def done(p: Payer) -> None:
            self.ctx.bridge.info(f"{p.name} uses recipe {p.portal_recipe or '(none)'}; test "
                                 "it, then turn the portal on in Portals.")
            self.reload()

        self.ctx.operate(lambda: set_payer_recipe(session, payer_id, name), done=done,
                         label="Setting the recipe", changed=lambda _p: NOTHING)

    # -- fees
    def _check_fee(self) -> None:
        text = self.fee_amount.text().strip()
        problem = amount_errors(text) if text else ""
        self.fee_amount.setStyleSheet(_INVALID if problem else "")
        self.fee_amount.setToolTip(problem)
        self.fee_button.setEnabled(not problem and self.ctx.session.can("payer.manage"))

    def set_fee(self) -> None:
        current = self.current()
        if current is None:
            self.ctx.bridge.warning("Select a payer first.")
            return
        session, payer_id = self.ctx.session, current.id
        visit_type = self.fee_type.currentText().strip()
        amount = self.fee_amount.text().strip() or "none"
        self.ctx.operate(lambda: appointments.set_fee(session, str(payer_id), visit_type,
                                                      amount),
                         done=lambda _f: self.reload(), label="Setting the fee",
                         changed=lambda _f: NOTHING)
