"""Publishes the model's stream to POST /v1/accounts/{account}/events on a fixed clock, paced to a rate,
with a live rich display; Ctrl-C (or SIGTERM) stops it cleanly with a summary.

The model's conversations spread their events over minutes, so on its own the stream starts far below the
rate; the driver opens extra conversations whenever the backlog is short of the next tick. When publishing
itself is the limit, the display says so instead of silently falling behind."""

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
WINDOW_S = 3.0  # the live rates are measured over this many seconds
CATCH_UP_S = 1.0  # at most this many seconds' worth of events in one round
SHORTFALL = 0.9  # below this share of --rate, once warmed up, the display says why
SUBSCRIPTION_NAME = "herald simulate"


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
    subscribe: str | None = None  # an endpoint URL each simulated account gets a subscription to

    def check(self) -> None:
        if self.accounts < 1 or self.agents < 1:
            raise ValueError("--accounts and --agents must be at least 1")
        if self.rate <= 0:
            raise ValueError("--rate must be positive")
        if self.duration < 0:
            raise ValueError("--duration must be 0 (until Ctrl-C) or more")
        if not self.token:
            raise ValueError("--token (or HERALD_ADMIN_TOKEN) is required")
        if self.subscribe is not None and not self.subscribe.startswith(("http://", "https://")):
            raise ValueError("--subscribe must be an http:// or https:// URL")


class SimulateError(Exception):
    """The server refused what the simulation needs before it starts (its subscriptions)."""


class Window:
    """A counter's rate over the last WINDOW_S seconds."""

    def __init__(self) -> None:
        self.samples: deque[tuple[float, float]] = deque()

    def add(self, now: float, total: float) -> None:
        self.samples.append((now, total))
        while len(self.samples) > 2 and now - self.samples[1][0] >= WINDOW_S:
            self.samples.popleft()

    def rate(self) -> float | None:
        if len(self.samples) < 2:
            return None
        (t0, v0), (t1, v1) = self.samples[0], self.samples[-1]
        return (v1 - v0) / (t1 - t0) if t1 > t0 else None


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    target: float = 0.0
    published: int = 0
    duplicates: int = 0
    errors: int = 0
    failed_events: int = 0
    topped_up: int = 0  # extra conversations opened to keep the rate
    by_type: Counter[str] = field(default_factory=Counter)
    last_errors: deque[str] = field(default_factory=lambda: deque(maxlen=5))
    publishing: Window = field(default_factory=Window)
    delivered: Window = field(default_factory=Window)
    failed: Window = field(default_factory=Window)
    slowest_round_ms: float = 0.0  # the slowest publish round of the last window
    shortfall: str | None = None

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check_shortfall(self, backlog: int) -> None:
        """Say so when events wait to be published but the server takes fewer than asked."""
        rate = self.publishing.rate()
        if self.elapsed < 2 * WINDOW_S or rate is None or rate >= SHORTFALL * self.target:
            self.shortfall = None
        elif backlog > self.target * TICK_S:
            self.shortfall = (
                f"Herald takes {rate:.0f} events/s here, below the {self.target:g}/s asked: publishing "
                f"is the limit on this machine (a publish round took up to {self.slowest_round_ms:.0f} ms)"
            )

    def live_line(self) -> str:
        def per_s(w: Window) -> str:
            r = w.rate()
            return "-" if r is None else f"{r:.1f}/s"

        return (
            f"published {per_s(self.publishing)}   delivered {per_s(self.delivered)}   "
            f"failed {per_s(self.failed)}"
        )

    def render(self, backlog: int) -> Group:
        head = Table.grid(padding=(0, 2))
        head.add_row(
            "elapsed", f"{self.elapsed:6.1f} s", "published", str(self.published), "backlog", str(backlog)
        )
        head.add_row(
            "errors", str(self.errors), "failed events", str(self.failed_events), "duplicates",
            str(self.duplicates),
        )  # fmt: skip
        types = Table("event type", "sent", box=None)
        for name, count in sorted(self.by_type.items(), key=lambda kv: (-kv[1], kv[0])):
            types.add_row(name, str(count))
        parts: list[Table | Text] = [Text(self.live_line(), style="bold"), head, types]
        if self.shortfall:
            parts.append(Text(self.shortfall, style="yellow"))
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

    async def subscribe(self, account: str, url: str) -> str:
        """The account's demo subscription to `url` (every event type): the one an earlier run made, or
        a new one. Raises SimulateError with the server's answer when refused."""
        base = f"{self.base}/v1/accounts/{account}/subscriptions"
        async with self.session.get(base, headers=self.headers) as resp:
            raw = await resp.read()
            if resp.status != 200:
                raise SimulateError(f"{account}: {describe_error(resp.status, raw)}")
            for sub in orjson.loads(raw)["data"]:
                if sub["url"] == url and sub.get("name") == SUBSCRIPTION_NAME:
                    return str(sub["id"])
        body = {"url": url, "event_types": ["*"], "name": SUBSCRIPTION_NAME}
        async with self.session.post(base, data=orjson.dumps(body), headers=self.headers) as resp:
            raw = await resp.read()
            if resp.status != 201:
                raise SimulateError(f"--subscribe for {account}: {describe_error(resp.status, raw)}")
            return str(orjson.loads(raw)["id"])

    async def watch_deliveries(self, stop: asyncio.Event) -> None:
        """Poll the server's /metrics once a second for delivered and failed attempts (served there by
        `herald serve`; with separate workers they stay unknown, shown as -)."""
        while not stop.is_set():
            try:
                async with self.session.get(f"{self.base}/metrics") as resp:
                    text = (await resp.read()).decode(errors="replace")
                counters = parse_counters(text)
                now = time.monotonic()
                if "herald_deliveries_delivered_total" in counters:
                    self.stats.delivered.add(now, counters["herald_deliveries_delivered_total"])
                    self.stats.failed.add(now, counters.get('herald_attempts_total{outcome="failure"}', 0.0))
            except (aiohttp.ClientError, TimeoutError, ValueError):
                pass  # the live line shows the last rates; publishing goes on
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    def _failed(self, events: list[SimEvent], message: str) -> None:
        self.stats.errors += 1
        self.stats.failed_events += len(events)
        self.stats.last_errors.append(message)


def parse_counters(text: str) -> dict[str, float]:
    """Prometheus text format → {name{labels}: value} for the samples that parse."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[name] = float(value)
    return out


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
    stats = Stats(target=options.rate)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    backlog: deque[SimEvent] = deque()
    handed = 0  # events handed to publish so far
    console.print(
        f"simulating {options.accounts} account(s) x {options.agents} agent(s) at "
        f"{options.rate:g} events/s → {options.server} (seed {seed})"
    )
    try:
        async with aiohttp.ClientSession() as session:
            publisher = Publisher(session, options, stats)
            if options.subscribe:
                for account in model.account_ids:
                    await publisher.subscribe(account, options.subscribe)
                console.print(f"each account delivers every event to {options.subscribe}")
            else:
                console.print(
                    "no --subscribe URL: events are stored, nothing is delivered, and the accounts do "
                    "not show in the dashboard until something subscribes"
                )
            watch = asyncio.create_task(publisher.watch_deliveries(stop))
            with Live(stats.render(0), console=console, refresh_per_second=4, transient=False) as live:
                stats.started = next_tick = time.monotonic()  # the clock starts with the stream
                while not stop.is_set() and not publisher.refused:
                    if options.duration and stats.elapsed >= options.duration:
                        break
                    backlog.extend(model.advance_to(start_ms + int(stats.elapsed * 1000)))
                    # Owed by the clock, not by ticks: a slow round is made up by the next ones (at
                    # most CATCH_UP_S worth at once, so a stalled server is not flooded afterwards).
                    owed = int(options.rate * stats.elapsed) - handed
                    want = max(0, min(owed, int(options.rate * CATCH_UP_S) + 1))
                    handed += owed - want  # what is beyond catching up is let go
                    while len(backlog) < want:  # the model runs short: open more conversations
                        backlog.extend(model.open_conversation())
                        stats.topped_up += 1
                    handed += want
                    batch = [backlog.popleft() for _ in range(want)]
                    by_account: dict[str, list[SimEvent]] = {}
                    for event in batch:
                        by_account.setdefault(event.account, []).append(event)
                    round_started = time.monotonic()
                    await asyncio.gather(
                        *(
                            publisher.publish(account, events[i : i + MAX_BATCH])
                            for account, events in by_account.items()
                            for i in range(0, len(events), MAX_BATCH)
                        )
                    )
                    now = time.monotonic()
                    round_ms = (now - round_started) * 1000
                    if len(stats.publishing.samples) < 2 or now - stats.publishing.samples[0][0] >= WINDOW_S:
                        stats.slowest_round_ms = round_ms
                    stats.slowest_round_ms = max(stats.slowest_round_ms, round_ms)
                    stats.publishing.add(now, stats.published)
                    stats.check_shortfall(len(backlog))
                    live.update(stats.render(len(backlog)))
                    next_tick += TICK_S
                    delay = next_tick - time.monotonic()
                    if delay > 0:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), delay)
                    else:
                        next_tick = time.monotonic()
                live.update(stats.render(len(backlog)))
            stop.set()
            await watch
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return stats


def run_simulate(options: SimulateOptions, console: Console) -> int:
    """Run until --duration or Ctrl-C; print the summary line on stdout. Exit code 1 when nothing was
    published and something failed."""
    try:
        stats = asyncio.run(simulate(options, console))
    except SimulateError as exc:
        console.print(f"[red]{exc}[/red]")
        return 1
    except aiohttp.ClientError as exc:
        console.print(f"[red]cannot reach {options.server}: {exc}[/red]")
        return 1
    if not console.is_terminal:
        console.line()  # a terminal's live display ends its own line; a pipe's does not
    if stats.shortfall:
        console.print(f"[yellow]{stats.shortfall}[/yellow]")
    for err in stats.last_errors:
        console.print(f"[red]{err}[/red]")
    print(
        f"published {stats.published} events ({stats.duplicates} duplicates, {stats.errors} failed requests, "
        f"{stats.failed_events} events not published) in {stats.elapsed:.1f} s, "
        f"{stats.published / max(stats.elapsed, 1e-9):.1f} events/s",
        flush=True,
    )
    return 1 if stats.errors and not stats.published else 0
