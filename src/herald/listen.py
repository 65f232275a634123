"""`herald listen`: forward a (possibly remote) Herald's deliveries to a local URL, like `stripe listen`.

Opens a listen session (a temporary subscription), long-polls it for rendered deliveries, POSTs each one
to the local URL with exactly Herald's headers and body (signed), and reports the local answer back, which
Herald records as the attempt. Ctrl-C closes the session and removes the subscription; if this process
vanishes, the session expires once it stops polling.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import signal
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from rich.console import Console

from herald.dispatch.transport import classify

POLL_WAIT = 20.0
MAX_HEADERS = 50  # of the local answer reported back (Herald uses only Retry-After)
# Headers the HTTP client computes itself for the forwarded request.
CLIENT_SET = {"host", "content-length", "transfer-encoding", "connection"}


@dataclass(frozen=True)
class Options:
    server: str
    token: str
    forward_to: str
    account: str | None
    events: list[str]
    profile: str
    timeout: float


class ListenError(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field  # the request field the server named as at fault, if any


# What to type when the admin token opens a session without naming an account.
NAME_AN_ACCOUNT = (
    "the admin token sees every account: name the one to listen to with --account ACCOUNT "
    "(an account's personal access token listens to its own)"
)


def event_type_of(body: bytes) -> str:
    """The event type as the body names it: `type` (standard, connector) or commonHeader.eventType."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "?"
    if isinstance(doc, dict):
        if isinstance(doc.get("type"), str):
            return str(doc["type"])
        common = doc.get("commonHeader")
        if isinstance(common, dict) and isinstance(common.get("eventType"), str):
            return str(common["eventType"])
    return "?"


class Listener:
    def __init__(self, options: Options, console: Console) -> None:
        self.o = options
        self.console = console
        self.base = options.server.rstrip("/")
        self.session_id: str | None = None
        self._forwards: set[asyncio.Task[None]] = set()

    async def _api(self, http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any) -> Any:
        async with http.request(method, self.base + path, **kwargs) as resp:
            data = await resp.json() if resp.content_type == "application/json" else None
            if resp.status >= 400:
                error = data.get("error") if isinstance(data, dict) else None
                message = error["message"] if isinstance(error, dict) else resp.reason
                field = (error.get("data") or {}).get("field") if isinstance(error, dict) else None
                raise ListenError(f"{method} {path}: {resp.status} {message}", field)
            return data

    async def run(self, stop: asyncio.Event) -> None:
        headers = {"authorization": f"Bearer {self.o.token}"}
        timeout = aiohttp.ClientTimeout(total=POLL_WAIT + 15)
        async with (
            aiohttp.ClientSession(headers=headers, timeout=timeout) as api,
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.o.timeout),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            ) as local,
        ):
            body = {
                "account_id": self.o.account,
                "event_types": self.o.events,
                "profile": self.o.profile,
                "forward_to": self.o.forward_to,
            }
            try:
                session = await self._api(api, "POST", "/v1/listen/sessions", json=body)
            except ListenError as exc:
                if exc.field == "account_id" and self.o.account is None:
                    raise ListenError(NAME_AN_ACCOUNT) from exc
                raise
            self.session_id = session["id"]
            self.console.print(
                f"Ready! Forwarding [bold]{', '.join(session['event_types'])}[/bold] of account "
                f"{session['account_id']} to {self.o.forward_to}"
            )
            self.console.print(
                f"  signing secret: {session['secret']}  (subscription {session['subscription_id']}, "
                f"session {session['id']})"
            )
            try:
                await self._loop(api, local, stop)
            finally:
                for task in self._forwards:
                    task.cancel()
                with contextlib.suppress(Exception):
                    await self._api(api, "DELETE", f"/v1/listen/sessions/{self.session_id}")
                self.console.print("session closed; its subscription is removed")

    async def _loop(
        self, api: aiohttp.ClientSession, local: aiohttp.ClientSession, stop: asyncio.Event
    ) -> None:
        path = f"/v1/listen/sessions/{self.session_id}/requests"
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                poll = asyncio.ensure_future(self._api(api, "GET", path, params={"wait": str(POLL_WAIT)}))
                await asyncio.wait({poll, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set():
                    poll.cancel()
                    return
                try:
                    page = poll.result()
                except ListenError as exc:
                    if " 404 " in str(exc):
                        raise ListenError("the listen session is gone (expired or closed)") from exc
                    self.console.print(f"[yellow]{exc}; retrying[/yellow]")
                    await asyncio.sleep(1.0)
                    continue
                except (aiohttp.ClientError, TimeoutError) as exc:
                    self.console.print(f"[yellow]cannot reach {self.base}: {exc}; retrying[/yellow]")
                    await asyncio.sleep(1.0)
                    continue
                for item in page["data"]:
                    task = asyncio.create_task(self._forward(api, local, item))
                    self._forwards.add(task)
                    task.add_done_callback(self._forwards.discard)
        finally:
            stopped.cancel()

    async def _forward(
        self, api: aiohttp.ClientSession, local: aiohttp.ClientSession, item: dict[str, Any]
    ) -> None:
        body = base64.b64decode(item["body"])
        headers = {k: v for k, v in item["headers"].items() if k.lower() not in CLIENT_SET}
        delivery = headers.get("webhook-id") or headers.get("x-herald-delivery-id") or item["id"]
        started = time.perf_counter()
        answer: dict[str, Any]
        try:
            async with local.post(
                self.o.forward_to,
                data=body,
                headers=headers,
                allow_redirects=False,
                skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
            ) as resp:
                content = await resp.content.read(64 * 1024)
                answer = {
                    "status_code": resp.status,
                    "headers": {
                        k.lower(): v for k, v in list(resp.headers.items())[:MAX_HEADERS] if len(v) <= 4096
                    },
                    "body": base64.b64encode(content).decode(),
                }
                outcome = f"[{'green' if resp.status < 300 else 'red'}]{resp.status}[/]"
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            error = classify(exc)
            answer = {"error_kind": error.kind.value, "error_message": error.message}
            outcome = f"[red]{error.kind.value}[/red]"
        elapsed = (time.perf_counter() - started) * 1000
        when = time.strftime("%H:%M:%S")
        self.console.print(
            f"{when}  {event_type_of(body)}  {delivery}  → {outcome}  {elapsed:.0f} ms", highlight=False
        )
        path = f"/v1/listen/sessions/{self.session_id}/requests/{item['id']}/response"
        try:
            await self._api(api, "POST", path, json=answer)
        except (ListenError, aiohttp.ClientError, TimeoutError) as exc:
            self.console.print(f"[yellow]  could not report the answer: {exc}[/yellow]")


async def listen(options: Options, console: Console) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await Listener(options, console).run(stop)
    except ListenError as exc:
        console.print(f"[red]{exc}[/red]")
        return 1
    except aiohttp.ClientError as exc:
        console.print(f"[red]cannot reach {options.server}: {exc}[/red]")
        return 1
    return 0
