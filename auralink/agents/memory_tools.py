"""The memory tools an agent with memory gets: ``remember``, ``recall`` and ``forget``.

They act on one conversation's :class:`~auralink.agents.memory.ConversationMemory` (its
organisation and subject) and never on anyone else's memories:

- ``remember(fact, kind, slot)`` stores a fact or preference now, merged with what is stored
  like the end-of-call extraction (a changed name updates the name, it does not add a second);
- ``recall(query)`` answers with the subject's top-k memories for ``query``;
- ``forget(what, confirm)`` first only lists what would be removed (``confirm=false``), then,
  once the person has agreed, removes exactly what was listed (``confirm=true``);
  ``what="everything"`` erases all the subject's memories the same way.

Every tool answers with a sentence for the model; a failing store is reported, never raised
into the session. Tool arguments are personal data and stay out of log lines.
"""

from __future__ import annotations

__all__ = ["MEMORY_TOOL_NAMES", "memory_tools"]

import logging
import re
from collections.abc import Sequence
from typing import Any, Literal

from livekit.agents import FunctionTool, function_tool

from auralink.memory import Extracted, MemoryRecord, MemoryScope, RuleExtractor
from auralink.memory.retrieval import keyword_scores

from .memory import ConversationMemory

logger = logging.getLogger("auralink.agents")

MEMORY_TOOL_NAMES = ("remember", "recall", "forget")

#: the most memories ``forget`` looks at, and lists, for one request
_FORGET_POOL = 20
#: a memory matches a ``forget`` request when it shares this much of its words (IDF-weighted) ...
_KEYWORD_MATCH = 0.5
#: ... or its embedding is at least this close
_SIMILAR_MATCH = 0.6
_MAX_FACT = 500
_EVERYTHING = frozenset(
    [
        "everything",
        "everything about me",
        "all",
        "all of it",
        "all about me",
        "all memories",
        "all my memories",
        "all my data",
        "all data",
        "me",
        "*",
    ]
)
_FILLER = frozenset(["forget", "remove", "delete", "erase", "memory", "memories", "about", "that", "the"])


def memory_tools(memory: ConversationMemory) -> list[FunctionTool[..., Any]]:
    """``remember``, ``recall`` and ``forget`` bound to this conversation's memory."""
    return _MemoryTools(memory).tools()


class _MemoryTools:
    def __init__(self, memory: ConversationMemory) -> None:
        self.memory = memory
        self.subject_scope = MemoryScope(org_id=memory.org_id, subject=memory.subject.key)
        # what the last forget(confirm=false) listed: only that may be removed on confirm=true
        self.pending: set[str] = set()
        self.pending_everything = False

    def tools(self) -> list[FunctionTool[..., Any]]:
        return [
            function_tool(self.remember, name="remember"),
            function_tool(self.recall, name="recall"),
            function_tool(self.forget, name="forget"),
        ]

    # ------------------------------------------------------------------ remember
    async def remember(self, fact: str, kind: Literal["fact", "preference"] = "fact", slot: str = "") -> str:
        """Remember something about the person you are talking to, for this and later conversations.

        Use it when the person asks you to remember something, or tells you something lasting about
        themselves (name, family, contact details, dates, numbers, likes and dislikes). Not for
        small talk. When a fact changes (a new name, a new address), call it with the new value:
        the old one is replaced.

        Args:
            fact: one short sentence in the person's own words, first person, e.g. "My name is Ada." or "I prefer a window seat."
            kind: "preference" for likes and dislikes, otherwise "fact".
            slot: for a single-valued fact, a short key such as name, birthday or home_city, so a new value replaces the old one; empty otherwise.
        """
        text = " ".join(fact.split())[:_MAX_FACT]
        if not text:
            return "Nothing was remembered: the fact was empty."
        try:
            item = Extracted(kind, text, slot=await _slot_for(text, slot), importance=0.8)
            record = await self.memory.service.remember(
                org_id=self.memory.org_id,
                subject=self.memory.subject.key,
                item=item,
                agent=self.memory.spec.name,
                conversation=self.memory.conversation,
            )
        except Exception as e:  # the conversation goes on without it
            return _failed("remember", e, "I could not save that to memory just now")
        self._drop_from_profile([record.id])  # the store now holds the current text
        if record.updated_at > record.created_at:
            return f"Remembered (this replaces what I had before): {record.text}"
        return f"Remembered: {record.text}"

    # ------------------------------------------------------------------ recall
    async def recall(self, query: str) -> str:
        """Look up what you remember about the person you are talking to.

        Use it when the person asks what you know or remember about them, or when an earlier
        conversation may hold the answer.

        Args:
            query: what to look for, in a few words, e.g. "name", "drinks they like" or "last booking".
        """
        scope = self.memory.scope if self.memory.scope.subject is not None else self.subject_scope
        try:
            found = await self.memory.service.recall(
                scope, query.strip() or "about me", top_k=self.memory.spec.memory.top_k
            )
        except Exception as e:
            return _failed("recall", e, "I could not look in my memory just now")
        if not found:
            return "Nothing is remembered about this person yet."
        return "What I remember (best match first):\n" + _lines(h.record for h in found)

    # ------------------------------------------------------------------ forget
    async def forget(self, what: str, confirm: bool = False) -> str:
        """Forget something about the person you are talking to, when they ask you to.

        Always call it first with confirm=false: nothing is removed, the answer lists what would
        be. Read that list to the person and ask them to confirm. Only after they say yes, call it
        again with the same `what` and confirm=true to remove exactly what was listed. To erase
        everything remembered about the person, pass what="everything".

        Args:
            what: what to forget, in a few words, e.g. "my name", "coffee" or "everything".
            confirm: false to only list what would be removed; true only after the person confirmed that list.
        """
        try:
            if _means_everything(what):
                return await self._forget_everything(confirm=confirm)
            return await self._forget_matching(what, confirm=confirm)
        except Exception as e:
            return _failed("forget", e, "I could not change my memory just now; nothing was removed")

    async def _forget_everything(self, *, confirm: bool) -> str:
        if confirm and self.pending_everything:
            service, memory = self.memory.service, self.memory
            n = await service.forget_subject(memory.org_id, memory.subject.key)
            memory.user_turns.clear()  # or the end-of-call extraction would store them again
            if memory.profile is not None:
                memory.profile.facts.clear()
                memory.profile.summaries.clear()
                memory.profile.vectors.clear()
            self.pending.clear()
            self.pending_everything = False
            logger.info("memory tool: erased one subject (%s memories) on request", n)
            return (
                f"Done: everything remembered about this person was erased ({n} memories). "
                "Do not use anything you knew about them from before."
            )
        await self.memory.service.writer.flush()
        n = await self.memory.service.store.count(self.subject_scope)
        if n == 0:
            return "Nothing is remembered about this person, so there is nothing to erase."
        facts = await self.memory.service.store.recent(
            self.subject_scope, kinds=("fact", "preference"), limit=10
        )
        self.pending_everything = True
        shown = f", including:\n{_lines(facts)}\n" if facts else ". "
        return (
            f"Nothing was removed yet. Erasing everything would remove all {n} memories of this "
            f"person{shown}Ask the person to confirm; only if they say yes, call forget again "
            'with what="everything" and confirm=true.'
        )

    async def _forget_matching(self, what: str, *, confirm: bool) -> str:
        query = _query(what)
        if not query:
            return 'Say what to forget, in a few words (or "everything").'
        matches = await self._matches(query)
        if confirm:
            chosen = [r for r in matches if r.id in self.pending]
            if chosen:
                memory = self.memory
                n = await memory.service.forget_ids(memory.org_id, memory.subject.key, [r.id for r in chosen])
                self.pending.difference_update(r.id for r in chosen)
                self._drop_from_profile([r.id for r in chosen])
                self._drop_user_turns(query)
                logger.info("memory tool: forgot %s memories of one subject on request", n)
                return f"Forgotten ({n}):\n{_describe(chosen)}\nDo not use these any more."
        if not matches:
            return f"Nothing remembered about this person matches {what!r}; nothing to forget."
        self.pending = {r.id for r in matches}
        return (
            f"Nothing was removed yet. Forgetting {what!r} would remove {len(matches)} "
            f"memor{'y' if len(matches) == 1 else 'ies'}:\n{_describe(matches)}\n"
            "Read this to the person and ask them to confirm; only if they say yes, call forget "
            "again with the same what and confirm=true."
        )

    async def _matches(self, query: str) -> list[MemoryRecord]:
        """The subject's memories (any kind, any agent) that match ``query`` closely enough."""
        await self.memory.service.writer.flush()  # turns still queued must be found too
        hits = await self.memory.service.recall(self.subject_scope, query, top_k=_FORGET_POOL)
        return [h.record for h in hits if h.keyword >= _KEYWORD_MATCH or h.similarity >= _SIMILAR_MATCH]

    # ------------------------------------------------------------------ this conversation's copies
    def _drop_from_profile(self, ids: Sequence[str]) -> None:
        profile = self.memory.profile
        if profile is None:
            return
        gone = set(ids)
        profile.facts = [r for r in profile.facts if r.id not in gone]
        profile.summaries = [r for r in profile.summaries if r.id not in gone]
        for i in gone:
            profile.vectors.pop(i, None)

    def _drop_user_turns(self, query: str) -> None:
        """This conversation's user lines about what was forgotten are not extracted at the end."""
        turns = self.memory.user_turns
        scores = keyword_scores(query, turns)
        turns[:] = [t for t, s in zip(turns, scores, strict=True) if s < _KEYWORD_MATCH]


async def _slot_for(text: str, given: str) -> str:
    """The model's slot, normalised, else the one the rule extractor sees ("my name is …" → name)."""
    slot = re.sub(r"[^a-z0-9]+", "_", given.lower()).strip("_")
    if slot:
        return slot
    found = await RuleExtractor().extract([text])
    return next((i.slot for i in found if i.slot), "")


def _query(what: str) -> str:
    words = [w for w in what.split() if w.lower().strip(".,!?;:'\"") not in _FILLER]
    return " ".join(words) or what.strip()


def _means_everything(what: str) -> bool:
    return " ".join(re.sub(r"[^a-z* ]+", " ", what.lower()).split()) in _EVERYTHING


def _lines(records: Any) -> str:
    return "\n".join(f"- {r.text}" for r in records)


def _describe(records: Sequence[MemoryRecord]) -> str:
    """The facts, preferences and summaries line by line; conversation lines only counted
    (they include the request itself), unless nothing else matched."""
    kept = [r for r in records if r.kind != "turn"]
    turns = len(records) - len(kept)
    if not kept:
        return _lines(records)
    if not turns:
        return _lines(kept)
    lines = "line" if turns == 1 else "lines"
    return f"{_lines(kept)}\n(and {turns} {lines} of earlier conversation about it)"


def _failed(tool: str, e: Exception, sentence: str) -> str:
    logger.warning("memory tool %s failed: %s", tool, type(e).__name__)
    return f"{sentence} (the memory store is not available). Tell the person, and carry on."
