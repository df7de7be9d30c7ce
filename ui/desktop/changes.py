"""The desktop's one change signal (in the spirit of Anki's operations): an operation run
through `AppContext.operate` announces what it changed, and every open page refreshes
only what that touches. The main window's slow poll announces `EVERYTHING` when another
process (`offhold run`, a second workstation) changed the vault."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.queue.changes import Changes


class ChangeHub(QObject):
    # (Changes, the page that made them or None): that page has already refreshed itself.
    changed = Signal(object, object)

    def announce(self, changes: Changes, source: object = None) -> None:
        if not changes.empty:
            self.changed.emit(changes, source)
