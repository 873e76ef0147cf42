"""Turning a finished conversation into facts and preferences worth remembering.

:class:`RuleExtractor` is the offline default: patterns over what the *user* said catch names
("my name is / I'm X / call me X"), preferences ("I like / love / prefer / hate / don't like …"),
dates and times, numbers with what they count (phone numbers, amounts, room and order numbers)
and commitments ("I'll / I will / remind me / by Friday"). :class:`LLMExtractor` asks any
OpenAI-compatible chat endpoint for the same thing as JSON when one is configured.
"""

from __future__ import annotations

__all__ = ["Extracted", "Extractor", "LLMExtractor", "RuleExtractor", "extractive_summary"]

import json
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from auralink.core.errors import ProviderError

from .types import MemoryKind

logger = logging.getLogger("auralink.memory")


@dataclass(frozen=True, slots=True)
class Extracted:
    """One thing worth remembering, phrased in the first person as the user said it."""

    kind: MemoryKind
    text: str
    slot: str = ""
    importance: float = 0.5


class Extractor(ABC):
    @abstractmethod
    async def extract(self, user_turns: Sequence[str]) -> list[Extracted]:
        """Facts and preferences stated in these user turns, in order, without duplicates."""

    async def summarize(self, user_turns: Sequence[str]) -> str | None:
        """A short summary of what the user talked about (None: nothing worth one). The default
        is extractive: :func:`extractive_summary`."""
        return extractive_summary(user_turns)

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default has none."""


_NAME_WORD = r"[A-Z][a-zA-Z'\-]+"
_NOT_NAMES = frozenset(
    [
        "Sorry",
        "Fine",
        "Good",
        "Great",
        "Okay",
        "Ok",
        "Not",
        "Just",
        "Here",
        "Calling",
        "Looking",
        "Trying",
        "Going",
        "Happy",
        "Afraid",
        "Sure",
        "Glad",
        "Well",
        "Busy",
        "Tired",
        "Interested",
        "Allergic",
        "Staying",
        "From",
        "In",
        "At",
        "On",
        "Also",
        "Still",
        "Really",
        "Very",
        "So",
        "The",
        "A",
        "An",
    ]
)
_NAME = [
    re.compile(rf"\b(?i:my name is|my name's) ({_NAME_WORD}(?: {_NAME_WORD})?)"),
    re.compile(rf"\b(?i:call me) ({_NAME_WORD})"),
    re.compile(
        rf"\b(?:I'm|I am|(?i:this is)) ({_NAME_WORD}(?: {_NAME_WORD})?)(?=[,.!?]|$| here| speaking| calling)"
    ),
]
_PREFERENCE = re.compile(
    r"\bI (?:really |absolutely |do )?(like|love|prefer|enjoy|hate|dislike|can't stand|don't like|do not like)"
    r" ([^.!?]{2,80})",
    re.IGNORECASE,
)
_NEGATIVE = {"hate", "dislike", "can't stand", "don't like", "do not like"}
_RELATION = re.compile(
    r"\bmy (wife|husband|partner|daughter|son|dog|cat|mother|mum|mom|father|dad|brother|sister|boss)(?:'s name)?"
    r" (?:is|is called|is named) ([A-Z][a-zA-Z'\-]+)",
    re.IGNORECASE,
)
_MY_IS = re.compile(
    r"\bmy ((?:[a-z]+ ){0,2}(?:number|birthday|address|email|room|budget|order|account|flight|booking|postcode|"
    r"date of birth|appointment|city|job|job title))(?: number)? (?:is|was|will be) ([^.!?]{1,60})",
    re.IGNORECASE,
)
_LIVE_WORK = re.compile(
    r"\bI(?:'m| am)? (live in|work as|work at|work for|allergic to|speak) ([^.!?,]{2,60})", re.I
)
_DATE = re.compile(
    r"\b(?:on |by |at |this |next )?(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|tomorrow|tonight|"
    r"(?:Jan|Febr)uary|March|April|May|June|July|August|September|October|November|December|\d{1,2}(?::\d{2})? ?(?:am|pm)|"
    r"\d{1,2}(?:st|nd|rd|th)|\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}(?:/\d{2,4})?)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"(\+?\d[\d \-]{6,}\d)|(?:room|order|account|flight|booking|table|ticket|seat)(?: number)? ([A-Z]?\d+[A-Z]?)"
    r"|([$€£]\s?\d[\d,.]*|\d[\d,.]* ?(?:dollars|euros|pounds|percent|kg|km|miles|minutes|hours|days|people|nights))",
    re.IGNORECASE,
)
_COMMITMENT = re.compile(
    r"\b(I'll|I will|I'm going to|I am going to|I promise to|remind me to|remind me|don't let me forget to)"
    r" ([^.!?]{3,100})",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[^.!?]+[.!?]?")


def _clean(text: str) -> str:
    text = " ".join(text.split()).strip(" ,;")
    return text[0].upper() + text[1:] if text else text


_FILLER = frozenset(
    "a an the and or but so to of in on at for with is are was were be been am i you it this that "  # noqa: SIM905
    "my me we our your yes no ok okay hi hello hey thanks thank please just um uh well".split()
)


def extractive_summary(user_turns: Sequence[str], *, sentences: int = 3, max_chars: int = 400) -> str | None:
    """The user's most informative sentences, in the order said: each scored by its distinct
    content words, greetings and fillers left out. None when fewer than two content words were said
    in all."""
    said: list[tuple[int, str, int]] = []  # (order, sentence, score)
    seen: set[str] = set()
    for turn in user_turns:
        for raw in _SENTENCE.findall(turn):
            sentence = " ".join(raw.split())
            key = sentence.lower()
            if not sentence or key in seen:
                continue
            seen.add(key)
            words = {w for w in re.findall(r"[a-z0-9']+", key) if w not in _FILLER and len(w) > 1}
            said.append((len(said), sentence, len(words)))
    if sum(score for _, _, score in said) < 2:
        return None
    best = sorted((x for x in said if x[2] > 0), key=lambda x: (-x[2], x[0]))[:sentences]
    text = " ".join(sentence for _, sentence, _ in sorted(best))
    if len(text) > max_chars:
        text = text[: max_chars - 1].rsplit(" ", 1)[0] + "…"
    return f"They said: {text}"


def _slot(words: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", words.lower()).strip("_")


class RuleExtractor(Extractor):
    """Pattern-based extraction over user sentences; offline, deterministic and fast."""

    async def extract(self, user_turns: Sequence[str]) -> list[Extracted]:
        out: dict[str, Extracted] = {}  # keyed by slot or text: a later statement wins

        def keep(item: Extracted) -> None:
            key = item.slot or item.text.lower()
            out.pop(key, None)
            out[key] = item

        for turn in user_turns:
            for raw in _SENTENCE.findall(turn):
                sentence = raw.strip()
                if sentence:
                    for item in self._sentence(sentence):
                        keep(item)
        return list(out.values())

    def _sentence(self, s: str) -> list[Extracted]:
        found: list[Extracted] = []
        for pattern in _NAME:
            m = pattern.search(s)
            if m and m.group(1).split()[0] not in _NOT_NAMES:
                found.append(Extracted("fact", f"My name is {m.group(1)}.", slot="name", importance=0.9))
                break
        for m in _RELATION.finditer(s):
            rel = m.group(1).lower()
            found.append(
                Extracted("fact", f"My {rel}'s name is {m.group(2)}.", slot=f"{rel}_name", importance=0.8)
            )
        for m in _MY_IS.finditer(s):
            what = m.group(1).lower()
            found.append(
                Extracted("fact", f"My {what} is {m.group(2).strip()}.", slot=_slot(what), importance=0.8)
            )
        for m in _LIVE_WORK.finditer(s):
            verb = m.group(1).lower().replace("allergic", "am allergic")
            slot = {
                "live in": "home_city",
                "work as": "job",
                "work at": "employer",
                "work for": "employer",
            }.get(verb, "")
            found.append(Extracted("fact", _clean(f"I {verb} {m.group(2)}") + ".", slot=slot, importance=0.7))
        for m in _PREFERENCE.finditer(s):
            verb = m.group(1).lower()
            found.append(
                Extracted(
                    "preference",
                    _clean(f"I {verb} {m.group(2)}") + ".",
                    importance=0.6 if verb in _NEGATIVE else 0.5,
                )
            )
        for m in _COMMITMENT.finditer(s):
            found.append(Extracted("fact", _clean(f"{m.group(1)} {m.group(2)}") + ".", importance=0.7))
        if not found and (_DATE.search(s) or _NUMBER.search(s)) and len(s.split()) >= 3:
            # a date or number the patterns above did not place: keep the whole sentence
            found.append(Extracted("fact", _clean(s).rstrip(".!?") + ".", importance=0.6))
        return found


_SYSTEM = (
    "Extract durable facts and preferences the USER stated about themselves (name, family, contact "
    "details, dates, numbers, likes and dislikes, commitments). Ignore questions and small talk. Answer "
    'with JSON only: {"memories": [{"kind": "fact"|"preference", "text": "first-person sentence", '
    '"slot": "short_snake_case key for single-valued facts such as name or birthday, else empty"}]}'
)


_SUMMARY_SYSTEM = (
    "These are the lines a caller said in one conversation with an assistant. In at most two "
    "sentences, in the third person, say what they talked about and anything left to do. Plain text."
)


class LLMExtractor(Extractor):
    """Extraction by any OpenAI-compatible chat model answering in JSON."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.model = model
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s, transport=transport
        )

    async def extract(self, user_turns: Sequence[str]) -> list[Extracted]:
        if not user_turns:
            return []
        body = {
            "model": self.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": _SYSTEM},
                {"role": "user", "content": "\n".join(f"- {t}" for t in user_turns)},
            ],
        }
        try:
            r = await self._http.post("/chat/completions", json=body)
            r.raise_for_status()
            content = r.json()["choices"][0]["message"]["content"]
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as e:
            raise ProviderError(
                f"memory extraction by {self.model!r} failed: {type(e).__name__}", retryable=True
            ) from e
        return _parse(content)

    async def summarize(self, user_turns: Sequence[str]) -> str | None:
        """Two sentences by the model; the extractive summary if it fails (the facts were kept)."""
        if not user_turns:
            return None
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": _SUMMARY_SYSTEM},
                {"role": "user", "content": "\n".join(f"- {t}" for t in user_turns)},
            ],
        }
        try:
            r = await self._http.post("/chat/completions", json=body)
            r.raise_for_status()
            content = str(r.json()["choices"][0]["message"]["content"]).strip()
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as e:
            logger.warning(
                "memory summary by %r failed (%s); an extractive one is kept", self.model, type(e).__name__
            )
            return extractive_summary(user_turns)
        return content[:600] or None

    async def aclose(self) -> None:
        await self._http.aclose()


def _parse(content: str) -> list[Extracted]:
    start, end = content.find("{"), content.rfind("}")
    try:
        data: Any = json.loads(content[start : end + 1]) if start >= 0 else {}
    except ValueError:
        logger.warning("memory extraction: the model answered without valid JSON")
        return []
    items = data.get("memories", []) if isinstance(data, dict) else []
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        kind, text = item.get("kind"), str(item.get("text", "")).strip()
        if kind in ("fact", "preference") and text:
            out.append(Extracted(kind, text[:300], slot=_slot(str(item.get("slot") or ""))))
    return out
