"""The `herald` command: serve | api | worker | migrate | bench | keygen."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import typer
from rich.console import Console

from herald import __version__
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
def worker(database_url: DatabaseUrl = None) -> None:
    """Run a dispatcher only. Start as many as you like on PostgreSQL; SIGTERM stops one gracefully."""
    settings = _settings(database_url=database_url)
    _logging(settings)
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
        await dispatcher.run()
    finally:
        await dispatcher.transport.close()
        await runtime.db.dispose()


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
def keygen() -> None:
    """Print a new master key for HERALD_SECRET_KEY."""
    from herald.store.secretbox import SecretBox

    print(SecretBox.generate_key())


def main() -> None:
    app()
