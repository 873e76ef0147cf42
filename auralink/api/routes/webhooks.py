"""Webhook endpoints of the caller's organisation: CRUD, secret rotation, test-fire, deliveries.

The signing secret is made here (``whsec_…``), returned once by create and rotate-secret, and
kept as-is so the dispatcher can sign (see :mod:`auralink.api.webhooks`). Deliveries are
written to the outbox in the request's transaction; the dispatcher is woken after the commit.
A URL is vetted when it is set (:mod:`auralink.api.webhooks.urls`): one whose host resolves to a
loopback, private or link-local address is a 422 on ``url`` unless the server allows those.
"""

from __future__ import annotations

__all__ = ["router", "wake_dispatcher"]

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.auth import Principal
from auralink.api.db import WebhookAttempt, WebhookDelivery, WebhookEndpoint, is_id, utcnow
from auralink.api.deps import SessionDep, SettingsDep, require
from auralink.api.errors import Conflict, NotFound
from auralink.api.permissions import Action
from auralink.api.schemas import (
    DeliveryPublic,
    DeliveryQueued,
    DeliveryStatus,
    ErrorBody,
    WebhookAttemptPublic,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhookUpdate,
)
from auralink.api.webhooks import WebhookDispatcher, WebhookTest, WebhookTestData, enqueue_to, new_secret
from auralink.api.webhooks.urls import vet_url

from .common import AUTH, MISSING, TOO_LARGE, Responses

logger = logging.getLogger("auralink.api")

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=AUTH)

_DELIVERIES_SHOWN = 100
_REFUSED: Responses = {
    422: {
        "model": ErrorBody,
        "description": "a field is not valid; on ``url``: a host that does not resolve, or resolves to "
        "a loopback, private or link-local address (allowed by AURALINK_WEBHOOK_ALLOW_PRIVATE_NETWORKS)",
    }
}


def wake_dispatcher(request: Request) -> None:
    """Tell this process's dispatcher that the outbox has new rows (committed just now)."""
    dispatcher = getattr(request.app.state, "webhooks", None)
    if isinstance(dispatcher, WebhookDispatcher):
        dispatcher.wake()


def _public(endpoint: WebhookEndpoint) -> WebhookPublic:
    return WebhookPublic(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        events=list(endpoint.events),
        enabled=endpoint.enabled,
        created_by=endpoint.created_by,
        created_at=endpoint.created_at,
    )


def _created(endpoint: WebhookEndpoint) -> WebhookCreated:
    return WebhookCreated(**_public(endpoint).model_dump(), secret=endpoint.secret)


async def _own(session: AsyncSession, principal: Principal, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id) if is_id(endpoint_id, "whk") else None
    if endpoint is None or endpoint.org_id != principal.org_id:
        raise NotFound("webhook", endpoint_id)
    return endpoint


async def _own_delivery(
    session: AsyncSession, endpoint: WebhookEndpoint, delivery_id: str
) -> WebhookDelivery:
    delivery = await session.get(WebhookDelivery, delivery_id) if is_id(delivery_id, "dlv") else None
    if delivery is None or delivery.endpoint_id != endpoint.id:
        raise NotFound("delivery", delivery_id)
    return delivery


async def _deliveries(session: AsyncSession, deliveries: list[WebhookDelivery]) -> list[DeliveryPublic]:
    ids = [d.id for d in deliveries]
    logs: dict[str, list[WebhookAttemptPublic]] = {i: [] for i in ids}
    if ids:
        attempts = await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(ids))
            .order_by(WebhookAttempt.started_at, WebhookAttempt.number)
        )
        for a in attempts:
            logs[a.delivery_id].append(
                WebhookAttemptPublic(
                    number=a.number,
                    started_at=a.started_at,
                    duration_ms=a.duration_ms,
                    status_code=a.status_code,
                    error=a.error,
                )
            )
    return [
        DeliveryPublic(
            id=d.id,
            endpoint_id=d.endpoint_id,
            event_id=d.event_id,
            event_type=d.event_type,
            status=DeliveryStatus(d.status),
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
            log=logs[d.id],
        )
        for d in deliveries
    ]


@router.get("")
async def list_webhooks(
    session: SessionDep, principal: Annotated[Principal, Depends(require(Action.WEBHOOKS_READ))]
) -> list[WebhookPublic]:
    """Every endpoint of the organisation, newest first; never a secret."""
    endpoints = await session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.org_id == principal.org_id)
        .order_by(WebhookEndpoint.created_at.desc(), WebhookEndpoint.id)
    )
    return [_public(e) for e in endpoints]


@router.post("", status_code=status.HTTP_201_CREATED, responses={**TOO_LARGE, **_REFUSED})
async def create(
    body: WebhookCreate,
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require(Action.WEBHOOKS_CREATE))],
) -> WebhookCreated:
    """Add an endpoint; the response carries its signing secret, which is never shown again."""
    await vet_url(str(body.url), allow_private_networks=settings.webhook_allow_private_networks)
    endpoint = WebhookEndpoint(
        org_id=principal.org_id,
        url=str(body.url),
        description=body.description,
        events=list(body.events),
        enabled=body.enabled,
        secret=new_secret(),
        created_by=principal.member_id,
        created_at=utcnow(),
    )
    session.add(endpoint)
    await session.commit()
    logger.info("webhook %s created in %s", endpoint.id, endpoint.org_id)
    return _created(endpoint)


@router.get("/{webhook_id}", responses=MISSING)
async def read(
    webhook_id: str,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.WEBHOOKS_READ))],
) -> WebhookPublic:
    return _public(await _own(session, principal, webhook_id))


@router.patch("/{webhook_id}", responses={**MISSING, **TOO_LARGE, **_REFUSED})
async def update(
    webhook_id: str,
    *,
    body: WebhookUpdate,
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require(Action.WEBHOOKS_UPDATE))],
) -> WebhookPublic:
    """Change what is sent; ``null`` leaves a field as it is."""
    endpoint = await _own(session, principal, webhook_id)
    if body.url is not None:
        await vet_url(str(body.url), allow_private_networks=settings.webhook_allow_private_networks)
        endpoint.url = str(body.url)
    if body.description is not None:
        endpoint.description = body.description
    if body.events is not None:
        endpoint.events = list(body.events)
    if body.enabled is not None:
        endpoint.enabled = body.enabled
    await session.commit()
    return _public(endpoint)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, responses=MISSING)
async def remove(
    webhook_id: str,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.WEBHOOKS_DELETE))],
) -> Response:
    """Delete the endpoint with its pending deliveries and its delivery log."""
    endpoint = await _own(session, principal, webhook_id)
    await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id))
    await session.commit()
    logger.info("webhook %s deleted", endpoint.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{webhook_id}/rotate-secret", responses=MISSING)
async def rotate_secret(
    webhook_id: str,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.WEBHOOKS_UPDATE))],
) -> WebhookCreated:
    """A new signing secret, shown once; every delivery from now on is signed with it."""
    endpoint = await _own(session, principal, webhook_id)
    endpoint.secret = new_secret()
    await session.commit()
    logger.info("webhook %s: secret rotated", endpoint.id)
    return _created(endpoint)


@router.post("/{webhook_id}/test", status_code=status.HTTP_202_ACCEPTED, responses=MISSING)
async def test_fire(
    webhook_id: str,
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.WEBHOOKS_UPDATE))],
) -> DeliveryQueued:
    """Queue a ``webhook.test`` event for this endpoint (even when disabled or filtered)."""
    endpoint = await _own(session, principal, webhook_id)
    event = WebhookTest(org_id=endpoint.org_id, data=WebhookTestData(endpoint_id=endpoint.id))
    delivery = enqueue_to(session, endpoint, event)
    await session.commit()
    wake_dispatcher(request)
    return DeliveryQueued(delivery_id=delivery.id, event_id=event.id)


@router.get("/{webhook_id}/deliveries", responses=MISSING)
async def list_deliveries(
    webhook_id: str,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.WEBHOOKS_READ))],
) -> list[DeliveryPublic]:
    """The endpoint's newest deliveries (up to 100), each with its attempt log."""
    endpoint = await _own(session, principal, webhook_id)
    deliveries = list(
        await session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
            .limit(_DELIVERIES_SHOWN)
        )
    )
    return await _deliveries(session, deliveries)


@router.get("/{webhook_id}/deliveries/{delivery_id}", responses=MISSING)
async def read_delivery(
    webhook_id: str,
    delivery_id: str,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.WEBHOOKS_READ))],
) -> DeliveryPublic:
    endpoint = await _own(session, principal, webhook_id)
    (public,) = await _deliveries(session, [await _own_delivery(session, endpoint, delivery_id)])
    return public


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**MISSING, 409: {"description": "the delivery is still pending"}},
)
async def redeliver(
    webhook_id: str,
    delivery_id: str,
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.WEBHOOKS_UPDATE))],
) -> DeliveryPublic:
    """Send a finished delivery (failed or delivered) again, with a fresh set of attempts.

    The body and event id stay the same, so receivers that dedupe on the id see a repeat; the
    earlier attempts stay in the log.
    """
    endpoint = await _own(session, principal, webhook_id)
    delivery = await _own_delivery(session, endpoint, delivery_id)
    if delivery.status == DeliveryStatus.PENDING:
        raise Conflict("the delivery is still pending; it will be retried on its schedule")
    delivery.status = DeliveryStatus.PENDING.value
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    delivery.delivered_at = None
    await session.commit()
    wake_dispatcher(request)
    (public,) = await _deliveries(session, [delivery])
    return public
