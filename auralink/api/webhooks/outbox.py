"""The outbox: events become ``webhook_deliveries`` rows in the caller's own transaction.

:func:`enqueue` adds one pending delivery per enabled endpoint of the organisation whose filter
takes the event; it never commits, so the event is stored if and only if whatever caused it is.
The :class:`~auralink.api.webhooks.delivery.WebhookDispatcher` sends the rows afterwards.
"""

from __future__ import annotations

__all__ = ["enqueue", "enqueue_to"]

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.db import WebhookDelivery, WebhookEndpoint, new_id, utcnow

from .events import WebhookEventBase


def _takes(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return not endpoint.events or event_type in endpoint.events


def enqueue_to(session: AsyncSession, endpoint: WebhookEndpoint, event: WebhookEventBase) -> WebhookDelivery:
    """A pending delivery of ``event`` to ``endpoint``, added to ``session`` (not committed)."""
    now = utcnow()
    delivery = WebhookDelivery(
        id=new_id("dlv"),
        org_id=endpoint.org_id,
        endpoint_id=endpoint.id,
        event_id=event.id,
        event_type=str(getattr(event, "type")),  # noqa: B009 - every concrete event has a Literal type
        body=event.model_dump_json(),
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    return delivery


async def enqueue(session: AsyncSession, event: WebhookEventBase) -> list[WebhookDelivery]:
    """Deliveries of ``event`` to every enabled endpoint of its organisation that wants it."""
    event_type = str(getattr(event, "type"))  # noqa: B009
    endpoints = await session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.org_id == event.org_id, WebhookEndpoint.enabled.is_(True)
        )
    )
    return [enqueue_to(session, e, event) for e in endpoints if _takes(e, event_type)]
