"""A test CA (trustme) and a server certificate for 127.0.0.1 / localhost, written to PEM files, for
Herald's own listeners (`--tls-cert/--tls-key`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsFiles:
    cert: str
    key: str
    ca: str

    def env(self) -> dict[str, str]:
        return {"HERALD_TLS_CERT": self.cert, "HERALD_TLS_KEY": self.key}


def make_tls(directory: Path) -> TlsFiles:
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(str(directory / "server.pem"), str(directory / "server.key"), str(directory / "ca.pem"))
    # The chain: the leaf first, then any intermediates (trustme issues none).
    Path(files.cert).write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    server.private_key_pem.write_to_path(files.key)
    ca.cert_pem.write_to_path(files.ca)
    return files
