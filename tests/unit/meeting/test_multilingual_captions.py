"""A line spoken in another language than the agent's: Whisper's English goes out as the English
caption without a provider call, other languages are translated from the original or, when the
provider cannot, from the English; the record keeps the original, the agent hears the English."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

from livekit import rtc

from auralink.agents.meeting.captions import CaptionLine
from auralink.agents.meeting.live_translation import RoomTranslations
from auralink.agents.meeting.replies import ReplyPolicy
from auralink.agents.meeting.translation import Caption, CaptionTranslator, Translator
from auralink.agents.meeting.wiring import _into, _Lines, _whisper_english
from auralink.core import AgentSpec
from tests.unit.meeting.test_wiring_room import FakeRoom

QUESTION_ES = "¿Cuál es la capital de Francia?"
QUESTION_EN = "What is the capital of France?"


class _Pairs(Translator):
    """Translates only the pairs it is given, tagging the output; counts calls."""

    name = "pairs"

    def __init__(self, *pairs: tuple[str, str]) -> None:
        self.pairs = set(pairs)
        self.calls: list[tuple[str, str, str]] = []

    def supports(self, source: str, target: str) -> bool:
        return (source, target) in self.pairs

    async def translate(self, text: str, *, source: str, target: str) -> str:
        self.calls.append((source, target, text))
        await asyncio.sleep(0.01)
        return f"[{source}>{target}] {text}"


def _spanish_line(*, segment: str = "SG_1", english: str | None = QUESTION_EN) -> CaptionLine:
    now = datetime.now(UTC)
    return CaptionLine(
        "ana", "Ana", "TR_ana", segment, QUESTION_ES, True, now, now, 1.0, 3.0,
        language="es", translations=(("en", english),) if english else (),
    )  # fmt: skip


async def test_whispers_english_is_used_as_is_and_other_languages_pivot_through_it_when_needed() -> None:
    provider = _Pairs(("es", "ca"), ("en", "de"))
    captions = CaptionTranslator(provider)
    got: list[Caption] = []

    async def sink(caption: Caption) -> None:
        got.append(caption)

    await captions.publish(
        line_id="l1",
        speaker="ana",
        text=QUESTION_ES,
        source="es",
        languages=["en", "ca", "de", "ja", "es"],
        emit=sink,
        known={"en": QUESTION_EN},
    )
    # the original and the English are out before any translation returns
    assert [(c.language, c.original, c.provider) for c in got] == [
        ("es", True, None),
        ("en", False, "whisper"),
    ]
    await captions.drain()
    await captions.aclose()
    by_language = {c.language: c for c in got if not c.original}
    assert set(by_language) == {"en", "ca", "de"}  # ja: neither from es nor from en
    assert by_language["en"].text == QUESTION_EN and by_language["en"].source_language == "es"
    assert by_language["ca"].text == f"[es>ca] {QUESTION_ES}" and by_language["ca"].via == ()
    assert by_language["de"].text == f"[en>de] {QUESTION_EN}" and by_language["de"].via == ("en",)
    assert by_language["de"].source_language == "es" and by_language["de"].provider == "pairs"
    assert sorted((s, t) for s, t, _ in provider.calls) == [("en", "de"), ("es", "ca")]  # no es→en call


async def test_room_captions_of_a_spanish_line_go_to_english_and_catalan_listeners() -> None:
    room = FakeRoom()
    room.join("ana", "Ana", attributes={"auralink.language": "es"})
    room.join("ben", "Ben", attributes={"auralink.language": "en"})
    room.join("joan", "Joan", attributes={"auralink.language": "ca"})
    heard: list[Caption] = []

    async def on_caption(caption: Caption) -> None:
        heard.append(caption)

    provider = _Pairs(("es", "ca"), ("es", "en"))
    translations = RoomTranslations(
        room=cast(rtc.Room, room), translator=CaptionTranslator(provider), source="en", on_caption=on_caption
    )
    await translations.captioned(_spanish_line())
    await translations.translator.drain()
    await translations.aclose()
    sent = {s.attributes["auralink.language"]: s for s in room.sent}
    assert set(sent) == {"en", "ca"}
    assert sent["en"].text == QUESTION_EN
    assert sent["en"].attributes["auralink.translation_provider"] == "whisper"
    assert sent["ca"].attributes["auralink.translation_provider"] == "pairs"
    assert sent["ca"].attributes["auralink.translation_of"] == "SG_1"
    assert [c for c in provider.calls if c[1] == "en"] == []  # the English came from Whisper
    # the spoken-translation hook still sees the original (in Spanish) and each translation
    assert sorted((c.language, c.original) for c in heard) == [("ca", False), ("en", False), ("es", True)]


async def test_a_foreign_line_is_captioned_in_the_agents_language_even_if_nobody_asked() -> None:
    room = FakeRoom()
    room.join("ana", "Ana", attributes={"auralink.language": "es"})
    room.join("ben", "Ben")  # no preference: reads the room's (the agent's) language
    translations = RoomTranslations(
        room=cast(rtc.Room, room), translator=CaptionTranslator(_Pairs()), source="en"
    )
    await translations.captioned(_spanish_line(english=None))  # Whisper's English failed: es→en unsupported
    await translations.captioned(_spanish_line(segment="SG_2"))
    await translations.translator.drain()
    await translations.aclose()
    assert [
        (s.attributes["auralink.translation_of"], s.attributes["auralink.language"]) for s in room.sent
    ] == [("SG_2", "en")]


class _Reporter:
    def __init__(self) -> None:
        self.turns: list[dict[str, Any]] = []

    def turn(self, **kw: Any) -> None:
        self.turns.append(kw)


def _lines(
    spec: AgentSpec,
    room: FakeRoom,
    reporter: _Reporter,
    voiced: list[str],
    *,
    translations: RoomTranslations | None = None,
) -> _Lines:
    responder = SimpleNamespace(
        policy=ReplyPolicy(spec),
        voice=lambda *, speaker, prompt: voiced.append(prompt),
        continues=lambda speaker, text: False,
    )
    return _Lines(
        room=cast(rtc.Room, room),
        responder=cast(Any, responder),
        reporter=cast(Any, reporter),
        started_at=datetime.now(UTC),
        moderation=None,
        notes=None,
        language=spec.language,
        translate=_into(translations) if translations is not None else None,
    )


def _spec(language: str) -> AgentSpec:
    return AgentSpec.model_validate(
        {
            "name": "atlas",
            "instructions": "Help.",
            "language": language,
            "meeting": {
                "transcribe": True,
                "reply": "when_addressed",
                "translate": True,
                "multilingual": True,
            },
        }
    )


def test_the_record_keeps_the_spanish_and_an_english_agent_hears_and_is_addressed_in_english() -> None:
    room = FakeRoom()
    room.join("ana", "Ana", attributes={"auralink.language": "es"})
    room.join("ben", "Ben")
    reporter, voiced = _Reporter(), cast(list[str], [])
    lines = _lines(_spec("en"), room, reporter, voiced)
    lines.on_line(_spanish_line())  # nobody addressed: recorded, not answered
    spanish = "Atlas, ¿cuál es la capital de Francia?"
    lines.on_line(
        replace(_spanish_line(segment="SG_2"), text=spanish, translations=(("en", f"Atlas, {QUESTION_EN}"),))
    )
    # Whisper may drop the name in English: the Spanish words still address the agent
    lines.on_line(
        replace(
            _spanish_line(segment="SG_3"), text="Atlas, ¿y de España?", translations=(("en", "And Spain?"),)
        )
    )
    assert [(t["text"], t["language"]) for t in reporter.turns] == [
        (QUESTION_ES, "es"),
        (spanish, "es"),
        ("Atlas, ¿y de España?", "es"),
    ]
    assert voiced == [f"Ana: Atlas, {QUESTION_EN}", "Ana: And Spain?"]


def test_an_agent_of_another_language_hears_the_original() -> None:
    room = FakeRoom()
    room.join("ana", "Ana")
    reporter, voiced = _Reporter(), cast(list[str], [])
    lines = _lines(_spec("ca"), room, reporter, voiced)
    lines.on_line(
        replace(_spanish_line(), text="Atlas, ¿y de España?", translations=(("en", "Atlas, and Spain?"),))
    )
    assert voiced == ["Atlas, ¿y de España?"]  # one to one: no name prefix


async def _settled(lines: _Lines) -> None:
    """Until the lines being translated for the agent were heard."""
    await lines._tasks.drain()


async def test_without_whispers_english_an_english_agent_hears_the_caption_translators() -> None:
    """Where the text translator has a route to English (apertium es→en offline), no Whisper English
    is asked for: the agent hears the translator's English, one provider call shared with the
    English caption."""
    room = FakeRoom()
    room.join("ana", "Ana", attributes={"auralink.language": "es"})
    room.join("ben", "Ben", attributes={"auralink.language": "en"})
    provider = _Pairs(("es", "en"))
    translations = RoomTranslations(
        room=cast(rtc.Room, room), translator=CaptionTranslator(provider), source="en"
    )
    reporter, voiced = _Reporter(), cast(list[str], [])
    lines = _lines(_spec("en"), room, reporter, voiced, translations=translations)
    addressed = replace(_spanish_line(english=None), text="Atlas, ¿cuál es la capital de Francia?")
    await translations.captioned(addressed)
    lines.on_line(addressed)
    await translations.translator.drain()
    await _settled(lines)
    await translations.aclose()
    assert voiced == ["Ana: [es>en] Atlas, ¿cuál es la capital de Francia?"]
    assert [t["text"] for t in reporter.turns] == ["Atlas, ¿cuál es la capital de Francia?"]  # as said
    assert len(provider.calls) == 1  # the caption and the agent shared one translation


async def test_with_no_route_to_its_language_the_agent_hears_the_original() -> None:
    room = FakeRoom()
    room.join("ana", "Ana")
    translations = RoomTranslations(
        room=cast(rtc.Room, room), translator=CaptionTranslator(_Pairs()), source="en"
    )
    reporter, voiced = _Reporter(), cast(list[str], [])
    lines = _lines(_spec("en"), room, reporter, voiced, translations=translations)
    lines.on_line(replace(_spanish_line(english=None), text="Atlas, ¿y de España?"))
    await _settled(lines)
    await translations.aclose()
    assert voiced == ["Atlas, ¿y de España?"]


def test_whispers_english_is_asked_for_only_where_the_translator_has_no_route_to_english() -> None:
    translations = RoomTranslations(
        room=cast(rtc.Room, FakeRoom()), translator=CaptionTranslator(_Pairs(("es", "en"))), source="en"
    )
    needed = _whisper_english(translations)
    assert needed is not None
    assert not needed("es-MX") and needed("it") and needed("de")
    assert _whisper_english(None) is None  # no caption translator: Whisper's English for everyone
