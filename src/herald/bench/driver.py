"""A bench run from start to finish: receiver → ceiling → Herald → warm-up → throughput → latency.

Everything it starts it stops (SIGTERM, then SIGKILL), and the temporary directory and PostgreSQL
database go too, whether the run ends normally, fails, or is interrupted (Ctrl-C / SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console

from herald import __version__
from herald.bench.ceiling import run_ceiling
from herald.bench.client import BenchError, HeraldClient, ReceiverClient, wait_until_up
from herald.bench.machine import describe
from herald.bench.options import BenchOptions
from herald.bench.processes import (
    ProcessGroup,
    backend_connections,
    create_database,
    drop_database,
    free_port,
    herald_argv,
    receiver_argv,
)
from herald.bench.report import print_json, print_table
from herald.bench.results import BenchResult, CeilingResult, LatencyResult, ThroughputResult
from herald.bench.stats import summarize
from herald.bench.workload import publish_all, publish_steady
from herald.store.secretbox import SecretBox

STARTUP_TIMEOUT = 60.0
WARM_UP_EVENTS = 500
SEQ_STRIDE = 100_000_000  # each phase numbers its events from its own base


@dataclass
class _State:
    """What cleanup must undo, filled in as the run goes."""

    database: str | None = None


def run_bench(options: BenchOptions, as_json: bool = False) -> int:
    """Run the bench, print the result, return the exit status (0: every delivery arrived and was
    recorded; 1: incomplete or failed; 130: interrupted)."""
    options.check()
    log = Console(stderr=True)
    workdir = Path(tempfile.mkdtemp(prefix="herald-bench-"))
    group = ProcessGroup(workdir)
    state = _State()
    result: BenchResult | None = None
    try:
        machine = describe()
        with _runner() as runner:
            result = runner.run(_main(options, machine, group, state, log))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log.print("[yellow]interrupted; cleaning up[/yellow]")
        return 130
    except (BenchError, RuntimeError, OSError, aiohttp.ClientError) as exc:
        log.print(f"[red]bench failed:[/red] {exc}")
        for child in group.children:
            log.print(f"[dim]--- {child.name} log (last lines) ---[/dim]\n{child.tail()}")
        return 1
    finally:
        group.stop_all()
        if state.database is not None:
            with contextlib.suppress(Exception):
                asyncio.run(drop_database(options.pg_url, state.database))
        shutil.rmtree(workdir, ignore_errors=True)
    if as_json:
        print_json(result)
    else:
        print_table(result, Console())
    return 0 if result.ok else 1


def _runner() -> asyncio.Runner:
    try:
        import uvloop

        return asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover - Windows
        return asyncio.Runner()


async def _main(
    options: BenchOptions, machine: dict[str, object], group: ProcessGroup, state: _State, log: Console
) -> BenchResult:
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    pad = "x" * options.payload
    result = BenchResult(__version__, options.backend, asdict(options), machine)
    idle = machine.get("cpu_idle_before_start")
    if isinstance(idle, float) and idle < 0.8:
        result.notes.append(
            f"the CPUs were only {idle:.0%} idle just before the run: other work shares this machine"
        )
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        port = free_port()
        group.start("receiver", receiver_argv(port), dict(os.environ))
        receiver = ReceiverClient(session, f"http://127.0.0.1:{port}")
        await wait_until_up(session, f"{receiver.base_url}/_bench/stats", STARTUP_TIMEOUT, group.check_alive)
        urls = [f"{receiver.base_url}/hook/{k}" for k in range(options.fanout)]
        log.print(f"receiver on {receiver.base_url}")

        if options.runs_throughput:
            result.ceiling = await _ceiling(options, receiver, urls, pad, log)

        herald = await _start_herald(options, group, state, session, log)
        for url in urls:
            await herald.create_subscription(url)
        await _warm_up(options, herald, receiver, group, pad, log)

        if options.runs_throughput:
            result.throughput = await _throughput(options, herald, receiver, group, pad, log)
            if result.ceiling is not None and result.ceiling.requests_per_s > 0:
                result.ratio = result.throughput.deliveries_per_s / result.ceiling.requests_per_s
        if options.runs_latency:
            result.latency = await _latency(options, herald, receiver, group, pad, log)
            if result.latency.late_ticks:
                result.notes.append(
                    f"the publisher fell behind its clock on {result.latency.late_ticks} of "
                    f"{result.latency.ticks} ticks (max lag {result.latency.tick_lag_ms['max']:.1f} ms)"
                )
    if options.backend == "sqlite" and options.workers != 1:
        result.notes.append("--workers applies to postgresql only; sqlite runs one `herald serve`")
    return result


async def _ceiling(
    options: BenchOptions, receiver: ReceiverClient, urls: list[str], pad: str, log: Console
) -> CeilingResult:
    requests = options.events * options.fanout
    log.print(
        f"ceiling: {requests} signed POSTs from a bare aiohttp client, "
        f"{options.ceiling_concurrency} in flight"
    )
    await run_ceiling(urls, min(requests, 2000), options.ceiling_concurrency, pad)  # warm the receiver
    await receiver.reset()
    run = await run_ceiling(urls, requests, options.ceiling_concurrency, pad, 3 * SEQ_STRIDE)
    received = int((await receiver.stats())["count"])
    await receiver.reset()
    log.print(f"  {run.requests_per_s:,.0f} requests/s")
    return CeilingResult(
        run.requests, run.concurrency, run.seconds, run.requests_per_s, run.body_bytes, run.errors, received
    )


async def _start_herald(
    options: BenchOptions, group: ProcessGroup, state: _State, session: aiohttp.ClientSession, log: Console
) -> HeraldClient:
    token = "hrd_admin_bench_" + secrets.token_urlsafe(16)
    port = free_port()
    env = {
        **os.environ,
        "HERALD_ADMIN_TOKEN": token,
        "HERALD_LISTEN": f"127.0.0.1:{port}",
        "HERALD_ALLOW_PRIVATE_TARGETS": "1",
        "HERALD_LOG_LEVEL": "warning",
        "HERALD_SECRET_KEY": SecretBox.generate_key(),  # one key shared by the API and every worker
        "HERALD_SHUTDOWN_GRACE": "2",
    }
    if options.backend == "sqlite":
        env["HERALD_DATABASE_URL"] = f"sqlite:///{group.workdir / 'bench.db'}"
        log.print("starting `herald serve` (SQLite)")
        group.start("herald-serve", herald_argv("serve"), env)
    else:
        state.database, env["HERALD_DATABASE_URL"] = await create_database(options.pg_url)
        log.print(f"created database {state.database}; migrating")
        await _run_to_end(group, "herald-migrate", herald_argv("migrate"), env)
        log.print(f"starting `herald api` and {options.workers} x `herald worker` (PostgreSQL)")
        group.start("herald-api", herald_argv("api"), env)
        for i in range(options.workers):
            group.start(f"herald-worker-{i + 1}", herald_argv("worker"), env)
    base_url = f"http://127.0.0.1:{port}"
    await wait_until_up(session, f"{base_url}/healthz", STARTUP_TIMEOUT, group.check_alive)
    if state.database is not None:
        await _wait_for_sessions(options, state.database, options.workers + 1, group)
    return HeraldClient(session, base_url, token)


async def _run_to_end(group: ProcessGroup, name: str, argv: list[str], env: dict[str, str]) -> None:
    child = group.start(name, argv, env)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while child.process.poll() is None:
        if time.monotonic() > deadline:
            raise BenchError(f"{name} did not finish within {STARTUP_TIMEOUT:.0f}s")
        await asyncio.sleep(0.1)
    group.children.remove(child)
    child.log_file.close()
    if child.process.returncode != 0:
        raise BenchError(f"{name} exited with status {child.process.returncode}:\n{child.tail()}")


async def _wait_for_sessions(options: BenchOptions, database: str, wanted: int, group: ProcessGroup) -> None:
    """Every worker opens a database session as soon as it runs; wait until API + workers are seen."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while await backend_connections(options.pg_url, database) < wanted:
        group.check_alive()
        if time.monotonic() > deadline:
            raise BenchError(f"the {options.workers} worker(s) did not connect within {STARTUP_TIMEOUT:.0f}s")
        await asyncio.sleep(0.2)


async def _warm_up(
    options: BenchOptions,
    herald: HeraldClient,
    receiver: ReceiverClient,
    group: ProcessGroup,
    pad: str,
    log: Console,
) -> None:
    """Open connections, fill caches, and prove the path works before anything is timed."""
    log.print(f"warm-up: {WARM_UP_EVENTS} events")
    await receiver.reset()
    await publish_all(herald, WARM_UP_EVENTS, 100, 2, pad)
    expected = WARM_UP_EVENTS * options.fanout
    stats = await receiver.wait_for(expected, STARTUP_TIMEOUT, options.stall, group.check_alive)
    if stats["unique"] < expected:
        raise BenchError(f"warm-up: only {stats['unique']} of {expected} deliveries arrived")
    if await herald.wait_recorded(STARTUP_TIMEOUT, group.check_alive) is None:
        raise BenchError("warm-up: deliveries still pending in the database")
    await receiver.reset()


async def _throughput(
    options: BenchOptions,
    herald: HeraldClient,
    receiver: ReceiverClient,
    group: ProcessGroup,
    pad: str,
    log: Console,
) -> ThroughputResult:
    expected = options.events * options.fanout
    log.print(
        f"throughput: {options.events} events x {options.fanout} subscription(s), "
        f"{options.batch} per request, {options.publishers} publishers"
    )
    run = await publish_all(herald, options.events, options.batch, options.publishers, pad, SEQ_STRIDE)
    log.print(f"  published in {run.seconds:.2f}s; waiting for {expected} deliveries")
    stats, received, recorded_ns, dead, summary = await _settle(
        expected, options, herald, receiver, group
    )
    delivered_seconds = max(int(stats["last_ns"]) - run.first_ns, 1) / 1e9
    recorded_seconds = (recorded_ns - run.first_ns) / 1e9 if recorded_ns is not None else None
    result = ThroughputResult(
        events=options.events,
        expected=expected,
        received=received,
        duplicates=int(stats["marked"]) - received,
        complete=received >= expected and recorded_ns is not None,
        dead=dead,
        publish_seconds=run.seconds,
        publish_events_per_s=run.events / run.seconds,
        publish_request_ms=summarize(run.request_ms),
        delivered_seconds=delivered_seconds,
        deliveries_per_s=received / delivered_seconds,
        recorded_seconds=recorded_seconds,
        recorded_deliveries_per_s=expected / recorded_seconds if recorded_seconds else None,
        latency_ms=summary["latency_ms"],
    )
    log.print(f"  {result.deliveries_per_s:,.0f} deliveries/s received ({received}/{expected})")
    await receiver.reset()
    return result


async def _settle(
    expected: int, options: BenchOptions, herald: HeraldClient, receiver: ReceiverClient, group: ProcessGroup
) -> tuple[dict[str, Any], int, int | None, bool, dict[str, Any]]:
    """Wait until the receiver has `expected` deliveries, then until nothing is pending in the database.
    Returns the receiver's stats, deliveries received, when the last was recorded (ns, None if it never
    was), whether any delivery died, and the receiver's summary."""
    stats = await receiver.wait_for(expected, options.timeout, options.stall, group.check_alive)
    received = int(stats["unique"])
    recorded_ns = None
    if received >= expected:
        recorded_ns = await herald.wait_recorded(options.timeout, group.check_alive)
    dead = await herald.has_deliveries("dead")
    return stats, received, recorded_ns, dead, await receiver.summary()


async def _latency(
    options: BenchOptions,
    herald: HeraldClient,
    receiver: ReceiverClient,
    group: ProcessGroup,
    pad: str,
    log: Console,
) -> LatencyResult:
    log.print(f"latency: {options.rate} events/s for {options.duration:g}s, every 10 ms")
    await receiver.reset()
    run = await publish_steady(herald, options.rate, options.duration, pad, 2 * SEQ_STRIDE, options.timeout)
    expected = run.events * options.fanout
    stats, received, recorded_ns, dead, summary = await _settle(
        expected, options, herald, receiver, group
    )
    result = LatencyResult(
        rate=options.rate,
        duration=options.duration,
        events=run.events,
        expected=expected,
        received=received,
        duplicates=int(stats["marked"]) - received,
        complete=received >= expected and recorded_ns is not None,
        dead=dead,
        achieved_rate=run.events / run.seconds,
        ticks=run.ticks,
        late_ticks=run.late_ticks,
        saturated_ticks=run.saturated_ticks,
        tick_lag_ms=summarize(run.lag_ms),
        publish_request_ms=summarize(run.request_ms),
        latency_ms=summary["latency_ms"],
        recorded_after_s=(recorded_ns - int(stats["last_ns"])) / 1e9 if recorded_ns is not None else None,
    )
    lat = result.latency_ms
    log.print(f"  p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms ({received}/{expected})")
    await receiver.reset()
    return result
