"""The worker's side of a meeting agent: its room options, its transcriber and who it answers,
and the meeting capabilities around them (docs/meetings.md).

An agent with ``meeting.transcribe`` hears the room through its :class:`MeetingTranscriber`, not
through the session's own microphone input (which links one participant only): the session is
started without audio or text input and stays in the room when any one participant leaves
(:func:`meeting_room_options`). :func:`attach_meeting` starts, per job:

- the transcriber; each final line goes first through the moderation stage (:mod:`.stage`; when a
  policy applies), and only the redacted line is captioned, recorded in the call record under its
  speaker, kept for the notes and, when :class:`.replies.ReplyPolicy` says so, handed to the
  session as a user turn (``"Name: text"``); a blocked line goes nowhere;
- translated captions for the listeners' languages (``meeting.translate``, :mod:`.live_translation`),
  and spoken on one audio track per language of ``meeting.speak_translations`` (:mod:`.spoken_translation`);
- ``lk.chat`` (``meeting.chat``): each message is moderated, recorded as a user line under its
  sender, kept for the notes, and when addressed answered in chat (text, not voice);
- shared files (``meeting.files``, :mod:`.room_chat`), uploaded to the call record;
- notes (``meeting.notes``): on an addressed "notes please" (posted in chat, reported) and once at
  room end, reported as the final ``notes`` event before the reporter flushes.

The job ends when the last human leaves.
"""

from __future__ import annotations

__all__ = ["READY_ATTRIBUTE", "MeetingCapabilities", "attach_meeting", "meeting_room_options"]

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from livekit import rtc
from livekit.agents import AgentSession, JobContext, llm, vad
from livekit.agents.voice import room_io

from auralink.agents.providers import build_stt
from auralink.agents.reporting import CallReporter
from auralink.core import AgentSpec, AuraLinkError, Settings
from auralink.core.tasks import TaskSet

from .addressing import FloorControl
from .captions import CaptionLine
from .live_translation import LANGUAGE, RoomTranslations, build_translator
from .notekeeper import NoteKeeper, build_note_writer, is_notes_request
from .notes import MeetingNotes
from .replies import ReplyPolicy
from .room_chat import FileCollector, MeetingChat, relay_chat, send_chat
from .speech_translation import MultilingualSTTs
from .spoken_translation import SpokenTranslations, build_spoken_translations
from .stage import ModerationStage
from .transcriber import MeetingTranscriber, is_human
from .translation import CaptionTranslator, primary

logger = logging.getLogger("auralink.agents")

READY_ATTRIBUTE = "auralink.meeting"
"""The agent's participant attribute, ``ready`` once its meeting capabilities run."""
_FLOOR_WAIT_S = 15.0  # the longest a spoken reply waits for people to stop talking
Translate = Callable[[str, str, str], Awaitable[str | None]]  # (text, source, target) -> text
_FINAL_NOTES_S = 30.0  # the final notes at room end: every sentence embedded, on a slow CPU


def meeting_room_options() -> room_io.RoomOptions:
    """The session listens through the transcriber (and reads chat through :class:`MeetingChat`)
    and outlives any one participant."""
    return room_io.RoomOptions(audio_input=False, text_input=False, close_on_disconnect=False)


def _room_started_at(ctx: JobContext) -> datetime:
    info = ctx.job.room
    created_ms = info.creation_time_ms or info.creation_time * 1000
    return datetime.fromtimestamp(created_ms / 1000, UTC) if created_ms else datetime.now(UTC)


@dataclass
class MeetingCapabilities:
    """What :func:`attach_meeting` started for one job (tests and the worker's log read it)."""

    transcriber: MeetingTranscriber
    moderation: ModerationStage | None = None
    translations: RoomTranslations | None = None
    spoken: SpokenTranslations | None = None
    notes: NoteKeeper | None = None
    chat: MeetingChat | None = None
    files: FileCollector | None = None
    lines: _Lines | None = None

    async def aclose(self) -> None:
        """Everything but the notes (closed after their final write) and the moderation stage."""
        for part in (self.lines, self.chat, self.files, self.translations, self.spoken):
            if part is not None:
                await part.aclose()
        await self.transcriber.aclose()  # the moderation stage is the worker's: it closes it


class Floor:
    """Floor control for a meeting session, whose own audio input is off (the transcriber hears
    everyone): a spoken reply starts only once nobody has spoken for ``FloorControl.quiet_s``, and
    the agent stops when a human talks over it for ``yield_after_s`` (a short "mm-hm" does not)."""

    def __init__(self, session: AgentSession[Any], *, control: FloorControl | None = None) -> None:
        self.control = control or FloorControl(group=True)
        self._session = session
        self._tasks = TaskSet()
        session.on("agent_state_changed", self._on_agent_state)

    def _on_agent_state(self, ev: Any) -> None:
        if getattr(ev, "new_state", None) == "speaking":
            self.control.agent_started()
        else:
            self.control.agent_stopped()

    def on_speaking(self, identity: str, speaking: bool, *, ended_at: float | None = None) -> None:
        """The transcriber's voice activity of one human (``ended_at``: when their speech ended,
        ``time.monotonic()``, if earlier than now)."""
        if not speaking:
            self.control.human_stopped(identity, at=ended_at)
            return
        self.control.human_started(identity)
        if self.control.agent_speaking:
            self._tasks.spawn(self._yield_if_still_talking())

    async def _yield_if_still_talking(self) -> None:
        await asyncio.sleep(self.control.yield_after_s)
        if self.control.should_yield():
            logger.info("floor: a participant talked over the agent; it stops")
            await self._session.interrupt()

    async def wait_for_turn(self, *, timeout_s: float = _FLOOR_WAIT_S) -> None:
        """Until the agent may start (nobody speaking, a short quiet after), at most ``timeout_s``."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while (wait := self.control.wait_s()) != 0.0:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, wait if wait is not None else 0.1))

    async def aclose(self) -> None:
        await self._tasks.aclose()


class _Responder:
    """Turns addressed lines into the session's replies: voice for speech, chat for chat."""

    def __init__(self, *, spec: AgentSpec, session: AgentSession[Any], ctx: JobContext, floor: Floor) -> None:
        self.policy = ReplyPolicy(spec)
        self._session, self._ctx, self.floor = session, ctx, floor
        self._chat_lock = asyncio.Lock()
        self._tasks = TaskSet()
        # speaker -> what they said to the agent while its reply to them waits for the floor
        self._waiting: dict[str, list[str]] = {}

    def voice(self, *, speaker: str, prompt: str) -> None:
        """Reply aloud once the floor is free (nobody talking, a short quiet after); what the
        speaker adds before then joins it (:meth:`continues`)."""
        if self.continues(speaker, prompt):
            return
        self._waiting[speaker] = [prompt]
        self._tasks.spawn(self._voice(speaker))

    def continues(self, speaker: str, text: str) -> bool:
        """Whether ``speaker`` is still waiting for a reply; if so ``text`` joins what they asked.
        A speech-to-text cuts a turn where the speaker paused ("Computer." … "what's on the
        agenda?"); the second part is not addressed on its own, but it is the question."""
        parts = self._waiting.get(speaker)
        if parts is None:
            return False
        parts.append(text)
        return True

    async def _voice(self, speaker: str) -> None:
        try:
            await self.floor.wait_for_turn()
        finally:
            parts = self._waiting.pop(speaker, [])
        handle = self._session.generate_reply(user_input=" ".join(parts))
        handle.add_done_callback(lambda _h: self.policy.answered(speaker))

    async def aclose(self) -> None:
        await self._tasks.aclose()
        await self.floor.aclose()

    async def chat(self, *, speaker: str, prompt: str) -> None:
        """A reply in text on ``lk.chat``: the session's audio output is off while it is made."""
        async with self._chat_lock:
            output = self._session.output
            output.set_audio_enabled(False)
            try:
                handle = self._session.generate_reply(user_input=prompt)
                await handle
            finally:
                output.set_audio_enabled(True)
            self.policy.answered(speaker)
            text = " ".join(
                item.text_content or ""
                for item in handle.chat_items
                if isinstance(item, llm.ChatMessage) and item.role == "assistant"
            ).strip()
            await send_chat(self._ctx.room, text)


class _Lines:
    """Where each moderated line goes: the call record, the notes, the session (voice or chat)."""

    def __init__(
        self,
        *,
        room: rtc.Room,
        responder: _Responder,
        reporter: CallReporter | None,
        started_at: datetime,
        moderation: ModerationStage | None,
        notes: NoteKeeper | None,
        language: str = "en",
        translate: Translate | None = None,
    ) -> None:
        """``translate(text, source, target)``: a line of another language in the agent's (the
        caption translator's, cached and shared with the captions), None when it cannot."""
        self._room, self._responder, self._reporter = room, responder, reporter
        self._started_at, self._moderation, self._notes = started_at, moderation, notes
        self._language = primary(language)  # the agent's
        self._translate = translate
        self._tasks = TaskSet()

    def _others(self, identity: str) -> list[str]:
        return [
            p.name or p.identity
            for p in self._room.remote_participants.values()
            if is_human(p) and p.identity != identity
        ]

    async def _notes_now(self, speaker: str) -> None:
        notes = await self._notes.write(final=False) if self._notes is not None else None
        self._responder.policy.answered(speaker)
        if notes is not None:
            await send_chat(self._room, notes.to_markdown())

    def _keep(self, *, identity: str, name: str, text: str, start: float, end: float) -> None:
        if self._notes is not None:
            self._notes.add(identity=identity, name=name, text=text, start=start, end=end)

    def _wants_notes(self, text: str) -> bool:
        return self._notes is not None and is_notes_request(text)

    async def aclose(self) -> None:
        await self._tasks.aclose()
        await self._responder.aclose()

    async def screen(self, line: CaptionLine) -> CaptionLine | None:
        """The speech line as moderation lets it through (redacted), or None (blocked)."""
        stage = self._moderation
        if stage is None:
            return line
        screened = await stage.screen_line(
            line.text, renderings=line.translations, speaker=line.identity, source="speech"
        )
        if screened is None:
            return None
        text, renderings = screened
        if text != line.text:
            # the renderings of a redacted line go: a word redacted in one language may be said
            # differently in another (the captions are translated from the redacted line instead)
            return replace(line, text=text, translations=())
        return line if renderings == line.translations else replace(line, translations=renderings)

    def on_line(self, line: CaptionLine) -> None:
        """A final, moderated speech line. The record keeps what was said (with its language). A
        line in another language is heard (answered, noted) in the agent's language: the STT's own
        rendering (Whisper's English) when there is one, else the caption translator's, else the
        original; it is addressed by either the original words or what the agent heard."""
        if self._reporter is not None:
            self._reporter.turn(
                role="user",
                speaker=line.identity,
                text=line.text,
                language=line.language or None,
                spoken_at=line.started_at,
            )
        if line.language in ("", self._language):
            self._hear(line, line.text)
            return
        rendering = dict(line.translations).get(self._language, "")
        if rendering or self._translate is None:
            self._hear(line, rendering or line.text)
            return
        self._tasks.spawn(self._hear_translated(line, self._translate))

    async def _hear_translated(self, line: CaptionLine, translate: Translate) -> None:
        heard = await translate(line.text, line.language, self._language)
        self._hear(line, heard or line.text)

    def _hear(self, line: CaptionLine, heard: str) -> None:
        """What the agent hears of ``line``: kept for the notes, and answered when addressed."""
        self._keep(identity=line.identity, name=line.name, text=heard, start=line.start_s, end=line.end_s)
        others = self._others(line.identity)
        policy = self._responder.policy
        addressed = any(
            policy.should_answer(t, speaker=line.identity, others=others) for t in {line.text, heard}
        )
        if addressed and self._wants_notes(heard):
            self._tasks.spawn(self._notes_now(line.identity))
        elif self._responder.continues(line.identity, heard):
            pass  # the rest of a question whose reply still waits for the floor
        elif addressed:
            prompt = f"{line.name}: {heard}" if others else heard
            self._responder.voice(speaker=line.identity, prompt=prompt)

    async def on_chat(self, identity: str, name: str, text: str) -> None:
        """A chat message: moderated, recorded, kept, and answered in chat when addressed."""
        screened = await self._screen_chat(identity, text)
        if screened is not None:
            await self._chat_line(identity, name, screened)

    async def on_relayed_chat(self, identity: str, name: str, text: str) -> None:
        """A chat message for the room sent to the agent to moderate (``auralink.chat``): posted
        on ``lk.chat`` for everyone as it may be posted (redacted), never when blocked; then
        handled as any chat line."""
        screened = await self._screen_chat(identity, text)
        if screened is None:
            return
        await relay_chat(self._room, screened, sender=identity)
        await self._chat_line(identity, name, screened)

    async def _screen_chat(self, identity: str, text: str) -> str | None:
        stage = self._moderation
        return await stage.screen(text, speaker=identity, source="chat") if stage else text

    async def _chat_line(self, identity: str, name: str, screened: str) -> None:
        now = datetime.now(UTC)
        if self._reporter is not None:
            self._reporter.turn(role="user", speaker=identity, text=screened, spoken_at=now)
        at = max(0.0, (now - self._started_at).total_seconds())
        self._keep(identity=identity, name=name, text=screened, start=at, end=at)
        others = self._others(identity)
        if not self._responder.policy.should_answer(screened, speaker=identity, others=others):
            return
        if self._wants_notes(screened):
            await self._notes_now(identity)
        else:
            await self._responder.chat(speaker=identity, prompt=f"{name}: {screened}" if others else screened)


async def _translations(
    spec: AgentSpec, room: rtc.Room, spoken: SpokenTranslations | None
) -> RoomTranslations | None:
    if not spec.meeting.translate:
        return None
    try:
        translator = await build_translator(spec)
    except AuraLinkError as e:  # captions go on untranslated; the reason is said once, clearly
        logger.error("meeting translation is off in room %s: %s", room.name, e)
        return None
    return RoomTranslations(
        room=room,
        translator=CaptionTranslator(translator),
        source=spec.language,
        on_caption=spoken.heard if spoken is not None else None,
        always=spoken.languages if spoken is not None else (),
    )


async def _spoken(spec: AgentSpec, room: rtc.Room, settings: Settings) -> SpokenTranslations | None:
    if not (spec.meeting.translate and spec.meeting.speak_translations):
        return None
    try:
        spoken = build_spoken_translations(spec, room=room, settings=settings)
    except AuraLinkError as e:  # the meeting goes on without spoken translation; said once, clearly
        logger.error("spoken translation is off in room %s: %s", room.name, e)
        return None
    await spoken.start()
    return spoken


def _into(translations: RoomTranslations) -> Translate:
    """A line into another language through the room's caption translator (its cache and limits
    shared with the captions); None when it has no route or fails."""
    captions = translations.translator

    async def translate(text: str, source: str, target: str) -> str | None:
        if not captions.translator.supports(primary(source), primary(target)):
            return None
        try:
            return await asyncio.wait_for(
                captions.translate(text, source=source, target=target), captions.timeout_s
            )
        except (AuraLinkError, TimeoutError) as e:
            logger.warning("a line could not be translated for the agent (%s)", type(e).__name__)
            return None

    return translate


def _whisper_english(translations: RoomTranslations | None) -> Callable[[str], bool] | None:
    """Whisper's English only for languages the caption translator has no route to English from."""
    if translations is None:
        return None
    provider = translations.translator.translator

    def needed(language: str) -> bool:
        return not provider.supports(primary(language), "en")

    return needed


def _multilingual(
    spec: AgentSpec, room: rtc.Room, settings: Settings, translations: RoomTranslations | None
) -> MultilingualSTTs | None:
    if not spec.meeting.multilingual:
        return None
    try:
        return MultilingualSTTs(spec, settings=settings, whisper_english=_whisper_english(translations))
    except AuraLinkError as e:  # everyone is heard in the agent's language; said once, clearly
        logger.error("captions in other languages are off in room %s: %s", room.name, e)
        return None


def _keeper(
    spec: AgentSpec, *, settings: Settings, started_at: datetime, title: str, reporter: CallReporter | None
) -> NoteKeeper | None:
    if not spec.meeting.notes:
        return None

    def report(notes: MeetingNotes, final: bool) -> None:
        if reporter is not None:
            reporter.notes(notes.model_dump(mode="json"), final=final)

    return NoteKeeper(
        writer=build_note_writer(spec, settings=settings), started_at=started_at, title=title, report=report
    )


async def attach_meeting(
    ctx: JobContext,
    spec: AgentSpec,
    session: AgentSession[Any],
    *,
    settings: Settings,
    vad_model: vad.VAD | None,
    reporter: CallReporter | None,
    moderation: ModerationStage | None = None,
) -> MeetingCapabilities:
    """Start the meeting capabilities of ``spec`` in the job's room; closed with the job."""
    room, meeting = ctx.room, spec.meeting
    started_at = _room_started_at(ctx)
    keeper = _keeper(
        spec, settings=settings, started_at=started_at, title=f"Meeting in {room.name}", reporter=reporter
    )
    spoken = await _spoken(spec, room, settings)
    translations = await _translations(spec, room, spoken)
    if translations is None and spoken is not None:  # nothing to speak
        await spoken.aclose()
        spoken = None
    responder = _Responder(spec=spec, session=session, ctx=ctx, floor=Floor(session))
    lines = _Lines(
        room=room,
        responder=responder,
        reporter=reporter,
        started_at=started_at,
        moderation=moderation,
        notes=keeper,
        language=spec.language,
        translate=_into(translations) if translations is not None else None,
    )
    multilingual = _multilingual(spec, room, settings, translations)
    transcriber = MeetingTranscriber(
        room=room,
        stt_engine=build_stt(spec.stt, settings=settings, language=spec.language),
        language=spec.language,
        stt_for=multilingual,
        vad_model=vad_model,
        room_started_at=started_at,
        on_line=lines.on_line,
        on_empty=lambda: ctx.shutdown(reason="everyone left"),
        captions=meeting.captions,
        noise_suppression=meeting.noise_suppression,
        screen=lines.screen if moderation is not None else None,
        on_captioned=translations.captioned if translations is not None else None,
        caption_attributes=lambda line: {LANGUAGE: line.language or spec.language.split("-")[0]},
        on_speaking=responder.floor.on_speaking,
    )
    caps = MeetingCapabilities(
        transcriber=transcriber,
        moderation=moderation,
        translations=translations,
        spoken=spoken,
        notes=keeper,
        lines=lines,
    )
    if meeting.chat:
        caps.chat = MeetingChat(room=room, on_message=lines.on_chat, on_relay=lines.on_relayed_chat)
        caps.chat.start()
    if meeting.files:
        if reporter is None:
            logger.warning("meeting files: no reporter (no LiveKit keys); shared files are not kept")
        else:
            caps.files = FileCollector(room=room, upload=reporter.upload)
            caps.files.start()
    transcriber.start()

    async def close() -> None:
        await caps.aclose()
        if multilingual is not None:  # after the transcriber: no request in flight any more
            await multilingual.aclose()

    ctx.add_shutdown_callback(close)
    # clients (and tests) know the agent now hears everyone: captions, translation, chat are live
    await room.local_participant.set_attributes({READY_ATTRIBUTE: "ready"})
    if keeper is not None:

        async def final_notes() -> None:
            try:
                await keeper.write(final=True)
            finally:
                await keeper.aclose()

        if reporter is not None:
            reporter.before_close(final_notes, timeout_s=_FINAL_NOTES_S)
        else:
            ctx.add_shutdown_callback(final_notes)
    if reporter is not None and moderation is not None:
        reporter.before_close(moderation.drain, timeout_s=5.0)  # the last decisions' records
    logger.info(
        "meeting in room %s: reply=%s moderation=%s translate=%s spoken=%s notes=%s chat=%s files=%s",
        room.name,
        meeting.reply,
        moderation is not None,
        translations is not None,
        ",".join(spoken.languages) if spoken is not None else "-",
        keeper is not None,
        caps.chat is not None,
        caps.files is not None,
    )
    return caps
