"""Moderation: the organisation's policy and the decisions moderation took in its calls.

``GET/PUT /v1/moderation/policy``: the policy every agent of the organisation keeps as a floor
(the worker merges it with the agent's own, docs/moderation.md); it travels to the worker in the
dispatch metadata of every call started after the change. ``GET /v1/moderation/decisions`` pages
through decisions, newest first; ``POST …/{id}/review`` confirms or overturns a flagged one, once.
Reading needs ``moderation:read``, changing and reviewing ``moderation:write`` (owners and admins;
an API key scoped to these two is a reviewer's key).
"""

from __future__ import annotations

__all__ = ["router"]

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime
from sqlalchemy import and_, or_, select

from auralink.api.audit import record
from auralink.api.auth import Principal
from auralink.api.db import ModerationDecision, ModerationPolicyRecord, is_id, new_id, utcnow
from auralink.api.deps import SessionDep, require
from auralink.api.errors import Conflict, InvalidField, NotFound
from auralink.api.permissions import Action
from auralink.api.schemas import ErrorBody
from auralink.api.schemas.meetings import (
    ModerationDecisionPage,
    ModerationDecisionPublic,
    ModerationPolicyPublic,
    ReviewCreate,
    ReviewStatus,
)
from auralink.core.moderation import ModerationPolicy, PolicyError

from .common import AUTH, CLASH, MISSING

router = APIRouter(prefix="/v1/moderation", tags=["moderation"], responses=AUTH)

Reader = Annotated[Principal, Depends(require(Action.MODERATION_READ))]
Writer = Annotated[Principal, Depends(require(Action.MODERATION_WRITE))]


def _policy_public(row: ModerationPolicyRecord | None) -> ModerationPolicyPublic:
    if row is None:
        return ModerationPolicyPublic(
            stored=False, policy=ModerationPolicy().model_dump(mode="json"), updated_at=None, updated_by=None
        )
    return ModerationPolicyPublic(
        stored=True, policy=row.policy, updated_at=row.updated_at, updated_by=row.updated_by
    )


@router.get("/policy")
async def get_policy(session: SessionDep, principal: Reader) -> ModerationPolicyPublic:
    """The organisation's moderation policy (an empty one, ``stored: false``, when none is set)."""
    row = await session.scalar(
        select(ModerationPolicyRecord).where(ModerationPolicyRecord.org_id == principal.org_id)
    )
    return _policy_public(row)


@router.put(
    "/policy",
    responses={422: {"model": ErrorBody, "description": "the policy is invalid; `fields` name each field"}},
)
async def put_policy(
    session: SessionDep,
    principal: Writer,
    body: Annotated[
        dict[str, Any],
        Body(
            description="a ModerationPolicy: enabled, rules (blocklist, pii, toxicity, regex), llm_classifier",
            examples=[{"rules": [{"id": "pii.card", "kind": "pii", "entity": "card_number"}]}],
        ),
    ],
) -> ModerationPolicyPublic:
    """Replace the organisation's policy; agents dispatched from now on get it."""
    try:
        policy = ModerationPolicy.load(body)
    except PolicyError as e:
        raise RequestValidationError(
            [{"loc": ("body", i.field), "msg": i.message, "type": "value_error"} for i in e.issues]
        ) from None
    row = await session.scalar(
        select(ModerationPolicyRecord).where(ModerationPolicyRecord.org_id == principal.org_id)
    )
    if row is None:
        row = ModerationPolicyRecord(id=new_id("mpl"), org_id=principal.org_id)
        session.add(row)
    row.policy = policy.model_dump(mode="json")
    row.updated_by, row.updated_at = principal.member_id, utcnow()
    await session.commit()
    return _policy_public(row)


def _public(d: ModerationDecision) -> ModerationDecisionPublic:
    return ModerationDecisionPublic(
        id=d.id,
        call_id=d.call_id,
        rule_id=d.rule_id,
        kind=d.kind,
        entity=d.entity,
        actions=list(d.actions),
        speaker=d.speaker,
        source="chat" if d.source == "chat" else "speech",
        excerpt=d.excerpt,
        text_redacted=d.text_redacted,
        score=d.score,
        categories=list(d.categories or []),
        at=d.at,
        review_status=ReviewStatus(d.review_status),
        reviewed_by=d.reviewed_by,
        reviewed_at=d.reviewed_at,
        review_note=d.review_note,
    )


def _cursor(d: ModerationDecision) -> str:
    return base64.urlsafe_b64encode(f"{d.at.isoformat()}|{d.id}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, str]:
    try:
        at, _, id_ = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition("|")
        when = datetime.fromisoformat(at)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidField("cursor", "not a cursor this API gave out; start again without one") from None
    if when.tzinfo is None or not id_:
        raise InvalidField("cursor", "not a cursor this API gave out; start again without one")
    return when, id_


@router.get("/decisions")
async def list_decisions(
    *,
    session: SessionDep,
    principal: Reader,
    call: Annotated[str | None, Query(max_length=32, description="only this call's (cal_…)")] = None,
    speaker: Annotated[str | None, Query(max_length=255, description="a participant identity")] = None,
    rule: Annotated[str | None, Query(max_length=63, description="a rule id")] = None,
    status: Annotated[ReviewStatus | None, Query(description="none, pending, confirmed, overturned")] = None,
    since: Annotated[AwareDatetime | None, Query(description="at or after this time")] = None,
    until: Annotated[AwareDatetime | None, Query(description="before this time")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the page before")
    ] = None,
) -> ModerationDecisionPage:
    """The organisation's moderation decisions, newest first, filtered and paged."""
    query = select(ModerationDecision).where(ModerationDecision.org_id == principal.org_id)
    if call is not None:
        query = query.where(ModerationDecision.call_id == call)
    if speaker is not None:
        query = query.where(ModerationDecision.speaker == speaker)
    if rule is not None:
        query = query.where(ModerationDecision.rule_id == rule)
    if status is not None:
        query = query.where(ModerationDecision.review_status == status.value)
    if since is not None:
        query = query.where(ModerationDecision.at >= since)
    if until is not None:
        query = query.where(ModerationDecision.at < until)
    if cursor is not None:
        at, id_ = _decode(cursor)
        query = query.where(
            or_(ModerationDecision.at < at, and_(ModerationDecision.at == at, ModerationDecision.id < id_))
        )
    rows = list(
        await session.scalars(
            query.order_by(ModerationDecision.at.desc(), ModerationDecision.id.desc()).limit(limit + 1)
        )
    )
    more, rows = len(rows) > limit, rows[:limit]
    return ModerationDecisionPage(
        items=[_public(d) for d in rows], next_cursor=_cursor(rows[-1]) if more and rows else None
    )


@router.post(
    "/decisions/{decision_id}/review",
    responses={
        **MISSING,
        **CLASH,
        422: {"model": ErrorBody, "description": "verdict is not confirm or overturn"},
    },
)
async def review(
    decision_id: str, body: ReviewCreate, session: SessionDep, principal: Writer
) -> ModerationDecisionPublic:
    """Confirm or overturn a decision, once: who reviewed it, when and why are kept (409 after)."""
    row = await session.get(ModerationDecision, decision_id) if is_id(decision_id, "mod") else None
    if row is None or row.org_id != principal.org_id:
        raise NotFound("moderation decision", decision_id)
    if row.review_status in (ReviewStatus.CONFIRMED, ReviewStatus.OVERTURNED):
        raise Conflict(f"decision {row.id} was already reviewed ({row.review_status})")
    row.review_status = "confirmed" if body.verdict == "confirm" else "overturned"
    row.reviewed_by, row.reviewed_at, row.review_note = principal.actor, utcnow(), body.note or None
    await record(session, "moderation.reviewed", row.id, detail={"verdict": body.verdict})
    await session.commit()
    return _public(row)
