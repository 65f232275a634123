"""TLS on Herald's own listeners (`herald serve` / `api` / `mtls-gateway` with `--tls-cert/--tls-key`).

One function builds the server context for every listener, so all of them offer the same versions:
TLS 1.2 at least (DESIGN.md: "TLS ≥ 1.2"), the certificate chain and key given by the operator.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from herald.config import ConfigError


@dataclass(frozen=True, slots=True)
class ServerTls:
    cert: str  # PEM: the certificate, then any intermediates
    key: str  # PEM: its private key


def server_tls(cert: str, key: str) -> ServerTls | None:
    """The listener's TLS files, or None for plain HTTP; ConfigError when only one is given or they do not
    load (checked before the server starts, so a typo never leaves a port open without TLS)."""
    if not cert and not key:
        return None
    if not cert or not key:
        missing = "HERALD_TLS_CERT (--tls-cert)" if not cert else "HERALD_TLS_KEY (--tls-key)"
        raise ConfigError(f"TLS needs both a certificate and a key: set {missing} too")
    for name, path in (("HERALD_TLS_CERT", cert), ("HERALD_TLS_KEY", key)):
        if not Path(path).is_file():
            raise ConfigError(f"{name}: no such file {path}")
    tls = ServerTls(cert, key)
    server_context(tls)  # raises ConfigError when the pair does not load
    return tls


def server_context(tls: ServerTls) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(tls.cert, tls.key)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot load the TLS certificate {tls.cert} with the key {tls.key}: {exc}"
        ) from exc
    return context


def scheme(tls: ServerTls | None) -> str:
    return "https" if tls is not None else "http"
