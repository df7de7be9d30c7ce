"""Files the user asked to have on disk that may hold PHI or a vault secret (a recovery
key PDF, an audit export, a portal page): created owner-only before any byte is written,
and an existing file narrowed too (it keeps its old mode through O_CREAT). No Qt here: the
CLI commands and the desktop both use it."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path | str, data: bytes) -> Path:
    """Write `data` to `path` readable by its owner only; returns the path."""
    from app.vault.db import make_private
    target = Path(path)
    if target.exists():
        make_private(target)  # before the new bytes go in
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    make_private(target)
    return target
