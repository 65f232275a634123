"""A LivePerson-style mTLS forward gateway: `POST /mtls/account/{account_id}` with `LP-service-name`,
`LP-forward-url` and optionally `LP-stop-if-certificate-not-found` forwards the body to the URL with the
certificate mapped to (account, service, URL), and answers with the endpoint's status and body, or 424
with `LP-message-from-transport` / `LP-error-from-transport` when the transport fails.

Callers authenticate with `Authorization: Bearer <HERALD_GATEWAY_TOKEN>`; the endpoint's own Authorization
travels as `LP-forward-authorization`. Forwarding URLs pass the same address guard as deliveries."""

from __future__ import annotations

import hmac

from aiohttp import web

from herald.dispatch.mtls import FORWARD_AUTHORIZATION, GATEWAY_HEADERS, MtlsRouter
from herald.dispatch.transport import AiohttpTransport
from herald.domain.models import Request, TransportError
from herald.domain.urls import UrlError, canonical_text

ROUTER_KEY = web.AppKey("router", MtlsRouter)
TRANSPORT_KEY = web.AppKey("transport", AiohttpTransport)
TOKEN_KEY = web.AppKey("token", str)

# Not forwarded: hop-by-hop headers, those aiohttp sets itself, and the gateway's own.
DROPPED = {
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "proxy-authorization",
    FORWARD_AUTHORIZATION,
    *GATEWAY_HEADERS,
}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"type": "gateway", "message": message, "data": {}}}, status=status)


def _failed(kind: str, message: str) -> web.Response:
    return web.Response(
        status=424,
        text=message,
        headers={
            "LP-message-from-transport": message[:500].replace("\n", " "),
            "LP-error-from-transport": kind,
        },
    )


def _authorized(request: web.Request) -> bool:
    given = request.headers.get("Authorization", "")
    scheme, _, token = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), request.app[TOKEN_KEY].encode())


async def forward(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _error(401, "authentication required: Authorization: Bearer <gateway token>")
    account_id = request.match_info["account_id"]
    service = request.headers.get("LP-service-name", "")
    url = request.headers.get("LP-forward-url", "")
    if not service:
        return _error(400, "LP-service-name: required")
    try:
        url = canonical_text(url)  # the form the guarded transport vets and connects to (ADR 0009)
    except UrlError as exc:
        return _error(400, f"LP-forward-url: {exc}")
    stop = request.headers.get("LP-stop-if-certificate-not-found", "false").strip().lower() == "true"
    mapping, tls = await request.app[ROUTER_KEY].context_for(account_id, service, url)
    if isinstance(tls, TransportError):
        return _failed(tls.kind.value, tls.message)
    if mapping is None and stop:
        return _failed("tls", f"no certificate is mapped to ({account_id}, {service}, {url})")
    headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED}
    if own := request.headers.get(FORWARD_AUTHORIZATION):
        headers["Authorization"] = own
    result = await request.app[TRANSPORT_KEY].send(Request(url, await request.read(), headers, tls))
    if isinstance(result, TransportError):
        return _failed(result.kind.value, result.message)
    return web.Response(status=result.status, body=result.body)


def create_gateway(router: MtlsRouter, transport: AiohttpTransport, token: str) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[ROUTER_KEY] = router
    app[TRANSPORT_KEY] = transport
    app[TOKEN_KEY] = token
    app.router.add_post("/mtls/account/{account_id}", forward)

    async def close(_: web.Application) -> None:
        await transport.close()

    app.on_cleanup.append(close)
    return app
