"""The addresses of a host a transport that pins its own connections may use, as text.

The reqwest transport resolves a name itself and hands the address to its client; the decision is the
guard's (`guard.vetted_addresses`), this only adapts it to the strings that client takes.
"""

from __future__ import annotations

from herald.dispatch import guard as address_guard
from herald.dispatch.guard import AddressGuard

_ANY = AddressGuard(allow_private=True)  # no guard configured: resolve, refuse nothing


async def vetted_addresses(guard: AddressGuard | None, host: str, port: int) -> list[str]:
    """The addresses `host` resolves to that the guard allows, in resolver order. Raises BlockedTarget
    when none is allowed and OSError (socket.gaierror) when the name does not resolve."""
    found = await address_guard.vetted_addresses(guard or _ANY, host, port)
    return [str(address) for address in found]
