"""Wiring: build the database, secret box, guard, transport and dispatcher from settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from herald import tracing
from herald.background import JobRunner, RetentionSweeper
from herald.config import Settings
from herald.destinations.transport import BusTransport, DestinationRouting
from herald.dispatch.dispatcher import Dispatcher
from herald.dispatch.egress import named_proxies
from herald.dispatch.endpoints import EndpointCache
from herald.dispatch.guard import AddressGuard, parse_subnets
from herald.dispatch.mtls import MtlsRouter
from herald.dispatch.relay import ListenRelay, RoutingTransport
from herald.dispatch.tls import MappingCache, TlsContexts
from herald.dispatch.transport import AiohttpTransport, Transport
from herald.dispatch.transports import build_transport
from herald.sources.backpressure import Gate
from herald.sources.consumer import ConsumerOptions
from herald.sources.runner import SourceRunner
from herald.store import inspect as inspect_store
from herald.store import listen as listen_store
from herald.store import queue
from herald.store.database import Database
from herald.store.keycheck import verify_keys
from herald.store.migrate import upgrade
from herald.store.secretbox import SecretBox

log = logging.getLogger("herald")

SWEEP_INTERVAL = 30.0  # seconds between sweeps of expired bins and vanished listen sessions


@dataclass
class Runtime:
    settings: Settings
    db: Database
    box: SecretBox
    guard: AddressGuard

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        tracing.configure()  # OpenTelemetry traces when the OTEL_* variables ask for them
        guard = AddressGuard(
            allow_private=settings.allow_private_targets,
            allow_subnets=parse_subnets(settings.allow_subnets),
        )
        return cls(settings, Database(settings.database_url), SecretBox(settings.secret_keys()), guard)

    def dispatcher(self, transport: Transport | None = None) -> Dispatcher:
        s = self.settings
        contexts = TlsContexts(s.ca_bundle)
        transport = transport or build_transport(s, self.guard, contexts)
        # herald-listen:// subscriptions go through the database to a listening CLI (dispatch/relay.py). The
        # wait stays well inside the lease, or another worker would take the delivery and send it twice.
        relay = ListenRelay(self.db, min(s.listen_timeout, 0.8 * s.lease_seconds))
        transport = RoutingTransport(transport, relay)
        # redis://, nats://, amqp:// subscriptions publish onto their bus (herald/destinations).
        transport = DestinationRouting(transport, BusTransport(self.guard, s.connect_timeout, s.read_timeout))
        return Dispatcher(self.db, EndpointCache(self.db, self.box), transport, s, self.mtls_router(contexts))

    def mtls_router(self, contexts: TlsContexts) -> MtlsRouter:
        s = self.settings
        gateway = AiohttpTransport(s.connect_timeout, s.read_timeout) if s.mtls_gateway_url else None
        return MtlsRouter(
            MappingCache(self.db, self.box, s.mtls_refresh),
            contexts,
            s.mtls_gateway_url,
            s.gateway_token,
            gateway,
        )

    def gateway_parts(self) -> tuple[MtlsRouter, AiohttpTransport]:
        """What `herald mtls-gateway` forwards with: the mappings, and a guarded transport."""
        s = self.settings
        contexts = TlsContexts(s.ca_bundle)
        transport = AiohttpTransport(
            s.connect_timeout,
            s.read_timeout,
            self.guard,
            tls=contexts.default(),
            allow_http=s.http_allowed,
            proxy=s.egress_proxy or None,
            proxies=named_proxies(s.egress_proxies),
        )
        return MtlsRouter(MappingCache(self.db, self.box, s.mtls_refresh), contexts), transport

    def source_runner(self) -> SourceRunner:
        s = self.settings
        limit = s.source_queue_limit

        async def depth() -> int:
            return await queue.depth(self.db) if limit > 0 else 0

        gate = Gate(depth, limit if limit > 0 else 2**62)
        options = ConsumerOptions(batch=s.source_batch, claim_idle=s.source_claim_idle)
        return SourceRunner(self.db, self.box, gate, options, refresh=s.source_refresh)

    async def migrate(self) -> None:
        """Bring the schema up to date, then make sure this process's keys open its secrets (and seal the
        key check value on first use); raises KeyMismatch."""
        await upgrade(self.db)
        await verify_keys(self.db, self.box, self.settings)

    @contextlib.asynccontextmanager
    async def maintenance(self, *, background: bool = False) -> AsyncIterator[None]:
        """Background upkeep of the database for as long as the process serves (SQLite checkpoints;
        expired inspector bins and vanished `herald listen` sessions); with `background` (serve, worker)
        also the recover/replay job runner and the retention sweeper."""
        tasks = [
            asyncio.create_task(self.db.checkpoint_forever()),
            asyncio.create_task(self.sweep_forever()),
        ]
        if background:
            tasks.append(asyncio.create_task(JobRunner(self.db, self.settings).run_forever()))
            tasks.append(asyncio.create_task(RetentionSweeper(self.db, self.settings).run_forever()))
            tasks.append(asyncio.create_task(self.source_runner().run()))  # stream sources (herald/sources)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def sweep(self) -> None:
        await inspect_store.remove_expired(self.db)
        await listen_store.remove_stale(self.db, self.settings.listen_session_ttl)

    async def sweep_forever(self) -> None:
        interval = min(SWEEP_INTERVAL, self.settings.listen_session_ttl / 2)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("removing expired bins and listen sessions failed; will try again")


@contextlib.asynccontextmanager
async def running(dispatcher: Dispatcher) -> AsyncIterator[Dispatcher]:
    """Run a dispatcher in the background for the duration of the block; stop it gracefully after."""
    task = asyncio.create_task(dispatcher.run())
    try:
        yield dispatcher
    finally:
        dispatcher.stop()
        await task
        await dispatcher.transport.close()
