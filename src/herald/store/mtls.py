"""mTLS certificate mappings, keyed like LivePerson's: (account, service, exact endpoint URL) → client
certificate + private key (encrypted at rest) + optional CA bundle. One mapping per triplet."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from herald.domain.certificates import inspect_material
from herald.ids import new_id
from herald.store.database import Database
from herald.store.errors import Conflict, NotFound
from herald.store.pagination import page, split_page
from herald.store.secretbox import SecretBox
from herald.store.tables import mtls_mappings

_PUBLIC = [c for c in mtls_mappings.c if c.name != "private_key"]


@dataclass(frozen=True, slots=True)
class MappingIn:
    service: str
    url: str
    certificate: str
    private_key: str
    ca_bundle: str | None
    allow_plain_fallback: bool


@dataclass(frozen=True, slots=True)
class Mapping:
    """What a sender needs: the material decrypted."""

    id: str
    account_id: str
    service: str
    url: str
    certificate: str
    private_key: str
    ca_bundle: str | None
    allow_plain_fallback: bool
    not_after: float
    updated_at: float


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "private_key"}
    try:
        out["subject"] = x509.load_pem_x509_certificate(row["certificate"].encode()).subject.rfc4514_string()
    except ValueError:  # pragma: no cover - checked at upload
        out["subject"] = None
    return out


def _values(box: SecretBox, given: MappingIn) -> dict[str, Any]:
    info = inspect_material(given.certificate, given.private_key, given.ca_bundle)
    return {
        "service": given.service,
        "url": given.url,
        "certificate": given.certificate,
        "private_key": box.encrypt(given.private_key),
        "ca_bundle": given.ca_bundle,
        "allow_plain_fallback": given.allow_plain_fallback,
        "fingerprint": info.fingerprint,
        "not_after": info.not_after,
    }


def _taken(account_id: str, given: MappingIn) -> Conflict:
    return Conflict(
        f"a mapping for ({account_id}, {given.service}, {given.url}) already exists; replace it instead",
        field="url",
    )


async def _clash(conn: Any, account_id: str, given: MappingIn, except_id: str | None = None) -> bool:
    query = select(mtls_mappings.c.id).where(
        mtls_mappings.c.account_id == account_id,
        mtls_mappings.c.service == given.service,
        mtls_mappings.c.url == given.url,
    )
    if except_id is not None:
        query = query.where(mtls_mappings.c.id != except_id)
    return (await conn.scalar(query)) is not None


async def create_mapping(db: Database, box: SecretBox, account_id: str, given: MappingIn) -> dict[str, Any]:
    """Raises CertificateProblem for bad material, Conflict when the triplet is already mapped."""
    now = time.time()
    row = {"id": new_id("mtls"), "account_id": account_id, **_values(box, given)}
    row.update(created_at=now, updated_at=now)
    try:
        async with db.write() as conn:
            if await _clash(conn, account_id, given):
                raise _taken(account_id, given)
            await conn.execute(insert(mtls_mappings), row)
    except IntegrityError:
        raise _taken(account_id, given) from None
    return _public(row)


async def get_mapping(db: Database, account_id: str, mapping_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        row = (
            (
                await conn.execute(
                    select(*_PUBLIC).where(
                        mtls_mappings.c.account_id == account_id, mtls_mappings.c.id == mapping_id
                    )
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"mTLS mapping {mapping_id} not found", field="mapping_id")
    return _public(dict(row))


async def list_mappings(
    db: Database, account_id: str, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    query = page(
        select(*_PUBLIC).where(mtls_mappings.c.account_id == account_id),
        mtls_mappings.c.created_at,
        mtls_mappings.c.id,
        limit,
        cursor,
    )
    async with db.read() as conn:
        rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    data, next_cursor = split_page(rows, limit)
    return [_public(r) for r in data], next_cursor


async def replace_mapping(
    db: Database, box: SecretBox, account_id: str, mapping_id: str, given: MappingIn
) -> dict[str, Any]:
    values = {**_values(box, given), "updated_at": time.time()}
    try:
        async with db.write() as conn:
            if await _clash(conn, account_id, given, except_id=mapping_id):
                raise _taken(account_id, given)
            result = await conn.execute(
                update(mtls_mappings)
                .where(mtls_mappings.c.account_id == account_id, mtls_mappings.c.id == mapping_id)
                .values(**values)
            )
            if result.rowcount == 0:
                raise NotFound(f"mTLS mapping {mapping_id} not found", field="mapping_id")
    except IntegrityError:
        raise _taken(account_id, given) from None
    return await get_mapping(db, account_id, mapping_id)


async def delete_mapping(db: Database, account_id: str, mapping_id: str) -> None:
    async with db.write() as conn:
        result = await conn.execute(
            delete(mtls_mappings).where(
                mtls_mappings.c.account_id == account_id, mtls_mappings.c.id == mapping_id
            )
        )
        if result.rowcount == 0:
            raise NotFound(f"mTLS mapping {mapping_id} not found", field="mapping_id")


async def mapped_urls(db: Database, service: str, account_id: str | None, urls: Iterable[str]) -> set[str]:
    """Which of `urls` have a mapping for the account (any account when None: application subscriptions
    fire for every account they are installed in)."""
    wanted = list(set(urls))
    if not wanted:
        return set()
    query = select(mtls_mappings.c.url).where(
        mtls_mappings.c.service == service, mtls_mappings.c.url.in_(wanted)
    )
    if account_id is not None:
        query = query.where(mtls_mappings.c.account_id == account_id)
    async with db.read() as conn:
        return set((await conn.scalars(query)).all())


async def load_all(db: Database, box: SecretBox) -> list[Mapping]:
    """Every mapping, decrypted: the sender's periodic refresh."""
    async with db.read() as conn:
        rows = (await conn.execute(select(mtls_mappings))).mappings().all()
    return [
        Mapping(
            id=r["id"],
            account_id=r["account_id"],
            service=r["service"],
            url=r["url"],
            certificate=r["certificate"],
            private_key=box.decrypt(r["private_key"]),
            ca_bundle=r["ca_bundle"],
            allow_plain_fallback=r["allow_plain_fallback"],
            not_after=r["not_after"],
            updated_at=r["updated_at"],
        )
        for r in rows
    ]
