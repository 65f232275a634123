"""The ceilings: the same signed POSTs Herald sends, sent by a bare client to the same receiver, once
with aiohttp and once with pyreqwest (the two transports Herald can use).

Per request it does what any dispatcher must do at minimum: render the Standard Webhooks body, sign it
with a whsec_ key, POST it over a pooled keep-alive session configured like Herald's transport, and read
the answer (at most 4 KiB, as the transports do). No database, no queue. Herald's deliveries/s divided by
the aiohttp ceiling is the figure to compare across machines; the CPU µs per request of each client is
the floor under Herald's CPU per delivery.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass

import aiohttp
import orjson
from pyreqwest import exceptions as rq

from herald.bench.client import BenchError
from herald.bench.options import EVENT_TYPE
from herald.bench.workload import event_data
from herald.dispatch.transport_reqwest import bare_builder
from herald.domain.profiles import USER_AGENT, iso_timestamp
from herald.domain.signing import generate_whsec, standard_signature, whsec_key

CLIENTS = ("aiohttp", "reqwest")
LIMIT = 4096  # response bytes read, as the transports do


@dataclass
class CeilingRun:
    client: str
    requests: int
    concurrency: int
    seconds: float
    body_bytes: int
    errors: int
    cpu_seconds: float  # this process's CPU (every thread: the Rust client's too) during the run

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def render(seq: int, pad: str, key: bytes) -> tuple[bytes, dict[str, str]]:
    """One signed Standard Webhooks request, shaped like Herald's (same envelope, headers, id length)."""
    now = time.time()
    body = b"".join(
        (
            b'{"type":',
            orjson.dumps(EVENT_TYPE),
            b',"timestamp":"',
            iso_timestamp(now).encode(),
            b'","data":',
            orjson.dumps(event_data(time.time_ns(), seq, pad)),
            b"}",
        )
    )
    msg_id = f"dlv_{seq:026d}"
    stamp = int(now)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": standard_signature(key, msg_id, stamp, body),
    }
    return body, headers


class _Aiohttp:
    def __init__(self) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=5),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Content-Type", "Accept", "Accept-Encoding"),
        )

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        async with self.session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
            await resp.content.read(LIMIT)
            return resp.status

    async def close(self) -> None:
        await self.session.close()


class _Reqwest:
    def __init__(self) -> None:
        self.client = bare_builder(5.0, 5.0).build()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        async with self.client.post(url).headers(headers).body_bytes(body).build_streamed() as resp:
            await resp.body_reader.read(LIMIT)
            return resp.status

    async def close(self) -> None:
        await self.client.close()


async def run_ceiling(
    urls: list[str],
    requests: int,
    concurrency: int,
    pad: str,
    first_seq: int = 0,
    client: str = "aiohttp",
) -> CeilingRun:
    """Send `requests` POSTs with `client` (one of CLIENTS), spread round-robin over `urls`,
    `concurrency` at a time. Events are numbered from `first_seq` (give it as many digits as Herald's
    events have, for the same body size)."""
    key = whsec_key(generate_whsec())
    counter = itertools.count()
    errors = 0
    bare = _Reqwest() if client == "reqwest" else _Aiohttp()

    async def sender() -> None:
        nonlocal errors
        for seq in counter:
            if seq >= requests:
                return
            body, headers = render(first_seq + seq, pad, key)
            try:
                if await bare.post(urls[seq % len(urls)], body, headers) != 200:
                    errors += 1
            except (aiohttp.ClientError, rq.PyreqwestError, TimeoutError, OSError):
                errors += 1

    body_bytes = len(render(first_seq, pad, key)[0])
    try:
        cpu = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
    finally:
        await bare.close()
    if errors == requests:
        raise BenchError(f"every {client} ceiling request failed; is the receiver up?")
    return CeilingRun(client, requests, concurrency, seconds, body_bytes, errors, cpu)
