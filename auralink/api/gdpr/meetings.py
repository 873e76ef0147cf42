"""A subject's footprint in meetings: moderation decisions about what they said, files they
shared, and meeting notes.

Decisions and files go with the subject (their ``speaker``/``sender`` is one of the subject's
identities); a file's bytes are deleted from disk with its row. Notes follow the transcript rule
(:mod:`.calls`): the notes of a call where the subject was the only human go with them; in a
meeting with other people the notes stay, with the subject's name and identity replaced by
``[erased]`` wherever the notes name them (owners, speakers, askers).
"""

from __future__ import annotations

__all__ = ["MeetingFootprint", "erase_meetings", "export_meetings", "find_meetings"]

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.db import CallFile, CallNotes, ModerationDecision
from auralink.api.files import file_path

from .calls import CallFootprint
from .subject import Subject

logger = logging.getLogger("auralink.api")

ERASED = "[erased]"


@dataclass
class MeetingFootprint:
    decisions: list[ModerationDecision] = field(default_factory=list)
    files: list[CallFile] = field(default_factory=list)
    sole_notes: list[CallNotes] = field(default_factory=list)
    shared_notes: list[CallNotes] = field(default_factory=list)  # notes that name the subject
    identities: frozenset[str] = frozenset()


def _names(data: Any, identities: frozenset[str]) -> bool:
    if isinstance(data, dict):
        if data.get("identity") in identities:
            return True
        return any(_names(v, identities) for v in data.values())
    if isinstance(data, list):
        return any(_names(v, identities) for v in data)
    return False


def _scrub(data: Any, identities: frozenset[str]) -> Any:
    if isinstance(data, dict):
        if data.get("identity") in identities:
            return {**data, "identity": ERASED, "name": ERASED}
        return {k: _scrub(v, identities) for k, v in data.items()}
    if isinstance(data, list):
        return [_scrub(v, identities) for v in data]
    return data


async def find_meetings(session: AsyncSession, subject: Subject, calls: CallFootprint) -> MeetingFootprint:
    identities = frozenset(subject.identities() | {p.identity for p, _ in calls.participants})
    found = MeetingFootprint(identities=identities)
    if not identities:
        return found
    found.decisions = list(
        await session.scalars(
            select(ModerationDecision)
            .where(ModerationDecision.org_id == subject.org_id, ModerationDecision.speaker.in_(identities))
            .order_by(ModerationDecision.at)
        )
    )
    found.files = list(
        await session.scalars(
            select(CallFile)
            .where(CallFile.org_id == subject.org_id, CallFile.sender.in_(identities))
            .order_by(CallFile.created_at)
        )
    )
    if calls.calls:
        for notes in await session.scalars(select(CallNotes).where(CallNotes.call_id.in_(list(calls.calls)))):
            if notes.call_id in calls.sole_calls:
                found.sole_notes.append(notes)
            elif _names(notes.notes, identities):
                found.shared_notes.append(notes)
    return found


def export_meetings(found: MeetingFootprint) -> dict[str, list[dict[str, Any]]]:
    return {
        "moderation_decisions": [
            {
                "id": d.id,
                "call_id": d.call_id,
                "rule_id": d.rule_id,
                "kind": d.kind,
                "entity": d.entity,
                "actions": d.actions,
                "speaker": d.speaker,
                "source": d.source,
                "excerpt": d.excerpt,
                "text_redacted": d.text_redacted,
                "score": d.score,
                "at": d.at,
                "review_status": d.review_status,
                "review_note": d.review_note,
            }
            for d in found.decisions
        ],
        "shared_files": [
            {
                "id": f.id,
                "call_id": f.call_id,
                "sender": f.sender,
                "name": f.name,
                "mime": f.mime,
                "size": f.size,
                "sha256": f.sha256,
                "created_at": f.created_at,
            }
            for f in found.files
        ],
        "meeting_notes": [
            {"call_id": n.call_id, "final": n.final, "notes": n.notes}
            for n in [*found.sole_notes, *found.shared_notes]
        ],
    }


async def erase_meetings(
    session: AsyncSession, found: MeetingFootprint, *, data_dir: Path | None
) -> dict[str, int]:
    """Delete decisions, files (and their bytes under ``data_dir``) and sole-call notes; scrub
    the subject from shared notes. Not committed."""
    counts = {"moderation_decisions": 0, "shared_files": 0, "meeting_notes": 0}
    if found.decisions:
        ids = [d.id for d in found.decisions]
        await session.execute(delete(ModerationDecision).where(ModerationDecision.id.in_(ids)))
        counts["moderation_decisions"] = len(ids)
    if found.files:
        await session.execute(delete(CallFile).where(CallFile.id.in_([f.id for f in found.files])))
        counts["shared_files"] = len(found.files)
        if data_dir is not None:
            for f in found.files:
                file_path(data_dir, org_id=f.org_id, call_id=f.call_id, file_id=f.id).unlink(missing_ok=True)
    if found.sole_notes:
        ids = [n.call_id for n in found.sole_notes]
        await session.execute(delete(CallNotes).where(CallNotes.call_id.in_(ids)))
    for notes in found.shared_notes:
        notes.notes = _scrub(notes.notes, found.identities)
    counts["meeting_notes"] = len(found.sole_notes) + len(found.shared_notes)
    return counts
