"""A real IMAP server on loopback for the replies tests: Dovecot (Debian's dovecot-imapd,
installed by installer/bootstrap.sh) started with its own configuration in a private
folder, STARTTLS required with the test CA's certificate, one mailbox user.

As root (CI), Dovecot's login and mail processes run as its own unprivileged users, so
the folder is traversable and the mailbox belongs to `dovecot`; as any other user, every
process runs as that user."""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

from tests.unit.smtp_server import Certs, free_port

USER, PASSWORD = "frontdesk", "imap-pass-1"


def dovecot() -> str | None:
    return shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)


class DovecotServer:
    """`with DovecotServer(certs) as server:` a running server on 127.0.0.1:server.port."""

    def __init__(self, certs: Certs) -> None:
        self.certs = certs
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="offhold-imap-"))
        self.proc: subprocess.Popen[bytes] | None = None

    def _config(self) -> str:
        root, me = self.root, pwd.getpwuid(os.getuid()).pw_name
        if os.getuid() == 0:
            internal, login = "dovecot", "dovenull"
            uid, gid = pwd.getpwnam("dovecot").pw_uid, grp.getgrnam("dovecot").gr_gid
            root.chmod(0o755)
        else:
            internal = login = me
            uid, gid = os.getuid(), os.getgid()
        home = root / "home" / USER
        home.mkdir(parents=True)
        for path in (home.parent, home):
            os.chown(path, uid, gid)
        users = root / "users"
        users.write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        users.chmod(0o644)
        return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{self.certs.server_cert}
ssl_key = <{self.certs.server_key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain
default_internal_user = {internal}
default_internal_group = {internal}
default_login_user = {login}
first_valid_uid = {min(uid, 100)}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""

    def __enter__(self) -> DovecotServer:
        binary = dovecot()
        if binary is None:
            raise RuntimeError("dovecot is not installed (installer/bootstrap.sh installs "
                               "dovecot-imapd)")
        conf = self.root / "dovecot.conf"
        conf.write_text(self._config())
        self.proc = subprocess.Popen([binary, "-F", "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("dovecot did not start: " + self.log()[-500:])

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)

    def deliver(self, message: bytes, folder: str = "INBOX") -> None:
        """Put a message in the mailbox over IMAP (APPEND), as a mail system would."""
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        try:
            client.starttls(ssl_context=ssl.create_default_context(
                cafile=str(self.certs.ca_file)))
            client.login(USER, PASSWORD)
            client.append(folder, None, None, message)
        finally:
            client.logout()
