"""Publishes the model's stream to POST /v1/accounts/{account}/events on a fixed clock, paced to a rate,
with a live rich display; Ctrl-C (or SIGTERM) stops it cleanly with a summary."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field

import aiohttp
import orjson
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from herald.domain.catalog.base import Family
from herald.simulate.model import SimEvent, Simulation

TICK_S = 0.2
MAX_BATCH = 500


@dataclass(frozen=True)
class SimulateOptions:
    server: str = "http://127.0.0.1:8080"
    token: str = ""
    accounts: int = 2
    agents: int = 5
    rate: float = 50.0
    duration: float = 60.0
    seed: int | None = None
    families: frozenset[Family] | None = None
    account_prefix: str = "sim-"

    def check(self) -> None:
        if self.accounts < 1 or self.agents < 1:
            raise ValueError("--accounts and --agents must be at least 1")
        if self.rate <= 0:
            raise ValueError("--rate must be positive")
        if self.duration < 0:
            raise ValueError("--duration must be 0 (until Ctrl-C) or more")
        if not self.token:
            raise ValueError("--token (or HERALD_ADMIN_TOKEN) is required")


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    published: int = 0
    duplicates: int = 0
    errors: int = 0
    failed_events: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    last_errors: deque[str] = field(default_factory=lambda: deque(maxlen=5))

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def render(self, backlog: int) -> Group:
        head = Table.grid(padding=(0, 2))
        rate = self.published / self.elapsed if self.elapsed > 0 else 0.0
        head.add_row(
            "elapsed", f"{self.elapsed:6.1f} s", "published", str(self.published), "rate", f"{rate:7.1f}/s"
        )
        head.add_row(
            "errors", str(self.errors), "failed events", str(self.failed_events), "backlog", str(backlog)
        )
        types = Table("event type", "sent", box=None)
        for name, count in sorted(self.by_type.items(), key=lambda kv: (-kv[1], kv[0])):
            types.add_row(name, str(count))
        parts: list[Table | Text] = [head, types]
        for err in self.last_errors:
            parts.append(Text(err, style="red"))
        return Group(*parts)


def describe_error(status: int, raw: bytes) -> str:
    """An error answer in one line; a 422 names its field."""
    try:
        error = orjson.loads(raw)["error"]
        field_name = (error.get("data") or {}).get("field")
        where = f" (field {field_name})" if field_name else ""
        return f"HTTP {status} {error.get('type', '')}: {error.get('message', '')}{where}"
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return f"HTTP {status}: {raw[:300].decode(errors='replace')}"


class Publisher:
    def __init__(self, session: aiohttp.ClientSession, options: SimulateOptions, stats: Stats) -> None:
        self.session = session
        self.base = options.server.rstrip("/")
        self.headers = {"Authorization": f"Bearer {options.token}", "Content-Type": "application/json"}
        self.stats = stats
        # Set on 401/403: a token that is refused will be refused every time, and each retry would count
        # against the server's failed-authentication limit.
        self.refused = False

    async def publish(self, account: str, events: list[SimEvent]) -> None:
        url = f"{self.base}/v1/accounts/{account}/events"
        body = orjson.dumps({"events": [e.body() for e in events]})
        try:
            async with self.session.post(
                url, data=body, headers=self.headers, timeout=aiohttp.ClientTimeout(total=30)
            ) as resp:
                raw = await resp.read()
                if resp.status != 202:
                    self._failed(events, f"{account}: {describe_error(resp.status, raw)}")
                    self.refused = self.refused or resp.status in (401, 403)
                    return
                out = orjson.loads(raw)
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
            self._failed(events, f"{account}: {type(exc).__name__}: {exc}")
            return
        dupes = len(out.get("duplicates", []))
        self.stats.duplicates += dupes
        self.stats.published += len(events) - dupes
        self.stats.by_type.update(e.type for e in events)

    def _failed(self, events: list[SimEvent], message: str) -> None:
        self.stats.errors += 1
        self.stats.failed_events += len(events)
        self.stats.last_errors.append(message)


async def simulate(options: SimulateOptions, console: Console) -> Stats:
    seed = options.seed if options.seed is not None else int(time.time())
    start_ms = time.time_ns() // 1_000_000
    model = Simulation(
        accounts=options.accounts,
        agents=options.agents,
        rate=options.rate,
        seed=seed,
        families=options.families,
        account_prefix=options.account_prefix,
        id_prefix=f"sim-{uuid.uuid4().hex[:12]}",
        start_ms=start_ms,
    )
    stats = Stats()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    backlog: deque[SimEvent] = deque()
    credit = 0.0
    console.print(
        f"simulating {options.accounts} account(s) x {options.agents} agent(s) at "
        f"{options.rate:g} events/s → {options.server} (seed {seed})"
    )
    try:
        async with aiohttp.ClientSession() as session:
            publisher = Publisher(session, options, stats)
            with Live(stats.render(0), console=console, refresh_per_second=4, transient=False) as live:
                next_tick = time.monotonic()
                while not stop.is_set() and not publisher.refused:
                    if options.duration and stats.elapsed >= options.duration:
                        break
                    backlog.extend(model.advance_to(start_ms + int(stats.elapsed * 1000)))
                    credit = min(credit + options.rate * TICK_S, options.rate * TICK_S * 2)
                    take = min(len(backlog), int(credit))
                    credit -= take
                    batch = [backlog.popleft() for _ in range(take)]
                    by_account: dict[str, list[SimEvent]] = {}
                    for event in batch:
                        by_account.setdefault(event.account, []).append(event)
                    await asyncio.gather(
                        *(
                            publisher.publish(account, events[i : i + MAX_BATCH])
                            for account, events in by_account.items()
                            for i in range(0, len(events), MAX_BATCH)
                        )
                    )
                    live.update(stats.render(len(backlog)))
                    next_tick += TICK_S
                    delay = next_tick - time.monotonic()
                    if delay > 0:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), delay)
                    else:
                        next_tick = time.monotonic()
                live.update(stats.render(len(backlog)))
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return stats


def run_simulate(options: SimulateOptions, console: Console) -> int:
    """Run until --duration or Ctrl-C; print the summary line on stdout. Exit code 1 when nothing was
    published and something failed."""
    stats = asyncio.run(simulate(options, console))
    for err in stats.last_errors:
        console.print(f"[red]{err}[/red]")
    print(
        f"published {stats.published} events ({stats.duplicates} duplicates, {stats.errors} failed requests, "
        f"{stats.failed_events} events not published) in {stats.elapsed:.1f} s",
        flush=True,
    )
    return 1 if stats.errors and not stats.published else 0
