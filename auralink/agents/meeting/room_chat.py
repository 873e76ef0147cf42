"""Chat and shared files in a meeting.

:class:`MeetingChat` reads every human's ``lk.chat`` text streams (the topic LiveKit clients and
livekit-agents use; livekit-agents' own handler reads only its linked participant, so a meeting
session runs with ``text_input=False`` and this one takes the topic) and hands each message to
``on_message(identity, name, text)``. Legacy data-channel chat (``lk-chat-topic`` data packets) is
not read: livekit-agents 1.8 no longer reads it either. :func:`send_chat` answers on ``lk.chat``.

Moderated chat between people: LiveKit delivers ``lk.chat`` from client to client, past the
agent. A client that wants its messages moderated (the meeting page) sends them to the agent
alone on :data:`RELAY_TOPIC` instead; ``on_relay(identity, name, text)`` screens one and
:func:`relay_chat` posts what may be posted on ``lk.chat`` on the author's behalf (so every
LiveKit client shows it under the author), tagged ``auralink.relayed``. A blocked message is
never posted.

:class:`FileCollector` reads byte streams shared in the room on :data:`FILE_TOPICS` (``lk.chat``:
files attached to a chat message, as ``sendText(…, {attachments})`` in the JS client sends them;
``files``: a plain ``sendFile``) up to ``max_bytes`` and hands each to ``upload(data, name=…,
mime=…, sender=…)``. A larger file is dropped while it streams; what is refused is logged with its
type and size only (never its name or content).
"""

from __future__ import annotations

__all__ = [
    "FILE_TOPICS",
    "RELAYED_ATTRIBUTE",
    "RELAY_TOPIC",
    "FileCollector",
    "MeetingChat",
    "relay_chat",
    "send_chat",
]

import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable

from livekit import rtc
from livekit.agents.types import TOPIC_CHAT

from auralink.core.tasks import TaskSet

from .transcriber import is_human

logger = logging.getLogger("auralink.agents")

FILE_TOPICS = (TOPIC_CHAT, "files")
RELAY_TOPIC = "auralink.chat"
"""A chat message sent to the agent alone, to be posted in the room once moderated."""
RELAYED_ATTRIBUTE = "auralink.relayed"
MessageHandler = Callable[[str, str, str], Awaitable[None]]
Upload = Callable[..., Awaitable[str | None]]


async def send_chat(room: rtc.Room, text: str, *, to: list[str] | None = None) -> None:
    """Post ``text`` on ``lk.chat`` (to everyone, or to ``to``)."""
    if room.isconnected() and text.strip():
        await room.local_participant.send_text(text, topic=TOPIC_CHAT, destination_identities=to or [])


async def relay_chat(room: rtc.Room, text: str, *, sender: str) -> None:
    """Post ``text`` on ``lk.chat`` to everyone on behalf of ``sender`` (a moderated message)."""
    if not (room.isconnected() and text.strip()):
        return
    writer = await room.local_participant.stream_text(
        topic=TOPIC_CHAT, sender_identity=sender, attributes={RELAYED_ATTRIBUTE: "true"}
    )
    try:
        await writer.write(text)
    finally:
        await writer.aclose()


class MeetingChat:
    """Reads ``lk.chat`` (and, with ``on_relay``, :data:`RELAY_TOPIC`) from every human in ``room``.
    ``start()``, then ``aclose()``."""

    def __init__(
        self,
        *,
        room: rtc.Room,
        on_message: MessageHandler,
        on_relay: MessageHandler | None = None,
        max_chars: int = 4000,
    ) -> None:
        self._tasks = TaskSet()
        self._room, self._on_message, self._max_chars = room, on_message, max_chars
        self._handlers = {TOPIC_CHAT: on_message} | ({RELAY_TOPIC: on_relay} if on_relay else {})

    def start(self) -> None:
        for topic, handler in self._handlers.items():
            self._room.register_text_stream_handler(topic, functools.partial(self._on_stream, handler))

    def _on_stream(self, handler: MessageHandler, reader: rtc.TextStreamReader, sender: str) -> None:
        self._tasks.spawn(self._read(handler, reader, sender))

    async def _read(self, handler: MessageHandler, reader: rtc.TextStreamReader, sender: str) -> None:
        text = await reader.read_all()
        who = self._room.remote_participants.get(sender)
        if who is None or not is_human(who) or not text.strip():
            return
        try:
            await handler(who.identity, who.name or who.identity, text[: self._max_chars])
        except Exception as e:
            logger.warning("a chat message handler failed: %s", type(e).__name__)

    async def aclose(self) -> None:
        for topic in self._handlers:
            with contextlib.suppress(ValueError):
                self._room.unregister_text_stream_handler(topic)
        await self._tasks.aclose()


class FileCollector:
    """Uploads files shared in ``room`` through ``upload`` (``CallReporter.upload``)."""

    def __init__(self, *, room: rtc.Room, upload: Upload, max_bytes: int = 25 * 1024 * 1024) -> None:
        self._tasks = TaskSet()
        self._room, self._upload, self._max = room, upload, max_bytes
        self._topics: list[str] = []
        self.uploaded: list[str] = []  # ids the API gave
        self.refused = 0

    def start(self) -> None:
        for topic in FILE_TOPICS:
            try:
                self._room.register_byte_stream_handler(topic, self._on_stream)
            except ValueError:
                logger.warning("files: a byte stream handler for %s is already set", topic)
                continue
            self._topics.append(topic)

    def _on_stream(self, reader: rtc.ByteStreamReader, sender: str) -> None:
        self._tasks.spawn(self._read(reader, sender))

    async def _read(self, reader: rtc.ByteStreamReader, sender: str) -> None:
        info = reader.info
        mime = info.mime_type or "application/octet-stream"
        if info.size is not None and info.size > self._max:
            self.refused += 1
            logger.warning(
                "files: a %s of %d bytes is over the %d-byte cap; not kept", mime, info.size, self._max
            )
            reader.close()
            return
        chunks: list[bytes] = []
        size = 0
        async for chunk in reader:
            size += len(chunk)
            if size > self._max:
                self.refused += 1
                logger.warning("files: a %s grew over the %d-byte cap; not kept", mime, self._max)
                reader.close()
                return
            chunks.append(chunk)
        file_id = await self._upload(b"".join(chunks), name=info.name or "file", mime=mime, sender=sender)
        if file_id is None:
            self.refused += 1
        else:
            self.uploaded.append(file_id)
            logger.info("files: a %s of %d bytes kept as %s", mime, size, file_id)

    async def aclose(self) -> None:
        for topic in self._topics:
            with contextlib.suppress(ValueError):
                self._room.unregister_byte_stream_handler(topic)
        self._topics.clear()
        await self._tasks.aclose()
