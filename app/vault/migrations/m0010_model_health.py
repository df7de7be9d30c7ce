"""The model runtime's self-test verdicts: one per model file (SHA-256) and runtime (the
llama.cpp build and the processor it runs on). A slow or broken verdict keeps the model
away from drafts until the owner re-tests it."""

from typing import Any

VERSION = 10

SQL = """
CREATE TABLE model_health (
    model_sha256 TEXT NOT NULL,
    runtime_id TEXT NOT NULL,
    health TEXT NOT NULL CHECK (health IN ('healthy','slow','broken')),
    reason TEXT NOT NULL,
    tokens_per_s REAL NOT NULL DEFAULT 0,
    tested_at TEXT NOT NULL,
    tested_by TEXT NOT NULL,
    task_id INTEGER REFERENCES tasks(id),
    PRIMARY KEY (model_sha256, runtime_id)
);
"""


def apply(conn: Any) -> None:
    for statement in SQL.strip().split(";"):
        if statement.strip():
            conn.execute(statement)
