"""The one place a transport asks the address guard which addresses of a host it may connect to.

Transports that pin their connection to a vetted address (the reqwest transport resolves the name itself
and hands the address to its client) call `vetted_addresses`; when the guard grows its own
resolve-and-vet function, this body becomes a call to it and no transport changes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from herald.dispatch.guard import AddressGuard, BlockedTarget


async def vetted_addresses(guard: AddressGuard | None, host: str, port: int) -> list[str]:
    """The addresses `host` resolves to that the guard allows, in resolver order (duplicates dropped).
    Raises BlockedTarget when none is allowed and socket.gaierror when the name does not resolve."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if guard is None:
        return addresses
    allowed = [a for a in addresses if not guard.is_blocked(ipaddress.ip_address(a))]
    if not allowed:
        raise BlockedTarget(f"{host} resolves only to blocked addresses")
    return allowed
