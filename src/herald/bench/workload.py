"""Publishing through the real API: as fast as possible (throughput) or on a fixed clock (latency).

Each event's data is `{"t": <time.time_ns() when its request was built>, "seq": <n>, "pad": "x…"}`; the
receiver finds `"t":…,"seq":…` in the delivered body with one regex search.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import orjson

from herald.bench.client import BenchError, HeraldClient
from herald.bench.options import EVENT_TYPE

TICK = 0.010  # latency mode publishes every 10 ms
MAX_PUBLISH_IN_FLIGHT = 256


def event_data(t_ns: int, seq: int, pad: str) -> dict[str, object]:
    return {"t": t_ns, "seq": seq, "pad": pad}


def batch_body(first_seq: int, size: int, pad: str) -> bytes:
    t_ns = time.time_ns()
    return orjson.dumps(
        {"events": [{"type": EVENT_TYPE, "data": event_data(t_ns, first_seq + i, pad)} for i in range(size)]}
    )


@dataclass
class PublishRun:
    events: int = 0
    requests: int = 0
    first_ns: int = 0  # just before the first request was built
    last_ns: int = 0  # when the last response arrived
    request_ms: list[float] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return max(self.last_ns - self.first_ns, 1) / 1e9


async def _timed_publish(client: HeraldClient, body: bytes, run: PublishRun, size: int) -> None:
    started = time.perf_counter()
    await client.publish(body)
    run.request_ms.append((time.perf_counter() - started) * 1000)
    run.requests += 1
    run.events += size
    run.last_ns = max(run.last_ns, time.time_ns())


async def publish_all(
    client: HeraldClient, events: int, batch: int, publishers: int, pad: str, first_seq: int = 0
) -> PublishRun:
    """Publish `events` events, `batch` per request, `publishers` requests at a time."""
    batches = iter([(start, min(batch, events - start)) for start in range(0, events, batch)])
    run = PublishRun()

    async def publisher() -> None:
        for start, size in batches:  # one shared iterator: each batch goes out once
            await _timed_publish(client, batch_body(first_seq + start, size, pad), run, size)

    run.first_ns = time.time_ns()
    await asyncio.gather(*(publisher() for _ in range(publishers)))
    return run


@dataclass
class SteadyRun(PublishRun):
    ticks: int = 0
    late_ticks: int = 0  # ticks sent more than one tick after their time
    lag_ms: list[float] = field(default_factory=list)  # how late each tick went out
    saturated_ticks: int = 0  # ticks that had to wait for a free publish slot


async def publish_steady(
    client: HeraldClient, rate: int, duration: float, pad: str, first_seq: int = 0, wait_s: float = 60.0
) -> SteadyRun:
    """Every 10 ms publish rate/100 events (fractions carried over), for `duration` s. No tick is
    skipped: a late tick goes out as soon as it can and its lateness is recorded."""
    loop = asyncio.get_running_loop()
    run = SteadyRun()
    tasks: set[asyncio.Task[None]] = set()
    errors: list[BaseException] = []
    slots = asyncio.Semaphore(MAX_PUBLISH_IN_FLIGHT)
    per_tick = rate * TICK
    carry = 0.0
    seq = first_seq

    def finished(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        slots.release()
        if not task.cancelled() and (exc := task.exception()) is not None:
            errors.append(exc)

    run.first_ns = time.time_ns()
    start = loop.time()
    total_ticks = max(1, round(duration / TICK))
    try:
        for i in range(total_ticks):
            if errors:
                break
            due = start + i * TICK
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            carry += per_tick
            size = int(carry)
            carry -= size
            if size:
                if slots.locked():
                    run.saturated_ticks += 1
                await slots.acquire()
                task = asyncio.create_task(_timed_publish(client, batch_body(seq, size, pad), run, size))
                tasks.add(task)
                task.add_done_callback(finished)
                seq += size
            lag = (loop.time() - due) * 1000
            run.lag_ms.append(lag)
            run.ticks += 1
            if lag > TICK * 1000:
                run.late_ticks += 1
        if tasks:
            _, late = await asyncio.wait(set(tasks), timeout=wait_s)
            if late:
                raise BenchError(f"{len(late)} publish requests still open after {wait_s:.0f}s")
    finally:
        for task in tasks:
            task.cancel()
    if errors:
        raise BenchError(f"publishing failed: {errors[0]}")
    return run
