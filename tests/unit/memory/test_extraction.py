"""The offline rule-based extractor and the LLM extractor's JSON handling."""

from __future__ import annotations

import json

import httpx
import pytest

from auralink.core.errors import ProviderError
from auralink.memory import LLMExtractor, RuleExtractor
from auralink.memory.extraction import extractive_summary


async def _texts(*turns: str) -> dict[str, tuple[str, str]]:
    return {e.text: (e.kind, e.slot) for e in await RuleExtractor().extract(list(turns))}


@pytest.mark.parametrize(
    ("turn", "text", "kind", "slot"),
    [
        ("Hi, my name is Maria Lopez.", "My name is Maria Lopez.", "fact", "name"),
        ("Please call me Sam, thanks", "My name is Sam.", "fact", "name"),
        ("Hello, I'm Priya, calling about my order.", "My name is Priya.", "fact", "name"),
        ("I really love Thai curry.", "I love Thai curry.", "preference", ""),
        ("I don't like being called before nine", "I don't like being called before nine.", "preference", ""),
        ("I prefer an aisle seat when I fly.", "I prefer an aisle seat when I fly.", "preference", ""),
        ("My wife's name is Ana.", "My wife's name is Ana.", "fact", "wife_name"),
        ("My room number is 412.", "My room number is 412.", "fact", "room_number"),
        ("My birthday is on March 3rd.", "My birthday is on March 3rd.", "fact", "birthday"),
        ("I'm allergic to penicillin, so note that.", "I am allergic to penicillin.", "fact", ""),
        ("I live in Lisbon, near the river.", "I live in Lisbon.", "fact", "home_city"),
        ("I'll send the signed contract by Friday.", "I'll send the signed contract by Friday.", "fact", ""),
        ("Remind me to call the bank tomorrow.", "Remind me to call the bank tomorrow.", "fact", ""),
        (
            "The budget is 2,500 dollars for the trip.",
            "The budget is 2,500 dollars for the trip.",
            "fact",
            "",
        ),
        (
            "You can reach me on +44 7700 900123 after five.",
            "You can reach me on +44 7700 900123 after five.",
            "fact",
            "",
        ),
    ],
)
async def test_rule_extractor_catches_what_people_say_about_themselves(
    turn: str, text: str, kind: str, slot: str
) -> None:
    assert (await _texts(turn)).get(text) == (kind, slot)


async def test_questions_small_talk_and_states_are_not_facts() -> None:
    found = await _texts("What time do you open?", "I'm sorry, could you repeat that?", "Okay, thanks a lot.")
    assert found == {}


async def test_a_later_value_of_the_same_slot_wins() -> None:
    found = await _texts("My name is Jon.", "Sorry, my name is John Smith actually.")
    assert [t for t, (_, slot) in found.items() if slot == "name"] == ["My name is John Smith."]


def _chat(content: str, status: int = 200, *, json_mode: bool = True) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body.get("response_format") == ({"type": "json_object"} if json_mode else None)
        return httpx.Response(status, json={"choices": [{"message": {"content": content}}]})

    return httpx.MockTransport(handler)


async def test_llm_extractor_reads_json_memories() -> None:
    content = json.dumps(
        {
            "memories": [
                {"kind": "fact", "text": "My name is Ada.", "slot": "Name"},
                {"kind": "preference", "text": "I like jazz.", "slot": ""},
                {"kind": "turn", "text": "ignored"},
            ]
        }
    )
    ex = LLMExtractor(base_url="http://llm/v1", model="m", transport=_chat("Sure! " + content))
    try:
        found = await ex.extract(["My name is Ada and I like jazz"])
    finally:
        await ex.aclose()
    assert [(e.kind, e.text, e.slot) for e in found] == [
        ("fact", "My name is Ada.", "name"),
        ("preference", "I like jazz.", ""),
    ]


async def test_llm_extractor_failure_is_a_provider_error_and_bad_json_yields_nothing() -> None:
    ex = LLMExtractor(base_url="http://llm/v1", model="m", transport=_chat("{}", status=500))
    with pytest.raises(ProviderError, match="memory extraction"):
        await ex.extract(["hi"])
    await ex.aclose()
    ex = LLMExtractor(base_url="http://llm/v1", model="m", transport=_chat("not json {"))
    assert await ex.extract(["hi"]) == []
    await ex.aclose()


async def test_extractive_summary_keeps_the_informative_sentences_in_order() -> None:
    turns = [
        "Hi there.",
        "My flight to Lisbon on the 14th was cancelled and I need a new one.",
        "Okay.",
        "Also please add extra legroom if possible. Thanks!",
    ]
    summary = extractive_summary(turns, sentences=2)
    assert summary == (
        "They said: My flight to Lisbon on the 14th was cancelled and I need a new one. "
        "Also please add extra legroom if possible."
    )
    assert extractive_summary(["Hi.", "Thanks, bye."]) is None
    long = extractive_summary(["word " * 30 + "end.", "other " * 200 + "stop."], max_chars=80)
    assert long is not None and len(long) <= 80 + len("They said: ")


async def test_llm_summary_is_the_models_text_and_falls_back_to_extractive() -> None:
    ex = LLMExtractor(
        base_url="http://llm/v1",
        model="m",
        transport=_chat("The caller rebooked a cancelled flight.", json_mode=False),
    )
    assert await ex.summarize(["My flight was cancelled, rebook me please."]) == (
        "The caller rebooked a cancelled flight."
    )
    await ex.aclose()
    ex = LLMExtractor(base_url="http://llm/v1", model="m", transport=_chat("", status=500, json_mode=False))
    fallback = await ex.summarize(["My flight to Lisbon was cancelled and I need a new one."])
    assert fallback == "They said: My flight to Lisbon was cancelled and I need a new one."
    await ex.aclose()
