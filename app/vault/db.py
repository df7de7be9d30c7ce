"""The SQLCipher vault: one encrypted database, opened with a raw 32-byte key.

Writes are serialized through one writer connection under one lock (SQLite allows one
writer anyway); `write()` is a transaction and nests as a no-op inside an outer one, so a
service and its audit row always commit or fail together. Reads outside a write run on
pooled read-only connections: WAL gives each one the last committed snapshot, so a page
loads while an 835 import holds the writer.
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
STATEMENT_CACHE = 1024
PLAINTEXT_HEADER = b"SQLite format 3\x00"

Connection = Any  # sqlcipher3.Connection has no type stubs


def db_path(directory: Path) -> Path:
    return Path(directory) / DB_NAME


def keys_path(directory: Path) -> Path:
    return Path(directory) / KEYS_NAME


def connect_raw(path: Path, key: bytes, *, readonly: bool = False) -> Connection:
    """A keyed connection with OffHold's pragmas; the settings are checked, not trusted.
    `readonly` connections refuse writes (`query_only`): only the writer may change the
    vault, so no write can slip past its lock."""
    # sqlcipher3's statement cache is not the stdlib's LRU: once full (default 100:
    # migrations, pragmas, queue filters fill it), a statement that arrives later is parsed
    # again on every call (103 us instead of 2 us a call; the vault bench's task writes ran
    # ~2.5x slower). The app has ~500 call sites; readers share the size.
    conn = sqlcipher3.connect(str(path), check_same_thread=False, isolation_level=None,
                              timeout=30, cached_statements=STATEMENT_CACHE)
    try:
        # SQLCipher logs page errors to stderr ("ERROR CORE ..."); ours are one-line errors.
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        # Off, as SQLCipher's own default since 4.5.0 (issue 11): it wraps every allocation
        # of the process (zeroing, mlock); bench/vault.py read 5.3-6.1x plain SQLite with it on,
        # ~1.2x off. The key material we hold is wiped by Vault.close(), and pages in
        # SQLite's cache are plaintext either way.
        conn.execute("PRAGMA cipher_memory_security = OFF")
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
        if readonly:
            conn.execute("PRAGMA query_only = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def check_cipher_settings(conn: Connection) -> None:
    """Refuse to run on a build or database with weaker settings than we rely on.
    `cipher_memory_security` is deliberately not required (see connect_raw)."""

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
    if not one("PRAGMA cipher_version"):
        problems.append("this SQLite build has no SQLCipher")
    if problems:
        raise InsecureVault("refusing to open the vault: " + "; ".join(problems))


MAX_IDLE_READERS = 4  # the GUI thread, the worker, the scheduler and one spare


def _main_file(conn: Connection) -> Path:
    """The file behind a connection (a backup or scratch copy need not be vault.db)."""
    for row in conn.execute("PRAGMA database_list").fetchall():
        if row[1] == "main":
            return Path(str(row[2]))
    raise VaultError("the vault connection has no main database")


class Vault:
    """An open vault. Holds the key in memory for as long as it is open.

    `conn` is the writer; read connections come from `reader` (by default keyed,
    read-only connections to the writer's file), opened on demand and pooled."""

    def __init__(self, directory: Path, key: bytes, envelope: KeyEnvelope, conn: Connection,
                 reader: Callable[[], Connection] | None = None):
        try:
            envelope.bind(key)  # a hand-edited key file is refused here
            path = _main_file(conn) if reader is None else Path()
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
        self._open_reader = reader or (lambda: connect_raw(path, self.key, readonly=True))
        self._pool_lock = threading.Lock()
        self._idle: list[Connection] = []
        self._local = threading.local()  # this thread's reader, so nested reads share it
        self._closed = False
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
        """A read-only connection on one snapshot (what was committed when it began).

        Inside this thread's write transaction it is the writer, so the transaction sees
        its own changes; a nested read shares the outer one's connection."""
        with self._reader(snapshot=True) as conn:
            yield conn

    @contextmanager
    def _reader(self, snapshot: bool) -> Iterator[Connection]:
        held = getattr(self._local, "conn", None)
        if self.in_transaction or self._closed:
            yield self._conn  # when closed, it raises as it always did
            return
        if held is not None:
            yield held
            return
        conn = self._checkout()
        self._local.conn = conn
        healthy = False
        try:
            if snapshot:
                conn.execute("BEGIN")
            yield conn
            healthy = True
        except sqlcipher3.DatabaseError:
            raise  # an error can be sticky on its connection: this one is not reused
        except BaseException:
            healthy = True
            raise
        finally:
            self._local.conn = None
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")  # read-only: nothing to keep
            except Exception:
                healthy = False
            self._checkin(conn, healthy)

    def _checkout(self) -> Connection:
        with self._pool_lock:
            conn = self._idle.pop() if self._idle else None
        return self._open_reader() if conn is None else conn

    def _checkin(self, conn: Connection, healthy: bool) -> None:
        with self._pool_lock:
            if healthy and not self._closed and len(self._idle) < MAX_IDLE_READERS:
                self._idle.append(conn)
                return
        conn.close()

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[Any]:
        # One statement is its own snapshot: no BEGIN/ROLLBACK round trip.
        with self._reader(snapshot=False) as conn:
            return list(conn.execute(sql, params).fetchall())

    def query_one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> Any:
        with self._reader(snapshot=False) as conn:
            return conn.execute(sql, params).fetchone()

    def integrity_problems(self) -> list[str]:
        """The full check (every page's HMAC, then SQLite's), on connections of its own so
        a damaged page cannot poison this one; empty means healthy."""
        with self.read() as conn:
            main = conn.execute("PRAGMA database_list").fetchone()
        return integrity_check(Path(str(main[2])), self.key)

    def close(self) -> None:
        with self._lock:
            with self._pool_lock:
                self._closed = True
                idle, self._idle = self._idle, []
            try:
                for reader in idle:  # readers still handed out close when returned
                    reader.close()
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
