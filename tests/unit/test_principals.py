"""Principals, scopes, the failed-auth limiter and the installation cache (no database)."""

from __future__ import annotations

import pytest

from herald.api.auth import Principal
from herald.api.authstate import InstallCache
from herald.api.errors import ApiError
from herald.api.ratelimit import FailureLimiter
from herald.domain import scopes as sc


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def installed_in(*pairs: tuple[str, str]) -> object:
    async def check(application_id: str, account_id: str) -> bool:
        return (application_id, account_id) in pairs

    return check


def app_principal(*scopes: str, account_id: str | None = None) -> Principal:
    return Principal(
        kind="application",
        application_id="app_1",
        account_id=account_id,
        scopes=sc.expand(scopes),
        installed=installed_in(("app_1", "acct-a"), ("app_1", "acct-b")),  # type: ignore[arg-type]
    )


# ------------------------------------------------------------------------------------------- scopes


def test_parse_scopes_orders_and_rejects_unknown() -> None:
    assert sc.parse("events:publish webhooks.configuration:rw") == (sc.CONFIGURATION_RW, sc.EVENTS_PUBLISH)
    assert sc.parse("") is None and sc.parse(None) is None
    with pytest.raises(sc.UnknownScope, match="unknown scope 'nope'"):
        sc.parse("events:publish nope")


def test_rw_scopes_imply_their_read_scopes() -> None:
    assert sc.expand([sc.STATE_RW]) == {sc.STATE_RW, sc.STATE_RO}
    assert sc.expand([sc.DELIVERIES_RW]) == {sc.DELIVERIES_RW, sc.DELIVERIES_READ}
    assert sc.expand([sc.STATE_RO]) == {sc.STATE_RO}


def test_missing_scope_is_403_naming_it() -> None:
    who = app_principal(sc.EVENTS_PUBLISH)
    who.require(sc.EVENTS_PUBLISH)
    with pytest.raises(ApiError) as exc:
        who.require(sc.EVENTS_PUBLISH, sc.DELIVERIES_READ)
    assert exc.value.status == 403 and exc.value.data == {"scope": sc.DELIVERIES_READ}
    with pytest.raises(ApiError) as exc:
        who.require_any(sc.STATE_RO, sc.CONFIGURATION_RW)
    assert exc.value.status == 403


def test_admin_has_every_scope_and_tenant() -> None:
    admin = Principal.admin()
    admin.require(*sc.ALL_SCOPES)
    admin.require_admin()
    admin.require_application("app_anything")


# ------------------------------------------------------------------------------------------ tenants


def test_application_sees_only_itself() -> None:
    who = app_principal(*sc.ALL_SCOPES)
    who.require_application("app_1")
    with pytest.raises(ApiError) as exc:
        who.require_application("app_2")
    assert exc.value.status == 404 and "app_2" not in exc.value.message
    with pytest.raises(ApiError) as exc:
        who.require_admin()
    assert exc.value.status == 403


async def test_application_sees_accounts_where_installed() -> None:
    who = app_principal(*sc.ALL_SCOPES)
    await who.require_account("acct-a")
    await who.require_account("acct-b")
    with pytest.raises(ApiError) as exc:
        await who.require_account("acct-c")
    assert exc.value.status == 404 and "acct-c" not in exc.value.message


async def test_bound_application_token_sees_only_its_account() -> None:
    who = app_principal(*sc.ALL_SCOPES, account_id="acct-a")
    await who.require_account("acct-a")
    with pytest.raises(ApiError) as exc:
        await who.require_account("acct-b")  # installed there too, but the token is bound to acct-a
    assert exc.value.status == 404


async def test_account_token_sees_only_its_account() -> None:
    who = Principal(kind="account", account_id="acct-a", scopes=frozenset(sc.ALL_SCOPES))
    await who.require_account("acct-a")
    for other in ("acct-b", "acct-a2"):
        with pytest.raises(ApiError) as exc:
            await who.require_account(other)
        assert exc.value.status == 404
    with pytest.raises(ApiError) as exc:
        who.require_application("app_1")
    assert exc.value.status == 404


# --------------------------------------------------------------------------------- failure limiter


def test_limiter_refuses_after_limit_then_forgets() -> None:
    clock = Clock()
    limiter = FailureLimiter(limit=3, window=60.0, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("1.2.3.4") is None
        limiter.failed("1.2.3.4")
    assert limiter.retry_after("1.2.3.4") == 60
    assert limiter.retry_after("5.6.7.8") is None  # per address
    clock.now += 30
    assert limiter.retry_after("1.2.3.4") == 30
    clock.now += 30.5
    assert limiter.retry_after("1.2.3.4") is None


def test_limiter_sliding_window() -> None:
    clock = Clock()
    limiter = FailureLimiter(limit=2, window=10.0, clock=clock)
    limiter.failed("a")
    clock.now += 8
    limiter.failed("a")
    assert limiter.retry_after("a") == 2
    clock.now += 2.5  # the first failure left the window
    assert limiter.retry_after("a") is None


def test_limiter_off_and_bounded() -> None:
    off = FailureLimiter(limit=0, window=60.0)
    for _ in range(100):
        off.failed("a")
    assert off.retry_after("a") is None
    small = FailureLimiter(limit=1, window=60.0, max_addresses=3)
    for address in "abcdef":
        small.failed(address)
    assert len(small._failures) <= 3
    assert small.retry_after("f") is not None


# ---------------------------------------------------------------------------------- install cache


def test_install_cache_expires_and_forgets() -> None:
    clock = Clock()
    cache = InstallCache(ttl=5.0, clock=clock)
    assert not cache.known("app_1", "a")
    cache.remember("app_1", "a")
    cache.remember("app_1", "b")
    cache.remember("app_2", "a")
    assert cache.known("app_1", "a")
    cache.forget("app_1", "a")
    assert not cache.known("app_1", "a") and cache.known("app_1", "b")
    cache.forget("app_1")
    assert not cache.known("app_1", "b") and cache.known("app_2", "a")
    clock.now += 6
    assert not cache.known("app_2", "a")
