"""The `herald` command: serve | api | worker | migrate | bench | keygen."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from herald import __version__, tracing
from herald.config import ConfigError, Settings, generate_admin_token, load_settings
from herald.server_tls import ServerTls, scheme, server_context, server_tls

if TYPE_CHECKING:
    from herald.runtime import Runtime

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Herald: self-hosted webhook delivery.",
    # Plain help: it wraps long defaults at any width and shows no value placeholder after flags.
    rich_markup_mode=None,
)
console = Console(stderr=True)

Listen = Annotated[
    str | None,
    typer.Option("--listen", help="host:port to listen on (HERALD_LISTEN; default 127.0.0.1:8080)"),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="sqlite:///file or postgresql://… (HERALD_DATABASE_URL; default sqlite:///herald.db)",
    ),
]
TlsCert = Annotated[
    str | None, typer.Option("--tls-cert", help="PEM certificate chain: serve HTTPS (HERALD_TLS_CERT)")
]
TlsKey = Annotated[str | None, typer.Option("--tls-key", help="PEM private key (HERALD_TLS_KEY)")]


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


def _check_keys(settings: Settings) -> None:
    """Refuse to start with master keys that cannot open the database's secrets, and never make a new key
    file for a database that has some (store/keycheck.py)."""
    from herald.store.keycheck import prepare_keys

    try:
        asyncio.run(prepare_keys(settings))
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _tls(settings: Settings) -> ServerTls | None:
    try:
        return server_tls(settings.tls_cert, settings.tls_key)
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _logging(settings: Settings) -> None:
    from herald.activity import FORMATS, configure

    if settings.log_format not in FORMATS:
        console.print(f"[red]configuration error:[/red] HERALD_LOG_FORMAT must be text or json, "
                      f"got {settings.log_format!r}")  # fmt: skip
        raise typer.Exit(2)
    configure(settings.log_level, settings.log_format)


def _install_uvloop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - Windows
        pass


def _port_free_or_exit(settings: Settings) -> None:
    """Fail before announcing anything when the address is taken (uvicorn would only say so after
    "listening on …" and a fresh token were printed)."""
    import socket

    host = settings.host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, settings.port))
        except OSError as exc:
            console.print(f"[red]cannot listen on {settings.listen}:[/red] {exc.strerror or exc}")
            console.print("  another process holds it; stop that one or pass --listen host:port")
            raise typer.Exit(1) from exc


def _banner(text: str) -> None:
    """Whole lines at any width: a wrapped URL or token is hard to copy."""
    console.print(text, soft_wrap=True)


def _run_http(settings: Settings, with_dispatcher: bool) -> None:
    _port_free_or_exit(settings)  # before the slow imports: a taken address is said at once
    import uvicorn

    from herald.api.app import create_app
    from herald.runtime import Runtime

    tls = _tls(settings)
    token = settings.admin_token
    generated = token is None
    token = token or generate_admin_token()
    _check_keys(settings)
    runtime = Runtime.build(settings)
    api = create_app(runtime, token, with_dispatcher=with_dispatcher)
    role = "API + dispatcher" if with_dispatcher else "API"
    _banner(f"[bold]Herald {__version__}[/bold] ({role}) listening on {scheme(tls)}://{settings.listen}")
    _banner(f"  database: {settings.database_url}")
    _banner(f"  API docs: {scheme(tls)}://{settings.listen}/docs")
    if generated:
        _banner(f"  admin token (generated; set HERALD_ADMIN_TOKEN to keep one): [bold]{token}[/bold]")
    if settings.allow_private_targets:
        _banner("  [yellow]private and loopback endpoints are allowed (development mode)[/yellow]")
    if tracing.enabled():
        _banner("  traces: OpenTelemetry over OTLP/HTTP (OTEL_* variables)")
    if settings.egress_proxy:
        from herald.dispatch.egress import proxy_and_auth

        _banner(f"  egress proxy: {proxy_and_auth(settings.egress_proxy)[0]}")  # no credentials
    uvicorn.run(
        api,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        access_log=False,
        log_config=None,  # uvicorn's lines go through herald's own format (herald/activity.py)
        timeout_graceful_shutdown=int(settings.shutdown_grace) + 5,
        # uvicorn's own context cannot be told a minimum version; ours is the one every listener uses.
        ssl_context_factory=(lambda _config, _default: server_context(tls)) if tls else None,
    )


@app.command(short_help="API + dispatcher in one process (SQLite by default).")
def serve(
    dev: Annotated[
        bool, typer.Option("--dev", help="Allow loopback/private endpoints (local testing)")
    ] = False,
    listen: Listen = None,
    database_url: DatabaseUrl = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=0,
            metavar="N",
            help="PostgreSQL: dispatcher processes beside the API (0: the API process dispatches)",
        ),
    ] = 0,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
) -> None:
    """Run the API and a dispatcher in one process (SQLite file by default, no configuration); on
    PostgreSQL, --workers N runs N dispatcher processes beside the API instead."""
    settings = _settings(listen=listen, database_url=database_url, tls_cert=tls_cert, tls_key=tls_key)
    if dev:
        settings = settings.with_overrides(allow_private_targets=True)
    _logging(settings)
    if workers and settings.is_sqlite:
        raise typer.BadParameter(
            "needs PostgreSQL: SQLite has one writer, so `herald serve` dispatches in its own process",
            param_hint="--workers",
        )
    if not workers:
        _run_http(settings, with_dispatcher=True)
        return
    from herald.runtime import Runtime
    from herald.workers import worker_pool

    _check_keys(settings)  # creates the key file, if any, before the workers read it
    runtime = Runtime.build(settings)
    asyncio.run(_migrate(runtime))  # the workers claim from the schema as it will be
    # uvicorn re-raises the SIGTERM it stopped on once it is done; as an exception (not the default
    # action, which ends the process at once) it lets the pool stop the workers on the way out.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    with worker_pool(settings, workers):
        _run_http(settings, with_dispatcher=False)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)


async def _migrate(runtime: Runtime) -> None:
    try:
        await runtime.migrate()
    finally:
        await runtime.db.dispose()


@app.command(short_help="The API only (beside `herald worker` processes).")
def api(
    listen: Listen = None,
    database_url: DatabaseUrl = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
) -> None:
    """Run the API only (pair it with `herald worker` processes on PostgreSQL)."""
    settings = _settings(listen=listen, database_url=database_url, tls_cert=tls_cert, tls_key=tls_key)
    _logging(settings)
    _run_http(settings, with_dispatcher=False)


@app.command(short_help="A dispatcher only; run any number on PostgreSQL.")
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
    _check_keys(settings)
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


@app.command("mtls-gateway", short_help="LivePerson's mTLS forward gateway.")
def mtls_gateway(
    listen: Annotated[str | None, typer.Option("--listen", help="host:port (HERALD_GATEWAY_LISTEN)")] = None,
    database_url: DatabaseUrl = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
) -> None:
    """Run the mTLS forward gateway (POST /mtls/account/{account_id}, LivePerson's protocol)."""
    settings = _settings(
        database_url=database_url, gateway_listen=listen, tls_cert=tls_cert, tls_key=tls_key
    )
    if not settings.gateway_token:
        console.print("[red]configuration error:[/red] set HERALD_GATEWAY_TOKEN for callers to authenticate")
        raise typer.Exit(2)
    tls = _tls(settings)
    _logging(settings)
    from aiohttp import web

    from herald.gateway import create_gateway
    from herald.runtime import Runtime

    _check_keys(settings)
    runtime = Runtime.build(settings)
    gateway = create_gateway(*runtime.gateway_parts(), settings.gateway_token)
    host, _, port = settings.gateway_listen.rpartition(":")
    console.print(
        f"[bold]Herald {__version__}[/bold] mTLS gateway listening on {scheme(tls)}://{settings.gateway_listen}"
    )
    web.run_app(
        gateway,
        host=host.strip("[]") or "127.0.0.1",
        port=int(port),
        ssl_context=server_context(tls) if tls else None,
        print=None,
    )


@app.command()
def migrate(database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the database schema."""
    settings = _settings(database_url=database_url)
    from herald.runtime import Runtime

    _check_keys(settings)

    async def run() -> None:
        runtime = Runtime.build(settings)
        await runtime.migrate()
        await runtime.db.dispose()

    asyncio.run(run())
    console.print(f"schema is up to date on {settings.database_url}")


@app.command(short_help="Re-encrypt stored secrets with the newest key.")
def rekey(database_url: DatabaseUrl = None) -> None:
    """Re-encrypt every stored secret with the first key of HERALD_SECRET_KEY (master-key rotation)."""
    settings = _settings(database_url=database_url)
    from herald.runtime import Runtime
    from herald.store.rekey import reencrypt_all

    _check_keys(settings)

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


@app.command(short_help="Benchmark delivery against a local receiver.")
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
    transport: Annotated[
        str, typer.Option(help="HERALD_TRANSPORT for Herald: aiohttp | reqwest (default: Herald's)")
    ] = "",
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
        transport=transport,
    )
    try:
        options.check()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    raise typer.Exit(run_bench(options, as_json=as_json))


@app.command(short_help="Publish a realistic contact-center event stream.")
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
    subscribe: Annotated[
        str | None,
        typer.Option(
            help="Subscribe each account to this URL (all event types) so deliveries happen and show in "
            "the dashboard; a loopback URL needs `herald serve --dev`"
        ),
    ] = None,
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
            subscribe=subscribe,
        )
        options.check()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    raise typer.Exit(run_simulate(options, console))


@app.command("listen", short_help="Forward deliveries to a local URL (like `stripe listen`).")
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
    from herald.domain.urls import UrlError, canonical_text
    from herald.listen import Options, listen

    if not token:
        raise typer.BadParameter("a token is needed: --token, HERALD_TOKEN or HERALD_ADMIN_TOKEN")
    try:  # the same URL rules as every other target; no address guard: it is the user's own machine
        forward_to = canonical_text(forward_to)
    except UrlError as exc:
        raise typer.BadParameter(f"--forward-to {exc}") from None
    kinds = [e.strip() for e in events.split(",") if e.strip()]
    options = Options(server, token, forward_to, account, kinds or ["*"], profile, timeout)
    out = Console(soft_wrap=True)
    raise typer.Exit(asyncio.run(listen(options, out)))


def main() -> None:
    app()
