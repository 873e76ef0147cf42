"""Chat and shared files in a meeting.

:class:`MeetingChat` reads every human's ``lk.chat`` text streams (the topic LiveKit clients and
livekit-agents use; livekit-agents' own handler reads only its linked participant, so a meeting
session runs with ``text_input=False`` and this one takes the topic) and hands each message to
``on_message(identity, name, text)``. Legacy data-channel chat (``lk-chat-topic`` data packets) is
not read: livekit-agents 1.8 no longer reads it either. :func:`send_chat` answers on ``lk.chat``.

:class:`FileCollector` reads byte streams shared in the room on :data:`FILE_TOPICS` (``lk.chat``:
files attached to a chat message, as ``sendText(…, {attachments})`` in the JS client sends them;
``files``: a plain ``sendFile``) up to ``max_bytes`` and hands each to ``upload(data, name=…,
mime=…, sender=…)``. A larger file is dropped while it streams; what is refused is logged with its
type and size only (never its name or content).
"""

from __future__ import annotations

__all__ = ["FILE_TOPICS", "FileCollector", "MeetingChat", "send_chat"]

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from livekit import rtc
from livekit.agents.types import TOPIC_CHAT

from .transcriber import is_human

logger = logging.getLogger("auralink.agents")

FILE_TOPICS = (TOPIC_CHAT, "files")
MessageHandler = Callable[[str, str, str], Awaitable[None]]
Upload = Callable[..., Awaitable[str | None]]


async def send_chat(room: rtc.Room, text: str, *, to: list[str] | None = None) -> None:
    """Post ``text`` on ``lk.chat`` (to everyone, or to ``to``)."""
    if room.isconnected() and text.strip():
        await room.local_participant.send_text(text, topic=TOPIC_CHAT, destination_identities=to or [])


class _Owned:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class MeetingChat(_Owned):
    """Reads ``lk.chat`` from every human in ``room``. ``start()``, then ``aclose()``."""

    def __init__(self, *, room: rtc.Room, on_message: MessageHandler, max_chars: int = 4000) -> None:
        super().__init__()
        self._room, self._on_message, self._max_chars = room, on_message, max_chars

    def start(self) -> None:
        self._room.register_text_stream_handler(TOPIC_CHAT, self._on_stream)

    def _on_stream(self, reader: rtc.TextStreamReader, sender: str) -> None:
        self._spawn(self._read(reader, sender))

    async def _read(self, reader: rtc.TextStreamReader, sender: str) -> None:
        text = await reader.read_all()
        who = self._room.remote_participants.get(sender)
        if who is None or not is_human(who) or not text.strip():
            return
        try:
            await self._on_message(who.identity, who.name or who.identity, text[: self._max_chars])
        except Exception as e:
            logger.warning("a chat message handler failed: %s", type(e).__name__)

    async def aclose(self) -> None:
        with contextlib.suppress(ValueError):
            self._room.unregister_text_stream_handler(TOPIC_CHAT)
        await self._close_tasks()


class FileCollector(_Owned):
    """Uploads files shared in ``room`` through ``upload`` (``CallReporter.upload``)."""

    def __init__(self, *, room: rtc.Room, upload: Upload, max_bytes: int = 25 * 1024 * 1024) -> None:
        super().__init__()
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
        self._spawn(self._read(reader, sender))

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
        await self._close_tasks()
