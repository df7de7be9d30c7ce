"""The watched import folder, every few minutes (automations.workflows.watched_folder)."""

from __future__ import annotations

from app.identity import Session
from automations.jobs.runtime import running
from automations.workflows.watched_folder import SYSTEM_ACTOR, run_watched_folder

WATCHED_FOLDER_ID = "import-watch"
WATCHED_FOLDER_MINUTES = 5


def watched_folder() -> None:
    with running() as rt:
        run_watched_folder(Session.system(rt.vault, SYSTEM_ACTOR))
