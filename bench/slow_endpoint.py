"""Isolation bench: fast endpoints' throughput with and without a slow endpoint (3 s answers) in the same
Herald, and how long the slow one takes to be disabled.

    .venv/bin/python bench/slow_endpoint.py [--duration 30] [--slow-window 10] [--rounds 2]

Runs `herald serve` (SQLite) from a temporary directory, the bench receiver (`herald.bench.receiver`) for
the fast endpoints and a small aiohttp server answering after `--slow-delay` seconds on another port for the
slow one. Each round has two phases of `--duration` seconds, each in a fresh account with `--fanout` fast
subscriptions: A without, B with the slow subscription. Events are published continuously (the queue is
kept `--backlog` deliveries deep, so the dispatcher is the bottleneck) and the fast receiver's count is
sampled every 0.25 s. Phase B reports when the slow endpoint was disabled and the fast deliveries/s while it
was still enabled. HERALD_SLOW_WINDOW is shortened (`--slow-window`, default 10 s instead of 120 s) so a run
takes a minute or two; the mechanism is the same.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
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
    disabled_after: float | None = None
    slow_requests: int = 0

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


async def fast_count(session: aiohttp.ClientSession, receiver: str) -> int:
    async with session.get(receiver + "/_bench/stats") as resp:
        return int((await resp.json())["count"])


async def run_phase(
    api: Api, session: aiohttp.ClientSession, args: argparse.Namespace, receiver: str, slow_url: str | None,
    slow_hits: list[int], name: str,
) -> Phase:  # fmt: skip
    account = f"iso-{name}-{os.urandom(3).hex()}"
    for i in range(args.fanout):
        body = {"url": f"{receiver}/fast/{i}", "event_types": [EVENT_TYPE]}
        await api.call("POST", f"/v1/accounts/{account}/subscriptions", body, 201)
    slow_id = None
    if slow_url is not None:
        body = {"url": slow_url, "event_types": [EVENT_TYPE]}
        slow_id = (await api.call("POST", f"/v1/accounts/{account}/subscriptions", body, 201))["id"]
    phase = Phase(name)
    base_count = await fast_count(session, receiver)
    hits_before = slow_hits[0]
    published = 0
    stop = time.monotonic() + args.duration
    start = time.monotonic()
    batch = orjson.dumps({"events": [{"type": EVENT_TYPE, "data": {"n": i}} for i in range(args.batch)]})

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
        while time.monotonic() < stop:
            now = time.monotonic() - start
            phase.samples.append((now, await fast_count(session, receiver) - base_count))
            if slow_id is not None and phase.disabled_after is None:
                sub = await api.call("GET", f"/v1/accounts/{account}/subscriptions/{slow_id}")
                if not sub["enabled"]:
                    phase.disabled_after = now
                    print(f"  {name}: slow endpoint disabled after {now:.1f} s: {sub['disabled_reason']}")
            await asyncio.sleep(0.25)

    await asyncio.gather(publisher(), publisher(), sampler())
    phase.slow_requests = slow_hits[0] - hits_before
    # Drain the fast backlog, and drop the slow subscription (its queued deliveries are cancelled), so the
    # next phase starts from an empty queue.
    want = published * args.fanout
    deadline = time.monotonic() + 120
    while await fast_count(session, receiver) - base_count < want and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    if slow_id is not None:
        await api.call("DELETE", f"/v1/accounts/{account}/subscriptions/{slow_id}", expect=204)
    return phase


async def main_async(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="herald-iso-"))
    herald_bin = str(Path(sys.executable).with_name("herald"))
    fast_port, slow_port, api_port = free_port(), free_port(), free_port()
    token = "hrd_bench_" + os.urandom(8).hex()
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
    logs = (work / "receiver.log").open("wb"), (work / "serve.log").open("wb")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "herald.bench.receiver", "--port", str(fast_port)],
            stdout=logs[0],
            stderr=logs[0],
        ),
        subprocess.Popen([herald_bin, "serve"], env=env, cwd=work, stdout=logs[1], stderr=logs[1]),
    ]
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
            results: list[tuple[Phase, Phase]] = []
            for r in range(args.rounds):
                a = await run_phase(api, session, args, receiver, None, slow_hits, f"A{r + 1}")
                b = await run_phase(api, session, args, receiver, slow_url, slow_hits, f"B{r + 1}")
                results.append((a, b))
            print()
            print(f"duration {args.duration} s per phase, fanout {args.fanout} fast, slow answers after "
                  f"{args.slow_delay} s, HERALD_SLOW_WINDOW={args.slow_window}")  # fmt: skip
            print("round | A fast/s | B fast/s while slow enabled | B fast/s whole phase | slow disabled after | "
                  "slow requests")  # fmt: skip
            for i, (a, b) in enumerate(results, 1):
                base = a.rate(1.0, args.duration)
                end = b.disabled_after if b.disabled_after is not None else args.duration
                during = b.rate(1.0, end)
                whole = b.rate(1.0, args.duration)
                disabled = f"{b.disabled_after:.1f} s" if b.disabled_after is not None else "not disabled"
                print(
                    f"{i} | {base:,.0f} | {during:,.0f} ({(during / base - 1) * 100:+.1f} %) | "
                    f"{whole:,.0f} ({(whole / base - 1) * 100:+.1f} %) | {disabled} | {b.slow_requests}"
                )
    finally:
        await runner.cleanup()
        for p in procs:
            p.terminate()
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(15)
        for f in logs:
            f.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--slow-window", type=float, default=10.0)
    parser.add_argument("--slow-delay", type=float, default=3.0)
    parser.add_argument("--fanout", type=int, default=2)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--backlog", type=int, default=8000)
    parser.add_argument("--rounds", type=int, default=2)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
