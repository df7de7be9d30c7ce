"""The encrypted vault: SQLCipher database, key envelope, schema steps, backups."""

from app.vault.db import Connection, Vault, connect_raw, db_path, keys_path

__all__ = ["Connection", "Vault", "connect_raw", "db_path", "keys_path"]
