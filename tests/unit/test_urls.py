"""One canonical URL: what yarl (the transport's parser) and IDNA/UTS-46 both read, or a refusal."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from herald.domain.urls import CanonicalURL, UrlError, canonical_url


@pytest.mark.parametrize(
    ("given_url", "text", "host", "port"),
    [
        ("https://example.com/hook", "https://example.com/hook", "example.com", 443),
        ("HTTPS://Example.COM:8443/a?b=c", "https://example.com:8443/a?b=c", "example.com", 8443),
        ("http://\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com/", "http://example.com/", "example.com", 80),
        ("https://b\u00fccher.example/x", "https://xn--bcher-kva.example/x", "xn--bcher-kva.example", 443),
        ("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:81/", "http://127.0.0.1:81/", "127.0.0.1", 81),
        ("http://127\u30020\u30020\u30021:81/", "http://127.0.0.1:81/", "127.0.0.1", 81),
        ("http://[0:0:0:0:0:0:0:1]:9/", "http://[::1]:9/", "::1", 9),
        ("http://[::FFFF:127.0.0.1]/", "http://[::ffff:7f00:1]/", "::ffff:7f00:1", 80),
        ("http://my_service:8080/in", "http://my_service:8080/in", "my_service", 8080),
        ("http://example.com/a%0d%0a?q=%20", "http://example.com/a%0D%0A?q=%20", "example.com", 80),
        ("http://localhost./", "http://localhost./", "localhost.", 80),
    ],
)  # fmt: skip
def test_canonical_forms(given_url: str, text: str, host: str, port: int) -> None:
    url = canonical_url(given_url)
    assert (url.text, url.host, url.port) == (text, host, port)
    assert canonical_url(url.text) == url  # a fixed point: stored text is accepted again as itself
    assert URL(url.text, encoded=True).raw_host == url.host  # what the transport connects to


def test_literal_hosts_carry_their_address() -> None:
    assert canonical_url("http://10.1.2.3/").ip == ipaddress.ip_address("10.1.2.3")
    assert canonical_url("http://[fd00::1]/").ip == ipaddress.ip_address("fd00::1")
    assert canonical_url("https://example.com/").ip is None
    assert canonical_url("https://example.com/").https


@pytest.mark.parametrize(
    ("given_url", "message"),
    [
        ("http://127.1/", "host '127.1' is not a canonical IPv4 address (some parsers read it as 127.0.0.1)"),
        ("http://2130706433/", "the host '2130706433' is not a canonical IPv4 address (some parsers read it"),
        ("http://0x7f.0.0.1/", "the host '0x7f.0.0.1' is not a canonical IPv4 address"),
        ("http://127.0.0.1./", "the host '127.0.0.1.' is not a canonical IPv4 address"),
        ("http://\uff11\uff12\uff17.\uff11/", "canonical IPv4 address (some parsers read it as 127.0.0.1)"),
        ("http://256.0.0.1/", "the host '256.0.0.1' is not an IPv4 address (each part is 0 to 255)"),
        ("http://a:b@example.com/", "must not carry credentials (user@host); use a credential instead"),
        ("http://example.com/#x", "must not have a #fragment"),
        ("http://example.com:0/", "the port 0 must be a number from 1 to 65535"),
        ("http://example.com:65536/", "the port 65536 must be a number from 1 to 65535"),
        ("http://example.com:-1/", "the port '-1' must be a number from 1 to 65535"),
        ("http://example.com:\uff18\uff10/", "the port '\uff18\uff10' must be a number from 1 to 65535"),
        ("http://example.com/a b", "must not contain spaces or control characters (U+0020, character 21)"),
        ("http://example.com/\r\n", "must not contain spaces or control characters (U+000D, character 20)"),
        ("http://ex\\@127.0.0.1/", "must not contain a backslash"),
        ("http://[fe80::1%25eth0]/", "a scoped IPv6 address (with a %zone) is not allowed"),
        ("http://%31.0.0.1/", "the host must not be percent-encoded"),
        ("http://" + "a" * 64 + ".example/", "is not a valid name (label 'aaaa"),
        ("ftp://example.com/", "must be an absolute http:// or https:// URL"),
        ("//example.com/", "must be an absolute http:// or https:// URL"),
        ("http:///x", "must name a host"),
    ],
)  # fmt: skip
def test_refusals_say_why(given_url: str, message: str) -> None:
    with pytest.raises(UrlError) as info:
        canonical_url(given_url)
    assert message in str(info.value)


@settings(max_examples=400, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from([*"ab1270.:/@#?%[]\\x -_", "\uff11", "\u3002", "\uff0e", "\u00ad"]),
        max_size=30,
    ).map(lambda tail: "http://" + tail)
)
def test_any_text_is_canonical_or_refused_with_a_reason(text: str) -> None:
    """Never another exception (a 500), and whatever is accepted is a fixed point that yarl reads alike."""
    try:
        url = canonical_url(text)
    except UrlError as exc:
        assert str(exc)
        return
    assert isinstance(url, CanonicalURL)
    assert canonical_url(url.text) == url
    assert URL(url.text, encoded=True).raw_host == url.host
    assert 1 <= url.port <= 65535
