"""Who an agent answers in a group call, and when it may take the floor.

:class:`AddressDetector` decides whether a final transcript line (or a chat message) is addressed to
the agent. In a one-to-one call every turn is. In a group a turn is addressed when it carries a wake
phrase ("hey Aura"), calls the agent by name as a vocative ("Aura, …", "…, Aura?", "thanks Aura"),
arrives as a chat message to the agent, or is a follow-up question from the person the agent just
answered (the continuation window). Names are matched fuzzily against speech-to-text errors ("Ora"
for "Aura") by a small phonetic key, without matching other names ("Laura"). Talking *about* the agent
("Aura said earlier …", "ask Aura") is not addressing it.

:class:`FloorControl` keeps who is speaking (from VAD or LiveKit's speaking events): the agent may
start only after nobody has spoken for a quiet gap, and in a group it yields when a human keeps
talking over it. Both are pure logic with an injectable clock (seconds, ``time.monotonic`` style).
"""

from __future__ import annotations

__all__ = ["AddressDecision", "AddressDetector", "FloorControl", "phonetic_key", "sounds_like"]

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

Clock = Callable[[], float]
Reason = Literal[
    "one_to_one", "chat", "wake_phrase", "vocative", "continuation", "third_person", "not_addressed"
]

_WORD = re.compile(r"[\w']+|[,.!?;:]")
_GREETING = frozenset(
    ["hey", "hi", "hello", "ok", "okay", "yo", "so", "and", "um", "uh", "well", "oh", "right"]
)
_THANKS = frozenset(["thanks", "thank", "cheers", "please", "sorry"])
# words after a sentence-initial name that make it the subject of a third-person statement
_THIRD_PERSON_VERBS = frozenset(
    "said says is was has had thinks thought mentioned told tells will would can could did does just might "  # noqa: SIM905
    "should already also asked answered suggested wrote knows 's seems sounds keeps".split()
)
# words before a mid-sentence name that make it an object ("ask Aura", "what Aura said")
_ABOUT_WORDS = frozenset(
    "ask asked tell told about from with to that the like by for said what when what's of than "  # noqa: SIM905
    "let use using and or".split()
)
_QUESTION_START = frozenset(
    "what what's why how how's when where where's who who's which can could would will is are do does did "  # noqa: SIM905
    "should shall may and also tell explain".split()
)


def phonetic_key(word: str) -> str:
    """A rough sound-alike key: lower case, 'au/aw/ow' as 'o', silent leading 'h' dropped, 'ph' as
    'f', 'ck/q' as 'k', doubled letters collapsed, non-letters removed."""
    w = re.sub(r"[^a-z]", "", word.lower())
    for a, b in (("ph", "f"), ("ck", "k"), ("q", "k"), ("au", "o"), ("aw", "o"), ("ow", "o"), ("ou", "o")):
        w = w.replace(a, b)
    if w.startswith("h") and len(w) > 2 and w[1] in "aeiou":
        w = w[1:]
    return re.sub(r"(.)\1+", r"\1", w)


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def sounds_like(said: str, name: str) -> bool:
    """Whether a spoken word may be ``name`` misheard: the same word or phonetic key, or one edit
    away on keys of five letters or more with the same first sound ("Aurora" ≠ "Aura", "Laura" ≠
    "Aura")."""
    if said == name:
        return True
    a, b = phonetic_key(said), phonetic_key(name)
    if not a or not b:
        return False
    return a == b or (len(b) >= 5 and a[0] == b[0] and _distance(a, b) <= 1)


@dataclass(frozen=True, slots=True)
class AddressDecision:
    addressed: bool
    reason: Reason
    matched: str | None = None


class AddressDetector:
    """Decides whether a turn is addressed to the agent (see the module docstring)."""

    def __init__(
        self,
        *,
        name: str,
        aliases: Iterable[str] = (),
        wake_phrases: Iterable[str] = (),
        continuation_s: float = 10.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.name = name
        # each name as its words, longest first: "note taker" must be said whole
        self._names = sorted(
            {tuple(_WORD.findall(n.lower())) for n in (name, *aliases) if _WORD.findall(n.lower())},
            key=len,
            reverse=True,
        )
        self._wake = [tuple(_WORD.findall(p.lower())) for p in wake_phrases if p.strip()]
        self.continuation_s = continuation_s
        self._clock = clock
        self._replied: dict[str, float] = {}  # speaker identity -> when the agent last answered them

    def is_name(self, word: str) -> bool:
        """Whether a spoken word is (a sound-alike of) the agent's one-word name or alias."""
        return any(len(n) == 1 and sounds_like(word, n[0]) for n in self._names)

    def _name_at(self, words: list[str], i: int) -> int:
        """How many words from ``i`` on say one of the agent's names (0: none)."""
        for name in self._names:
            said = words[i : i + len(name)]
            if len(said) == len(name) and all(sounds_like(a, b) for a, b in zip(said, name, strict=True)):
                return len(name)
        return 0

    def agent_replied(self, to: str) -> None:
        """The agent just finished answering participant ``to``: opens the continuation window."""
        self._replied[to] = self._clock()

    def decide(
        self,
        text: str,
        *,
        speaker: str,
        group: bool = True,
        chat_to_agent: bool = False,
        other_names: Iterable[str] = (),
    ) -> AddressDecision:
        """Whether ``text`` from ``speaker`` is addressed to the agent. ``other_names`` are the
        other participants' names: a turn that starts by calling one of them is theirs."""
        if not group:
            return AddressDecision(True, "one_to_one")
        if chat_to_agent:
            return AddressDecision(True, "chat")
        words = _WORD.findall(text.lower())
        if not words:
            return AddressDecision(False, "not_addressed")
        for phrase in self._wake:
            if self._starts_with(words, phrase):
                return AddressDecision(True, "wake_phrase", " ".join(phrase))
        decision = self._by_name(words)
        if decision is not None:
            return decision
        return self._continuation(words, speaker=speaker, other_names=other_names)

    def _starts_with(self, words: list[str], phrase: tuple[str, ...]) -> bool:
        rest = [w for w in words if w not in ",.!?;:"]
        while rest and rest[0] in ("um", "uh", "oh", "so") and phrase[0] != rest[0]:
            rest = rest[1:]
        if len(rest) < len(phrase):
            return False
        return all(sounds_like(a, b) for a, b in zip(rest, phrase, strict=False))

    def _by_name(self, words: list[str]) -> AddressDecision | None:
        third_person = False
        for i in range(len(words)):
            size = self._name_at(words, i)
            if not size:
                continue
            word = " ".join(words[i : i + size])
            before = [w for w in words[:i] if w not in ",.!?;:"]
            prev = words[i - 1] if i else ""
            nxt = words[i + size] if i + size < len(words) else ""
            nxt2 = words[i + size + 1] if i + size + 1 < len(words) else ""
            head = all(w in _GREETING or w in _THANKS or w == "you" for w in before)
            if nxt in (",", "!", "?", ".", ":", "") and (
                prev in (",", "") or head or prev not in _ABOUT_WORDS
            ):
                return AddressDecision(True, "vocative", word)  # "Aura, …", "…, Aura?", "thanks Aura"
            if head and before:
                return AddressDecision(True, "vocative", word)  # "hey Aura what time is it"
            if not before:
                if nxt in _THIRD_PERSON_VERBS or nxt2 == "'s" or word.endswith("'s"):
                    third_person = True  # "Aura said earlier …"
                    continue
                return AddressDecision(True, "vocative", word)  # "aura what's the plan" (no punctuation)
            if prev == "," and nxt not in _THIRD_PERSON_VERBS:
                return AddressDecision(True, "vocative", word)  # "can you, Aura, check …"
            if prev in _ABOUT_WORDS or nxt in _THIRD_PERSON_VERBS:
                third_person = True
        return AddressDecision(False, "third_person") if third_person else None

    def _continuation(self, words: list[str], *, speaker: str, other_names: Iterable[str]) -> AddressDecision:
        replied = self._replied.get(speaker)
        if replied is None or self._clock() - replied > self.continuation_s:
            return AddressDecision(False, "not_addressed")
        others = {n.lower().split()[0] for n in other_names if n.strip()}
        if words[0] in others:
            return AddressDecision(False, "not_addressed")  # "Ben, what do you think?"
        question = words[-1] == "?" or words[0] in _QUESTION_START or words[:2] == ["what", "about"]
        return AddressDecision(question, "continuation" if question else "not_addressed")


class FloorControl:
    """Who holds the floor. Feed it speaking events; ask it whether the agent may start or must yield.

    ``quiet_s``: how long nobody must have spoken before the agent starts. ``yield_after_s``: how
    long a human must speak over the agent before it yields (a short "mm-hm" does not count).
    """

    def __init__(
        self,
        *,
        group: bool = True,
        quiet_s: float = 0.6,
        yield_after_s: float = 0.3,
        clock: Clock = time.monotonic,
    ) -> None:
        self.group = group
        self.quiet_s = quiet_s
        self.yield_after_s = yield_after_s
        self._clock = clock
        self._speaking: dict[str, float] = {}  # identity -> when they started
        self._last_human: float | None = None
        self.agent_speaking = False

    @property
    def humans_speaking(self) -> frozenset[str]:
        return frozenset(self._speaking)

    def human_started(self, identity: str) -> None:
        self._speaking.setdefault(identity, self._clock())
        self._last_human = self._clock()

    def human_stopped(self, identity: str, *, at: float | None = None) -> None:
        """``identity`` stopped speaking now, or at ``at`` (on this object's clock) when known."""
        if self._speaking.pop(identity, None) is not None:
            now = self._clock()
            self._last_human = now if at is None else min(now, max(at, self._last_human or at))

    def participant_left(self, identity: str) -> None:
        self.human_stopped(identity)

    def agent_started(self) -> None:
        self.agent_speaking = True

    def agent_stopped(self) -> None:
        self.agent_speaking = False

    def wait_s(self) -> float | None:
        """Seconds until the agent may start: 0 now, None while a human is speaking."""
        if self._speaking:
            return None
        if self._last_human is None:
            return 0.0
        return max(0.0, self.quiet_s - (self._clock() - self._last_human))

    def may_speak(self) -> bool:
        return self.wait_s() == 0.0

    def should_yield(self) -> bool:
        """True while the agent speaks in a group and a human has talked over it long enough."""
        if not (self.agent_speaking and self.group and self._speaking):
            return False
        now = self._clock()
        return any(now - started >= self.yield_after_s for started in self._speaking.values())
