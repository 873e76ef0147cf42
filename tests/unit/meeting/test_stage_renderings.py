"""Moderation of a line from a speaker of another language: the line and Whisper's English of it.

The offline toxicity classifier reads English, so a Spanish insult is caught through its English
rendering; a rule is recorded and acted on once even when both texts match it; a block in either
blocks the line."""

from __future__ import annotations

from auralink.agents.meeting.moderation import MemorySink, Moderator
from auralink.agents.meeting.stage import ModerationStage
from auralink.core.moderation import BlocklistRule, ModerationPolicy, PIIRule, ToxicityRule

INSULT_ES = "Eres un idiota estúpido y te odio."
INSULT_EN = "You are a stupid idiot and I hate you."


def _stage(*rules: ToxicityRule | PIIRule | BlocklistRule) -> tuple[ModerationStage, MemorySink]:
    sink = MemorySink()
    return ModerationStage(Moderator(ModerationPolicy(rules=list(rules))), sink=sink), sink


async def test_an_insult_only_the_english_rendering_shows_is_flagged_and_warned_once() -> None:
    stage, sink = _stage(ToxicityRule(id="toxicity", threshold=0.8, actions=["flag", "warn"]))
    screened = await stage.screen_line(
        INSULT_ES, renderings=(("en", INSULT_EN),), speaker="ana", source="speech"
    )
    await stage.drain()
    assert screened == (INSULT_ES, (("en", INSULT_EN),))  # flagged, not redacted: both go on
    assert [d.rule_ids for d in sink.recorded] == [["toxicity"]]
    assert len(sink.flagged) == 1 and len(sink.warned) == 1 and sink.warned[0][0] == "ana"
    assert stage.decisions == 1 and stage.blocked == 0


async def test_a_card_number_in_both_texts_is_redacted_in_both_and_recorded_once() -> None:
    stage, sink = _stage(PIIRule(id="cards", entity="card_number", actions=["redact"]))
    screened = await stage.screen_line(
        "Mi tarjeta es 4111 1111 1111 1111.",
        renderings=(("en", "My card is 4111 1111 1111 1111."),),
        speaker="ana",
        source="speech",
    )
    await stage.drain()
    assert screened == ("Mi tarjeta es [card number].", (("en", "My card is [card number]."),))
    assert [d.rule_ids for d in sink.recorded] == [["cards"]]


async def test_a_block_in_the_rendering_blocks_the_line() -> None:
    stage, sink = _stage(BlocklistRule(id="words", words=["idiot"], actions=["block"]))
    screened = await stage.screen_line(
        INSULT_ES, renderings=(("en", INSULT_EN),), speaker="ana", source="speech"
    )
    await stage.drain()
    assert screened is None
    assert stage.blocked == 1 and [d.rule_ids for d in sink.recorded] == [["words"]]


async def test_a_line_without_renderings_is_screened_as_any_other() -> None:
    stage, sink = _stage(PIIRule(id="cards", entity="card_number", actions=["redact"]))
    screened = await stage.screen_line(
        "My card is 4111 1111 1111 1111.", renderings=(), speaker="ada", source="speech"
    )
    await stage.drain()
    assert screened == ("My card is [card number].", ())
    assert len(sink.recorded) == 1
