"""Referrals point at their source document: one file (a FHIR bundle of several
ServiceRequests, say) is stored once as a blob, and every referral read from it, and
every triage task made from it, refers to that one copy instead of holding its own."""

from typing import Any

VERSION = 23


def apply(conn: Any) -> None:
    conn.execute("ALTER TABLE referrals ADD COLUMN source_blob_id INTEGER REFERENCES blobs(id)")
    conn.execute("CREATE INDEX referrals_source_blob ON referrals(source_blob_id)")
