"""mTLS mappings in the store (SQLite and PostgreSQL): one per (account, service, URL), validated at upload,
the private key encrypted at rest and never in the API view; the sender's cache refreshes and invalidates."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest
import trustme

from herald.dispatch.tls import MappingCache
from herald.domain.certificates import CertificateProblem
from herald.store import mtls as store
from herald.store.errors import Conflict, NotFound
from herald.store.tables import mtls_mappings

if TYPE_CHECKING:
    from conftest import Kit

URL = "https://hooks.example.com/in?x=1"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def given(ca: trustme.CA, url: str = URL, **changes: object) -> store.MappingIn:
    leaf = ca.issue_cert("client.example.com")
    values: dict[str, object] = {
        "service": "WEBHOOKS",
        "url": url,
        "certificate": leaf.cert_chain_pems[0].bytes().decode(),
        "private_key": leaf.private_key_pem.bytes().decode(),
        "ca_bundle": ca.cert_pem.bytes().decode(),
        "allow_plain_fallback": False,
    }
    values.update(changes)
    return store.MappingIn(**values)  # type: ignore[arg-type]


async def test_create_get_list_replace_delete(kit: Kit, ca: trustme.CA) -> None:
    first = given(ca)
    out = await store.create_mapping(kit.db, kit.box, "a1", first)
    assert "private_key" not in out and out["url"] == URL and len(out["fingerprint"]) == 64
    row = await kit.one(mtls_mappings)
    assert (
        row["private_key"] != first.private_key and kit.box.decrypt(row["private_key"]) == first.private_key
    )

    assert (await store.get_mapping(kit.db, "a1", out["id"]))["fingerprint"] == out["fingerprint"]
    with pytest.raises(NotFound):
        await store.get_mapping(kit.db, "a2", out["id"])  # another account's mapping is not there
    rows, cursor = await store.list_mappings(kit.db, "a1", 10, None)
    assert [r["id"] for r in rows] == [out["id"]] and cursor is None
    assert all("private_key" not in r for r in rows)

    replaced = await store.replace_mapping(
        kit.db, kit.box, "a1", out["id"], given(ca, allow_plain_fallback=True)
    )
    assert replaced["fingerprint"] != out["fingerprint"] and replaced["allow_plain_fallback"]
    assert replaced["updated_at"] >= out["updated_at"]

    await store.delete_mapping(kit.db, "a1", out["id"])
    with pytest.raises(NotFound):
        await store.delete_mapping(kit.db, "a1", out["id"])


async def test_one_mapping_per_triplet(kit: Kit, ca: trustme.CA) -> None:
    one = await store.create_mapping(kit.db, kit.box, "a1", given(ca))
    with pytest.raises(Conflict) as caught:
        await store.create_mapping(kit.db, kit.box, "a1", given(ca))
    assert caught.value.data["field"] == "url"
    # Another account, or another URL (the query string counts), is another triplet.
    await store.create_mapping(kit.db, kit.box, "a2", given(ca))
    other = await store.create_mapping(kit.db, kit.box, "a1", given(ca, URL + "&y=2"))
    with pytest.raises(Conflict):
        await store.replace_mapping(kit.db, kit.box, "a1", other["id"], given(ca))
    assert await store.mapped_urls(kit.db, "WEBHOOKS", "a1", [URL, URL + "&y=2", "https://x/"]) == {
        URL,
        URL + "&y=2",
    }
    assert await store.mapped_urls(kit.db, "WEBHOOKS", "a3", [URL]) == set()
    assert await store.mapped_urls(kit.db, "WEBHOOKS", None, [URL]) == {URL}
    assert one["id"] != other["id"]


async def test_expired_certificate_is_refused_and_nothing_is_written(kit: Kit, ca: trustme.CA) -> None:
    now = dt.datetime.now(dt.UTC)
    leaf = ca.issue_cert(
        "c.example.com", not_before=now - dt.timedelta(days=9), not_after=now - dt.timedelta(days=1)
    )
    bad = given(
        ca,
        certificate=leaf.cert_chain_pems[0].bytes().decode(),
        private_key=leaf.private_key_pem.bytes().decode(),
    )
    with pytest.raises(CertificateProblem, match="expired"):
        await store.create_mapping(kit.db, kit.box, "a1", bad)
    assert await kit.rows(mtls_mappings) == []


async def test_cache_refreshes_on_schedule_and_at_once_when_invalidated(kit: Kit, ca: trustme.CA) -> None:
    cache = MappingCache(kit.db, kit.box, refresh=3600)
    assert await cache.get("a1", "WEBHOOKS", URL) is None
    made = await store.create_mapping(kit.db, kit.box, "a1", given(ca))
    assert await cache.get("a1", "WEBHOOKS", URL) is None  # another process's change: not yet
    cache.invalidate()
    found = await cache.get("a1", "WEBHOOKS", URL)
    assert found is not None and found.id == made["id"] and "PRIVATE KEY" in found.private_key

    quick = MappingCache(kit.db, kit.box, refresh=0.0)
    assert await quick.get("a1", "WEBHOOKS", URL) is not None
    await store.delete_mapping(kit.db, "a1", made["id"])
    assert await quick.get("a1", "WEBHOOKS", URL) is None  # refresh elapsed: the deletion is seen
