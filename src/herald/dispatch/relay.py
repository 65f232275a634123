"""The `herald listen` relay: deliveries to `herald-listen://<session>` go through the database to the CLI.

The worker that sends a delivery is often not the API process the CLI talks to, so the rendered request
(headers and body, exactly as signed) is written to `listen_requests`; the CLI claims it through the API,
forwards it to its local URL and posts the answer back. The relay waits for that answer (bounded) and
returns it as the transport's result, so the usual outcome and recording path records the attempt.
"""

from __future__ import annotations

import asyncio
import time

from herald.dispatch.transport import RESPONSE_BODY_LIMIT, Transport
from herald.domain.models import ErrorKind, Request, Response, TransportError
from herald.store import listen
from herald.store.database import Database

POLL_INTERVAL = 0.05


class ListenRelay:
    def __init__(self, db: Database, timeout: float) -> None:
        self.db = db
        self.timeout = timeout

    async def send(self, request: Request) -> Response | TransportError:
        session_id = listen.session_of(request.url)
        if not session_id:
            return TransportError(ErrorKind.INTERNAL, "not a herald-listen:// URL")
        request_id = await listen.put_request(self.db, session_id, request.headers, request.body)
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                answer = await listen.answer_of(self.db, request_id)
                if answer is False:
                    return TransportError(ErrorKind.NETWORK, "the herald listen session ended")
                if isinstance(answer, listen.Answer):
                    return _result(answer)
                if time.monotonic() >= deadline:
                    return TransportError(
                        ErrorKind.READ_TIMEOUT, f"herald listen did not answer within {self.timeout:g} s"
                    )
                await asyncio.sleep(POLL_INTERVAL)
        finally:
            await listen.drop_request(self.db, request_id)


def _result(answer: listen.Answer) -> Response | TransportError:
    if answer.status_code is None:
        known = answer.error_kind in ErrorKind.__members__.values()
        kind = ErrorKind(answer.error_kind) if known and answer.error_kind else ErrorKind.NETWORK
        message = f"the local endpoint (via herald listen): {answer.error_message or kind.value}"
        return TransportError(kind, message[:500])
    retry_after = answer.headers.get("retry-after")
    return Response(
        answer.status_code,
        answer.body[:RESPONSE_BODY_LIMIT],
        {"retry-after": retry_after} if retry_after else {},
    )


class RoutingTransport:
    """Sends `herald-listen://` requests through the relay and every other request as before."""

    def __init__(self, inner: Transport, relay: ListenRelay) -> None:
        self.inner = inner
        self.relay = relay

    async def send(self, request: Request) -> Response | TransportError:
        if request.url.startswith("herald-listen:"):
            return await self.relay.send(request)
        return await self.inner.send(request)

    async def close(self) -> None:
        await self.inner.close()
