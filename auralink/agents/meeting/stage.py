"""The worker's moderation stage: every final line (speech or chat) is checked before it reaches
captions, the LLM, the call record or the notes; the decision's actions are carried out in the room.

:class:`ModerationStage` wraps a :class:`~.moderation.Moderator` for one job: :meth:`screen`
returns the text to forward (PII redacted) or None when a ``block`` action fired, reports each
decision record to the call record (``moderation`` ingest events, with the redacted line) and
hands the actions to an :class:`~.moderation.ActionSink` off the hot path (tasks it owns).
:class:`LiveKitActionSink` is that sink in a room:

- ``warn``: a chat message on ``lk.chat`` to the speaker only (``destination_identities``);
- ``notify_host``: a chat message to every participant whose attribute ``auralink.role`` is
  ``host``; with none, to the room's first human (the earliest to join, by join time);
- ``mute``: RoomService ``mute_published_track`` on the speaker's microphone (the job's API client);
- ``flag`` and the record itself: the ``moderation`` ingest event (the API keeps the review queue).

:func:`job_policy` is the policy a job runs: the organisation's (from the dispatch metadata) merged
with the agent's, unless the organisation's ``features.moderation`` is off.
"""

from __future__ import annotations

__all__ = ["HOST_ATTRIBUTE", "LiveKitActionSink", "ModerationStage", "job_policy"]

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from livekit import api, rtc
from livekit.agents.types import TOPIC_CHAT

from auralink.core import AgentSpec
from auralink.core.moderation import Decision, ModerationPolicy, strongest_first
from auralink.core.tasks import TaskSet

from .moderation import ActionSink, Moderator, apply
from .transcriber import is_human

logger = logging.getLogger("auralink.agents")

HOST_ATTRIBUTE = "auralink.role"
"""Participant attribute naming a participant's role; ``host`` receives ``notify_host`` messages."""

Report = Callable[[Decision], None]


def job_policy(spec: AgentSpec, metadata: Mapping[str, Any] | None) -> ModerationPolicy | None:
    """The policy for this job: ``ModerationPolicy.merge(org, agent)``; None when there is nothing
    to check or the organisation turned ``features.moderation`` off. A bad organisation policy
    raises :class:`~auralink.core.moderation.PolicyError` (the job must not run without its floor)."""
    data = metadata or {}
    features = data.get("features")
    if isinstance(features, Mapping) and features.get("moderation") is False:
        return None
    raw = data.get("moderation")
    org = ModerationPolicy.load(raw, source="organisation's moderation policy") if raw else None
    if org is None and spec.moderation is None:
        return None
    merged = ModerationPolicy.merge(org, spec.moderation)
    return merged if merged.enabled and merged.rules else None


class LiveKitActionSink:
    """Carries moderation actions out in ``room`` (see the module docstring)."""

    def __init__(self, *, room: rtc.Room, lkapi: api.LiveKitAPI | None, report: Report | None = None) -> None:
        self._room, self._api, self._report = room, lkapi, report

    def hosts(self) -> list[str]:
        humans = [p for p in self._room.remote_participants.values() if is_human(p)]
        hosts = [p.identity for p in humans if p.attributes.get(HOST_ATTRIBUTE, "") == "host"]
        if hosts or not humans:
            return hosts
        first = min(humans, key=lambda p: p.joined_at or 0)
        return [first.identity]

    async def _chat(self, text: str, to: list[str]) -> None:
        if to and self._room.isconnected():
            await self._room.local_participant.send_text(
                text, topic=TOPIC_CHAT, destination_identities=to, attributes={"auralink.moderation": "true"}
            )

    async def warn(self, speaker: str, message: str) -> None:
        await self._chat(message, [speaker])

    async def notify_host(self, decision: Decision) -> None:
        who = self._room.remote_participants.get(decision.speaker)
        name = (who.name or who.identity) if who is not None else decision.speaker
        rules = ", ".join(decision.rule_ids)
        await self._chat(f"Moderation: a {decision.source} line by {name} matched {rules}.", self.hosts())

    async def mute(self, speaker: str) -> None:
        who = self._room.remote_participants.get(speaker)
        if who is None or self._api is None:
            return
        for pub in who.track_publications.values():
            if pub.kind == rtc.TrackKind.KIND_AUDIO and pub.source == rtc.TrackSource.SOURCE_MICROPHONE:
                await self._api.room.mute_published_track(
                    api.MuteRoomTrackRequest(
                        room=self._room.name, identity=speaker, track_sid=pub.sid, muted=True
                    )
                )

    async def flag(self, decision: Decision) -> None:
        """Flagged decisions are recorded like every other (the API queues them for review)."""

    async def record(self, decision: Decision) -> None:
        if self._report is not None:
            self._report(decision)


class ModerationStage:
    """One job's moderation: :meth:`screen` each line, actions in owned tasks, ``aclose()``."""

    def __init__(self, moderator: Moderator, *, sink: ActionSink) -> None:
        self.moderator = moderator
        self._sink = sink
        self._tasks = TaskSet()
        self.decisions = 0  # lines that matched a rule
        self.blocked = 0

    def warm(self) -> None:
        """Load the offline classifier in the background (the first line waits for it if need be)."""
        self._tasks.spawn(self.moderator.warm())

    async def screen(self, text: str, *, speaker: str, source: Literal["speech", "chat"]) -> str | None:
        """The line as it may be forwarded (redacted), or None when it must not be."""
        try:
            decision = await self.moderator.check(text, speaker=speaker, source=source)
        except Exception as e:  # a broken classifier must not let raw text through
            logger.warning("moderation check failed (%s); the line is held back", type(e).__name__)
            return None
        if decision.matched:
            self.decisions += 1
            self._tasks.spawn(apply(decision, self._sink))
        if decision.blocked:
            self.blocked += 1
            return None
        return decision.text

    async def screen_line(
        self,
        text: str,
        *,
        renderings: Sequence[tuple[str, str]],
        speaker: str,
        source: Literal["speech", "chat"],
    ) -> tuple[str, tuple[tuple[str, str], ...]] | None:
        """A line and the STT's own renderings of it (``(language, text)``: Whisper's English of a
        Spanish speaker), each checked: a rule that matches only in a rendering still acts (the
        offline toxicity classifier reads English), a block anywhere blocks the line, and each rule
        is recorded and acted on once. Returns the line and its renderings as they may be
        forwarded, or None."""
        if not renderings:
            screened = await self.screen(text, speaker=speaker, source=source)
            return None if screened is None else (screened, ())
        try:
            first = await self.moderator.check(text, speaker=speaker, source=source)
            others = [
                (lang, await self.moderator.check(rendering, speaker=speaker, source=source))
                for lang, rendering in renderings
            ]
        except Exception as e:  # a broken classifier must not let raw text through
            logger.warning("moderation check failed (%s); the line is held back", type(e).__name__)
            return None
        decisions, seen = [first], set(first.rule_ids)
        for _lang, decision in others:
            new = [r for r in decision.records if r.rule_id not in seen]
            if new:  # what only the rendering showed, as its own decision
                seen.update(r.rule_id for r in new)
                actions = strongest_first(a for r in new for a in r.actions)
                decisions.append(decision.model_copy(update={"records": new, "actions": actions}))
        for decision in decisions:
            if decision.matched:
                self.decisions += 1
                self._tasks.spawn(apply(decision, self._sink))
        if first.blocked or any(d.blocked for _, d in others):
            self.blocked += 1
            return None
        return first.text, tuple((lang, d.text) for lang, d in others)

    async def drain(self) -> None:
        await self._tasks.drain()

    async def aclose(self) -> None:
        await self.drain()  # actions are short: a warning or a mute
        await self.moderator.aclose()


def reporting_records(report: Callable[..., None]) -> Report:
    """A :data:`Report` that sends each record of a decision as a ``moderation`` event via
    ``report(record_json, text_redacted=...)`` (``CallReporter.moderation``)."""

    def send(decision: Decision) -> None:
        for record in decision.records:
            report(
                record.model_dump(mode="json"),
                text_redacted=None if decision.blocked else decision.text,
            )

    return send
