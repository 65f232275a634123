"""Real nginx as a TLS receiver, run by the tests themselves (never system-wide): a test CA (trustme),
servers on free loopback ports that proxy to the recording Receiver, one of them demanding a client
certificate (`ssl_verify_client on`), and one that offers only TLS 1.0/1.1."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import trustme
from e2e_harness import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@dataclass
class NginxTls:
    ca: trustme.CA
    ca_file: Path
    mtls_port: int  # HTTPS, client certificate required (signed by the test CA)
    tls_port: int  # HTTPS, no client certificate
    old_port: int  # offers only TLS 1.0 / 1.1
    proc: subprocess.Popen[bytes]
    workdir: Path

    def url(self, port: int, path: str) -> str:
        return f"https://127.0.0.1:{port}{path}"

    def client_material(self, name: str = "herald-client") -> tuple[str, str]:
        leaf = self.ca.issue_cert(f"{name}.example.com", common_name=name)
        return leaf.cert_chain_pems[0].bytes().decode(), leaf.private_key_pem.bytes().decode()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self) -> str:
        return (self.workdir / "error.log").read_text(errors="replace")


def _config(d: Path, upstream: int, mtls: int, tls: int, old: int) -> str:
    proxy = f"""
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header X-Client-Verify $ssl_client_verify;
            proxy_set_header X-Client-Subject $ssl_client_s_dn;
            proxy_set_header X-Tls-Protocol $ssl_protocol;
        }}"""
    cert = f"ssl_certificate {d}/server.pem; ssl_certificate_key {d}/server.key;"
    return f"""
user root;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{mtls} ssl;
        {cert}
        ssl_client_certificate {d}/ca.pem;
        ssl_verify_client on;
        {proxy}
    }}
    server {{
        listen 127.0.0.1:{tls} ssl;
        {cert}
        {proxy}
    }}
    server {{
        listen 127.0.0.1:{old} ssl;
        {cert}
        ssl_protocols TLSv1 TLSv1.1;
        ssl_ciphers DEFAULT:@SECLEVEL=0;
        location / {{ return 200 "old tls"; }}
    }}
}}
"""


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_nginx(workdir: Path, upstream_port: int) -> NginxTls:
    workdir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.cert_chain_pems[0].write_to_path(str(workdir / "server.pem"))
    for extra in server.cert_chain_pems[1:]:
        extra.write_to_path(str(workdir / "server.pem"), append=True)
    server.private_key_pem.write_to_path(str(workdir / "server.key"))
    ca.cert_pem.write_to_path(str(workdir / "ca.pem"))
    ports = [free_port() for _ in range(3)]
    conf = workdir / "nginx.conf"
    conf.write_text(_config(workdir, upstream_port, *ports))
    proc = subprocess.Popen(
        [NGINX, "-p", str(workdir), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "stderr.log").open("wb"),
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    nginx = NginxTls(ca, workdir / "ca.pem", *ports, proc=proc, workdir=workdir)
    deadline = time.monotonic() + 10
    while not all(_listening(p) for p in ports):
        if proc.poll() is not None or time.monotonic() > deadline:
            nginx.stop()
            raise RuntimeError(f"nginx did not start: {(workdir / 'stderr.log').read_text()}")
        time.sleep(0.05)
    return nginx
