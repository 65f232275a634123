"""A short-lived cache of subscriptions as the dispatcher needs them (secrets decrypted once)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from herald.domain.models import Endpoint
from herald.store.database import Database
from herald.store.secretbox import SecretBox
from herald.store.subscriptions import load_endpoints


class EndpointCache:
    """Entries live `ttl` seconds, so changes made by another process apply within that time;
    the process that made a change calls `invalidate` and sees it at once."""

    def __init__(self, db: Database, box: SecretBox, ttl: float = 1.0) -> None:
        self.db = db
        self.box = box
        self.ttl = ttl
        self._entries: dict[str, tuple[float, Endpoint | None]] = {}

    async def get_many(self, ids: Iterable[str]) -> dict[str, Endpoint]:
        now = time.monotonic()
        wanted = set(ids)
        stale = [i for i in wanted if (e := self._entries.get(i)) is None or now - e[0] > self.ttl]
        if stale:
            fresh = await load_endpoints(self.db, self.box, stale)
            for sub_id in stale:
                self._entries[sub_id] = (now, fresh.get(sub_id))
        out = {}
        for sub_id in wanted:
            endpoint = self._entries[sub_id][1]
            if endpoint is not None:
                out[sub_id] = endpoint
        return out

    def invalidate(self, sub_id: str | None = None) -> None:
        if sub_id is None:
            self._entries.clear()
        else:
            self._entries.pop(sub_id, None)
