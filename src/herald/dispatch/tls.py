"""TLS for deliveries: verified contexts (system CAs plus HERALD_CA_BUNDLE, or a mapping's own CA bundle),
TLS 1.2 at least, and per-mapping client certificates (mTLS).

`MappingCache` keeps every mapping in memory and reloads them all every `refresh` seconds (LivePerson's
sender checks every 2½ minutes); the process that changed a mapping calls `invalidate` and sees it at once.
`TlsContexts` builds one `ssl.SSLContext` per mapping version and keeps it: aiohttp pools connections per
(host, port, ssl context), so connections made with different certificates never mix.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import tempfile
import time
from pathlib import Path

from herald.domain.models import ClientIdentity
from herald.store import mtls as store
from herald.store.database import Database
from herald.store.mtls import Mapping
from herald.store.secretbox import SecretBox

log = logging.getLogger("herald.tls")


def verified_context(extra_ca_file: str = "", ca_bundle: str | None = None) -> ssl.SSLContext:
    """Verify the server: against `ca_bundle` (PEM text) when given, else the system CAs plus the extra
    file. TLS 1.2 is the oldest version offered."""
    ctx = ssl.create_default_context(cadata=ca_bundle) if ca_bundle else ssl.create_default_context()
    if extra_ca_file and not ca_bundle:
        ctx.load_verify_locations(cafile=extra_ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def load_client_certificate(ctx: ssl.SSLContext, certificate: str, private_key: str) -> None:
    """`load_cert_chain` reads files only: write the PEMs to a private directory (0700, files 0600),
    load them, and remove them at once."""
    with tempfile.TemporaryDirectory(prefix="herald-mtls-") as tmp:
        paths = []
        for name, text in (("cert.pem", certificate), ("key.pem", private_key)):
            path = Path(tmp) / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(text)
            paths.append(str(path))
        ctx.load_cert_chain(paths[0], paths[1])


def identity_of(mapping: Mapping) -> ClientIdentity:
    """A mapping's material for PEM-taking transports; its key changes with every new version."""
    return ClientIdentity(
        f"{mapping.id}@{mapping.updated_at!r}", mapping.certificate, mapping.private_key, mapping.ca_bundle
    )


class TlsContexts:
    def __init__(self, extra_ca_file: str = "") -> None:
        self.extra_ca_file = extra_ca_file
        self._default: ssl.SSLContext | None = None
        self._by_mapping: dict[str, tuple[float, ssl.SSLContext]] = {}

    def default(self) -> ssl.SSLContext:
        if self._default is None:
            self._default = verified_context(self.extra_ca_file)
        return self._default

    def for_mapping(self, mapping: Mapping) -> ssl.SSLContext:
        """Raises ssl.SSLError / ValueError / OSError when the material cannot be used."""
        cached = self._by_mapping.get(mapping.id)
        if cached is not None and cached[0] == mapping.updated_at:
            return cached[1]
        if mapping.not_after <= time.time():
            raise ValueError("the mapped client certificate has expired")
        ctx = verified_context(self.extra_ca_file, mapping.ca_bundle)
        load_client_certificate(ctx, mapping.certificate, mapping.private_key)
        self._by_mapping[mapping.id] = (mapping.updated_at, ctx)
        return ctx

    def forget_except(self, ids: set[str]) -> None:
        for gone in set(self._by_mapping) - ids:
            del self._by_mapping[gone]


class MappingCache:
    def __init__(self, db: Database, box: SecretBox, refresh: float = 150.0) -> None:
        self.db = db
        self.box = box
        self.refresh = refresh
        self._mappings: dict[tuple[str, str, str], Mapping] = {}
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._loaded_at = None

    def _stale(self) -> bool:
        return self._loaded_at is None or time.monotonic() - self._loaded_at > self.refresh

    async def get(self, account_id: str, service: str, url: str) -> Mapping | None:
        if self._stale():
            async with self._lock:
                if self._stale():
                    await self._reload()
        return self._mappings.get((account_id, service, url))

    async def _reload(self) -> None:
        started = time.monotonic()
        mappings = await store.load_all(self.db, self.box)
        self._mappings = {(m.account_id, m.service, m.url): m for m in mappings}
        self._loaded_at = started

    def ids(self) -> set[str]:
        return {m.id for m in self._mappings.values()}
