"""The worker's meeting reports about a call: moderation decisions and meeting notes.

A moderation report (:class:`~auralink.api.schemas.IngestModeration`) becomes one
:class:`~auralink.api.db.ModerationDecision` row (review ``pending`` when its actions include
``flag``, else ``none``) and, for a flag, a ``moderation.flagged`` webhook. A notes report
(:class:`~auralink.api.schemas.IngestNotes`) replaces the call's notes; the ``final`` one queues
``summary.ready`` with the summary, action items and follow-ups. Calls of rooms no organisation
made keep neither (nobody could read them).
"""

from __future__ import annotations

__all__ = ["notes_text", "store_moderation", "store_notes"]

from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.agent_store import call_toggles
from auralink.api.db import Call, CallNotes, ModerationDecision, new_id, utcnow
from auralink.api.schemas.meetings import IngestModeration, IngestNotes
from auralink.api.webhooks import ModerationFlagged, SummaryReady, enqueue
from auralink.api.webhooks.events import ModerationFlaggedData, SummaryReadyData
from auralink.core.meeting_notes import MeetingNotes


async def store_moderation(session: AsyncSession, call: Call, event: IngestModeration) -> tuple[bool, int]:
    """Store the decision; (stored, webhook deliveries queued)."""
    if call.org_id is None:
        return False, 0
    record = event.record
    flagged = "flag" in record.actions
    row = ModerationDecision(
        id=new_id("mod"),
        org_id=call.org_id,
        call_id=call.id,
        rule_id=record.rule_id[:63],
        kind=record.kind,
        entity=record.entity[:32] if record.entity else None,
        actions=list(record.actions),
        speaker=record.speaker[:255],
        source=record.source,
        excerpt=record.excerpt[:200],
        text_redacted=event.text_redacted,
        score=record.score,
        categories=list(record.categories),
        at=event.at or utcnow(),
        review_status="pending" if flagged else "none",
    )
    session.add(row)
    await session.flush()
    if not flagged:
        return True, 0
    data = ModerationFlaggedData(
        room=call.room_name,
        call_id=call.id,
        decision_id=row.id,
        rule_id=row.rule_id,
        kind=row.kind,
        entity=row.entity,
        actions=row.actions,
        speaker=row.speaker,
        source=row.source,
        score=row.score,
    )
    return True, len(await enqueue(session, ModerationFlagged(org_id=call.org_id, data=data)))


def notes_text(notes: MeetingNotes) -> str:
    """The notes as plain text for search: title, summary, decisions, action items, questions."""
    parts = [notes.title, notes.summary]
    parts += [d.text for d in notes.decisions]
    parts += [a.text for a in notes.action_items]
    parts += [q.text for q in notes.open_questions]
    parts += [f.message for f in notes.follow_ups]
    return "\n".join(p for p in parts if p)


async def store_notes(session: AsyncSession, call: Call, event: IngestNotes) -> tuple[CallNotes | None, int]:
    """Store (or replace) the call's notes; (the row, webhook deliveries queued). Nothing is kept
    when the ``notes`` toggle is off for the organisation or the call's agent now (a dispatch may
    carry toggles older than a change)."""
    if call.org_id is None:
        return None, 0
    if not (await call_toggles(session, org_id=call.org_id, agent=call.agent))["notes"]:
        return None, 0
    now = utcnow()
    data = event.notes.model_dump(mode="json")
    row = await session.get(CallNotes, call.id)
    if row is None:
        row = CallNotes(call_id=call.id, org_id=call.org_id, created_at=now)
        session.add(row)
    row.notes, row.search_text, row.final, row.updated_at = data, notes_text(event.notes), event.final, now
    await session.flush()
    if not event.final:
        return row, 0
    payload = SummaryReadyData(
        room=call.room_name,
        call_id=call.id,
        title=event.notes.title,
        summary=event.notes.summary,
        action_items=data.get("action_items", []),
        follow_ups=data.get("follow_ups", []),
    )
    return row, len(await enqueue(session, SummaryReady(org_id=call.org_id, data=payload)))
