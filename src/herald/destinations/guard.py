"""The address guard for bus hosts: resolve the name, drop blocked addresses (AddressGuard.is_blocked),
connect only to a vetted address."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from herald.dispatch.guard import AddressGuard, BlockedTarget


async def vetted_address(guard: AddressGuard | None, host: str, port: int) -> str:
    """An address of `host` the guard allows (the host itself when there is no guard)."""
    if guard is None:
        return host
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        if guard.is_blocked(literal):
            raise BlockedTarget(f"{host} is not an allowed address")
        return host
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for info in infos:
        address = str(info[4][0])
        if not guard.is_blocked(ipaddress.ip_address(address)):
            return address
    raise BlockedTarget(f"{host} resolves only to blocked addresses")
