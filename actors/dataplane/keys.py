"""A data-plane server's credentials: its self-signed certificate (a new key each incarnation, the
private key never leaving the process) and the JWTs it signs for callers that asked over Ray."""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import ssl
import tempfile
import time
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from jobs.tasklink import pinned_context

AUDIENCE = "hub-dataplane"
ALGORITHM = "HS256"


class ServerKeys:
    """One server incarnation's credentials: a P-256 key and a self-signed certificate naming `host`
    (an IP address or a DNS name), valid for 10 years from 5 minutes ago (it is pinned by callers,
    never checked against a CA, and replaced with the process), and a random 256-bit token key."""

    def __init__(self, host: str) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hub data plane")])
        now = datetime.datetime.now(datetime.UTC)
        try:
            alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            alt = x509.DNSName(host)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256())
        )
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
        self._key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self._token_key = secrets.token_bytes(32)

    def files(self, directory: str | Path) -> tuple[Path, Path]:
        """Write the certificate and its private key (mode 0600) as PEM files cert.pem and key.pem in
        `directory`; returns (certificate path, key path)."""
        cert, key = Path(directory) / "cert.pem", Path(directory) / "key.pem"
        cert.write_text(self.cert_pem)
        key.touch(mode=0o600)
        key.write_bytes(self._key_pem)
        return cert, key

    def server_context(self) -> ssl.SSLContext:
        """A TLS 1.2+ server context with this certificate (the key is loaded from a private temporary
        file, removed at once: the ssl module loads keys only from files)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        with tempfile.TemporaryDirectory() as directory:
            context.load_cert_chain(*self.files(directory))
        return context

    def token(self, ttl: float, subject: str = "hub") -> str:
        """A JWT (HS256, audience `hub-dataplane`) this server accepts for `ttl` seconds."""
        now = int(time.time())
        claims = {"sub": subject, "aud": AUDIENCE, "iat": now, "exp": now + int(ttl)}
        return jwt.encode(claims, self._token_key, ALGORITHM)

    def accepts(self, token: str) -> bool:
        """Whether `token` is one of this server's and not expired (5 s of leeway)."""
        try:
            jwt.decode(token, self._token_key, algorithms=[ALGORITHM], audience=AUDIENCE, leeway=5)
        except jwt.InvalidTokenError:
            return False
        return True


# A TLS client context trusting exactly one pinned certificate (jobs.tasklink.pinned_context).
client_context = pinned_context
