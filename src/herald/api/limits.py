"""Refuse request bodies over the configured size with 413 before the app reads them.

A client that writes its whole body before reading the answer (urllib, requests, anything sending a
Content-Length) gets a reset instead of the 413 when the server answers and closes with the body unread:
the kernel turns unread data at close into RST, which destroys the answer in flight. So the refusal first
reads and discards the rest of the body, up to DRAIN_LIMIT bytes (beyond that the connection is cut), as
nginx does with its lingering close."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from herald.api.errors import error_response
from herald.api.jsonnumbers import refuse_nonfinite

# The most a refused request may still send, read and thrown away, so its client can read the 413.
DRAIN_LIMIT = 64 * 1024 * 1024


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, drain_limit: int = DRAIN_LIMIT) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.drain_limit = drain_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            # A client that asked `Expect: 100-continue` has not sent the body, and receiving would
            # invite it to: answer at once.
            drained = headers.get(b"expect", b"").lower() != b"100-continue" and await self._drain(receive, 0)
            await self._refuse(scope, receive, send, drained)
            return
        # Buffer the body (bounded) so an undeclared or lying length is caught too.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            more = message.get("more_body", False)
            if size > self.max_bytes:
                drained = not more or await self._drain(receive, size)
                await self._refuse(scope, receive, send, drained)
                return
            chunks.append(chunk)
        body = b"".join(chunks)
        refusal = refuse_nonfinite(headers.get(b"content-type"), body)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(
            scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send
        )

    async def _drain(self, receive: Receive, seen: int) -> bool:
        """Read and discard the rest of the body; False when it went past the drain limit unfinished."""
        while seen <= self.drain_limit:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                return True
            seen += len(message.get("body", b""))
        return False

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, drained: bool) -> None:
        # With the body still coming, the server would go on reading and discarding it for as long as the
        # connection lives: close it after the answer instead.
        response = error_response(
            413,
            "payload_too_large",
            f"request body is larger than {self.max_bytes} bytes",
            {"limit": self.max_bytes},
            headers=None if drained else {"connection": "close"},
        )
        await response(scope, receive, send)


def _replay(messages: list[Message], original: Receive) -> Receive:
    """Hand the buffered body to the app, then pass on whatever the server says next (a disconnect)."""
    queue = list(messages)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        return await original()

    return receive
