"""When a meeting agent answers a transcribed line: :class:`ReplyPolicy`.

One human in the room: every line is a turn (a one-to-one call). More than one with
``meeting.reply: when_addressed``: only lines that :class:`~.addressing.AddressDetector` finds
addressed to the agent, by its name (``note-taker`` also as ``note taker``) or one of
``meeting.aliases``, or a follow-up from the person it just answered. ``reply: always`` answers
every line.
"""

from __future__ import annotations

__all__ = ["ReplyPolicy", "agent_names"]

import re
from collections.abc import Sequence

from auralink.core import AgentSpec

from .addressing import AddressDetector


def agent_names(spec: AgentSpec) -> list[str]:
    """The names a line can address the agent by: its name, with ``-``/``_`` as spaces, and its aliases."""
    names = [spec.name, re.sub(r"[-_]+", " ", spec.name), *spec.meeting.aliases]
    return list(dict.fromkeys(n.strip().lower() for n in names if n.strip()))


class ReplyPolicy:
    """Decides, line by line, whether the agent replies (keeps who it answered last)."""

    def __init__(self, spec: AgentSpec) -> None:
        self._always = spec.meeting.reply == "always"
        name, *aliases = agent_names(spec)
        self._detector = AddressDetector(name=name, aliases=aliases)

    def should_answer(self, text: str, *, speaker: str, others: Sequence[str]) -> bool:
        """Whether to reply to ``speaker``'s final line; ``others`` are the other humans' names."""
        if self._always or not others:
            return True
        return self._detector.decide(text, speaker=speaker, group=True, other_names=others).addressed

    def answered(self, speaker: str) -> None:
        """The agent finished answering ``speaker``: a follow-up from them needs no name."""
        self._detector.agent_replied(speaker)
