"""The HTTP calls the driver makes: Herald's API (admin token) and the receiver's control endpoints."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from herald.bench.options import ACCOUNT, EVENT_TYPE


class BenchError(RuntimeError):
    """The run cannot go on (a process died, a wait timed out, the API refused a request)."""


async def wait_until_up(
    session: aiohttp.ClientSession, url: str, wait_s: float, check: Callable[[], None] | None = None
) -> None:
    """Poll `url` until it answers 200; `check` may raise (e.g. the process behind it has exited)."""
    deadline = time.monotonic() + wait_s
    last = "no answer"
    while time.monotonic() < deadline:
        if check is not None:
            check()
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            last = type(exc).__name__
        await asyncio.sleep(0.1)
    raise BenchError(f"{url} did not come up within {wait_s:.0f}s ({last})")


class HeraldClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self.session = session
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.account_url = f"{base_url}/v1/accounts/{ACCOUNT}"

    async def _call(self, method: str, url: str, body: bytes | None = None, expect: int = 200) -> Any:
        async with self.session.request(
            method, url, data=body, headers=self.headers, timeout=aiohttp.ClientTimeout(total=60)
        ) as resp:
            raw = await resp.read()
            if resp.status != expect:
                detail = raw[:500].decode(errors="replace")
                raise BenchError(f"{method} {url} answered {resp.status}: {detail}")
            return orjson.loads(raw) if raw else None

    async def create_subscription(self, url: str) -> str:
        body = orjson.dumps({"url": url, "event_types": [EVENT_TYPE], "name": "herald bench"})
        out = await self._call("POST", f"{self.account_url}/subscriptions", body, expect=201)
        return str(out["id"])

    async def publish(self, body: bytes) -> None:
        """POST an already-serialised `{"events": [...]}` body; anything but 202 is an error."""
        await self._call("POST", f"{self.account_url}/events", body, expect=202)

    async def has_deliveries(self, status: str) -> bool:
        out = await self._call("GET", f"{self.account_url}/deliveries?status={status}&limit=1")
        return bool(out["data"])

    async def wait_recorded(self, wait_s: float, check: Callable[[], None] | None = None) -> int | None:
        """Poll until no delivery of the account is pending; return that moment (time.time_ns) or None
        when `wait_s` s passed first."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if check is not None:
                check()
            if not await self.has_deliveries("pending"):
                return time.time_ns()
            await asyncio.sleep(0.025)
        return None


class ReceiverClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url

    async def _get(self, name: str) -> dict[str, Any]:
        async with self.session.get(
            f"{self.base_url}/_bench/{name}", timeout=aiohttp.ClientTimeout(total=30)
        ) as resp:
            if resp.status != 200:
                raise BenchError(f"receiver /_bench/{name} answered {resp.status}")
            out: dict[str, Any] = orjson.loads(await resp.read())
            return out

    async def stats(self) -> dict[str, Any]:
        return await self._get("stats")

    async def summary(self) -> dict[str, Any]:
        return await self._get("summary")

    async def reset(self) -> None:
        async with self.session.post(
            f"{self.base_url}/_bench/reset", timeout=aiohttp.ClientTimeout(total=10)
        ) as resp:
            if resp.status != 200:
                raise BenchError(f"receiver reset answered {resp.status}")

    async def wait_for(
        self, target: int, wait_s: float, stall: float, check: Callable[[], None] | None = None
    ) -> dict[str, Any]:
        """Poll until `target` distinct deliveries were counted, nothing new came for `stall` s, or
        `wait_s` s passed; `check` may raise (a process behind the deliveries has exited)."""
        deadline = time.monotonic() + wait_s
        last_count, last_change = -1, time.monotonic()
        while True:
            if check is not None:
                check()
            stats = await self.stats()
            now = time.monotonic()
            if stats["unique"] >= target or now >= deadline:
                return stats
            if stats["count"] != last_count:
                last_count, last_change = stats["count"], now
            elif now - last_change >= stall:
                return stats
            await asyncio.sleep(0.02)
