"""Subscriptions: owned by an application (every installed account) or by one account."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select, update

from herald.domain.models import DeliveryStatus, Endpoint
from herald.domain.signing import generate_client_secret, generate_whsec
from herald.ids import new_id
from herald.store.credentials import delivery_view
from herald.store.database import Database
from herald.store.errors import NotFound
from herald.store.pagination import page, split_page
from herald.store.secretbox import SecretBox
from herald.store.tables import applications, credentials, deliveries, endpoint_tokens, queue, subscriptions

_PUBLIC = [c for c in subscriptions.c if c.name != "secret"]


@dataclass(frozen=True, slots=True)
class Owner:
    """Exactly one of the two is set."""

    application_id: str | None = None
    account_id: str | None = None

    def clause(self) -> ColumnElement[bool]:
        if self.application_id is not None:
            return subscriptions.c.application_id == self.application_id
        return (subscriptions.c.account_id == self.account_id) & subscriptions.c.application_id.is_(None)


def _secret_for(profile: str) -> str:
    return generate_whsec() if profile == "standard" else generate_client_secret()


def signs_with_own_secret(profile: str, application_id: str | None) -> bool:
    """Whether deliveries are signed with the subscription's own secret (so the caller is shown it).
    Not for `liveperson-data` (signed by its credential) nor an application's connector subscription
    (signed with the application's client secret): a secret nothing uses would only mislead."""
    if profile == "liveperson-data":
        return False
    return not (profile == "liveperson-connector" and application_id is not None)


async def create_subscription(
    db: Database, box: SecretBox, owner: Owner, fields: dict[str, Any]
) -> dict[str, Any]:
    now = time.time()
    secret = _secret_for(fields["profile"])
    # An account-owned LivePerson connector subscription has no application: it gets its own client id.
    client_id = (
        secrets.token_hex(16)
        if fields["profile"] == "liveperson-connector" and owner.application_id is None
        else None
    )
    row = {
        "id": new_id("sub"),
        "application_id": owner.application_id,
        "account_id": owner.account_id,
        "secret": box.encrypt(secret),
        "client_id": client_id,
        "enabled": True,
        "created_at": now,
        "updated_at": now,
        **fields,
    }
    async with db.write() as conn:
        await conn.execute(insert(subscriptions), row)
    out = {k: v for k, v in row.items() if k != "secret"}
    if signs_with_own_secret(fields["profile"], owner.application_id):
        out["secret"] = secret
    return out


async def get_subscription(db: Database, owner: Owner, sub_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        row = (
            (await conn.execute(select(*_PUBLIC).where(owner.clause(), subscriptions.c.id == sub_id)))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"subscription {sub_id} not found", field="subscription_id")
    return dict(row)


async def list_subscriptions(
    db: Database, owner: Owner, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    query = page(
        select(*_PUBLIC).where(owner.clause()), subscriptions.c.created_at, subscriptions.c.id, limit, cursor
    )
    async with db.read() as conn:
        rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    return split_page(rows, limit)


async def update_subscription(
    db: Database,
    box: SecretBox,
    owner: Owner,
    sub_id: str,
    changes: dict[str, Any],
    rotate_secret: bool = False,
) -> dict[str, Any]:
    values = dict(changes)
    new_secret = None
    if rotate_secret or "profile" in values:
        current = await get_subscription(db, owner, sub_id)
        profile = values.get("profile", current["profile"])
        new_secret = _secret_for(profile)
        values["secret"] = box.encrypt(new_secret)
        if profile == "liveperson-connector" and owner.application_id is None and not current["client_id"]:
            values["client_id"] = secrets.token_hex(16)
    if values:
        async with db.write() as conn:
            result = await conn.execute(
                update(subscriptions)
                .where(owner.clause(), subscriptions.c.id == sub_id)
                .values(**values, updated_at=time.time())
            )
            if result.rowcount == 0:
                raise NotFound(f"subscription {sub_id} not found", field="subscription_id")
    out = await get_subscription(db, owner, sub_id)
    if new_secret is not None and signs_with_own_secret(out["profile"], owner.application_id):
        out["secret"] = new_secret
    return out


async def delete_subscription(db: Database, owner: Owner, sub_id: str) -> None:
    """Delete it; deliveries still queued for it are cancelled (their log rows stay)."""
    async with db.write() as conn:
        result = await conn.execute(delete(subscriptions).where(owner.clause(), subscriptions.c.id == sub_id))
        if result.rowcount == 0:
            raise NotFound(f"subscription {sub_id} not found", field="subscription_id")
        await cancel_queued(conn, sub_id)
        await conn.execute(delete(endpoint_tokens).where(endpoint_tokens.c.subscription_id == sub_id))


async def cancel_queued(conn: Any, sub_id: str) -> None:
    now = time.time()
    pending = select(queue.c.delivery_id).where(queue.c.subscription_id == sub_id)
    await conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(pending))
        .values(status=DeliveryStatus.CANCELLED.value, finished_at=now, next_attempt_at=None)
    )
    await conn.execute(delete(queue).where(queue.c.subscription_id == sub_id))


async def load_endpoints(db: Database, box: SecretBox, ids: Iterable[str]) -> dict[str, Endpoint]:
    """The delivery view of subscriptions, secrets decrypted, for the dispatcher's cache."""
    query = (
        select(
            subscriptions.c.id,
            subscriptions.c.url,
            subscriptions.c.profile,
            subscriptions.c.secret,
            subscriptions.c.client_id,
            subscriptions.c.enabled,
            subscriptions.c.mtls_via_gateway,
            subscriptions.c.propagate_trace,
            subscriptions.c.egress_proxy,
            subscriptions.c.livechat,
            subscriptions.c.rate_limit,
            subscriptions.c.rate_limit_burst,
            subscriptions.c.max_concurrency,
            subscriptions.c.consecutive_failures,
            subscriptions.c.last_failure_at,
            subscriptions.c.application_id,
            applications.c.client_id.label("app_client_id"),
            applications.c.client_secret.label("app_secret"),
            credentials.c.id.label("cred_id"),
            credentials.c.scheme.label("cred_scheme"),
            credentials.c.config.label("cred_config"),
            credentials.c.secret.label("cred_secret"),
            credentials.c.previous_secret.label("cred_previous_secret"),
            credentials.c.previous_expires_at.label("cred_previous_expires_at"),
        )
        .select_from(
            subscriptions.outerjoin(
                applications, applications.c.id == subscriptions.c.application_id
            ).outerjoin(credentials, credentials.c.id == subscriptions.c.credential_id)
        )
        .where(subscriptions.c.id.in_(list(ids)))
    )
    async with db.read() as conn:
        rows = (await conn.execute(query)).mappings().all()
    endpoints = {}
    now = time.time()
    for r in rows:
        credential = None
        if r["cred_id"] is not None:
            credential = delivery_view(
                {
                    "id": r["cred_id"],
                    "scheme": r["cred_scheme"],
                    "config": r["cred_config"],
                    "secret": r["cred_secret"],
                    "previous_secret": r["cred_previous_secret"],
                    "previous_expires_at": r["cred_previous_expires_at"],
                },
                box,
                now,
            )
        use_app = r["profile"] == "liveperson-connector" and r["application_id"] is not None
        lc = r["livechat"] if isinstance(r["livechat"], dict) else {}
        endpoints[r["id"]] = Endpoint(
            subscription_id=r["id"],
            url=r["url"],
            profile=r["profile"],
            secret=box.decrypt(r["app_secret"] if use_app else r["secret"]),
            client_id=r["app_client_id"] if use_app else r["client_id"],
            enabled=r["enabled"],
            credential=credential,
            mtls_via_gateway=bool(r["mtls_via_gateway"]),
            propagate_trace=bool(r["propagate_trace"]),
            egress_proxy=r["egress_proxy"],
            livechat_version=lc.get("version"),
            additional_data=tuple(lc.get("additional_data") or ()),
            rate_limit=r["rate_limit"],
            rate_limit_burst=r["rate_limit_burst"],
            max_concurrency=r["max_concurrency"],
            consecutive_failures=r["consecutive_failures"] or 0,
            last_failure_at=r["last_failure_at"],
        )
    return endpoints
