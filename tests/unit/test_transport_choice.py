"""HERALD_TRANSPORT picks the delivery transport; the default is the native one (docs/adr/0011)."""

from __future__ import annotations

import pytest

from herald.config import ConfigError, Settings, load_settings
from herald.dispatch.guard import AddressGuard
from herald.dispatch.tls import TlsContexts
from herald.dispatch.transport import AiohttpTransport
from herald.dispatch.transport_reqwest import ReqwestTransport
from herald.dispatch.transports import build_transport


@pytest.mark.parametrize(
    ("environ", "cls"),
    [
        ({}, ReqwestTransport),
        ({"HERALD_TRANSPORT": "aiohttp"}, AiohttpTransport),
        ({"HERALD_TRANSPORT": "Reqwest"}, ReqwestTransport),
    ],
)
def test_the_setting_names_the_transport(environ: dict[str, str], cls: type) -> None:
    settings = load_settings(environ)
    transport = build_transport(settings, AddressGuard(), TlsContexts())
    assert type(transport) is cls
    assert transport.guard is not None  # type: ignore[attr-defined]


def test_an_unknown_transport_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="HERALD_TRANSPORT must be one of reqwest, aiohttp, got 'httpx'"):
        build_transport(Settings(transport="httpx"), AddressGuard(), TlsContexts())
