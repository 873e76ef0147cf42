"""What an agent does differently on a phone call: keypad digits in, phone tools, voicemail.

:func:`attach_phone` is what the worker calls once the session has started. It watches the room
for the caller; when the caller is a phone line (a SIP participant, or the Twilio Media Streams
bridge, whose participant carries ``auralink.source: twilio-media-streams``):

- the agent gets ``send_dtmf``, ``transfer_call`` and ``end_call`` (:mod:`.phone_tools`);
- keys the caller presses (the room's ``sip_dtmf_received``, from livekit-sip or the bridge's
  ``publish_dtmf``) are collected by :class:`DigitCollector` until the terminator (``#``) or a
  pause of ``phone.dtmf_timeout_s``, and become one user turn: "The caller pressed 1 2 3 4 #";
- on an outbound call (a SIP participant without ``sip.ruleID``), :class:`VoicemailDetector`
  listens to the first seconds of what the callee says; an answering machine gets
  ``phone.voicemail``: hang up, leave ``voicemail_message`` after the greeting, or nothing.

livekit-agents' own ``AMD`` classifies greetings with an LLM (LiveKit Inference by default);
the embedded 135M model cannot do that, so the detector here is rule-based and offline.
"""

from __future__ import annotations

__all__ = [
    "MEDIA_STREAMS_SOURCE",
    "SOURCE_ATTRIBUTE",
    "DigitCollector",
    "PhoneCall",
    "VoicemailDetector",
    "attach_phone",
    "call_line",
]

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from typing import Any, Literal

from livekit import rtc

from auralink.core import AgentSpec
from auralink.core.spec import PhoneSpec
from auralink.core.tasks import TaskSet

from .phone_tools import CallLine, PhoneTools

logger = logging.getLogger("auralink.agents")

#: the attribute the Media Streams bridge sets on its participant, and its value
SOURCE_ATTRIBUTE = "auralink.source"
MEDIA_STREAMS_SOURCE = "twilio-media-streams"
#: set to "outbound" by whoever places an outbound Media Streams call
DIRECTION_ATTRIBUTE = "auralink.direction"
_SIP_RULE_ATTRIBUTE = "sip.ruleID"  # only inbound SIP calls come through a dispatch rule
_KEYS = frozenset("0123456789*#ABCD")


def call_line(participant: Any) -> CallLine | None:
    """The phone line a participant is, or None for a browser/SDK participant."""
    attributes = dict(getattr(participant, "attributes", {}) or {})
    if getattr(participant, "kind", None) == rtc.ParticipantKind.PARTICIPANT_KIND_SIP:
        return CallLine(participant.identity, "sip", outbound=not attributes.get(_SIP_RULE_ATTRIBUTE))
    if attributes.get(SOURCE_ATTRIBUTE) == MEDIA_STREAMS_SOURCE:
        outbound = attributes.get(DIRECTION_ATTRIBUTE) == "outbound"
        return CallLine(participant.identity, "media-streams", outbound=outbound)
    return None


# ---------------------------------------------------------------------- keypad digits
class DigitCollector:
    """Collects keypad presses into entries: ``on_entry("1234#")`` when the terminator is pressed,
    or ``on_entry("1234")`` after ``timeout_s`` without a key. Timers only; :meth:`close` cancels."""

    def __init__(
        self,
        *,
        on_entry: Callable[[str], None],
        timeout_s: float,
        terminator: str = "#",
        max_digits: int = 32,
    ) -> None:
        self._on_entry = on_entry
        self._timeout_s = timeout_s
        self._terminator = terminator
        self._max = max_digits
        self._keys: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def pending(self) -> str:
        return "".join(self._keys)

    def press(self, key: str) -> None:
        """One key from the caller; anything that is not a DTMF key is ignored."""
        if self._closed or key not in _KEYS:
            return
        self._keys.append(key)
        if key == self._terminator or len(self._keys) >= self._max:
            self.flush()
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self._timeout_s, self.flush)

    def flush(self) -> None:
        """Hand over what was pressed so far (nothing if nothing was)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        entry, self._keys = "".join(self._keys), []
        if entry and not self._closed:
            self._on_entry(entry)

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._keys.clear()


def entry_text(entry: str) -> str:
    """The user turn the agent gets for one entry: "The caller pressed 1 2 3 4 #"."""
    return "The caller pressed " + " ".join(entry) + " on the phone keypad."


# ---------------------------------------------------------------------- voicemail
Verdict = Literal["machine", "human"]

_MACHINE_PHRASES = [
    r"leave (me |us )?(a |your )?(brief |short )?(message|voicemail|name and number)",
    r"after the (tone|beep)",
    r"at the (tone|beep)",
    r"(is |are )?(not|n't) available",
    r"unavailable",
    r"voice ?mail",
    r"mailbox",
    r"can'?t (come to|take|get to) the phone",
    r"(you'?ve|you have) reached",
    r"record your message",
    r"get back to you",
    r"return your call",
]
_MACHINE = re.compile(r"\b(" + "|".join(_MACHINE_PHRASES) + r")\b", re.IGNORECASE)


class VoicemailDetector:
    """Decides, from the first seconds of what the callee says, whether a machine answered.

    A machine when, within ``window_s`` of the callee's first words, a final transcript holds a
    voicemail phrase ("leave a message", "after the tone", "not available", "voicemail", …), or
    the callee's first stretch of speech runs ``long_utterance_s`` without a pause (people answer
    "Hello?"; greetings run on). Once the window has passed without either, a human.
    """

    def __init__(self, *, window_s: float = 12.0, long_utterance_s: float = 5.0) -> None:
        self.window_s = window_s
        self.long_utterance_s = long_utterance_s
        self.verdict: Verdict | None = None
        self._first_words_at: float | None = None
        self._stretches = 0

    def heard(self, transcript: str, *, at: float) -> Verdict | None:
        """A final transcript of the callee, ``at`` seconds into the call."""
        if self.verdict is not None or not transcript.strip():
            return self.verdict
        if self._first_words_at is None:
            self._first_words_at = at
        if self._expired(at):
            self.verdict = "human"
        elif _MACHINE.search(transcript):
            self.verdict = "machine"
        return self.verdict

    def spoke(self, *, duration_s: float, at: float) -> Verdict | None:
        """The callee stopped speaking after ``duration_s`` seconds of speech (VAD), at ``at``."""
        if self.verdict is not None:
            return self.verdict
        self._stretches += 1
        if self._first_words_at is None:
            self._first_words_at = at - duration_s
        if self._stretches == 1 and duration_s >= self.long_utterance_s:
            self.verdict = "machine"
        elif self._expired(at):
            self.verdict = "human"
        return self.verdict

    def tick(self, *, at: float) -> Verdict | None:
        """Time passes: the window closing without a machine sign means a human."""
        if self.verdict is None and self._expired(at):
            self.verdict = "human"
        return self.verdict

    def _expired(self, at: float) -> bool:
        return self._first_words_at is not None and at - self._first_words_at > self.window_s


# ---------------------------------------------------------------------- the call
class PhoneCall:
    """Phone behaviour for one job's session; :meth:`aclose` undoes everything it set up.

    ``session`` is the started ``AgentSession``; its ``tools`` list is read on every turn, so the
    phone tools added to it when the phone caller appears apply from the next turn on. ``lkapi``
    returns the ``LiveKitAPI`` client; it is asked for only once a phone caller is in the room.
    """

    def __init__(
        self,
        *,
        room: Any,
        session: Any,
        spec: PhoneSpec,
        lkapi: Callable[[], Any],
        shutdown: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
        detector: VoicemailDetector | None = None,
    ) -> None:
        self.room = room
        self.session = session
        self.spec = spec
        self.lkapi = lkapi
        self.shutdown = shutdown
        self.clock = clock
        self.detector = detector or VoicemailDetector()
        self.line: CallLine | None = None
        self.tools: PhoneTools | None = None
        self.collector = DigitCollector(
            on_entry=self._on_entry, timeout_s=spec.dtmf_timeout_s, terminator=spec.dtmf_terminator
        )
        self._tasks = TaskSet()
        self._started_at = clock()
        self._speaking_since: float | None = None
        self._listening = False
        self._hushed = False  # a machine answered: replies to its greeting are cut
        self._closed = False

    # -- set up / tear down
    def start(self) -> None:
        self.room.on("participant_connected", self._on_participant)
        if self.spec.dtmf:
            self.room.on("sip_dtmf_received", self._on_dtmf)
        for participant in list(self.room.remote_participants.values()):
            self._on_participant(participant)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.collector.close()
        self.room.off("participant_connected", self._on_participant)
        if self.spec.dtmf:
            self.room.off("sip_dtmf_received", self._on_dtmf)
        self._stop_listening()
        if self._hushed:
            self.session.off("speech_created", self._hush_reply)
        await self._tasks.aclose()

    # -- the caller
    def _on_participant(self, participant: Any) -> None:
        if self.line is not None:
            return
        line = call_line(participant)
        if line is None:
            return
        self.line = line
        try:
            client = self.lkapi()
        except Exception as e:  # no API client: keys still work, the tools cannot
            logger.warning("phone: no LiveKit API client (%s); phone tools are off", type(e).__name__)
            return
        self.tools = PhoneTools(
            room=self.room, lkapi=client, line=line, spec=self.spec, shutdown=self.shutdown
        )
        added = self.tools.tools(taken=self._tool_names())
        self.session.tools.extend(added)
        logger.info(
            "phone: %s %s call in room %s; tools: %s",
            "outbound" if line.outbound else "inbound",
            line.kind,
            self.room.name,
            ", ".join(t.info.name for t in added) or "none",
        )
        if line.outbound and self.spec.voicemail != "ignore":
            self._start_listening()

    def _tool_names(self) -> set[str]:
        names: set[str] = set()
        tools: list[Any] = list(self.session.tools)
        with contextlib.suppress(RuntimeError):  # no agent yet
            tools += list(self.session.current_agent.tools)
        for tool in tools:
            info = getattr(tool, "info", None)
            if info is not None:
                names.add(str(info.name))
        return names

    # -- keypad
    def _on_dtmf(self, ev: Any) -> None:
        sender = getattr(ev, "participant", None)
        if sender is not None and self.line is not None and sender.identity != self.line.identity:
            return  # keys from another phone leg in the room (a warm-transfer colleague)
        self.collector.press(str(ev.digit))

    def _on_entry(self, entry: str) -> None:
        logger.info("phone: %s key(s) pressed in room %s", len(entry), self.room.name)
        with contextlib.suppress(RuntimeError):  # nothing to interrupt, or it may not be
            self.session.interrupt()
        try:
            self.session.generate_reply(user_input=entry_text(entry))
        except RuntimeError as e:  # the session is closing
            logger.warning("phone: keys arrived after the session closed: %s", e)

    # -- voicemail
    def _start_listening(self) -> None:
        self._listening = True
        self.session.on("user_input_transcribed", self._on_transcript)
        self.session.on("user_state_changed", self._on_user_state)
        self._tasks.spawn(self._window_watch())

    def _stop_listening(self) -> None:
        if self._listening:
            self._listening = False
            self.session.off("user_input_transcribed", self._on_transcript)
            self.session.off("user_state_changed", self._on_user_state)

    def _now(self) -> float:
        return self.clock() - self._started_at

    def _on_transcript(self, ev: Any) -> None:
        if getattr(ev, "is_final", False):
            self._decide(self.detector.heard(str(ev.transcript), at=self._now()))

    def _on_user_state(self, ev: Any) -> None:
        if ev.new_state == "speaking":
            self._speaking_since = self._now()
        elif ev.old_state == "speaking" and self._speaking_since is not None:
            now = self._now()
            self._decide(self.detector.spoke(duration_s=now - self._speaking_since, at=now))
            self._speaking_since = None

    async def _window_watch(self) -> None:
        while self._listening:
            await asyncio.sleep(0.5)
            now = self._now()
            if (
                self._speaking_since is not None
                and now - self._speaking_since >= self.detector.long_utterance_s
            ):
                # still talking, no pause: a greeting, not a person
                self._decide(self.detector.spoke(duration_s=now - self._speaking_since, at=now))
            else:
                self._decide(self.detector.tick(at=now))

    def _decide(self, verdict: Verdict | None) -> None:
        if verdict is None or not self._listening:
            return
        self._stop_listening()
        logger.info("phone: outbound call in room %s answered by a %s", self.room.name, verdict)
        if verdict == "machine":
            # the greeting is a user turn too: the LLM's answer to it must not be spoken
            self._hushed = True
            self.session.on("speech_created", self._hush_reply)
            self._tasks.spawn(self._voicemail())

    def _hush_reply(self, ev: Any) -> None:
        """A machine answered: the only thing the agent says is ``voicemail_message`` (a ``say``)."""
        if ev.source == "generate_reply":
            ev.speech_handle.interrupt(force=True)

    async def _voicemail(self) -> None:
        assert self.tools is not None
        with contextlib.suppress(RuntimeError):
            self.session.interrupt(force=True)
        if self.spec.voicemail == "leave_message" and self.spec.voicemail_message:
            await self._greeting_over()
            handle = self.session.say(self.spec.voicemail_message, allow_interruptions=False)
            await handle
        await self.tools.hang_up(reason="answering machine")

    async def _greeting_over(self, *, quiet_s: float = 1.0, limit_s: float = 30.0) -> None:
        """Wait until the greeting (and its tone) has been quiet for ``quiet_s``."""
        deadline = self.clock() + limit_s
        quiet_since: float | None = None
        while self.clock() < deadline:
            if self.session.user_state == "speaking":
                quiet_since = None
            elif quiet_since is None:
                quiet_since = self.clock()
            elif self.clock() - quiet_since >= quiet_s:
                return
            await asyncio.sleep(0.1)


def attach_phone(ctx: Any, spec: AgentSpec, session: Any) -> PhoneCall:
    """Phone behaviour for this job (``ctx`` a ``JobContext``), closed when the job shuts down.

    Call it after ``session.start()``. Nothing happens unless the caller turns out to be a
    phone line; browser calls are untouched.
    """
    call = PhoneCall(
        room=ctx.room, session=session, spec=spec.phone, lkapi=lambda: ctx.api, shutdown=ctx.shutdown
    )
    call.start()
    ctx.add_shutdown_callback(call.aclose)
    return call
