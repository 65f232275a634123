"""Endpoint health control of a subscription: enable, disable, and its health (state, circuit, success rate
and latency percentiles over time). Mounted under both subscription prefixes, like subscriptions."""

# No `from __future__ import annotations`: FastAPI must resolve the closure-local `OwnerDep` at definition.
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from herald.api.auth import Context, CurrentPrincipal, Principal
from herald.api.errors import ApiError
from herald.api.routers.subscriptions import SubscriptionOut, _account_owner, _app_owner, _with_mtls
from herald.api.schemas import OutModel, ResourceId
from herald.config import Settings
from herald.dispatch.breaker import state_of
from herald.domain.scopes import CONFIGURATION_RW, DELIVERIES_READ, STATE_RO, STATE_RW
from herald.store import endpoint_health as store
from herald.store import subscriptions as sub_store
from herald.store.subscriptions import Owner

State = Literal["enabled", "slow", "failing", "disabled"]


class Stats(OutModel):
    attempts: int
    successes: int
    success_rate: float | None = Field(description="successes / attempts; null without attempts")
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class Bucket(Stats):
    start: datetime


class Window(OutModel):
    since: datetime
    until: datetime
    bucket_seconds: float


class HealthOut(OutModel):
    subscription_id: str
    state: State = Field(
        description="disabled (see disabled_reason); failing (announced: HERALD_FAILING_AFTER consecutive "
        "failures); slow (smoothed response time over HERALD_SLOW_THRESHOLD, see slow_since); else enabled"
    )
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    circuit: Literal["closed", "open", "half_open"]
    consecutive_failures: int
    first_failure_at: datetime | None
    last_failure_at: datetime | None
    last_success_at: datetime | None
    latency_ewma_ms: float | None
    slow_since: datetime | None
    window: Window
    totals: Stats
    sampled: bool = Field(description="true when the window held more attempts than were read (the newest)")
    buckets: list[Bucket]


async def _tenant(who: Principal, owner: Owner) -> None:
    if owner.application_id is not None:
        who.require_application(owner.application_id)
    if owner.account_id is not None:
        await who.require_account(owner.account_id)


def _state(row: dict[str, Any]) -> State:
    if not row["enabled"]:
        return "disabled"
    if row["failing"]:
        return "failing"
    return "slow" if row["slow_since"] is not None else "enabled"


def _at(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def endpoint_state(row: dict[str, Any], settings: Settings, now: float) -> dict[str, Any]:
    """The health answer's state part from the subscription row (the dashboard shows the same)."""
    circuit = state_of(
        row["consecutive_failures"],
        row["last_failure_at"],
        settings.breaker_failures,
        settings.breaker_cooldown,
        now,
    )
    return {
        "subscription_id": row["id"],
        "state": _state(row),
        "enabled": row["enabled"],
        "disabled_reason": row["disabled_reason"],
        "disabled_at": _at(row["disabled_at"]),
        "circuit": circuit.value,
        "consecutive_failures": row["consecutive_failures"],
        "first_failure_at": _at(row["first_failure_at"]),
        "last_failure_at": _at(row["last_failure_at"]),
        "last_success_at": _at(row["last_success_at"]),
        "latency_ewma_ms": row["latency_ewma"],
        "slow_since": _at(row["slow_since"]),
    }


def build_router(prefix: str, tag: str, owner_of: Callable[..., Owner]) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=[tag])
    OwnerDep = Annotated[Owner, Depends(owner_of)]

    @router.post("/{subscription_id}/enable", response_model=SubscriptionOut)
    async def enable_subscription(
        subscription_id: ResourceId, owner: OwnerDep, ctx: Context, who: CurrentPrincipal
    ) -> object:
        """Enable the endpoint: its waiting deliveries resume and its health starts afresh."""
        await _tenant(who, owner)
        who.require_any(STATE_RW, CONFIGURATION_RW)
        out = await store.set_enabled(ctx.db, owner, subscription_id, True)
        ctx.subscription_changed(subscription_id)
        return await _with_mtls(ctx, owner, out)

    @router.post("/{subscription_id}/disable", response_model=SubscriptionOut)
    async def disable_subscription(
        subscription_id: ResourceId, owner: OwnerDep, ctx: Context, who: CurrentPrincipal
    ) -> object:
        """Disable the endpoint: nothing is sent to it; its queued deliveries wait until it is enabled."""
        await _tenant(who, owner)
        who.require_any(STATE_RW, CONFIGURATION_RW)
        out = await store.set_enabled(ctx.db, owner, subscription_id, False)
        ctx.subscription_changed(subscription_id)
        return await _with_mtls(ctx, owner, out)

    @router.get("/{subscription_id}/health", response_model=HealthOut)
    async def subscription_health(
        subscription_id: ResourceId,
        owner: OwnerDep,
        ctx: Context,
        who: CurrentPrincipal,
        window: Annotated[int, Query(ge=60, le=30 * 86400, description="Seconds back from now")] = 3600,
        bucket: Annotated[int, Query(ge=1, le=86400, description="Bucket width, seconds")] = 60,
    ) -> object:
        await _tenant(who, owner)
        who.require_any(STATE_RO, CONFIGURATION_RW, DELIVERIES_READ)
        if window / bucket > 1000:
            raise ApiError(422, "bucket: at most 1000 buckets per window", field="bucket")
        row = await sub_store.get_subscription(ctx.db, owner, subscription_id)
        until = time.time()
        since = until - window
        stats = await store.attempt_stats(ctx.db, subscription_id, since, until, bucket)
        return {
            **endpoint_state(row, ctx.settings, until),
            "window": {"since": _at(since), "until": _at(until), "bucket_seconds": bucket},
            "totals": stats["totals"],
            "sampled": stats["sampled"],
            "buckets": [{**b, "start": _at(b["start"])} for b in stats["buckets"]],
        }

    return router


application_router = build_router(
    "/v1/applications/{app_id}/subscriptions", "application subscriptions", _app_owner
)
account_router = build_router(
    "/v1/accounts/{account_id}/subscriptions", "account subscriptions", _account_owner
)
