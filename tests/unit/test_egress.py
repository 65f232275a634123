"""The egress proxy's URL handling: the pinned request and the proxy's credentials (no sockets: the guard is
given literal addresses, which resolve without DNS)."""

from __future__ import annotations

import ipaddress

import pytest

from herald.config import ConfigError
from herald.dispatch.egress import Pinned, pin, proxy_and_auth
from herald.dispatch.guard import AddressGuard, BlockedTarget
from herald.domain.urls import canonical_url

OPEN = AddressGuard(allow_subnets=[ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")])


async def test_pin_keeps_path_query_and_the_name_for_tls() -> None:
    assert await pin(OPEN, canonical_url("https://127.0.0.1:8443/a/b?x=1")) == Pinned(
        "https://127.0.0.1:8443/a/b?x=1", "127.0.0.1:8443", "127.0.0.1"
    )
    assert await pin(OPEN, canonical_url("http://[::1]/")) == Pinned("http://[::1]:80/", "[::1]", None)


async def test_pin_refuses_what_the_guard_refuses() -> None:
    with pytest.raises(BlockedTarget):
        await pin(AddressGuard(), canonical_url("http://127.0.0.1:9/"))


def test_proxy_credentials_become_a_header() -> None:
    assert proxy_and_auth("http://127.0.0.1:3128") == ("http://127.0.0.1:3128", {})
    bare, headers = proxy_and_auth("http://us%40r:p%3Ass@proxy.internal:3128")
    assert bare == "http://proxy.internal:3128"
    assert headers == {"Proxy-Authorization": "Basic dXNAcjpwOnNz"}  # base64("us@r:p:ss")
    with pytest.raises(ConfigError):
        proxy_and_auth("https://proxy.internal:3128")
