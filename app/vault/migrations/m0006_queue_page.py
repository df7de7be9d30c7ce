"""Queue pages in the desktop app's order (priority, then due time, no-due last) read
the first rows straight off an index instead of sorting every open task: the page cost
stays flat as the tasks table grows (bench/queue_page.py, 100k vs 1k tasks). State and kind
ride along in the index so the filter needs no table lookups."""

from typing import Any

VERSION = 6

SQL = """
CREATE INDEX tasks_page ON tasks(priority, (due_at IS NULL), due_at, id, state, kind);
"""


def apply(conn: Any) -> None:
    for statement in SQL.strip().split(";"):
        if statement.strip():
            conn.execute(statement)
