"""Meeting notes: what a participant reads after the meeting (summary, decisions, action items with
owners and due dates, open questions, follow-ups), offline and by an OpenAI-compatible model."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime

import httpx
import numpy as np
import pytest

from auralink.agents.meeting.notes import (
    LLMNoteWriter,
    MeetingNotes,
    OfflineNoteWriter,
    TranscriptLine,
    resolve_due,
)
from auralink.core.errors import ProviderError
from auralink.memory import Embedder

WEDNESDAY = date(2026, 11, 25)
START = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


class HashEmbedder(Embedder):
    """Bag of hashed words: texts sharing words are similar. Deterministic, no model."""

    def __init__(self, *, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.fail:
            raise ProviderError("embeddings down", retryable=True)
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[row, h % 256] += 1.0
            out[row, 0] += 0.01
        normed: np.ndarray = out / np.linalg.norm(out, axis=1, keepdims=True)
        return normed


def line(who: str, text: str, at: float) -> TranscriptLine:
    identity = {"Ana Lopez": "u-ana", "Ben": "u-ben", "Chloe": "u-chloe"}[who]
    return TranscriptLine(identity=identity, name=who, text=text, start=at, end=at + 4)


LAUNCH = [
    line("Ana Lopez", "Welcome everyone. Today we plan the launch of the mobile app.", 0),
    line("Ben", "The beta feedback was mostly positive, but login crashes on older Android phones.", 6),
    line("Ana Lopez", "Ben, can you fix the login crash by Friday?", 13),
    line("Ben", "Sure, I'll fix it.", 17),
    line("Chloe", "I'll send the updated marketing plan to everyone tomorrow.", 19),
    line("Ana Lopez", "After the discussion we decided to launch on the 14th.", 24),
    line("Chloe", "What budget do we have for paid ads in September?", 29),
    line("Ben", "I don't know, honestly.", 33),
    line("Ana Lopez", "Action item: Ben to update the release notes by end of the month.", 36),
    line("Ben", "Do we ship the tablet layout too?", 41),
    line("Ana Lopez", "Yes, the tablet layout ships with it.", 44),
    line("Chloe", "Let's go with the blue icon for the store listing.", 47),
]


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("by Friday", date(2026, 11, 27)),
        ("tomorrow", date(2026, 11, 26)),
        ("today", WEDNESDAY),
        ("by Wednesday", date(2026, 12, 2)),  # said on a Wednesday: the next one
        ("this Wednesday", WEDNESDAY),
        ("next Tuesday", date(2026, 12, 1)),  # the Tuesday of next week
        ("next Friday", date(2026, 12, 4)),
        ("end of the month", date(2026, 11, 30)),
        ("by the end of the week", date(2026, 11, 27)),
        ("next week", date(2026, 11, 30)),
        ("on the 14th", date(2026, 12, 14)),  # the 14th of November has passed
        ("on the 28th", date(2026, 11, 28)),
        ("December 3rd", date(2026, 12, 3)),
        ("the 2nd of March", date(2027, 3, 2)),
        ("in two weeks", date(2026, 12, 9)),
        ("2027-01-15", date(2027, 1, 15)),
        ("someday", None),
    ],
)
def test_due_phrases_resolve_relative_to_the_day_they_were_said(phrase: str, expected: date | None) -> None:
    assert resolve_due(phrase, on=WEDNESDAY) == expected


async def test_offline_notes_find_owners_due_dates_decisions_and_open_questions() -> None:
    embedder = HashEmbedder()
    notes = await OfflineNoteWriter(embedder=embedder).write(
        LAUNCH, started_at=START, timezone="Europe/Madrid", title="Launch sync"
    )
    assert embedder.calls == 1
    items = {(a.owner.name if a.owner else None, a.text): a for a in notes.action_items}
    assert set(items) == {
        ("Ben", "Fix the login crash"),
        ("Chloe", "Send the updated marketing plan to everyone"),
        ("Ben", "Update the release notes"),
    }
    fix = items[("Ben", "Fix the login crash")]
    assert (fix.due, fix.due_phrase) == (date(2026, 11, 27), "by Friday")
    assert fix.said_by is not None and fix.said_by.name == "Ana Lopez"
    assert items[("Chloe", "Send the updated marketing plan to everyone")].due == date(2026, 11, 26)
    assert items[("Ben", "Update the release notes")].due == date(2026, 11, 30)

    assert [d.text for d in notes.decisions] == [
        "After the discussion we decided to launch on the 14th",
        "Let's go with the blue icon for the store listing",
    ]
    # "I don't know" answers nothing; the tablet question got a yes
    assert [q.text for q in notes.open_questions] == ["What budget do we have for paid ads in September?"]
    assert notes.open_questions[0].asked_by is not None and notes.open_questions[0].asked_by.name == "Chloe"

    follow = {f.owner.name: f for f in notes.follow_ups}
    assert set(follow) == {"Ben", "Chloe"}
    assert follow["Ben"].message.startswith("Hi Ben,")
    assert "Fix the login crash (due Friday 27 November 2026)" in follow["Ben"].message
    assert "Update the release notes" in follow["Ben"].message
    assert "marketing plan" not in follow["Ben"].message
    assert notes.writer == "offline"


async def test_notes_round_trip_through_json_and_render_as_markdown() -> None:
    notes = await OfflineNoteWriter(embedder=HashEmbedder()).write(
        LAUNCH, started_at=START, title="Launch sync"
    )
    data = json.loads(notes.model_dump_json())
    assert data["action_items"][0]["due"] == "2026-11-27"
    assert data["action_items"][0]["owner"] == {"identity": "u-ben", "name": "Ben"}
    assert MeetingNotes.model_validate_json(notes.model_dump_json()) == notes
    md = notes.to_markdown()
    for heading in (
        "# Launch sync — 2026-11-25",
        "## Summary",
        "## Decisions",
        "## Action items",
        "## Open questions",
    ):
        assert heading in md
    assert "- [ ] **Ben**: Fix the login crash — due 2026-11-27 (by Friday)" in md
    assert "### To Chloe" in md


async def test_who_is_asked_without_a_name_is_whoever_says_yes() -> None:
    lines = [
        line("Ana Lopez", "Can you book the venue for the offsite next Tuesday?", 0),
        line("Chloe", "Sure, I can do that.", 4),
        line("Ben", "Sounds good.", 7),
        line("Ana Lopez", "Chloe will prepare the agenda by Monday.", 9),
    ]
    notes = await OfflineNoteWriter().write(lines, started_at=START)
    owners = {a.text: a.owner.name if a.owner else None for a in notes.action_items}
    assert owners == {"Book the venue for the offsite": "Chloe", "Prepare the agenda": "Chloe"}
    assert {a.text: a.due for a in notes.action_items}["Book the venue for the offsite"] == date(2026, 12, 1)


async def test_due_dates_use_the_meetings_local_date() -> None:
    # 23:30 UTC on Wednesday is 08:30 on Thursday in Tokyo: "tomorrow" is Friday there
    late = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)
    lines = [line("Ben", "I'll send the contract tomorrow.", 60)]
    notes = await OfflineNoteWriter().write(lines, started_at=late, timezone="Asia/Tokyo")
    assert notes.date == date(2026, 11, 26)
    assert notes.action_items[0].due == date(2026, 11, 27)


def _long_meeting(topics: int) -> list[TranscriptLine]:
    subjects = [
        ("hiring", "We must hire two backend engineers for the payments team before the spring."),
        ("budget", "The marketing budget for the spring campaign is forty thousand euros."),
        ("security", "The security audit found an expired certificate on the staging server."),
        ("office", "The office move to the new building happens in the second week of March."),
        ("support", "Support tickets about invoices doubled since the pricing change."),
    ]
    people = ["Ana Lopez", "Ben", "Chloe"]
    out = []
    for t, (word, key) in enumerate(subjects[:topics]):
        out.append(line(people[t % 3], key, len(out) * 5.0))
        for k in range(5):
            out.append(
                line(
                    people[(t + k + 1) % 3],
                    f"About {word}, point {k} is that the {word} plan needs care.",
                    len(out) * 5.0,
                )
            )
    return out


async def test_the_summary_grows_with_the_meeting_keeps_order_and_covers_topics() -> None:
    writer = OfflineNoteWriter(embedder=HashEmbedder())
    short = (await writer.summary(_long_meeting(1))).splitlines()
    long = (await writer.summary(_long_meeting(5))).splitlines()
    assert 2 <= len(short) < len(long) <= 10
    text = " ".join(long)
    covered = [w for w in ("hiring", "budget", "security", "office", "support") if w in text.lower()]
    assert len(covered) >= 4  # diverse, not five sentences about one topic
    order = [next(i for i, x in enumerate(_long_meeting(5)) if s.split(": ", 1)[1] in x.text) for s in long]
    assert order == sorted(order)  # in the order said
    assert all(s.split(": ", 1)[0] in ("Ana Lopez", "Ben", "Chloe") for s in long)


async def test_a_failing_embedder_still_gives_a_summary() -> None:
    summary = await OfflineNoteWriter(embedder=HashEmbedder(fail=True)).summary(_long_meeting(3))
    assert len(summary.splitlines()) >= 2


def _chat_reply(content: str) -> dict[str, object]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-test",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


async def test_llm_writer_speaks_openai_and_maps_owners_and_due_phrases() -> None:
    seen: list[httpx.Request] = []
    answer = {
        "summary": "The team planned the mobile launch.",
        "decisions": [{"text": "Launch on the 14th", "said_by": "u-ana"}],
        "action_items": [
            {"owner": "u-ben", "text": "Fix the login crash", "due_phrase": "by Friday", "due": None},
            {
                "owner": "Chloe",
                "text": "Send the marketing plan",
                "due_phrase": "tomorrow",
                "due": "2026-11-26",
            },
        ],
        "open_questions": [{"text": "What is the ads budget?", "asked_by": "u-chloe"}],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_chat_reply("```json\n" + json.dumps(answer) + "\n```"))

    writer = LLMNoteWriter(
        base_url="http://llm.test/v1",
        model="gpt-test",
        api_key="sk-test",
        transport=httpx.MockTransport(handler),
    )
    try:
        notes = await writer.write(LAUNCH, started_at=START, timezone="Europe/Madrid", title="Launch sync")
    finally:
        await writer.aclose()
    assert seen[0].url.path == "/v1/chat/completions"
    assert seen[0].headers["authorization"] == "Bearer sk-test"
    body = json.loads(seen[0].content)
    assert body["model"] == "gpt-test"
    assert "Ben (u-ben): Ben, can you fix the login crash by Friday?" not in body["messages"][1]["content"]
    assert "Ana Lopez (u-ana): Ben, can you fix the login crash by Friday?" in body["messages"][1]["content"]
    assert notes.writer == "llm"
    assert notes.summary == "The team planned the mobile launch."
    assert [(a.owner.name if a.owner else None, a.due) for a in notes.action_items] == [
        ("Ben", date(2026, 11, 27)),
        ("Chloe", date(2026, 11, 26)),
    ]
    assert notes.decisions[0].said_by is not None and notes.decisions[0].said_by.name == "Ana Lopez"
    assert {f.owner.name for f in notes.follow_ups} == {"Ben", "Chloe"}


@pytest.mark.parametrize(
    "response",
    [httpx.Response(500, text="boom"), httpx.Response(200, json=_chat_reply("I cannot help with that."))],
)
async def test_llm_writer_falls_back_to_offline_notes(response: httpx.Response) -> None:
    writer = LLMNoteWriter(
        base_url="http://llm.test/v1", model="gpt-test", transport=httpx.MockTransport(lambda _: response)
    )
    try:
        notes = await writer.write(LAUNCH, started_at=START)
    finally:
        await writer.aclose()
    assert notes.writer == "offline"
    assert any(a.text == "Fix the login crash" for a in notes.action_items)


async def test_an_empty_meeting_has_empty_notes() -> None:
    notes = await OfflineNoteWriter(embedder=HashEmbedder()).write([], started_at=START)
    assert (notes.summary, notes.action_items, notes.decisions, notes.open_questions) == ("", [], [], [])
    assert "_Nothing said._" in notes.to_markdown()
