"""Each remitted claim records whether its denial is the claim's or only some lines'
(app.denials.view.denial_scope): a claim with a denied line and paid lines is a
line-level denial, not a denied claim (reports count them apart)."""

from typing import Any

VERSION = 17


def apply(conn: Any) -> None:
    # '' for no denial; rows stored before this step read as claim-level when denied.
    conn.execute("ALTER TABLE remit_claims ADD COLUMN denial_scope TEXT NOT NULL DEFAULT ''")
    conn.execute("UPDATE remit_claims SET denial_scope = 'claim' WHERE is_denial = 1")
