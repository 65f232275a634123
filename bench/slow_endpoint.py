"""Isolation bench: fast endpoints' throughput with and without a slow endpoint (3 s answers) in the same
Herald, and how long the slow one takes to be disabled.

    .venv/bin/python bench/slow_endpoint.py --paired [--before 15] [--after 30] [--rounds 3] [--rate N]

Runs `herald serve` (SQLite) from a temporary directory, the bench receiver (`herald.bench.receiver`) for
the fast endpoints and a small aiohttp server answering after `--slow-delay` seconds on another port for the
slow one. Each round is one stream in a fresh account with `--fanout` fast subscriptions: fast only for
`--before` seconds, then `--after` seconds with the slow subscription added (or, in a control round,
nothing added). Events are published continuously (the queue is kept `--backlog` deliveries deep, so the
dispatcher is the bottleneck) and the fast receiver's count is sampled every 0.25 s. `--paired` alternates
rounds with and without the slow endpoint and reports, per pair, the fast deliveries/s of both over the
same seconds (while the slow one was enabled, and after it was disabled) and their ratio.
HERALD_SLOW_WINDOW is shortened (`--slow-window`, default 10 s instead of 120 s) so a run takes minutes;
the rule is the same.

Two loads: by default Herald is saturated (the fast endpoints get what is left of two CPU-bound cores, so
any third subscription costs them a share); with `--rate N` events are published at N per second, a load
Herald carries, and the pair also compares the fast deliveries' publish→delivered latency over the first
`--latency-window` seconds after the slow endpoint was added (the receiver's percentiles).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from cryptography.fernet import Fernet

from herald.bench.processes import free_port

EVENT_TYPE = "bench.isolation"


@dataclass
class Phase:
    name: str
    samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, fast count)
    cpu: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, Herald's CPU s)
    slow_added: float = 0.0
    disabled_after: float | None = None
    slow_requests: int = 0
    deferred: dict[str, float] = field(default_factory=dict)  # deliveries handed back, by reason
    latency: dict[str, float] = field(default_factory=dict)  # --rate: fast latency percentiles (ms)

    def cost(self, start: float, end: float) -> float:
        """Herald's CPU milliseconds per fast delivery over [start, end]: what each fast delivery cost,
        however much CPU the noisy machine left Herald."""
        counts = [(t, n) for t, n in self.samples if start <= t <= end]
        cpu = [(t, c) for t, c in self.cpu if start <= t <= end]
        if len(counts) < 2 or len(cpu) < 2 or counts[-1][1] == counts[0][1]:
            return float("nan")
        return (cpu[-1][1] - cpu[0][1]) * 1000 / (counts[-1][1] - counts[0][1])

    def rate(self, start: float, end: float) -> float:
        inside = [(t, n) for t, n in self.samples if start <= t <= end]
        if len(inside) < 2:
            return float("nan")
        (t0, n0), (t1, n1) = inside[0], inside[-1]
        return (n1 - n0) / (t1 - t0)


class Api:
    def __init__(self, session: aiohttp.ClientSession, base: str, token: str) -> None:
        self.session, self.base = session, base
        self.headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}

    async def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        data = None if body is None else orjson.dumps(body)
        async with self.session.request(method, self.base + path, data=data, headers=self.headers) as resp:
            raw = await resp.read()
            if resp.status != expect:
                raise RuntimeError(f"{method} {path}: {resp.status} {raw[:300]!r}")
            return orjson.loads(raw) if raw else None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def deferred_counts(api: Api) -> dict[str, float]:
    """Herald's herald_deliveries_deferred_total by reason (how deliveries went back without an attempt)."""
    async with api.session.get(api.base + "/metrics") as resp:
        text = await resp.text()
    out = {}
    for line in text.splitlines():
        if line.startswith("herald_deliveries_deferred_total{"):
            labels, value = line.rsplit(" ", 1)
            out[labels.split('"')[1]] = float(value)
    return out


async def fast_count(session: aiohttp.ClientSession, receiver: str) -> int:
    async with session.get(receiver + "/_bench/stats") as resp:
        return int((await resp.json())["count"])


async def latency_window(session: aiohttp.ClientSession, receiver: str, start: bool) -> dict[str, float]:
    """Start a new latency window on the fast receiver, or read the one that is running."""
    if start:
        async with session.post(receiver + "/_bench/latency-reset") as resp:
            resp.raise_for_status()
        return {}
    async with session.get(receiver + "/_bench/summary") as resp:
        return dict((await resp.json())["latency_ms"])


async def run_round(
    api: Api, session: aiohttp.ClientSession, args: argparse.Namespace, receiver: str, slow_url: str,
    slow_hits: list[int], name: str, control: bool,
) -> Phase:  # fmt: skip
    """One continuous stream: fast subscriptions only for `--before` s, then the slow one is added."""
    account = f"iso-{name}-{os.urandom(3).hex()}"
    for i in range(args.fanout):
        body = {"url": f"{receiver}/fast/{i}", "event_types": [EVENT_TYPE]}
        await api.call("POST", f"/v1/accounts/{account}/subscriptions", body, 201)
    phase = Phase(name)
    base_count = await fast_count(session, receiver)
    hits_before = slow_hits[0]
    deferred_before = await deferred_counts(api)
    published = 0
    start = time.monotonic()
    stop = start + args.before + args.after
    slow_id: str | None = None
    batch = orjson.dumps({"events": [{"type": EVENT_TYPE, "data": {"n": i}} for i in range(args.batch)]})

    async def paced_publisher() -> None:
        """--rate: `args.rate` events a second in batches, each event marked with its publish time."""
        nonlocal published
        next_at = time.monotonic()
        while time.monotonic() < stop:
            events = [{"type": EVENT_TYPE, "data": {"t": time.time_ns(), "seq": published + i}}
                      for i in range(args.batch)]  # fmt: skip
            async with session.post(
                f"{api.base}/v1/accounts/{account}/events", data=orjson.dumps({"events": events}),
                headers=api.headers,
            ) as resp:  # fmt: skip
                assert resp.status == 202, await resp.text()
            published += args.batch
            next_at += args.batch / args.rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def publisher() -> None:
        nonlocal published
        while time.monotonic() < stop:
            delivered = phase.samples[-1][1] if phase.samples else 0
            if published * args.fanout - delivered > args.backlog:
                await asyncio.sleep(0.02)
                continue
            async with session.post(
                f"{api.base}/v1/accounts/{account}/events", data=batch, headers=api.headers
            ) as resp:
                assert resp.status == 202, await resp.text()
            published += args.batch

    async def sampler() -> None:
        nonlocal slow_id
        window = "before"
        while time.monotonic() < stop:
            now = time.monotonic() - start
            phase.samples.append((now, await fast_count(session, receiver) - base_count))
            phase.cpu.append((now, cpu_seconds(args.serve_pid)))
            if args.rate and window == "before" and now >= args.before:
                await latency_window(session, receiver, start=True)
                window = "open"
            elif window == "open" and now >= args.before + args.latency_window:
                phase.latency = await latency_window(session, receiver, start=False)
                window = "read"
            if control and now >= args.before and not phase.slow_added:
                # The control round: nothing is added (or, with --third-fast, a fast endpoint on another
                # receiver), and the same windows are measured.
                if args.extra_url:
                    body = {"url": args.extra_url, "event_types": [EVENT_TYPE]}
                    await api.call("POST", f"/v1/accounts/{account}/subscriptions", body, 201)
                phase.slow_added = now
            elif not control and slow_id is None and now >= args.before:
                body = {"url": slow_url, "event_types": [EVENT_TYPE]}
                slow_id = (await api.call("POST", f"/v1/accounts/{account}/subscriptions", body, 201))["id"]
                phase.slow_added = now
            elif slow_id is not None and phase.disabled_after is None:
                sub = await api.call("GET", f"/v1/accounts/{account}/subscriptions/{slow_id}")
                if not sub["enabled"]:
                    phase.disabled_after = now
                    print(f"  {name}: slow endpoint disabled {now - args.before:.1f} s after it was added: "
                          f"{sub['disabled_reason']}")  # fmt: skip
            await asyncio.sleep(0.25)

    publishers = [paced_publisher()] if args.rate else [publisher(), publisher()]
    await asyncio.gather(*publishers, sampler())
    phase.slow_requests = slow_hits[0] - hits_before
    deferred_after = await deferred_counts(api)
    phase.deferred = {k: v - deferred_before.get(k, 0.0) for k, v in deferred_after.items()}
    # Drain the fast backlog and drop the slow subscription (its parked deliveries are cancelled), so the
    # next round starts from an empty queue.
    want = published * args.fanout
    deadline = time.monotonic() + 120
    while await fast_count(session, receiver) - base_count < want and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    if slow_id is not None:
        await api.call("DELETE", f"/v1/accounts/{account}/subscriptions/{slow_id}", expect=204)
    return phase


async def run_pairs(
    api: Api, session: aiohttp.ClientSession, args: argparse.Namespace, receiver: str, slow_url: str,
    slow_hits: list[int],
) -> None:  # fmt: skip
    """`--rounds` pairs of rounds in the same Herald: one with the slow endpoint added, one control with
    nothing added, in alternating order (so the drift of a growing database and of the machine falls on
    both alike). Each pair compares the fast deliveries/s of the two rounds over the same seconds: while
    the slow endpoint was enabled (from its addition to its disabling), and after."""
    ratios_during: list[float] = []
    ratios_after: list[float] = []
    disabled: list[float] = []
    latency: dict[str, list[tuple[float, float]]] = {"p50": [], "p99": []}
    cost_ratios: list[float] = []
    end = args.before + args.after
    print("pair | slow: disabled after | fast/s while enabled: control, with slow, ratio | "
          "fast/s after: control, with slow, ratio")  # fmt: skip
    for r in range(args.rounds):
        order = (True, False) if r % 2 == 0 else (False, True)
        phases = {}
        for control in order:
            name = f"P{r + 1}{'C' if control else 'S'}"
            phase = await run_round(api, session, args, receiver, slow_url, slow_hits, name, control)
            phases[control] = phase
        slow, ctl = phases[False], phases[True]
        if slow.disabled_after is None:
            print(f"P{r + 1} | not disabled within the round")
            continue
        cut = slow.disabled_after
        disabled.append(cut - slow.slow_added)
        during = (ctl.rate(args.before, cut), slow.rate(args.before, cut))
        after = (ctl.rate(cut, end), slow.rate(cut, end))
        ratios_during.append(during[1] / during[0])
        cost = (ctl.cost(args.before, cut), slow.cost(args.before, cut))
        cost_ratios.append(cost[0] / cost[1])
        ratios_after.append(after[1] / after[0])
        print(f"P{r + 1} | {cut - slow.slow_added:.1f} s | {during[0]:,.0f}, {during[1]:,.0f}, "
              f"{during[1] / during[0]:.3f} | {after[0]:,.0f}, {after[1]:,.0f}, "
              f"{after[1] / after[0]:.3f}")  # fmt: skip
        handed_back = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(slow.deferred.items()) if v)
        print(f"   handed back without an attempt, round with the slow endpoint: {handed_back or 'none'}")
        print(f"   Herald CPU per fast delivery while enabled, control / with slow: {cost[0]:.3f} / "
              f"{cost[1]:.3f} ms, ratio {cost[0] / cost[1]:.3f}")  # fmt: skip
        if args.rate:
            for q in ("p50", "p99"):
                latency[q].append((ctl.latency[q], slow.latency[q]))
            print(f"   fast latency over {args.latency_window:g} s after the addition, control / with slow: "
                  f"p50 {ctl.latency['p50']:.1f} / {slow.latency['p50']:.1f} ms, "
                  f"p99 {ctl.latency['p99']:.1f} / {slow.latency['p99']:.1f} ms")  # fmt: skip
    if ratios_during:
        print(f"median: disabled after {statistics.median(disabled):.1f} s; fast throughput with the slow "
              f"endpoint / without: {statistics.median(ratios_during):.3f} while it was enabled, "
              f"{statistics.median(ratios_after):.3f} after it was disabled; Herald CPU per fast delivery "
              f"without / with: {statistics.median(cost_ratios):.3f}")  # fmt: skip
    for q, pairs in latency.items():
        if pairs:
            print(f"median fast {q} latency: {statistics.median(c for c, _ in pairs):.1f} ms control, "
                  f"{statistics.median(s for _, s in pairs):.1f} ms with the slow endpoint")  # fmt: skip


def start_processes(
    args: argparse.Namespace, work: Path, fast_port: int, api_port: int, token: str
) -> list[Any]:
    """The fast receiver and `herald serve`, logging into `work`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(
        HERALD_DATABASE_URL=f"sqlite:///{work}/herald.db",
        HERALD_LISTEN=f"127.0.0.1:{api_port}",
        HERALD_ADMIN_TOKEN=token,
        HERALD_SECRET_KEY=Fernet.generate_key().decode(),
        HERALD_ALLOW_PRIVATE_TARGETS="1",
        HERALD_SLOW_WINDOW=str(args.slow_window),
        HERALD_LOG_LEVEL="warning",
    )
    herald_bin = str(Path(sys.executable).with_name("herald"))
    ports = [fast_port] + ([args.extra_port] if args.extra_port else [])
    procs = []
    for port in ports:  # the fast receiver, and --third-fast's own receiver (its own lane, not counted)
        with (work / f"receiver-{port}.log").open("wb") as receiver_log:
            receiver_cmd = [sys.executable, "-m", "herald.bench.receiver", "--port", str(port)]
            procs.append(subprocess.Popen(receiver_cmd, stdout=receiver_log, stderr=subprocess.STDOUT))
    with (work / "serve.log").open("wb") as serve_log:
        procs.append(
            subprocess.Popen(
                [herald_bin, "serve"], env=env, cwd=work, stdout=serve_log, stderr=subprocess.STDOUT
            )
        )
    return procs


async def main_async(
    args: argparse.Namespace, fast_port: int, slow_port: int, api_port: int, token: str
) -> None:
    slow_hits = [0]

    async def slow(request: web.Request) -> web.Response:
        slow_hits[0] += 1
        await request.read()
        await asyncio.sleep(args.slow_delay)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", slow)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", slow_port).start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            api = Api(session, f"http://127.0.0.1:{api_port}", token)
            for _ in range(200):
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(api.base + "/healthz") as resp:
                        if resp.status == 200:
                            break
                await asyncio.sleep(0.1)
            receiver = f"http://127.0.0.1:{fast_port}"
            slow_url = f"http://127.0.0.1:{slow_port}/slow"
            if args.paired:
                await run_pairs(api, session, args, receiver, slow_url, slow_hits)
                return
            results = [
                await run_round(api, session, args, receiver, slow_url, slow_hits, f"R{r + 1}", args.control)
                for r in range(args.rounds)
            ]
            print()
            added_what = "nothing added (control)" if args.control else "the slow endpoint added"
            print(f"{args.before:g} s fast only, then {args.after:g} s with {added_what}; fanout "
                  f"{args.fanout} fast; slow answers after {args.slow_delay:g} s; "
                  f"HERALD_SLOW_WINDOW={args.slow_window:g}")  # fmt: skip
            print("round | fast/s before | fast/s while slow enabled | fast/s after disabled | "
                  "disabled after | slow requests")  # fmt: skip
            for p in results:
                added = p.slow_added
                end = p.disabled_after if p.disabled_after is not None else args.before + args.after
                before = p.rate(1.0, added)
                during = p.rate(added, end)
                after = p.rate(end, args.before + args.after)
                disabled = f"{end - added:.1f} s" if p.disabled_after is not None else "not disabled"
                if args.control:
                    end, disabled = added + (args.after / 2), "(control: nothing added)"
                    during, after = p.rate(added, end), p.rate(end, args.before + args.after)
                print(
                    f"{p.name} | {before:,.0f} | {during:,.0f} ({(during / before - 1) * 100:+.1f} %) | "
                    f"{after:,.0f} ({(after / before - 1) * 100:+.1f} %) | {disabled} | {p.slow_requests}"
                )
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=float, default=15.0)
    parser.add_argument("--after", type=float, default=30.0)
    parser.add_argument("--slow-window", type=float, default=10.0)
    parser.add_argument("--slow-delay", type=float, default=3.0)
    parser.add_argument("--fanout", type=int, default=2)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--backlog", type=int, default=8000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--rate", type=float, default=0.0, help="publish this many events/s (default: saturate Herald)"
    )
    parser.add_argument("--latency-window", type=float, default=12.0)
    parser.add_argument(
        "--control",
        action="store_true",
        help="add no slow endpoint: the drift of the same windows without one",
    )
    parser.add_argument(
        "--paired",
        action="store_true",
        help="alternate rounds with and without the slow endpoint and report their ratios (the baseline)",
    )
    parser.add_argument(
        "--third-fast",
        action="store_true",
        help="control rounds add a third, fast endpoint (another receiver) instead of nothing: the cost of "
        "one more subscription, apart from its slowness",
    )
    args = parser.parse_args()
    args.extra_port = free_port() if args.third_fast else None
    args.extra_url = f"http://127.0.0.1:{args.extra_port}/extra" if args.third_fast else None
    work = Path(tempfile.mkdtemp(prefix="herald-iso-"))
    fast_port, slow_port, api_port = free_port(), free_port(), free_port()
    token = "hrd_bench_" + os.urandom(8).hex()
    procs = start_processes(args, work, fast_port, api_port, token)
    args.serve_pid = procs[-1].pid
    try:
        asyncio.run(main_async(args, fast_port, slow_port, api_port, token))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(15)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
