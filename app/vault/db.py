"""The SQLCipher vault: one encrypted database, opened with a raw 32-byte key.

Writes are serialized through one connection under one lock (SQLite allows one writer
anyway); `write()` is a transaction and nests as a no-op inside an outer one, so a
service and its audit row always commit or fail together.
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import sqlcipher3

from app.errors import InsecureVault, VaultCorrupt, VaultError, VaultNotFound
from app.vault.keys import KeyEnvelope, derive_subkey

log = logging.getLogger(__name__)

DB_NAME = "vault.db"
KEYS_NAME = "vault.keys"
MIN_KDF_ITER = 256000
CACHE_KIB = 65536
PLAINTEXT_HEADER = b"SQLite format 3\x00"

Connection = Any  # sqlcipher3.Connection has no type stubs


def db_path(directory: Path) -> Path:
    return Path(directory) / DB_NAME


def keys_path(directory: Path) -> Path:
    return Path(directory) / KEYS_NAME


def connect_raw(path: Path, key: bytes) -> Connection:
    """A keyed connection with OffHold's pragmas; the settings are checked, not trusted."""
    conn = sqlcipher3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
    try:
        # SQLCipher logs page errors to stderr ("ERROR CORE ..."); ours are one-line errors.
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        conn.execute("PRAGMA cipher_memory_security = ON")
        conn.execute("PRAGMA temp_store = MEMORY")
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlcipher3.DatabaseError as exc:
            raise VaultCorrupt(
                "the vault key does not open this database (wrong key file, or the file is damaged)"
            ) from exc
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise VaultError(f"could not switch the vault to WAL journaling (got {mode})")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        # Every page read past SQLite's cache is decrypted and HMAC-checked; a 64 MiB
        # cache keeps a small practice's working set decrypted in memory (measured in
        # bench/vault.py: the 2 MiB default made the workload ~4x plain SQLite).
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        check_cipher_settings(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def check_cipher_settings(conn: Connection) -> None:
    """Refuse to run on a build or database with weaker settings than we rely on."""

    def one(sql: str) -> str:
        row = conn.execute(sql).fetchone()
        return "" if row is None else str(row[0])

    problems = []
    if one("PRAGMA cipher_hmac_algorithm") != "HMAC_SHA512":
        problems.append("HMAC is not HMAC_SHA512")
    if one("PRAGMA cipher_kdf_algorithm") != "PBKDF2_HMAC_SHA512":
        problems.append("KDF is not PBKDF2_HMAC_SHA512")
    kdf_iter = one("PRAGMA kdf_iter")
    if not kdf_iter.isdigit() or int(kdf_iter) < MIN_KDF_ITER:
        problems.append(f"kdf_iter {kdf_iter} is below {MIN_KDF_ITER}")
    if one("PRAGMA temp_store") != "2":
        problems.append("temporary tables are not kept in memory")
    if one("PRAGMA cipher_memory_security") != "1":
        problems.append("cipher memory security is off")
    if not one("PRAGMA cipher_version"):
        problems.append("this SQLite build has no SQLCipher")
    if problems:
        raise InsecureVault("refusing to open the vault: " + "; ".join(problems))


class Vault:
    """An open vault. Holds the key in memory for as long as it is open."""

    def __init__(self, directory: Path, key: bytes, envelope: KeyEnvelope, conn: Connection):
        try:
            envelope.bind(key)  # a hand-edited key file is refused here
        except BaseException:
            conn.close()
            raise
        self.directory = Path(directory)
        self._key = bytearray(key)
        self.envelope = envelope
        self._conn = conn
        self._lock = threading.RLock()
        self._depth = 0
        self._writer: int | None = None  # the thread inside the open write transaction
        self._after: list[Callable[[], Any]] = []
        self.audit_key = derive_subkey(key, "offhold-audit")
        self.audit_head: tuple[int, str] | None = None  # cached (id, row_hash) of the last row
        # The owner signing key, only while an owner who unwrapped it is logged in.
        self._signing_key: bytearray | None = None
        # Repairs made at open (dropped audit triggers), for the faces to show.
        self.warnings: list[str] = []

    @property
    def signing_key(self) -> bytes | None:
        return None if self._signing_key is None else bytes(self._signing_key)

    def set_signing_key(self, signing_key: bytes | None) -> None:
        self._signing_key = None if signing_key is None else bytearray(signing_key)

    @property
    def key(self) -> bytes:
        return bytes(self._key)

    @property
    def is_demo(self) -> bool:
        return self.envelope.demo

    @property
    def path(self) -> Path:
        return db_path(self.directory)

    @property
    def in_transaction(self) -> bool:
        """True inside a write transaction opened by this thread."""
        return self._depth > 0 and self._writer == threading.get_ident()

    def after_transaction(self, job: Callable[[], Any]) -> None:
        """Run `job` once the current write transaction has ended, committed or rolled
        back (a refusal must be recorded even when the work it refused rolls back)."""
        self._after.append(job)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (BEGIN IMMEDIATE). Nested calls join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            head = self.audit_head
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            self._writer = threading.get_ident()
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                self.audit_head = head  # the rows behind the cached head were rolled back
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0
                self._writer = None
                jobs, self._after = self._after, []
                for job in jobs:
                    job()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._lock:
            yield self._conn

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[Any]:
        with self.read() as conn:
            return list(conn.execute(sql, params).fetchall())

    def query_one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> Any:
        with self.read() as conn:
            return conn.execute(sql, params).fetchone()

    def integrity_problems(self) -> list[str]:
        """The full check (every page's HMAC, then SQLite's), on connections of its own so
        a damaged page cannot poison this one; empty means healthy."""
        with self.read() as conn:
            main = conn.execute("PRAGMA database_list").fetchone()
        return integrity_check(Path(str(main[2])), self.key)

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            finally:
                for i in range(len(self._key)):
                    self._key[i] = 0
                if self._signing_key is not None:
                    for i in range(len(self._signing_key)):
                        self._signing_key[i] = 0
                    self._signing_key = None


def _probe(path: Path, key: bytes) -> Connection:
    conn = sqlcipher3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
    conn.execute("PRAGMA cipher_log_level = NONE")
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    conn.execute("PRAGMA temp_store = MEMORY")
    return conn


def integrity_check(path: Path, key: bytes, limit: int = 5) -> list[str]:
    """cipher_integrity_check (names the page) and integrity_check; when they fail, each
    table is checked on a fresh connection (an error is sticky on its connection) to name
    the damaged tables. Empty means healthy."""
    problems: list[str] = []
    conn = _probe(path, key)
    try:
        try:
            problems += [str(r[0]) for r in conn.execute("PRAGMA cipher_integrity_check")]
            rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
            if rows != ["ok"]:
                problems += rows
        except sqlcipher3.DatabaseError as exc:
            problems.append(str(exc))
        if not problems:
            return []
        tables: list[str] = []
        fresh = _probe(path, key)
        try:
            tables = [str(r[0]) for r in fresh.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")]
        except sqlcipher3.DatabaseError:
            problems.append("the schema page is damaged")
        finally:
            fresh.close()
    finally:
        conn.close()
    for table in tables:
        probe = _probe(path, key)
        try:
            name = table.replace('"', '""')
            rows = [str(r[0]) for r in probe.execute(f'PRAGMA integrity_check("{name}")')]
            if rows != ["ok"]:
                problems.append(f"table {table}: {rows[0]}")
        except sqlcipher3.DatabaseError:
            problems.append(f"table {table} is damaged")
        finally:
            probe.close()
    return problems[:limit] + ([f"and {len(problems) - limit} more"] if len(problems) > limit
                               else [])


def ensure_vault_file(directory: Path) -> Path:
    """The vault file, if it is there and could be a vault. An empty or unreadable file is
    an error naming the restore command, never a cue to create a new, empty vault."""
    path = db_path(directory)
    if not path.exists():
        raise VaultNotFound(f"no vault at {directory} (run 'offhold init' first)")
    restore = f"restore it with 'offhold restore BACKUP --vault {directory} --replace'"
    try:
        with open(path, "rb") as fh:
            header = fh.read(16)
    except OSError as exc:
        raise VaultCorrupt(f"cannot read {path} ({exc.strerror}); {restore}") from exc
    if len(header) < 16:
        raise VaultCorrupt(f"{path} is empty or truncated ({path.stat().st_size} bytes); "
                           f"{restore}")
    if header == PLAINTEXT_HEADER:
        raise InsecureVault(f"{path} is an unencrypted SQLite file; refusing to use it")
    return path


def make_private(path: Path) -> None:
    """Owner-only permissions (0600 files, 0700 directories): these may hold PHI."""
    try:
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
    except OSError:
        pass  # e.g. a file system without POSIX modes; the data is encrypted anyway
