"""TLSOptions: how a RedisBackend checks the server's certificate and shows its own, for a
``rediss://`` URL; checked when the backend is constructed, so a missing or unreadable file
fails there and not at the first connect.

The same settings may come from the URL's query (redis-py's names ``ssl_ca_certs``,
``ssl_certfile``, ``ssl_keyfile``, ``ssl_cert_reqs``, ``ssl_check_hostname``), which is what the
worker CLI passes on; ``TLSOptions.merge_query`` reads them into one TLSOptions."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: redis-py's ``ssl_cert_reqs`` values.
CERT_REQS = ("required", "optional", "none")

#: URL query names -> TLSOptions field.
QUERY_NAMES = {
    "ssl_ca_certs": "ca_certs",
    "ssl_certfile": "certfile",
    "ssl_keyfile": "keyfile",
    "ssl_cert_reqs": "cert_reqs",
    "ssl_check_hostname": "check_hostname",
}

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True, slots=True)
class TLSOptions:
    """TLS settings of every connection a backend makes (a ``rediss://`` URL).

    - ``ca_certs``: PEM file of the CA(s) the server's certificate must chain to (None: the
      system's CAs).
    - ``certfile`` / ``keyfile``: this client's certificate and private key, for a server that
      asks for one (``tls-auth-clients yes``); ``keyfile`` None means the key is in ``certfile``.
    - ``check_hostname``: the certificate must name the URL's host (default True; needs
      ``cert_reqs="required"``).
    - ``cert_reqs``: ``"required"`` (default), ``"optional"`` or ``"none"`` (no check at all:
      only for experiments).
    """

    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    check_hostname: bool = True
    cert_reqs: str = "required"

    def __post_init__(self) -> None:
        for name in ("ca_certs", "certfile", "keyfile"):
            path = getattr(self, name)
            if path is None:
                continue
            if not isinstance(path, str) or not path:
                raise ValueError(f"TLSOptions.{name} must be a file path, got {path!r}")
            if not os.path.isfile(path):
                raise ValueError(f"TLSOptions.{name}: no such file {path!r}")
            if not os.access(path, os.R_OK):
                raise ValueError(f"TLSOptions.{name}: cannot read {path!r}")
        if self.keyfile is not None and self.certfile is None:
            raise ValueError(f"TLSOptions.keyfile {self.keyfile!r} needs a certfile")
        if self.cert_reqs not in CERT_REQS:
            raise ValueError(
                f"TLSOptions.cert_reqs must be one of {', '.join(CERT_REQS)}, "
                f"got {self.cert_reqs!r}"
            )
        if not isinstance(self.check_hostname, bool):
            raise ValueError(
                f"TLSOptions.check_hostname must be a bool, got {self.check_hostname!r}"
            )
        if self.check_hostname and self.cert_reqs != "required":
            raise ValueError(
                f"TLSOptions: check_hostname=True needs cert_reqs='required', got "
                f"{self.cert_reqs!r} (pass check_hostname=False)"
            )
        self._load()

    def _load(self) -> None:
        """Load the files into a throwaway context, so a file that is not a certificate or a
        key that does not match its certificate is reported now, naming the file."""
        context = ssl.create_default_context()
        if self.ca_certs is not None:
            try:
                context.load_verify_locations(cafile=self.ca_certs)
            except ssl.SSLError as exc:
                raise ValueError(
                    f"TLSOptions.ca_certs {self.ca_certs!r} holds no usable CA certificate: {exc}"
                ) from None
        if self.certfile is not None:
            try:
                context.load_cert_chain(self.certfile, self.keyfile)
            except ssl.SSLError as exc:
                raise ValueError(
                    f"TLSOptions: certfile {self.certfile!r} / keyfile "
                    f"{self.keyfile or self.certfile!r} are not a matching certificate and "
                    f"key: {exc}"
                ) from None

    def connection_kwargs(self) -> dict[str, Any]:
        """These settings as redis-py's SSLConnection keywords."""
        return {
            "ssl_ca_certs": self.ca_certs,
            "ssl_certfile": self.certfile,
            # redis-py loads a client certificate only when both files are given
            "ssl_keyfile": self.keyfile or self.certfile,
            "ssl_cert_reqs": self.cert_reqs,
            "ssl_check_hostname": self.check_hostname,
        }

    @classmethod
    def merge_query(cls, options: TLSOptions | None, query: Mapping[str, str]) -> TLSOptions | None:
        """``options``, or the TLSOptions made of the URL query's ``ssl_*`` settings (None
        when there are neither); both at once is a ValueError naming the query's."""
        given = {name: value for name, value in query.items() if name in QUERY_NAMES}
        if not given:
            return options
        if options is not None:
            raise ValueError(
                f"TLS settings are given both in the URL ({', '.join(sorted(given))}) and as "
                "tls=TLSOptions(...); give them one way"
            )
        values: dict[str, Any] = {QUERY_NAMES[name]: value for name, value in given.items()}
        if "check_hostname" in values:
            values["check_hostname"] = _flag("ssl_check_hostname", values["check_hostname"])
        elif values.get("cert_reqs", "required") != "required":
            values["check_hostname"] = False
        return cls(**values)


def _flag(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"URL query {name}={text!r} is not a boolean (true/false)")


__all__ = ["CERT_REQS", "QUERY_NAMES", "TLSOptions"]
