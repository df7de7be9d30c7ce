"""A real SMTP server on loopback (aiosmtpd) that requires STARTTLS, with certificates
the tests create: a CA the client trusts, a server certificate it signed, and a rogue
self-signed one that must fail verification."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: Any, issuer: str, issuer_key: Any, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: Any) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass
class Certs:
    ca_file: Path
    server_cert: Path
    server_key: Path
    rogue_cert: Path
    rogue_key: Path


def make_certs(folder: Path) -> Certs:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("OffHold Test CA", ca_key, "OffHold Test CA", ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    server = _cert("localhost", key, "OffHold Test CA", ca_key, ca=False)
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue = _cert("localhost", rogue_key, "localhost", rogue_key, ca=False)
    files = Certs(folder / "ca.pem", folder / "server.pem", folder / "server.key",
                  folder / "rogue.pem", folder / "rogue.key")
    files.ca_file.write_bytes(_pem(ca))
    files.server_cert.write_bytes(_pem(server))
    files.server_key.write_bytes(_key_pem(key))
    files.rogue_cert.write_bytes(_pem(rogue))
    files.rogue_key.write_bytes(_key_pem(rogue_key))
    return files


@dataclass
class Inbox:
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StartTlsServer:
    """An SMTP server requiring STARTTLS with the given certificate, on 127.0.0.1."""

    def __init__(self, cert: Path, key: Path) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port,
                                     tls_context=context, require_starttls=True)

    def __enter__(self) -> StartTlsServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
