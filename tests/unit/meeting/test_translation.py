"""Caption translation: real apertium (Debian packages), OpenAI-compatible and DeepL wire formats, and
the caption fan-out a listener sees (original at once, one translation per language present)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from auralink.agents.meeting.translation import (
    ApertiumTranslator,
    Caption,
    CaptionTranslator,
    DeepLTranslator,
    LLMTranslator,
    Translator,
    deepl_target,
    escape,
    listener_languages,
    parse_modes,
    primary,
    unescape,
)
from auralink.core.errors import MissingCredential, ProviderError

LISTING = """  cat-eng
  cat-eng_US
  en-eo-bytecode
  en-eo
  en-gl
  eng-cat_valencia
  eng-spa
  es-pt
  gl-en
  spa-eng
"""


def test_modes_map_to_bcp47_pairs_and_pivot_when_no_direct_mode() -> None:
    modes = parse_modes(LISTING)
    assert modes == {
        ("ca", "en"): "cat-eng",
        ("en", "eo"): "en-eo",
        ("en", "gl"): "en-gl",
        ("en", "es"): "eng-spa",
        ("es", "pt"): "es-pt",
        ("gl", "en"): "gl-en",
        ("es", "en"): "spa-eng",
    }
    t = ApertiumTranslator(modes=modes)
    assert t.route("en-US", "es") == ["en", "es"]
    assert t.route("gl", "es") == ["gl", "en", "es"]
    assert t.route("en", "pt-BR") == ["en", "es", "pt"]
    assert not t.supports("en", "ja")


def test_language_tags() -> None:
    assert [primary(x) for x in ("pt-BR", "eng", "ES", "zh_Hant")] == ["pt", "en", "es", "zh"]
    assert [deepl_target(x) for x in ("en", "en-GB", "pt-BR", "pt", "de", "zh")] == [
        "EN-US",
        "EN-GB",
        "PT-BR",
        "PT-PT",
        "DE",
        "ZH-HANS",
    ]
    attrs = {
        "u-ana": {"auralink.language": "es"},
        "u-ben": {"auralink.language": "pt-BR", "other": "x"},
        "u-chloe": {},
        "agent": {"auralink.language": " "},
    }
    assert listener_languages(attrs) == {"es", "pt"}


def test_escaping_round_trips_apertiums_reserved_characters() -> None:
    text = r"Costs $5 [draft] a/b <tag> {x} @me \ done"
    assert escape(text).count("\\") > 8
    assert unescape(escape(text)) == text


@pytest.fixture(params=[True, False], ids=["streaming", "one-shot"])
async def apertium(request: pytest.FixtureRequest) -> AsyncIterator[ApertiumTranslator]:
    t = await ApertiumTranslator.start(streaming=request.param)
    assert t.streaming is request.param
    try:
        yield t
    finally:
        await t.aclose()


async def test_apertium_translates_english_to_spanish(apertium: ApertiumTranslator) -> None:
    out = await apertium.translate("I will send the report by Friday.", source="en", target="es")
    assert "informe" in out and "viernes" in out
    out = await apertium.translate("The report is ready.", source="en-GB", target="ca")
    assert out == "L'informe és llest."


async def test_apertium_pivots_and_keeps_reserved_characters(apertium: ApertiumTranslator) -> None:
    assert apertium.route("gl", "es") == ["gl", "en", "es"]
    out = await apertium.translate("O informe está listo.", source="gl", target="es")
    assert "informe" in out and "listo" in out
    # characters apertium reserves for its stream format come through as typed
    out = await apertium.translate("It costs $5 [draft] and/or <more>.", source="en", target="es")
    assert out == "Cuesta $5 [borrador] y/o <más>."


async def test_apertium_streaming_answers_each_line_in_order_under_concurrency() -> None:
    t = await ApertiumTranslator.start(streaming=True)
    try:
        await t.warm("en", "es")
        lines = [f"I have {n} dogs." for n in range(12)]
        started = time.perf_counter()
        outs = await asyncio.gather(*(t.translate(x, source="en", target="es") for x in lines))
        elapsed = time.perf_counter() - started
    finally:
        await t.aclose()
    assert all(f"{n} perros" in out for n, out in enumerate(outs)), outs
    assert elapsed < 10  # generous: a warm pipeline answers a line in milliseconds


async def test_apertium_rejects_pairs_it_cannot_route() -> None:
    t = await ApertiumTranslator.start()
    try:
        with pytest.raises(ProviderError, match="no mode for en→ja"):
            await t.translate("Hello.", source="en", target="ja")
    finally:
        await t.aclose()


def _chat(content: str) -> dict[str, object]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
    }


async def test_llm_translator_speaks_openai_chat() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_chat("  Enviaré el informe el viernes.\n"))

    t = LLMTranslator(
        base_url="http://llm.test/v1/", model="m", api_key="sk-1", transport=httpx.MockTransport(handler)
    )
    try:
        out = await t.translate("I will send the report by Friday.", source="en", target="es-MX")
    finally:
        await t.aclose()
    assert out == "Enviaré el informe el viernes."
    assert seen[0].url.path == "/v1/chat/completions"
    assert seen[0].headers["authorization"] == "Bearer sk-1"
    body = json.loads(seen[0].content)
    assert (
        "English (en)" in body["messages"][0]["content"]
        and "Spanish (es-MX)" in body["messages"][0]["content"]
    )
    assert body["messages"][1]["content"] == "I will send the report by Friday."


async def test_llm_translator_errors_are_provider_errors() -> None:
    t = LLMTranslator(
        base_url="http://llm.test/v1", model="m", transport=httpx.MockTransport(lambda _: httpx.Response(429))
    )
    try:
        with pytest.raises(ProviderError) as e:
            await t.translate("Hi", source="en", target="es")
    finally:
        await t.aclose()
    assert e.value.retryable


async def test_deepl_translator_speaks_the_v2_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPL_API_KEY", "abc-123:fx")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"translations": [{"detected_source_language": "EN", "text": "Hallo Welt"}]}
        )

    t = DeepLTranslator(transport=httpx.MockTransport(handler))
    try:
        assert await t.translate("Hello world", source="en-US", target="de") == "Hallo Welt"
        await t.translate("Olá", source="pt-BR", target="en")
    finally:
        await t.aclose()
    assert str(seen[0].url) == "https://api-free.deepl.com/v2/translate"  # a :fx key is a free-plan key
    assert seen[0].headers["authorization"] == "DeepL-Auth-Key abc-123:fx"
    assert json.loads(seen[0].content) == {"text": ["Hello world"], "source_lang": "EN", "target_lang": "DE"}
    assert json.loads(seen[1].content)["target_lang"] == "EN-US"
    assert t.supports("en", "ja") and not t.supports("en", "eo")


async def test_deepl_needs_its_key_and_reports_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPL_API_KEY", raising=False)
    with pytest.raises(MissingCredential, match="DEEPL_API_KEY"):
        DeepLTranslator()
    monkeypatch.setenv("DEEPL_API_KEY", "paid-key")
    t = DeepLTranslator(
        transport=httpx.MockTransport(lambda r: httpx.Response(456, json={"message": "Quota exceeded"}))
    )
    try:
        with pytest.raises(ProviderError, match="quota") as e:
            await t.translate("Hi", source="en", target="fr")
    finally:
        await t.aclose()
    assert not e.value.retryable


class FakeTranslator(Translator):
    """Upper-cases text after ``delays[target]`` seconds; counts calls and peak concurrency."""

    name = "fake"

    def __init__(self, delays: dict[str, float] | None = None, unsupported: set[str] | None = None) -> None:
        self.delays = delays or {}
        self.unsupported = unsupported or set()
        self.calls = 0
        self.active = 0
        self.peak = 0
        self.closed = False

    def supports(self, source: str, target: str) -> bool:
        return target not in self.unsupported

    async def translate(self, text: str, *, source: str, target: str) -> str:
        self.calls += 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(self.delays.get(target, 0.01))
        finally:
            self.active -= 1
        return f"[{target}] {text.upper()}"

    async def aclose(self) -> None:
        self.closed = True


class Sink:
    def __init__(self) -> None:
        self.captions: list[tuple[float, Caption]] = []

    async def __call__(self, caption: Caption) -> None:
        self.captions.append((time.perf_counter(), caption))


async def test_the_original_caption_is_never_held_back_by_a_slow_language() -> None:
    fake = FakeTranslator(delays={"de": 30.0})
    captions = CaptionTranslator(fake, timeout_s=0.5)
    sink = Sink()
    started = time.perf_counter()
    await captions.publish(
        line_id="l1", speaker="u-ana", text="hello team", source="en", languages=["es", "de", "en"], emit=sink
    )
    assert [c.original for _, c in sink.captions] == [True]
    assert sink.captions[0][0] - started < 0.1
    await captions.publish(
        line_id="l2", speaker="u-ana", text="next line", source="en", languages=["es", "de"], emit=sink
    )
    assert [c.line_id for _, c in sink.captions if c.original] == ["l1", "l2"]
    await captions.drain()
    translated = [(c.line_id, c.language, c.text) for _, c in sink.captions if not c.original]
    assert sorted(translated) == [
        ("l1", "es", "[es] HELLO TEAM"),
        ("l2", "es", "[es] NEXT LINE"),
    ]  # de timed out
    assert captions.failures == 2
    await captions.aclose()
    assert fake.closed


async def test_each_line_is_translated_once_per_language_with_bounded_concurrency() -> None:
    fake = FakeTranslator(delays={lang: 0.05 for lang in ("es", "fr", "de", "it", "pt")}, unsupported={"ja"})
    captions = CaptionTranslator(fake, max_concurrency=2)
    sink = Sink()
    languages = ["es-ES", "es", "fr", "de", "it", "pt", "ja", "en"]
    await captions.publish(
        line_id="l1",
        speaker="u-ben",
        text="Budget is approved.",
        source="en-US",
        languages=languages,
        emit=sink,
    )
    await captions.publish(
        line_id="l2",
        speaker="u-ben",
        text="Budget  is approved.",
        source="en",
        languages=languages,
        emit=sink,
    )
    await captions.drain()
    assert fake.calls == 5  # es fr de it pt, once each: the repeat came from the cache; ja unsupported
    assert fake.peak <= 2
    by_line = {(c.line_id, c.language) for _, c in sink.captions if not c.original}
    assert by_line == {(line, lang) for line in ("l1", "l2") for lang in ("es", "fr", "de", "it", "pt")}
    await captions.aclose()


async def test_closing_cancels_pending_translations() -> None:
    fake = FakeTranslator(delays={"es": 30.0})
    captions = CaptionTranslator(fake, timeout_s=60)
    sink = Sink()
    await captions.publish(line_id="l1", speaker="u", text="hi", source="en", languages=["es"], emit=sink)
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    await captions.aclose()
    assert time.perf_counter() - started < 5
    assert [c.original for _, c in sink.captions] == [True]


async def test_captions_through_real_apertium_say_when_they_pivot() -> None:
    captions = CaptionTranslator(await ApertiumTranslator.start())
    sink = Sink()
    try:
        await captions.publish(
            line_id="l1",
            speaker="u-ana",
            text="O informe está listo.",
            source="gl",
            languages=["es", "en"],
            emit=sink,
        )
        await captions.drain()
    finally:
        await captions.aclose()
    got = {c.language: c for _, c in sink.captions if not c.original}
    assert set(got) == {"es", "en"}
    assert got["es"].via == ("en",) and got["en"].via == ()
    assert got["es"].provider == "apertium" and "informe" in got["es"].text
