"""The `herald` command: serve | api | worker | migrate | bench | keygen."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import typer
from rich.console import Console

from herald import __version__, tracing
from herald.config import ConfigError, Settings, generate_admin_token, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Herald: self-hosted webhook delivery.")
console = Console(stderr=True)

Listen = Annotated[str | None, typer.Option("--listen", help="host:port (HERALD_LISTEN)")]
DatabaseUrl = Annotated[str | None, typer.Option("--database-url", help="HERALD_DATABASE_URL")]


def _settings(**overrides: object) -> Settings:
    try:
        settings = load_settings().with_overrides(**overrides)
        settings.port  # noqa: B018 - validates HERALD_LISTEN early
        settings.retry_config()
        if settings.egress_proxy or settings.egress_proxies:
            from herald.dispatch.egress import check_proxy_url, named_proxies

            named_proxies(settings.egress_proxies)
            if settings.egress_proxy:
                check_proxy_url(settings.egress_proxy)
        return settings
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _logging(settings: Settings) -> None:
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _install_uvloop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - Windows
        pass


def _run_http(settings: Settings, with_dispatcher: bool) -> None:
    import uvicorn

    from herald.api.app import create_app
    from herald.runtime import Runtime

    token = settings.admin_token
    generated = token is None
    token = token or generate_admin_token()
    runtime = Runtime.build(settings)
    api = create_app(runtime, token, with_dispatcher=with_dispatcher)
    role = "API + dispatcher" if with_dispatcher else "API"
    console.print(f"[bold]Herald {__version__}[/bold] ({role}) listening on http://{settings.listen}")
    console.print(f"  database: {settings.database_url}")
    console.print(f"  API docs: http://{settings.listen}/docs")
    if generated:
        console.print(f"  admin token (generated; set HERALD_ADMIN_TOKEN to keep one): [bold]{token}[/bold]")
    if settings.allow_private_targets:
        console.print("  [yellow]private and loopback endpoints are allowed (development mode)[/yellow]")
    if tracing.enabled():
        console.print("  traces: OpenTelemetry over OTLP/HTTP (OTEL_* variables)")
    if settings.egress_proxy:
        from herald.dispatch.egress import proxy_and_auth

        console.print(f"  egress proxy: {proxy_and_auth(settings.egress_proxy)[0]}")  # no credentials
    uvicorn.run(
        api,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace) + 5,
    )


@app.command()
def serve(
    dev: Annotated[
        bool, typer.Option("--dev", help="Allow loopback/private endpoints (local testing)")
    ] = False,
    listen: Listen = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Run the API and a dispatcher in one process (SQLite file by default, no configuration)."""
    settings = _settings(listen=listen, database_url=database_url)
    if dev:
        settings = settings.with_overrides(allow_private_targets=True)
    _logging(settings)
    _run_http(settings, with_dispatcher=True)


@app.command()
def api(listen: Listen = None, database_url: DatabaseUrl = None) -> None:
    """Run the API only (pair it with `herald worker` processes on PostgreSQL)."""
    settings = _settings(listen=listen, database_url=database_url)
    _logging(settings)
    _run_http(settings, with_dispatcher=False)


@app.command()
def worker(
    database_url: DatabaseUrl = None,
    metrics_listen: Annotated[
        str | None, typer.Option("--metrics-listen", help="host:port to serve this worker's /metrics on")
    ] = None,
) -> None:
    """Run a dispatcher only. Start as many as you like on PostgreSQL; SIGTERM stops one gracefully."""
    settings = _settings(database_url=database_url)
    _logging(settings)
    if metrics_listen:
        from prometheus_client import start_http_server

        host, _, port = metrics_listen.rpartition(":")
        start_http_server(int(port), addr=host or "127.0.0.1")
    _install_uvloop()
    asyncio.run(_worker(settings))


async def _worker(settings: Settings) -> None:
    from herald.runtime import Runtime

    runtime = Runtime.build(settings)
    dispatcher = runtime.dispatcher()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, dispatcher.stop)
    logging.getLogger("herald").info("worker started on %s", settings.database_url)
    try:
        async with runtime.maintenance(background=True):
            await dispatcher.run()
    finally:
        await dispatcher.transport.close()
        await runtime.db.dispose()


@app.command("mtls-gateway")
def mtls_gateway(
    listen: Annotated[str | None, typer.Option("--listen", help="host:port (HERALD_GATEWAY_LISTEN)")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Run the mTLS forward gateway (POST /mtls/account/{account_id}, LivePerson's protocol)."""
    settings = _settings(database_url=database_url, gateway_listen=listen)
    if not settings.gateway_token:
        console.print("[red]configuration error:[/red] set HERALD_GATEWAY_TOKEN for callers to authenticate")
        raise typer.Exit(2)
    _logging(settings)
    from aiohttp import web

    from herald.gateway import create_gateway
    from herald.runtime import Runtime

    runtime = Runtime.build(settings)
    gateway = create_gateway(*runtime.gateway_parts(), settings.gateway_token)
    host, _, port = settings.gateway_listen.rpartition(":")
    console.print(
        f"[bold]Herald {__version__}[/bold] mTLS gateway listening on http://{settings.gateway_listen}"
    )
    web.run_app(gateway, host=host.strip("[]") or "127.0.0.1", port=int(port), print=None)


@app.command()
def migrate(database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the database schema."""
    settings = _settings(database_url=database_url)
    from herald.runtime import Runtime

    async def run() -> None:
        runtime = Runtime.build(settings)
        await runtime.migrate()
        await runtime.db.dispose()

    asyncio.run(run())
    console.print(f"schema is up to date on {settings.database_url}")


@app.command()
def rekey(database_url: DatabaseUrl = None) -> None:
    """Re-encrypt every stored secret with the first key of HERALD_SECRET_KEY (master-key rotation)."""
    settings = _settings(database_url=database_url)
    from herald.runtime import Runtime
    from herald.store.rekey import reencrypt_all

    async def run() -> int:
        runtime = Runtime.build(settings)
        try:
            await runtime.migrate()
            return await reencrypt_all(runtime.db, runtime.box)
        finally:
            await runtime.db.dispose()

    count = asyncio.run(run())
    console.print(f"re-encrypted {count} secrets with the first key; older keys may now be removed")


@app.command()
def keygen() -> None:
    """Print a new master key for HERALD_SECRET_KEY."""
    from herald.store.secretbox import SecretBox

    print(SecretBox.generate_key())


@app.command()
def bench(
    backend: Annotated[str, typer.Option(help="sqlite | postgresql")] = "sqlite",
    pg_url: Annotated[
        str, typer.Option(help="PostgreSQL server to create (and drop) a throw-away database on")
    ] = "postgresql://postgres@127.0.0.1:5432/postgres",
    events: Annotated[int, typer.Option(help="Events to publish in the throughput run")] = 20_000,
    fanout: Annotated[int, typer.Option(help="Subscriptions per event")] = 1,
    batch: Annotated[int, typer.Option(help="Events per publish request")] = 500,
    publishers: Annotated[int, typer.Option(help="Concurrent publish requests")] = 4,
    workers: Annotated[int, typer.Option(help="`herald worker` processes (postgresql)")] = 1,
    rate: Annotated[int, typer.Option(help="Events/s in the latency run")] = 1_000,
    duration: Annotated[float, typer.Option(help="Seconds of the latency run")] = 20.0,
    mode: Annotated[str, typer.Option(help="throughput | latency | all")] = "all",
    payload: Annotated[int, typer.Option(help="Bytes of padding in each event's data")] = 256,
    ceiling_concurrency: Annotated[int, typer.Option(help="Requests in flight for the ceiling")] = 64,
    timeout: Annotated[float, typer.Option(help="Longest any one wait may take, seconds")] = 300.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON")] = False,
) -> None:
    """Benchmark the real API and dispatcher against a fast local receiver, with the ceiling alongside."""
    from herald.bench import BenchOptions, run_bench

    options = BenchOptions(
        backend=backend,
        pg_url=pg_url,
        events=events,
        fanout=fanout,
        batch=batch,
        publishers=publishers,
        workers=workers,
        rate=rate,
        duration=duration,
        mode=mode,
        payload=payload,
        ceiling_concurrency=ceiling_concurrency,
        timeout=timeout,
    )
    try:
        options.check()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    raise typer.Exit(run_bench(options, as_json=as_json))


@app.command()
def simulate(
    server: Annotated[str, typer.Option(help="Herald API base URL")] = "http://127.0.0.1:8080",
    token: Annotated[
        str, typer.Option(envvar="HERALD_ADMIN_TOKEN", help="Admin token (HERALD_ADMIN_TOKEN)")
    ] = "",
    accounts: Annotated[int, typer.Option(help="Accounts to simulate")] = 2,
    agents: Annotated[int, typer.Option(help="Agents per account")] = 5,
    rate: Annotated[float, typer.Option(help="Events/s to publish")] = 50.0,
    duration: Annotated[float, typer.Option(help="Seconds to run; 0 = until Ctrl-C")] = 60.0,
    seed: Annotated[int | None, typer.Option(help="Random seed (reproducible stream)")] = None,
    families: Annotated[
        str, typer.Option(help="Comma-separated event families")
    ] = "liveperson-data,liveperson-connector,livechat",
    account_prefix: Annotated[str, typer.Option(help="Account ids are <prefix>1, <prefix>2, …")] = "sim-",
) -> None:
    """Publish a realistic contact-center event stream (LivePerson and LiveChat) through the API."""
    from herald.simulate import SimulateOptions, parse_families, run_simulate

    try:
        options = SimulateOptions(
            server=server,
            token=token,
            accounts=accounts,
            agents=agents,
            rate=rate,
            duration=duration,
            seed=seed,
            families=parse_families(families),
            account_prefix=account_prefix,
        )
        options.check()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    raise typer.Exit(run_simulate(options, console))


@app.command("listen")
def listen_command(
    forward_to: Annotated[str, typer.Option("--forward-to", help="Local URL to POST each delivery to")],
    events: Annotated[str, typer.Option(help="Comma-separated event types (a.* and * allowed)")] = "*",
    server: Annotated[
        str, typer.Option(envvar="HERALD_SERVER", help="Herald API base URL (HERALD_SERVER)")
    ] = "http://127.0.0.1:8080",
    token: Annotated[
        str,
        typer.Option(
            envvar=["HERALD_TOKEN", "HERALD_ADMIN_TOKEN"],
            help="Admin token or personal access token (HERALD_TOKEN, else HERALD_ADMIN_TOKEN)",
        ),
    ] = "",
    account: Annotated[
        str | None, typer.Option(help="Account to listen to (a personal access token's own by default)")
    ] = None,
    profile: Annotated[str, typer.Option(help="standard | liveperson-connector")] = "standard",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the local answer")] = 8.0,
) -> None:
    """Forward deliveries to a local URL, signed exactly as Herald sends them; the local answer is
    recorded as each attempt's outcome (like `stripe listen`)."""
    from herald.listen import Options, listen

    if not token:
        raise typer.BadParameter("a token is needed: --token, HERALD_TOKEN or HERALD_ADMIN_TOKEN")
    if not forward_to.startswith(("http://", "https://")):
        raise typer.BadParameter("--forward-to must be an http:// or https:// URL")
    kinds = [e.strip() for e in events.split(",") if e.strip()]
    options = Options(server, token, forward_to, account, kinds or ["*"], profile, timeout)
    out = Console(soft_wrap=True)
    raise typer.Exit(asyncio.run(listen(options, out)))


def main() -> None:
    app()
