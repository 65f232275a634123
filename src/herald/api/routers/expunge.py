"""Expunge an event's content (data-subject requests): the payload and the stored response bodies go, the
metadata and the delivery log stay, marked expunged (store/expunge.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import Field

from herald.api.auth import Context, CurrentPrincipal
from herald.api.schemas import AccountId, OutModel
from herald.domain.scopes import DELIVERIES_RW
from herald.store.expunge import expunge_event

router = APIRouter(prefix="/v1/accounts/{account_id}/events", tags=["events"])

EventId = Annotated[str, Path(min_length=1, max_length=255, pattern=r"^[^\s\x00]+$")]


class ExpungedOut(OutModel):
    event_id: str
    expunged_at: datetime = Field(description="When the content was first expunged")
    attempts_cleared: int = Field(description="Attempts whose stored response body this call removed")
    deliveries_stopped: int = Field(
        description="Queued deliveries this call took out of the queue (now dead)"
    )


@router.delete("/{event_id}/content", response_model=ExpungedOut, summary="Expunge an event's content")
async def expunge_content(
    account_id: AccountId, event_id: EventId, ctx: Context, who: CurrentPrincipal
) -> ExpungedOut:
    """Remove the event's data and every stored response body of its attempts. Ids, types, times, statuses
    and the attempts themselves stay. Resending it afterwards answers 409 (`data.reason` = `expunged`);
    recover and replay jobs skip it. Calling it again is harmless."""
    await who.require_account(account_id)
    who.require(DELIVERIES_RW)
    done = await expunge_event(ctx.db, account_id, event_id)
    return ExpungedOut(
        event_id=done.event_id,
        expunged_at=datetime.fromtimestamp(done.expunged_at, UTC),
        attempts_cleared=done.attempts_cleared,
        deliveries_stopped=done.deliveries_stopped,
    )
