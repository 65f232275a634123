"""Credentials in the store, on SQLite and PostgreSQL: secrets shown once, encrypted at rest, masked after,
rotated with a grace period, and refused deletion while in use."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import update

from herald.domain.credentials import Scheme
from herald.store import credentials as store
from herald.store.database import Database
from herald.store.errors import Conflict, NotFound
from herald.store.secretbox import SecretBox
from herald.store.subscriptions import load_endpoints
from herald.store.tables import credentials, subscriptions

if TYPE_CHECKING:
    from conftest import Kit


async def test_lp_signature_generates_client_id_and_key_shown_once(
    db: Database, box: SecretBox, kit: Kit
) -> None:
    created = await store.create_credential(
        db, box, "a1", "lp", Scheme.LP_SIGNATURE, {"algorithm": "sha512", "encoding": "hex"}, "ignored"
    )
    assert created["secret_shown"] and created["secret"] != "ignored" and len(created["secret"]) >= 32
    assert len(created["client_id"]) == 32
    row = await kit.one(credentials, credentials.c.id == created["id"])
    assert created["secret"] not in row["secret"]  # encrypted at rest
    assert box.decrypt(row["secret"]) == created["secret"]
    again = await store.get_credential(db, box, "a1", created["id"])
    assert not again["secret_shown"] and again["secret"].startswith("…")
    assert created["secret"] not in str(again)
    assert (again["algorithm"], again["encoding"]) == ("sha512", "hex")


async def test_other_accounts_cannot_see_or_delete(db: Database, box: SecretBox) -> None:
    created = await store.create_credential(
        db, box, "a1", "k", Scheme.API_KEY, {"header": "x-k"}, "secret-key-1"
    )
    with pytest.raises(NotFound):
        await store.get_credential(db, box, "a2", created["id"])
    with pytest.raises(NotFound):
        await store.delete_credential(db, "a2", created["id"])
    listed, _ = await store.list_credentials(db, box, "a2", 50, None)
    assert listed == []
    listed, _ = await store.list_credentials(db, box, "a1", 50, None)
    assert [c["id"] for c in listed] == [created["id"]]


async def test_standard_rotation_keeps_the_old_key_for_the_grace_period(db: Database, box: SecretBox) -> None:
    created = await store.create_credential(db, box, "a1", "sw", Scheme.STANDARD, {"asymmetric": False}, None)
    rotated = await store.rotate_credential(db, box, "a1", created["id"], 3600, None)
    assert rotated["secret"] != created["secret"] and rotated["previous_active"]
    async with db.read() as conn:
        row = dict((await conn.execute(credentials.select())).mappings().one())
    view = store.delivery_view(row, box, time.time())
    assert view.secrets == (rotated["secret"], created["secret"])
    assert store.delivery_view(row, box, time.time() + 3601).secrets == (rotated["secret"],)


async def test_single_signature_schemes_switch_at_once(db: Database, box: SecretBox) -> None:
    created = await store.create_credential(db, box, "a1", "b", Scheme.BEARER, {}, "token-number-1")
    rotated = await store.rotate_credential(db, box, "a1", created["id"], 3600, "token-number-2")
    assert rotated["secret"] == "token-number-2" and not rotated["previous_active"]
    async with db.read() as conn:
        row = dict((await conn.execute(credentials.select())).mappings().one())
    assert store.delivery_view(row, box, time.time()).secrets == ("token-number-2",)


async def test_asymmetric_public_key_is_readable(db: Database, box: SecretBox) -> None:
    created = await store.create_credential(db, box, "a1", "ed", Scheme.STANDARD, {"asymmetric": True}, None)
    assert created["secret"].startswith("whsk_") and created["public_key"].startswith("whpk_")
    again = await store.get_credential(db, box, "a1", created["id"])
    assert again["public_key"] == created["public_key"] and not again["secret"].startswith("whsk_")


async def test_delete_refused_while_used_and_endpoints_carry_it(
    db: Database, box: SecretBox, kit: Kit
) -> None:
    created = await store.create_credential(
        db, box, "a1", "k", Scheme.API_KEY, {"header": "x-k"}, "secret-key-1"
    )
    sub = await kit.subscription("a1", profile="liveperson-data", credential_id=created["id"])
    endpoints = await load_endpoints(db, box, [sub["id"]])
    credential = endpoints[sub["id"]].credential
    assert credential is not None and credential.headers("d", 1, b"{}") == {"x-k": "secret-key-1"}
    with pytest.raises(Conflict):
        await store.delete_credential(db, "a1", created["id"])
    async with db.write() as conn:
        await conn.execute(update(subscriptions).values(credential_id=None))
    await store.delete_credential(db, "a1", created["id"])
    with pytest.raises(NotFound):
        await store.get_credential(db, box, "a1", created["id"])
