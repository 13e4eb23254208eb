"""A throwaway TLS ``redis-server`` for tests: certificates made with the ``openssl`` command
(a CA, a server certificate for 127.0.0.1 and a client certificate, in a temporary
directory), and a server that listens only on a TLS port and checks client certificates.
Nothing here imports the ``redis`` client package."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
from dataclasses import dataclass

from lanecore.redis.testing import RedisServer, RedisServerUnavailable

_SERVER_EXT = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""

_CLIENT_EXT = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


@dataclass(frozen=True, slots=True)
class Certificates:
    """PEM files: the CA, the server's certificate and key, and a client's."""

    directory: str
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


def find_openssl() -> str | None:
    """The ``openssl`` command on PATH, or None."""
    return shutil.which("openssl")


def make_certificates(directory: str) -> Certificates:
    """A fresh CA (valid 2 days) and a server and a client certificate it signed, in
    ``directory`` (RedisServerUnavailable when there is no openssl)."""
    openssl = find_openssl()
    if openssl is None:
        raise RedisServerUnavailable("no openssl on PATH (install Debian's openssl)")

    def path(name: str) -> str:
        return os.path.join(directory, name)

    def run(*args: str) -> None:
        done = subprocess.run([openssl, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RedisServerUnavailable(f"openssl {args[0]} failed: {done.stderr.strip()}")

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    run(
        "req", "-x509", *ec, "-days", "2", "-subj", "/CN=lanecore test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", path("ca.key"), "-out", path("ca.crt"),
    )  # fmt: skip
    for name, subject, ext in (
        ("server", "/CN=127.0.0.1", _SERVER_EXT),
        ("client", "/CN=lanecore test client", _CLIENT_EXT),
    ):
        with open(path(f"{name}.ext"), "w", encoding="ascii") as f:
            f.write(ext)
        run("req", "-new", *ec, "-subj", subject,
            "-keyout", path(f"{name}.key"), "-out", path(f"{name}.csr"))  # fmt: skip
        run(
            "x509", "-req", "-in", path(f"{name}.csr"), "-days", "2",
            "-CA", path("ca.crt"), "-CAkey", path("ca.key"), "-CAcreateserial",
            "-extfile", path(f"{name}.ext"), "-out", path(f"{name}.crt"),
        )  # fmt: skip
    return Certificates(
        directory,
        path("ca.crt"),
        path("server.crt"),
        path("server.key"),
        path("client.crt"),
        path("client.key"),
    )


class TLSRedisServer(RedisServer):
    """A RedisServer reachable only over TLS (``url`` is ``rediss://``), with certificates it
    makes itself (``certificates``); ``client_certs``: "yes" (clients must show a certificate
    signed by the CA), "optional" or "no"."""

    def __init__(self, *, client_certs: str = "yes", appendonly: bool = False) -> None:
        if client_certs not in ("yes", "optional", "no"):
            raise ValueError(f"client_certs must be yes, optional or no, got {client_certs!r}")
        super().__init__(appendonly=appendonly)
        self.client_certs = client_certs
        self._certs_dir = tempfile.mkdtemp(prefix="lanecore-tls-")
        try:
            self.certificates = make_certificates(self._certs_dir)
        except BaseException:
            shutil.rmtree(self._certs_dir, ignore_errors=True)
            super().close()
            raise
        self.url = f"rediss://127.0.0.1:{self.port}/0"

    def listen_args(self) -> list[str]:
        certs = self.certificates
        return [
            "--port", "0",
            "--tls-port", str(self.port),
            "--tls-cert-file", certs.server_cert,
            "--tls-key-file", certs.server_key,
            "--tls-ca-cert-file", certs.ca,
            "--tls-auth-clients", self.client_certs,
        ]  # fmt: skip

    def wrap(self, sock: socket.socket) -> socket.socket:
        certs = self.certificates
        context = ssl.create_default_context(cafile=certs.ca)
        context.load_cert_chain(certs.client_cert, certs.client_key)
        return context.wrap_socket(sock, server_hostname="127.0.0.1")

    def close(self) -> None:
        super().close()
        shutil.rmtree(self._certs_dir, ignore_errors=True)


__all__ = ["Certificates", "TLSRedisServer", "find_openssl", "make_certificates"]
