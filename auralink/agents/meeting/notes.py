"""Meeting notes: summary, decisions, action items (owner, due date), open questions, follow-ups.

Input is the meeting's transcript (:class:`TranscriptLine`: speaker identity and name, text, start/end
seconds from the meeting's start) and when and where the meeting started. Output is a typed
:class:`MeetingNotes` that serialises to JSON (``model_dump_json``) and renders as Markdown.

Two writers share one interface, :class:`NoteWriter`:

* :class:`OfflineNoteWriter`, the default, needs no LLM. The summary is extractive: sentences ranked
  by centrality over sentence embeddings (any :class:`~auralink.memory.Embedder`; the model server's
  MiniLM in production), picked with maximal marginal relevance for diversity, shown in the order
  said; their number grows with the meeting's length. Rules find commitments ("I'll / I will / I'm
  going to / we need to … by Friday", "Ana, can you …", "Ana will …", "action item: …"), decisions
  ("we decided / let's go with / agreed / the decision is") and questions left unanswered.
* :class:`LLMNoteWriter` asks any OpenAI-compatible chat endpoint for the same schema as JSON and
  falls back to the offline writer when the call or its answer fails.

Due phrases ("by Friday", "tomorrow", "next Tuesday", "end of the month", "on the 14th") resolve to
ISO dates relative to the local date the line was said (:func:`resolve_due`); the phrase is kept.
"""

from __future__ import annotations

__all__ = [
    "ActionItem",
    "Decision",
    "FollowUp",
    "LLMNoteWriter",
    "MeetingNotes",
    "NoteWriter",
    "OfflineNoteWriter",
    "OpenQuestion",
    "Participant",
    "TranscriptLine",
    "resolve_due",
]

import calendar
import json
import logging
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np

from auralink.core.errors import AuraLinkError, ProviderError
from auralink.core.meeting_notes import (
    ActionItem,
    Decision,
    FollowUp,
    MeetingNotes,
    OpenQuestion,
    Participant,
    TranscriptLine,
)
from auralink.memory import Embedder

logger = logging.getLogger("auralink.agents")


# ----------------------------------------------------------------------------------------- due dates

_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTHS = [m.lower() for m in calendar.month_name[1:]]
_WD = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"
_MONTH = r"(?:january|february|march|april|may|june|july|august|september|october|november|december)"
_ORD = r"(\d{1,2})(?:st|nd|rd|th)?"
DUE_PATTERN = re.compile(
    rf"\b(?:(?:by|on|before|until|till|due|for)\s+)?(?:"
    rf"(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?(?:day|week|month)|eod|eow|"
    rf"today|tonight|tomorrow|(?:this|next)\s+week|"
    rf"(?:this\s+|next\s+|coming\s+)?{_WD}|"
    rf"the\s+{_ORD}(?:\s+of\s+{_MONTH})?|"
    rf"{_MONTH}\s+{_ORD}|{_ORD}\s+(?:of\s+)?{_MONTH}|"
    rf"in\s+(?:a|one|two|three|\d+)\s+(?:days?|weeks?)|"
    rf"\d{{4}}-\d{{2}}-\d{{2}})\b",
    re.IGNORECASE,
)
_NUMBERS = {"a": 1, "one": 1, "two": 2, "three": 3}


def _day_of_month(ref: date, day: int, month: int | None = None) -> date | None:
    """The ``day`` of ``month`` (or of this month) on or after ``ref``; next month/year if passed."""
    year, mon = ref.year, month or ref.month
    for _ in range(13):
        if day <= calendar.monthrange(year, mon)[1]:
            candidate = date(year, mon, day)
            if candidate >= ref:
                return candidate
        if month is None:
            mon, year = (1, year + 1) if mon == 12 else (mon + 1, year)
        else:
            year += 1
    return None


def resolve_due(phrase: str, *, on: date) -> date | None:  # noqa: PLR0911, PLR0912 - a branch per form
    """The date a due phrase means when said on ``on``.

    A bare weekday ("by Friday") is the next one after today; "this Friday" may be today; "next
    Tuesday" is the Tuesday of next week (weeks start on Monday); "end of the week" is this Friday;
    "next week" is next Monday; "the 14th" is the next 14th from today.
    """
    p = " ".join(phrase.lower().split())
    p = re.sub(r"^(?:by|on|before|until|till|due|for)\s+", "", p)
    if p in ("today", "tonight", "eod") or re.fullmatch(r"(?:the )?end of (?:the |this )?day", p):
        return on
    if p == "tomorrow":
        return on + timedelta(days=1)
    if p in ("eow", "this week") or re.fullmatch(r"(?:the )?end of (?:the |this )?week", p):
        return on + timedelta(days=(4 - on.weekday()) % 7)
    if re.fullmatch(r"(?:the )?end of (?:the |this )?month", p):
        return date(on.year, on.month, calendar.monthrange(on.year, on.month)[1])
    if p == "next week":
        return on + timedelta(days=7 - on.weekday())
    if m := re.fullmatch(rf"(this |next |coming )?({_WD})", p):
        target = _WEEKDAYS.index(m.group(2))
        if m.group(1) == "next ":
            return on + timedelta(days=7 - on.weekday() + target)
        ahead = (target - on.weekday()) % 7
        if ahead == 0 and m.group(1) != "this ":
            ahead = 7
        return on + timedelta(days=ahead)
    if m := re.fullmatch(rf"the {_ORD}(?: of ({_MONTH}))?", p):
        return _day_of_month(on, int(m.group(1)), _MONTHS.index(m.group(2)) + 1 if m.group(2) else None)
    if m := re.fullmatch(rf"({_MONTH}) {_ORD}", p):
        return _day_of_month(on, int(m.group(2)), _MONTHS.index(m.group(1)) + 1)
    if m := re.fullmatch(rf"{_ORD} (?:of )?({_MONTH})", p):
        return _day_of_month(on, int(m.group(1)), _MONTHS.index(m.group(2)) + 1)
    if m := re.fullmatch(r"in (a|one|two|three|\d+) (day|week)s?", p):
        n = _NUMBERS.get(m.group(1)) or int(m.group(1))
        return on + timedelta(days=n * (7 if m.group(2) == "week" else 1))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", p):
        try:
            return date.fromisoformat(p)
        except ValueError:
            return None
    return None


# ----------------------------------------------------------------------------------------- the rules

_SENTENCE = re.compile(r"[^.!?]+[.!?]*")
_WORD = re.compile(r"[a-z0-9']+")
_STOP = frozenset(
    "a an the and or but so to of in on at for with is are was were be been am i you it this that "  # noqa: SIM905
    "my me we our your yes no ok okay hi hello hey thanks thank please just um uh well there they "
    "he she them his her its do does did have has had will would can could should what how why when "
    "where who which if then than not don't i'm i'll it's that's let's us about all also".split()
)
_FIRST_PERSON = re.compile(
    r"\b(?:I'll|I will|I'm going to|I am going to|I'm gonna|I can|I'll make sure to|we need to|we'll|"
    r"we will|we're going to|we should)\s+(?P<what>[^.!?]{3,160})",
    re.IGNORECASE,
)
_REQUEST = re.compile(
    r"^(?:(?P<name>[A-Z][\w'-]+),?\s+)?(?:can|could|would|will)\s+you\s+(?:please\s+)?(?P<what>[^?!.]{3,160})",
    re.IGNORECASE,
)
_THIRD_PERSON = re.compile(
    r"\b(?P<name>[A-Z][\w'-]+)\s+(?:will|is going to|is gonna|to|can)\s+(?P<what>[^.!?]{3,160})"
)
_ACTION_ITEM = re.compile(r"\baction items?\s*[:\-]\s*(?P<what>[^!?]{3,200})", re.IGNORECASE)
_DECISION = re.compile(
    r"\b(?:we(?:'ve| have)? decided|we(?:'ll| will) go with|let's go with|let us go with|agreed|"
    r"we agree|the decision is|decision\s*:|we're going with)\b",
    re.IGNORECASE,
)
_IDLE_VERBS = frozenset(
    "be say ask think try guess tell admit see let share hear do check talk mention get start".split()  # noqa: SIM905
)
_VAGUE = frozenset(["it", "that", "this", "them", "so", "one"])
_AFFIRM = re.compile(
    r"^(?:sure|yes|yeah|yep|ok|okay|will do|i can|i will|i'll|no problem|absolutely|of course)\b", re.I
)
_NON_ANSWER = re.compile(
    r"\b(?:i don't know|not sure|no idea|good question|take that offline|let's come back|park that|"
    r"i'm not sure|nobody knows|we don't know)\b",
    re.IGNORECASE,
)
_YES_NO = re.compile(r"^(?:yes|no|yeah|yep|nope|it's|it is|we|probably|definitely)\b", re.I)
_QUESTION_START = re.compile(
    r"^(?:what|why|how|when|where|who|which|is|are|do|does|did|should|shall|have|has)\b", re.I
)


def _clean(text: str) -> str:
    text = " ".join(text.split()).strip(" ,;:-.")
    return text[:1].upper() + text[1:] if text else text


def _content(text: str) -> set[str]:
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def _split(text: str) -> list[str]:
    return [s for s in (" ".join(raw.split()) for raw in _SENTENCE.findall(text)) if s]


def _strip_due(what: str) -> tuple[str, str | None]:
    found = list(DUE_PATTERN.finditer(what))
    if not found:
        return _clean(what), None
    match = found[-1]  # the last due phrase wins
    text = (what[: match.start()] + what[match.end() :]).strip()
    return _clean(text), " ".join(match.group(0).split())


class _Rules:
    """The offline rules over one meeting's transcript."""

    def __init__(self, lines: Sequence[TranscriptLine], *, started_at: datetime, tz: ZoneInfo) -> None:
        self.lines = list(lines)
        self.started_at = started_at
        self.tz = tz
        self.people: dict[str, Participant] = {}
        for line in self.lines:
            self.people.setdefault(line.identity, Participant(identity=line.identity, name=line.name))
        self._by_first_name = {p.name.split()[0].lower(): p for p in self.people.values() if p.name.strip()}

    def said_on(self, line: TranscriptLine) -> date:
        return (self.started_at + timedelta(seconds=line.start)).astimezone(self.tz).date()

    def person(self, name: str | None) -> Participant | None:
        return self._by_first_name.get(name.lower()) if name else None

    def speaker(self, line: TranscriptLine) -> Participant:
        return self.people[line.identity]

    def _item(self, owner: Participant | None, what: str, line: TranscriptLine) -> ActionItem | None:
        text, phrase = _strip_due(what)
        words = _WORD.findall(text.lower())
        if len(words) < 2 or (words[0] in _IDLE_VERBS and phrase is None):
            return None
        if len(words) <= 3 and words[-1] in _VAGUE and phrase is None:
            return None  # "Sure, I'll do it": the request before it holds the item
        due = resolve_due(phrase, on=self.said_on(line)) if phrase else None
        return ActionItem(
            owner=owner,
            text=text,
            due=due,
            due_phrase=phrase if due else None,
            said_by=self.speaker(line),
            at=line.start,
        )

    def _answerer(self, index: int) -> Participant | None:
        """Who took on a request: the next other speaker who said yes, or the only other person."""
        asker = self.lines[index].identity
        for line in self.lines[index + 1 : index + 4]:
            if line.identity != asker and _AFFIRM.match(line.text.strip()):
                return self.speaker(line)
        others = [p for p in self.people.values() if p.identity != asker]
        return others[0] if len(others) == 1 else None

    def action_items(self) -> list[ActionItem]:
        items: list[ActionItem] = []
        for i, line in enumerate(self.lines):
            for sentence in _split(line.text):
                item = self._sentence_item(i, line, sentence)
                if item and not any(
                    x.text.lower() == item.text.lower() and x.owner == item.owner for x in items
                ):
                    items.append(item)
        return items

    def _sentence_item(self, i: int, line: TranscriptLine, sentence: str) -> ActionItem | None:
        if m := _ACTION_ITEM.search(sentence):
            what = m.group("what")
            named = re.match(r"([A-Z][\w'-]+)\s+(?:to|will|should)\s+(.+)", what)
            if named and self.person(named.group(1)):
                return self._item(self.person(named.group(1)), named.group(2), line)
            return self._item(None, what, line)
        if m := _REQUEST.match(sentence):
            owner = self.person(m.group("name")) or self._answerer(i)
            return self._item(owner, m.group("what"), line)
        if m := _FIRST_PERSON.search(sentence):
            return self._item(self.speaker(line), m.group("what"), line)
        for m in _THIRD_PERSON.finditer(sentence):
            if (owner := self.person(m.group("name"))) is not None:
                return self._item(owner, m.group("what"), line)
        return None

    def decisions(self) -> list[Decision]:
        out: list[Decision] = []
        for line in self.lines:
            for sentence in _split(line.text):
                if _DECISION.search(sentence) and not sentence.endswith("?"):
                    out.append(Decision(text=_clean(sentence), said_by=self.speaker(line), at=line.start))
        return out

    def open_questions(self, *, window_lines: int = 4, window_s: float = 120.0) -> list[OpenQuestion]:
        """Questions (not requests) that no other speaker answered in the next few lines: an answer
        shares a content word with the question or starts with yes/no; "I don't know" is no answer."""
        out: list[OpenQuestion] = []
        for i, line in enumerate(self.lines):
            for sentence in _split(line.text):
                if not sentence.endswith("?") or _REQUEST.match(sentence) or len(sentence.split()) < 3:
                    continue
                if not _QUESTION_START.match(sentence) and not sentence.lower().startswith(("and ", "so ")):
                    continue
                asked = _content(sentence)
                answered = False
                replies = [
                    x
                    for x in self.lines[i + 1 : i + 1 + window_lines]
                    if x.identity != line.identity and x.start - line.end <= window_s
                ]
                for n, later in enumerate(replies):
                    reply = later.text.strip()
                    if _NON_ANSWER.search(reply) or reply.endswith("?"):
                        continue
                    direct = n == 0 and _YES_NO.match(reply) is not None  # only the first reply
                    if direct or asked & _content(reply):
                        answered = True
                        break
                if not answered:
                    out.append(OpenQuestion(text=sentence, asked_by=self.speaker(line), at=line.start))
        return out


def follow_ups(items: Sequence[ActionItem], *, title: str, on: date) -> list[FollowUp]:
    """One drafted message per owner, listing their items with due dates."""
    by_owner: dict[str, tuple[Participant, list[ActionItem]]] = {}
    for item in items:
        if item.owner is not None:
            by_owner.setdefault(item.owner.identity, (item.owner, []))[1].append(item)
    out = []
    for owner, mine in by_owner.values():
        lines = [f"- {a.text}" + (f" (due {a.due.strftime('%A %d %B %Y')})" if a.due else "") for a in mine]
        first = owner.name.split()[0] if owner.name.strip() else owner.identity
        noun = "this action item" if len(mine) == 1 else f"these {len(mine)} action items"
        message = (
            f"Hi {first},\n\nFollowing up on {title} on {on.strftime('%A %d %B %Y')}: you took {noun}:\n"
            + "\n".join(lines)
            + "\n\nReply if anything changed. Thanks!"
        )
        out.append(FollowUp(owner=owner, message=message, items=[a.text for a in mine]))
    return out


# ------------------------------------------------------------------------------------------ summary


def summary_size(sentences: int) -> int:
    """How many sentences the summary keeps: about one in six, between 2 and 10."""
    return max(2, min(10, math.ceil(sentences / 6)))


def _lexical_vectors(texts: Sequence[str]) -> np.ndarray:
    vocab: dict[str, int] = {}
    rows = [[vocab.setdefault(w, len(vocab)) for w in _content(t)] for t in texts]
    out = np.zeros((len(texts), max(1, len(vocab))), dtype=np.float32)
    for r, cols in enumerate(rows):
        out[r, cols] = 1.0
    out[:, 0] += 1e-3
    normed: np.ndarray = out / np.linalg.norm(out, axis=1, keepdims=True)
    return normed


def mmr_select(vectors: np.ndarray, *, k: int, diversity: float = 0.3) -> list[int]:
    """Indices of ``k`` rows picked by maximal marginal relevance: centrality (mean cosine similarity
    to every other row) traded against similarity to rows already picked; returned in row order."""
    n = vectors.shape[0]
    if n <= k:
        return list(range(n))
    sims = vectors @ vectors.T
    centrality = (sims.sum(axis=1) - np.diag(sims)) / max(1, n - 1)
    picked: list[int] = []
    while len(picked) < k:
        redundancy = sims[:, picked].max(axis=1) if picked else np.zeros(n)
        score = (1 - diversity) * centrality - diversity * redundancy
        score[picked] = -np.inf
        picked.append(int(np.argmax(score)))
    return sorted(picked)


# ------------------------------------------------------------------------------------------ writers


class NoteWriter(ABC):
    """Writes :class:`MeetingNotes` for a transcript."""

    @abstractmethod
    async def write(
        self,
        lines: Sequence[TranscriptLine],
        *,
        started_at: datetime,
        timezone: str = "UTC",
        title: str = "the meeting",
    ) -> MeetingNotes:
        """Notes for these lines; ``started_at`` is timezone-aware, ``timezone`` an IANA name."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default has none."""


class OfflineNoteWriter(NoteWriter):
    """Extractive summary over sentence embeddings plus rules; no LLM. Without an embedder (or when
    it fails) sentences are compared by their content words instead."""

    def __init__(self, *, embedder: Embedder | None = None, diversity: float = 0.3) -> None:
        self.embedder = embedder
        self.diversity = diversity

    async def write(
        self,
        lines: Sequence[TranscriptLine],
        *,
        started_at: datetime,
        timezone: str = "UTC",
        title: str = "the meeting",
    ) -> MeetingNotes:
        tz = ZoneInfo(timezone)
        rules = _Rules(lines, started_at=started_at, tz=tz)
        items = rules.action_items()
        on = started_at.astimezone(tz).date()
        return MeetingNotes(
            title=title,
            date=on,
            timezone=timezone,
            summary=await self.summary(lines),
            decisions=rules.decisions(),
            action_items=items,
            open_questions=rules.open_questions(),
            follow_ups=follow_ups(items, title=title, on=on),
            writer="offline",
        )

    async def summary(self, lines: Sequence[TranscriptLine]) -> str:
        said: list[tuple[str, str]] = []  # (speaker name, sentence)
        seen: set[str] = set()
        for line in lines:
            for sentence in _split(line.text):
                key = sentence.lower()
                if len(_content(sentence)) >= 2 and key not in seen:
                    seen.add(key)
                    said.append((line.name, sentence))
        if not said:
            return ""
        texts = [s for _, s in said]
        vectors = _lexical_vectors(texts)
        if self.embedder is not None:
            try:
                vectors = np.asarray(await self.embedder.embed(texts), dtype=np.float32)
            except AuraLinkError as e:
                logger.warning(
                    "meeting summary: embeddings failed (%s); comparing words instead", type(e).__name__
                )
        picked = mmr_select(vectors, k=summary_size(len(texts)), diversity=self.diversity)
        return "\n".join(f"{said[i][0]}: {said[i][1]}" for i in picked)


_SYSTEM = (
    "You write meeting notes from a transcript. Each line is '[seconds] Name (identity): text'. Answer "
    "with JSON only, in this schema: "
    '{"summary": "3-6 sentences", "decisions": [{"text": "...", "said_by": "identity"}], '
    '"action_items": [{"owner": "identity of who does it, or null", "text": "imperative phrase", '
    '"due_phrase": "the words that set the deadline, or null", "due": "YYYY-MM-DD or null"}], '
    '"open_questions": [{"text": "...", "asked_by": "identity"}]}. '
    "Resolve due dates relative to the meeting date. Include only what was said."
)


class LLMNoteWriter(NoteWriter):
    """Notes by any OpenAI-compatible chat model answering JSON; the offline writer on failure."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        fallback: NoteWriter | None = None,
        timeout_s: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.model = model
        self.fallback = fallback or OfflineNoteWriter()
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s, transport=transport
        )

    async def write(
        self,
        lines: Sequence[TranscriptLine],
        *,
        started_at: datetime,
        timezone: str = "UTC",
        title: str = "the meeting",
    ) -> MeetingNotes:
        try:
            data = await self._ask(lines, started_at=started_at, timezone=timezone)
            return self._notes(data, lines, started_at=started_at, timezone=timezone, title=title)
        except (ProviderError, ValueError, TypeError, KeyError) as e:
            logger.warning(
                "meeting notes by %r failed (%s); offline notes instead", self.model, type(e).__name__
            )
            return await self.fallback.write(lines, started_at=started_at, timezone=timezone, title=title)

    async def _ask(self, lines: Sequence[TranscriptLine], *, started_at: datetime, timezone: str) -> Any:
        local = started_at.astimezone(ZoneInfo(timezone))
        transcript = "\n".join(
            f"[{line.start:.0f}] {line.name} ({line.identity}): {line.text}" for line in lines
        )
        body = {
            "model": self.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": _SYSTEM},
                {
                    "role": "user",
                    "content": f"Meeting started {local.isoformat()} ({local.strftime('%A')}, {timezone}).\n\n{transcript}",
                },
            ],
        }
        try:
            r = await self._http.post("/chat/completions", json=body)
            r.raise_for_status()
            content = str(r.json()["choices"][0]["message"]["content"])
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as e:
            raise ProviderError(
                f"meeting notes by {self.model!r} failed: {type(e).__name__}", retryable=True
            ) from e
        start, end = content.find("{"), content.rfind("}")
        data = json.loads(content[start : end + 1]) if start >= 0 else None
        if not isinstance(data, dict):
            raise ValueError("the model answered without a JSON object")
        return data

    def _notes(
        self,
        data: dict[str, Any],
        lines: Sequence[TranscriptLine],
        *,
        started_at: datetime,
        timezone: str,
        title: str,
    ) -> MeetingNotes:
        rules = _Rules(lines, started_at=started_at, tz=ZoneInfo(timezone))
        on = started_at.astimezone(ZoneInfo(timezone)).date()

        def who(ref: object) -> Participant | None:
            if not isinstance(ref, str) or not ref:
                return None
            return rules.people.get(ref) or rules.person(ref.split()[0])

        def entries(key: str) -> list[dict[str, Any]]:
            value = data.get(key) or []
            return [x for x in value if isinstance(x, dict) and str(x.get("text", "")).strip()]

        items = []
        for x in entries("action_items"):
            phrase = x.get("due_phrase") if isinstance(x.get("due_phrase"), str) else None
            due: date | None = None
            if isinstance(x.get("due"), str):
                try:
                    due = date.fromisoformat(x["due"])
                except ValueError:
                    due = None
            if due is None and phrase:
                due = resolve_due(phrase, on=on)
            items.append(
                ActionItem(owner=who(x.get("owner")), text=_clean(str(x["text"])), due=due, due_phrase=phrase)
            )
        return MeetingNotes(
            title=title,
            date=on,
            timezone=timezone,
            summary=str(data.get("summary") or "").strip(),
            decisions=[
                Decision(text=_clean(str(x["text"])), said_by=who(x.get("said_by")))
                for x in entries("decisions")
            ],
            action_items=items,
            open_questions=[
                OpenQuestion(text=str(x["text"]).strip(), asked_by=who(x.get("asked_by")))
                for x in entries("open_questions")
            ],
            follow_ups=follow_ups(items, title=title, on=on),
            writer="llm",
        )

    async def aclose(self) -> None:
        await self._http.aclose()
        await self.fallback.aclose()
