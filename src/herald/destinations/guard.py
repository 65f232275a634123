"""The address guard for bus hosts: the same rule as HTTP endpoints (`guard.vetted_addresses`), so a bus
client connects only to a vetted address."""

from __future__ import annotations

from herald.dispatch.guard import AddressGuard, vetted_addresses


async def vetted_address(guard: AddressGuard | None, host: str, port: int) -> str:
    """An address of `host` (canonical, see buses.urls) the guard allows; the host itself without a guard.
    Raises BlockedTarget when there is none."""
    if guard is None:
        return host
    return str((await vetted_addresses(guard, host, port))[0])
