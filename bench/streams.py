"""Streams bench: a Redis Streams source feeding HTTP delivery against the HTTP publish path, and HTTP
publish → a Redis Streams destination, in one `herald serve` (SQLite) on this machine.

    .venv/bin/python bench/streams.py [--events 5000] [--batch 100] [--rounds 3]

Each round uses a fresh account with one subscription, and measures deliveries/s from the first event
offered to the last one delivered:
- `http`: the events are published over the API (batches of `--batch`, 4 publishers at once) and delivered
  to the bench receiver (`herald.bench.receiver`);
- `source`: the events are first written to a Redis stream (XADD), then a source is created for it; Herald
  consumes them (batches of HERALD_SOURCE_BATCH = `--batch`) and delivers them to the same receiver;
- `destination`: the events are published over the API to a `redis://` subscription; done when the
  stream holds them all (XLEN).
Modes alternate within each round so a noisy machine weighs on all alike; medians are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis
from cryptography.fernet import Fernet

REDIS = "redis://127.0.0.1:6379/0"
TOKEN = "hrd_admin_streams_bench"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Api:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base
        self.headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}

    async def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        data = orjson.dumps(body) if body is not None else None
        async with self.session.request(method, self.base + path, data=data, headers=self.headers) as resp:
            text = await resp.read()
            if resp.status != expect:
                raise RuntimeError(f"{method} {path}: {resp.status} {text[:300]!r}")
            return orjson.loads(text) if text else None


async def delivered(session: aiohttp.ClientSession, receiver: str) -> int:
    async with session.get(receiver + "/_bench/stats") as resp:
        return int((await resp.json())["count"])


async def until(probe: Any, want: int, limit: float = 600.0) -> float:
    deadline = time.perf_counter() + limit
    while (got := await probe()) < want:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"only {got} of {want} after {limit:.0f} s")
        await asyncio.sleep(0.02)
    return time.perf_counter()


def bodies(n: int, run: str) -> list[dict[str, Any]]:
    return [{"id": f"{run}-{i}", "type": "bench.event", "data": {"n": i, "pad": "x" * 200}} for i in range(n)]


async def publish_all(api: Api, account: str, events: list[dict[str, Any]], batch: int) -> None:
    chunks = [events[i : i + batch] for i in range(0, len(events), batch)]
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for c in chunks:
        queue.put_nowait(c)

    async def publisher() -> None:
        while not queue.empty():
            chunk = queue.get_nowait()
            await api.call("POST", f"/v1/accounts/{account}/events", {"events": chunk}, expect=202)

    await asyncio.gather(*(publisher() for _ in range(4)))


async def run_http(api: Api, session: aiohttp.ClientSession, receiver: str, n: int, batch: int) -> float:
    account = f"bench-{uuid.uuid4().hex[:8]}"
    await api.call(
        "POST", f"/v1/accounts/{account}/subscriptions", {"url": receiver + "/h", "event_types": ["*"]}, 201
    )
    base = await delivered(session, receiver)
    start = time.perf_counter()
    await publish_all(api, account, bodies(n, account), batch)
    end = await until(lambda: _minus(delivered(session, receiver), base), n)
    return n / (end - start)


async def _minus(count: Any, base: int) -> int:
    return int(await count) - base


async def run_source(api: Api, session: aiohttp.ClientSession, receiver: str, n: int, batch: int) -> float:
    account = f"bench-{uuid.uuid4().hex[:8]}"
    stream = f"herald-bench-{account}"
    await api.call(
        "POST", f"/v1/accounts/{account}/subscriptions", {"url": receiver + "/s", "event_types": ["*"]}, 201
    )
    async with aioredis.from_url(REDIS) as client:
        async with client.pipeline(transaction=False) as pipe:
            for body in bodies(n, account):
                pipe.xadd(stream, {"event": orjson.dumps(body)})
            await pipe.execute()
        base = await delivered(session, receiver)
        start = time.perf_counter()
        source = await api.call(
            "POST",
            "/v1/sources",
            {"name": stream, "kind": "redis-stream", "url": REDIS, "stream": stream, "account": account},
            201,
        )
        end = await until(lambda: _minus(delivered(session, receiver), base), n)
        await api.call("DELETE", f"/v1/sources/{source['id']}", expect=204)
        await client.delete(stream)
    return n / (end - start)


async def run_destination(api: Api, n: int, batch: int) -> float:
    account = f"bench-{uuid.uuid4().hex[:8]}"
    stream = f"herald-bench-out-{account}"
    url = f"redis://127.0.0.1:6379/{stream}?maxlen={n * 2}"
    await api.call("POST", f"/v1/accounts/{account}/subscriptions", {"url": url, "event_types": ["*"]}, 201)
    async with aioredis.from_url(REDIS) as client:

        async def xlen() -> int:
            return int(await client.xlen(stream))

        start = time.perf_counter()
        await publish_all(api, account, bodies(n, account), batch)
        end = await until(xlen, n)
        await client.delete(stream)
    return n / (end - start)


async def main_async(args: argparse.Namespace, base: str, receiver: str) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"http": [], "source": [], "destination": []}
    async with aiohttp.ClientSession() as session:
        api = Api(session, base)
        for _ in range(300):
            try:
                async with session.get(base + "/healthz") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        for r in range(args.rounds):
            for mode in (
                ("http", "source", "destination") if r % 2 == 0 else ("destination", "source", "http")
            ):
                if mode == "http":
                    rate = await run_http(api, session, receiver, args.events, args.batch)
                elif mode == "source":
                    rate = await run_source(api, session, receiver, args.events, args.batch)
                else:
                    rate = await run_destination(api, args.events, args.batch)
                results[mode].append(rate)
                print(f"round {r + 1} {mode:12s} {rate:8.0f} deliveries/s", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--source-batch", type=int, default=None, help="HERALD_SOURCE_BATCH (default: --batch)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        api_port, receiver_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
        env.update(
            HERALD_DATABASE_URL=f"sqlite:///{work}/herald.db",
            HERALD_LISTEN=f"127.0.0.1:{api_port}",
            HERALD_ADMIN_TOKEN=TOKEN,
            HERALD_SECRET_KEY=Fernet.generate_key().decode(),
            HERALD_ALLOW_PRIVATE_TARGETS="1",
            HERALD_LOG_LEVEL="warning",
            HERALD_SOURCE_REFRESH="0.2",
            HERALD_SOURCE_BATCH=str(args.source_batch or args.batch),
        )
        herald_bin = str(Path(sys.executable).with_name("herald"))
        with (work / "receiver.log").open("wb") as rlog, (work / "serve.log").open("wb") as slog:
            procs = [
                subprocess.Popen(
                    [sys.executable, "-m", "herald.bench.receiver", "--port", str(receiver_port)],
                    stdout=rlog,
                    stderr=subprocess.STDOUT,
                ),
                subprocess.Popen(
                    [herald_bin, "serve"], env=env, cwd=work, stdout=slog, stderr=subprocess.STDOUT
                ),
            ]
        try:
            results = asyncio.run(
                main_async(args, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{receiver_port}")
            )
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
    source_batch = args.source_batch or args.batch
    print(
        f"\n{args.events} events per run, publish batch {args.batch}, source batch {source_batch},"
        f" {args.rounds} rounds (median, runs):"
    )
    for mode, rates in results.items():
        runs = " · ".join(f"{r:.0f}" for r in rates)
        print(f"  {mode:12s} {statistics.median(rates):8.0f} deliveries/s  ({runs})")
    ratio = statistics.median(results["source"]) / statistics.median(results["http"])
    print(f"  source / http publish: {ratio:.2f}")


if __name__ == "__main__":
    main()
