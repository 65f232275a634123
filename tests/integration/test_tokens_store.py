"""Access tokens (storage conformance: SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from herald.store import applications as app_store
from herald.store import tokens as store
from herald.store.database import Database
from herald.store.errors import NotFound
from herald.store.secretbox import SecretBox
from herald.store.tables import access_tokens

if TYPE_CHECKING:
    from conftest import Kit

SCOPES = ("events:publish", "deliveries:read")


async def test_pat_is_stored_hashed_and_resolves(db: Database, kit: Kit) -> None:
    created = await store.create_pat(db, "acct-1", "ci", SCOPES, None)
    token = created["token"]
    assert token.startswith("hpat_") and len(token) > 40
    assert "token_hash" not in created
    row = await kit.one(access_tokens, access_tokens.c.id == created["id"])
    assert row["token_hash"] == store.hash_token(token) != token
    assert row["kind"] == "pat" and row["scopes"] == list(SCOPES)

    grant = await store.resolve(db, token)
    assert grant is not None
    assert (grant.kind, grant.account_id, grant.application_id) == ("pat", "acct-1", None)
    assert grant.scopes == SCOPES
    assert await store.resolve(db, token + "x") is None
    assert await store.resolve(db, "hpat_unknown") is None


async def test_list_shows_no_secret_and_only_the_account(db: Database) -> None:
    mine = [await store.create_pat(db, "acct-1", f"t{i}", SCOPES, None) for i in range(3)]
    await store.create_pat(db, "acct-2", "other", SCOPES, None)
    rows, cursor = await store.list_pats(db, "acct-1", 2, None)
    assert cursor is not None
    more, cursor = await store.list_pats(db, "acct-1", 2, cursor)
    assert cursor is None
    listed = rows + more
    assert [r["id"] for r in listed] == [t["id"] for t in reversed(mine)]
    for r in listed:
        assert "token" not in r and "token_hash" not in r


async def test_revoke_and_expiry(db: Database) -> None:
    created = await store.create_pat(db, "acct-1", None, SCOPES, 60.0)
    grant = await store.resolve(db, created["token"])
    assert grant is not None and grant.expires_at is not None
    assert await store.resolve(db, created["token"], now=grant.expires_at + 1) is None

    with pytest.raises(NotFound):
        await store.revoke_pat(db, "acct-2", created["id"])  # another account's token: not found
    assert await store.resolve(db, created["token"]) is not None
    await store.revoke_pat(db, "acct-1", created["id"])
    await store.revoke_pat(db, "acct-1", created["id"])  # twice is fine
    assert await store.resolve(db, created["token"]) is None
    with pytest.raises(NotFound):
        await store.revoke_pat(db, "acct-1", "tok_missing")


async def test_oauth_token_and_installation_check(db: Database, box: SecretBox, kit: Kit) -> None:
    app = await kit.application()
    await kit.install(app["id"], "acct-1")
    assert await store.is_installed(db, app["id"], "acct-1")
    assert not await store.is_installed(db, app["id"], "acct-2")

    token, row = await store.create_oauth_token(db, app["id"], "acct-1", SCOPES, 3600.0)
    assert token.startswith("hoat_") and row["expires_at"] > time.time()
    grant = await store.resolve(db, token)
    assert grant is not None
    assert (grant.kind, grant.application_id, grant.account_id) == ("oauth", app["id"], "acct-1")
    # OAuth tokens are not personal access tokens: they cannot be listed or revoked as such.
    assert (await store.list_pats(db, "acct-1", 10, None))[0] == []
    with pytest.raises(NotFound):
        await store.revoke_pat(db, "acct-1", grant.id)


async def test_client_secret_lookup_and_delete_with_tokens(db: Database, box: SecretBox, kit: Kit) -> None:
    app = await kit.application()
    assert await app_store.client_secret_of(db, box, app["client_id"]) == (app["id"], app["client_secret"])
    assert await app_store.client_secret_of(db, box, "nope") is None
    await store.create_oauth_token(db, app["id"], None, SCOPES, 3600.0)
    await app_store.delete_application(db, app["id"])  # its tokens go with it (foreign key)
    assert await kit.rows(access_tokens, access_tokens.c.application_id == app["id"]) == []


async def test_list_applications_only_id(db: Database, kit: Kit) -> None:
    a, b = await kit.application("a"), await kit.application("b")
    rows, _ = await app_store.list_applications(db, 10, None, only_id=a["id"])
    assert [r["id"] for r in rows] == [a["id"]]
    rows, _ = await app_store.list_applications(db, 10, None)
    assert {r["id"] for r in rows} == {a["id"], b["id"]}
