"""The FastAPI application. `herald serve` also runs a dispatcher inside its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from herald import __version__
from herald.api import errors, openapi
from herald.api.authstate import auth_state
from herald.api.compat import livechat
from herald.api.context import AppContext
from herald.api.limits import BodySizeLimit
from herald.api.routers import (
    app_installations,
    applications,
    credentials,
    deliveries,
    endpoint_health,
    event_types,
    events,
    expunge,
    health,
    inspect,
    inspect_public,
    jobs,
    listen,
    mtls,
    oauth,
    operational,
    portal_links,
    root,
    sources,
    subscriptions,
    tokens,
)
from herald.runtime import Runtime, running
from herald.ui.app import create_ui

DESCRIPTION = """Herald stores each published event durably, fans it out to the subscriptions that want it,
and delivers it as a signed HTTP POST with retries, ordering where promised and a searchable log.

Authenticate with `Authorization: Bearer <token>`. Errors are `{"error": {"type", "message", "data"}}`."""


def create_app(runtime: Runtime, admin_token: str, *, with_dispatcher: bool = False) -> FastAPI:
    ctx = AppContext(
        settings=runtime.settings,
        db=runtime.db,
        box=runtime.box,
        guard=runtime.guard,
        admin_token=admin_token,
        auth=auth_state(runtime.settings),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.migrate()
        async with runtime.maintenance(background=with_dispatcher):
            if not with_dispatcher:
                yield
            else:
                dispatcher = runtime.dispatcher()
                ctx.notify_published = dispatcher.notify
                ctx.subscription_changed = dispatcher.endpoints.invalidate
                ctx.credential_changed = dispatcher.endpoints.invalidate
                ctx.mtls_changed = dispatcher.mtls.invalidate if dispatcher.mtls else ctx.mtls_changed
                async with running(dispatcher):
                    yield
        await runtime.db.dispose()

    app = FastAPI(
        title="Herald",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.herald = ctx
    errors.install(app)
    openapi.install(app)  # every error status each route can answer, with the error schema
    for router in (
        applications.router,
        app_installations.router,
        subscriptions.application_router,
        subscriptions.account_router,
        endpoint_health.application_router,
        endpoint_health.account_router,
        operational.router,
        credentials.router,
        mtls.router,
        events.router,
        expunge.router,
        event_types.router,
        deliveries.router,
        jobs.application_router,
        jobs.account_router,
        health.router,
        oauth.router,
        tokens.router,
        inspect.router,
        inspect_public.router,
        listen.router,
        livechat.router,
        root.router,
        portal_links.router,
        sources.router,
    ):
        app.include_router(router)
    if runtime.settings.dashboard:
        app.mount("/ui", create_ui(ctx))  # the web dashboard (herald.ui): HTML pages, no API routes
    app.add_middleware(BodySizeLimit, max_bytes=runtime.settings.max_body_bytes)
    return app
