"""Herald's own listeners over TLS: `herald serve` / `herald api` / `herald mtls-gateway` with
`--tls-cert/--tls-key` (or HERALD_TLS_CERT / HERALD_TLS_KEY): HTTPS with the given certificate, TLS 1.2 at
least, the printed addresses https, and a clear exit when the files are wrong."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
from e2e_harness import HERALD_BIN, Proc, deployment, free_port, herald_env, wait_until
from tls_files import TlsFiles, make_tls


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


def _trust(tls: TlsFiles) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=tls.ca)


def _handshake(port: int, ca: str, version: ssl.TLSVersion) -> str:
    """Connect with a client that offers exactly `version`; the negotiated version."""
    context = ssl.create_default_context(cafile=ca)
    context.minimum_version = version
    context.maximum_version = version
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls_sock,
    ):
        return str(tls_sock.version())


def _old_client_context(ca: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("ALL:@SECLEVEL=0")  # let the client offer TLS 1.0/1.1 at all
    return context


def _refuses_old_tls(port: int, ca: str) -> None:
    with (
        pytest.raises(ssl.SSLError),
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        _old_client_context(ca).wrap_socket(raw, server_hostname="127.0.0.1"),
    ):
        pass


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_api_serves_https_with_tls_1_2_or_newer(backend: str, tls: TlsFiles, tmp_path: Path) -> None:
    with deployment(backend, tmp_path / "d", workers=1, ca_file=tls.ca, **tls.env()) as herald:
        assert herald.base_url.startswith("https://")
        port = int(herald.base_url.rsplit(":", 1)[1])
        assert httpx.get(f"{herald.base_url}/healthz", verify=_trust(tls)).status_code == 200
        # The certificate is the one given: a client trusting only the system CAs refuses it.
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{herald.base_url}/healthz")
        assert _handshake(port, tls.ca, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
        assert _handshake(port, tls.ca, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
        _refuses_old_tls(port, tls.ca)
        # Plain HTTP on the TLS port is not served.
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=3)
        assert herald.api_proc is not None
        printed = herald.api_proc.log_text()
        assert f"listening on https://127.0.0.1:{port}" in printed
        assert f"API docs: https://127.0.0.1:{port}/docs" in printed


def test_mtls_gateway_serves_https(tls: TlsFiles, tmp_path: Path) -> None:
    port = free_port()
    env = herald_env(
        f"sqlite:///{tmp_path}/herald.db",
        "127.0.0.1:0",
        "hrd_test_admin",
        HERALD_GATEWAY_TOKEN="gw-token",
        HERALD_GATEWAY_LISTEN=f"127.0.0.1:{port}",
        **tls.env(),
    )
    subprocess.run([HERALD_BIN, "migrate"], env=env, cwd=tmp_path, check=True, capture_output=True)
    gateway = Proc("gateway", ["mtls-gateway"], env, tmp_path, tmp_path / "gateway.log").start()
    try:

        def answers() -> int | None:
            try:
                return httpx.post(f"https://127.0.0.1:{port}/mtls/account/a1", verify=_trust(tls)).status_code
            except httpx.ConnectError:
                return None

        # No Authorization: the gateway's own 401, over TLS.
        assert wait_until("the gateway to answer over TLS", answers, 20) == 401
        assert _handshake(port, tls.ca, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
        _refuses_old_tls(port, tls.ca)
        assert f"listening on https://127.0.0.1:{port}" in gateway.log_text()
    finally:
        gateway.stop()


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    out = subprocess.run(
        [HERALD_BIN, *args],
        env={**base, "COLUMNS": "80", "HERALD_ADMIN_TOKEN": "hrd_x", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    out.stderr = " ".join(out.stderr.split())  # rich wraps at 80 columns
    return out


def test_tls_misconfiguration_exits_before_listening(tls: TlsFiles, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/h.db"
    only_cert = _run(["serve", "--tls-cert", tls.cert, "--database-url", db])
    assert only_cert.returncode == 2
    assert "HERALD_TLS_KEY (--tls-key)" in only_cert.stderr
    nope = str(tmp_path / "nope.pem")
    missing = _run(["api", "--database-url", db], HERALD_TLS_CERT=nope, HERALD_TLS_KEY=tls.key)
    assert missing.returncode == 2
    assert "no such file" in missing.stderr
    # A key that is not the certificate's.
    other = make_tls(tmp_path / "other")
    mismatched = _run(["serve", "--tls-cert", tls.cert, "--tls-key", other.key, "--database-url", db])
    assert mismatched.returncode == 2
    assert "cannot load the TLS certificate" in mismatched.stderr
    gateway = _run(["mtls-gateway", "--tls-key", tls.key], HERALD_GATEWAY_TOKEN="t", HERALD_DATABASE_URL=db)
    assert gateway.returncode == 2
    assert "HERALD_TLS_CERT (--tls-cert)" in gateway.stderr


def test_help_shows_the_tls_options_at_80_columns() -> None:
    for command in ("serve", "api", "mtls-gateway"):
        out = _run([command, "--help"])
        assert out.returncode == 0
        assert "--tls-cert" in out.stdout and "--tls-key" in out.stdout
        assert max(len(line) for line in out.stdout.splitlines()) <= 80
