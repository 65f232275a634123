"""server_tls: both files or neither, files that exist and load together; the context's floor is TLS 1.2."""

from __future__ import annotations

import ssl
import types
from pathlib import Path

import pytest
import trustme

from herald import server_tls as server_tls_module
from herald.config import ConfigError
from herald.server_tls import ServerTls, scheme, server_context, server_tls


@pytest.fixture
def pair(tmp_path: Path) -> tuple[str, str]:
    cert = trustme.CA().issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "c.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "k.pem"))
    return str(tmp_path / "c.pem"), str(tmp_path / "k.pem")


def test_neither_is_plain_http() -> None:
    assert server_tls("", "") is None
    assert scheme(None) == "http"


def test_a_pair_that_loads(pair: tuple[str, str]) -> None:
    tls = server_tls(*pair)
    assert tls == ServerTls(*pair) and scheme(tls) == "https"
    assert server_context(tls).minimum_version is ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize(
    ("cert", "key", "message"),
    [
        ("c", "", "set HERALD_TLS_KEY (--tls-key) too"),
        ("", "k", "set HERALD_TLS_CERT (--tls-cert) too"),
        ("/nonexistent.pem", "k", "HERALD_TLS_CERT: no such file /nonexistent.pem"),
    ],
)
def test_refused(cert: str, key: str, message: str, pair: tuple[str, str]) -> None:
    key = pair[1] if key == "k" else key
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        server_tls(cert, key)


def test_a_key_of_another_certificate_is_refused(pair: tuple[str, str], tmp_path: Path) -> None:
    other = trustme.CA().issue_cert("127.0.0.1")
    other.private_key_pem.write_to_path(str(tmp_path / "other.key"))
    with pytest.raises(ConfigError, match="cannot load the TLS certificate"):
        server_tls(pair[0], str(tmp_path / "other.key"))
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(ConfigError, match="cannot load"):
        server_tls(str(tmp_path / "junk.pem"), pair[1])


def test_the_floor_is_ours_not_the_platform_default(
    pair: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python's own server default is TLS 1.2 today; a platform that offered less must not lower ours."""

    def permissive(protocol: int) -> ssl.SSLContext:
        context = ssl.SSLContext(protocol)
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        return context

    names = ("PROTOCOL_TLS_SERVER", "TLSVersion", "SSLError")
    fake = types.SimpleNamespace(**{n: getattr(ssl, n) for n in names}, SSLContext=permissive)
    monkeypatch.setattr(server_tls_module, "ssl", fake)
    context = server_context(ServerTls(*pair))
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
