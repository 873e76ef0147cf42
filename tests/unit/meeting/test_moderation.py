"""Moderator: PII redaction without false positives, block lists, toxicity with the real offline
classifier, custom regexes, records without raw PII, the LLM classifier and its fallback, apply()."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from auralink.agents.meeting.moderation import (
    LLMClassifier,
    MemorySink,
    Moderator,
    OfflineToxicity,
    apply,
)
from auralink.core.errors import MissingCredential
from auralink.core.moderation import (
    BlocklistRule,
    Decision,
    LLMClassifierSpec,
    ModerationPolicy,
    PIIRule,
    RegexRule,
    ToxicityRule,
)

PII_ONLY = ModerationPolicy(
    rules=[
        PIIRule(id="pii.card_number", entity="card_number"),
        PIIRule(id="pii.iban", entity="iban"),
        PIIRule(id="pii.email", entity="email"),
        PIIRule(id="pii.phone", entity="phone"),
    ]
)


@pytest.fixture(scope="module")
def offline() -> OfflineToxicity:
    """One offline classifier for the module: it loads the sklearn model once (~2 s)."""
    return OfflineToxicity()


@pytest.fixture
async def default_moderator(offline: OfflineToxicity) -> AsyncIterator[Moderator]:
    moderator = Moderator(ModerationPolicy.default(), offline=offline, salt=b"test-salt")
    yield moderator
    await moderator.aclose()


async def _check(policy: ModerationPolicy, text: str, offline: OfflineToxicity, **kw: str) -> Decision:
    moderator = Moderator(policy, offline=offline)
    try:
        return await moderator.check(text, speaker=kw.get("speaker", "alice"), source="chat")
    finally:
        await moderator.aclose()


# ---------------------------------------------------------------- PII
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my card is 4111 1111 1111 1111, thanks", "my card is [card number], thanks"),
        ("card 4111-1111-1111-1111 exp 04/27", "card [card number] exp 04/27"),
        ("amex 3782 822463 10005", "amex [card number]"),
        ("the number is 4012888888881881.", "the number is [card number]."),
        ("four one one one: 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "four one one one: [card number]"),
    ],
)
async def test_valid_card_numbers_are_redacted(text: str, expected: str, offline: OfflineToxicity) -> None:
    decision = await _check(PII_ONLY, text, offline)
    assert decision.text == expected
    assert decision.actions == ["redact"]
    assert [r.entity for r in decision.records] == ["card_number"]


@pytest.mark.parametrize(
    "text",
    ["card 4111 1111 1111 1112", "ref 1234 5678 9012 3456", "4111111111111110"],
)
async def test_card_like_numbers_failing_luhn_are_left_alone(text: str, offline: OfflineToxicity) -> None:
    decision = await _check(PII_ONLY, text, offline)
    assert decision.text == text
    assert not decision.matched


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to jane.doe+work@example.co.uk today", "write to [email] today"),
        ("it's jane dot doe at example dot com", "it's [email]"),
        ("Mail BOB@Example.ORG.", "Mail [email]."),
    ],
)
async def test_emails_are_redacted(text: str, expected: str, offline: OfflineToxicity) -> None:
    assert (await _check(PII_ONLY, text, offline)).text == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call me on +44 20 7946 0958 later", "call me on [phone] later"),
        ("my number: +14155552671", "my number: [phone]"),
        ("dial +1 (415) 555-2671", "dial [phone]"),
        ("office (415) 555-2671 or 415.555.2672", "office [phone] or [phone]"),
        ("mobile 07700 900123", "mobile [phone]"),
        ("ring 06 12 34 56 78", "ring [phone]"),
        ("0044 20 7946 0958", "[phone]"),
        ("you can call 4155552671 anytime", "you can call [phone] anytime"),
    ],
)
async def test_phone_numbers_are_redacted(text: str, expected: str, offline: OfflineToxicity) -> None:
    assert (await _check(PII_ONLY, text, offline)).text == expected


@pytest.mark.parametrize(
    "text",
    [
        "let's meet on 2024-05-12 at 10:30",
        "it shipped in 1999, then again in 2024",
        "due 12/05/2024 or 01.02.2025",
        "order #12345678 and order number 4155552671",
        "ticket 0123456789 is closed",
        "we sold 1,234,567 units at 3.50 each",
        "room 404, floor 12, version 1.2.3",
        "server 192.168.1.10 port 8080",
        "the years 2019-2024 were good",
        "count down 5 4 3 2 1",
        "the 10:30-11:45 slot",
        "look at this dot com business",
    ],
)
async def test_dates_times_years_and_order_numbers_are_not_pii(text: str, offline: OfflineToxicity) -> None:
    decision = await _check(PII_ONLY, text, offline)
    assert decision.text == text
    assert decision.records == []


async def test_iban_is_redacted_when_its_check_digits_hold(offline: OfflineToxicity) -> None:
    ok = await _check(PII_ONLY, "pay to GB82 WEST 1234 5698 7654 32 please", offline)
    assert ok.text == "pay to [iban] please"
    assert ok.records[0].excerpt == "IBAN GB ending 5432"
    wrong = await _check(PII_ONLY, "pay to GB83 WEST 1234 5698 7654 32 please", offline)
    assert not wrong.matched


async def test_records_never_hold_the_raw_pii(offline: OfflineToxicity) -> None:
    text = "card 4111 1111 1111 1111, mail jane.doe@example.com, phone +44 20 7946 0958"
    decision = await _check(PII_ONLY, text, offline, speaker="bob")
    assert decision.text == "card [card number], mail [email], phone [phone]"
    stored = decision.model_dump_json()
    for secret in ("4111 1111 1111 1111", "4111111111111111", "jane", "example.com", "7946", "0958"):
        assert secret not in stored
    excerpts = {r.entity: r.excerpt for r in decision.records}
    assert excerpts["card_number"] == "card ending 1111"
    assert excerpts["phone"] == "phone ending 58"
    assert excerpts["email"].startswith("email #")
    assert {r.speaker for r in decision.records} == {"bob"}
    assert {r.rule_id for r in decision.records} == {"pii.card_number", "pii.email", "pii.phone"}


async def test_email_hashes_correlate_under_one_salt_only(offline: OfflineToxicity) -> None:
    one = Moderator(PII_ONLY, offline=offline, salt=b"org-1")
    other = Moderator(PII_ONLY, offline=offline, salt=b"org-2")
    a = await one.check("jane@example.com", speaker="a", source="chat")
    b = await one.check("JANE@example.com", speaker="b", source="speech")
    c = await other.check("jane@example.com", speaker="a", source="chat")
    assert a.records[0].excerpt == b.records[0].excerpt != c.records[0].excerpt


async def test_a_flag_only_pii_rule_keeps_the_text(offline: OfflineToxicity) -> None:
    policy = ModerationPolicy(rules=[PIIRule(id="emails", entity="email", actions=["flag"])])
    decision = await _check(policy, "reach me at a@b.io", offline)
    assert decision.text == "reach me at a@b.io"
    assert decision.actions == ["flag"]


# ---------------------------------------------------------------- block lists and regexes
async def test_blocklist_matches_whole_words_case_blind(offline: OfflineToxicity) -> None:
    policy = ModerationPolicy(
        rules=[BlocklistRule(id="words", words=["ass", "secret   project"], actions=["redact", "warn"])]
    )
    clean = await _check(policy, "the class will assess the passage", offline)
    assert not clean.matched
    hit = await _check(policy, "ASS! and the Secret\nProject, classy", offline)
    assert hit.text == "[blocked]! and the [blocked], classy"
    assert [r.excerpt for r in hit.records] == ["block list entry 0", "block list entry 1"]
    assert hit.warn_messages and "ASS" not in hit.warn_messages[0]


async def test_custom_regex_redacts_with_its_placeholder(offline: OfflineToxicity) -> None:
    policy = ModerationPolicy(
        rules=[
            RegexRule(
                id="emp", pattern=r"\bEMP-\d{6}\b", placeholder="[employee id]", actions=["redact", "flag"]
            )
        ]
    )
    decision = await _check(policy, "ask emp-123456 or EMP-654321, not EMP-12", offline)
    assert decision.text == "ask [employee id] or [employee id], not EMP-12"
    assert decision.actions == ["redact", "flag"]
    assert all("123456" not in r.excerpt and "654321" not in r.excerpt for r in decision.records)


async def test_block_action_forwards_nothing(offline: OfflineToxicity) -> None:
    policy = ModerationPolicy(
        rules=[BlocklistRule(id="leak", words=["project falcon"], actions=["block", "notify_host"])]
    )
    decision = await _check(policy, "about Project Falcon: the launch date is Friday", offline)
    assert decision.blocked
    assert decision.text == "[blocked]"
    assert decision.actions == ["block", "notify_host"]


async def test_rules_apply_only_to_their_sources(offline: OfflineToxicity) -> None:
    policy = ModerationPolicy(rules=[PIIRule(id="chat-emails", entity="email", sources=["chat"])])
    moderator = Moderator(policy, offline=offline)
    spoken = await moderator.check("a@b.io", speaker="x", source="speech")
    typed = await moderator.check("a@b.io", speaker="x", source="chat")
    assert (spoken.text, typed.text) == ("a@b.io", "[email]")


# ---------------------------------------------------------------- toxicity, offline
@pytest.mark.parametrize(
    "text",
    [
        "you are an idiot and I hate you",
        "shut up you worthless moron",
        "fuck off, nobody wants you here",
        "you're a b1tch and an a$$hole",
    ],
)
async def test_clearly_toxic_lines_are_flagged_and_the_speaker_warned(
    text: str, default_moderator: Moderator
) -> None:
    decision = await default_moderator.check(text, speaker="mallory", source="speech")
    assert decision.actions == ["flag", "warn"]
    assert decision.classifier == "offline"
    assert decision.toxicity is not None and decision.toxicity >= 0.8
    assert decision.records[0].kind == "toxicity"
    assert decision.warn_messages == ["Please keep the conversation respectful."]
    assert decision.text == text  # flagged, not redacted, by default


@pytest.mark.parametrize(
    "text",
    [
        "thanks everyone, let's move the review to Thursday",
        "I disagree with the proposal, the numbers don't add up",
        "the class will cover assessment methods next week",
        "kill the process and restart the server",
    ],
)
async def test_clearly_benign_lines_pass(text: str, default_moderator: Moderator) -> None:
    decision = await default_moderator.check(text, speaker="alice", source="speech")
    assert not decision.matched
    assert decision.actions == []
    assert decision.toxicity is not None and decision.toxicity < 0.8


async def test_toxicity_rule_with_redact_masks_the_listed_words(offline: OfflineToxicity) -> None:
    policy = ModerationPolicy(rules=[ToxicityRule(id="tox", threshold=0.5, actions=["redact", "flag"])])
    decision = await _check(policy, "this is total bullshit, you shit", offline)
    assert decision.text == "this is total [blocked], you [blocked]"
    assert decision.records[0].excerpt.endswith("2 listed word(s)")


async def test_offline_scores_a_batch_in_one_call(offline: OfflineToxicity) -> None:
    scores = await offline.score(["have a nice day", "go to hell you idiot"])
    assert scores[0].score < 0.5 < scores[1].score


# ---------------------------------------------------------------- toxicity, LLM classifier
def _openai_answer(content: str) -> dict[str, object]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
    }


def _transport(
    handler: Callable[[httpx.Request], httpx.Response], seen: list[httpx.Request]
) -> httpx.MockTransport:
    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return httpx.MockTransport(record)


def _llm_policy(**spec: object) -> ModerationPolicy:
    return ModerationPolicy(
        rules=[PIIRule(id="pii.email", entity="email"), ToxicityRule(id="tox", threshold=0.7)],
        llm_classifier=LLMClassifierSpec(
            base_url="http://llm.test/v1", model="gpt-4o-mini", api_key_env="", **spec
        ),  # type: ignore[arg-type]
    )


async def test_llm_classifier_score_and_categories_are_used(offline: OfflineToxicity) -> None:
    seen: list[httpx.Request] = []
    answer = '```json\n{"score": 0.91, "categories": ["harassment", "threat"]}\n```'
    transport = _transport(lambda r: httpx.Response(200, json=_openai_answer(answer)), seen)
    llm = LLMClassifier(
        base_url="http://llm.test/v1", model="gpt-4o-mini", api_key="sk-test", transport=transport
    )
    moderator = Moderator(_llm_policy(), offline=offline, llm=llm)
    decision = await moderator.check("I know where you live, mail me at x@y.io", speaker="eve", source="chat")
    await llm.aclose()
    assert decision.classifier == "llm"
    assert decision.toxicity == 0.91
    assert decision.records[-1].categories == ["harassment", "threat"]
    assert decision.actions == ["redact", "flag", "warn"]
    (request,) = seen
    assert request.url == "http://llm.test/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    body = json.loads(request.content)
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"][0]["role"] == "system"
    assert "x@y.io" not in request.content.decode()  # the classifier sees the redacted line


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500, json={"error": {"message": "boom"}}),
        httpx.Response(200, json=_openai_answer("I think it is fine.")),
        httpx.Response(200, json=_openai_answer('{"score": 7}')),
        httpx.Response(200, json={"choices": []}),
    ],
)
async def test_llm_classifier_failure_falls_back_to_offline(
    response: httpx.Response, offline: OfflineToxicity, caplog: pytest.LogCaptureFixture
) -> None:
    transport = _transport(lambda r: response, [])
    llm = LLMClassifier(base_url="http://llm.test/v1", model="m", transport=transport)
    moderator = Moderator(_llm_policy(), offline=offline, llm=llm)
    decision = await moderator.check("you are an idiot and I hate you", speaker="eve", source="speech")
    await llm.aclose()
    assert decision.classifier == "offline"
    assert decision.actions == ["flag", "warn"]
    assert decision.warnings and "offline score was used" in decision.warnings[0]
    assert "idiot" not in caplog.text


async def test_llm_classifier_timeout_falls_back_quickly(offline: OfflineToxicity) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        import asyncio

        await asyncio.sleep(30)
        return httpx.Response(200, json=_openai_answer('{"score": 0}'))

    llm = LLMClassifier(
        base_url="http://llm.test/v1", model="m", timeout_s=0.2, transport=httpx.MockTransport(slow)
    )
    moderator = Moderator(_llm_policy(), offline=offline, llm=llm)
    decision = await moderator.check("have a good evening", speaker="a", source="chat")
    await llm.aclose()
    assert decision.classifier == "offline"
    assert "did not answer" in decision.warnings[0]
    assert decision.elapsed_ms < 10_000


async def test_llm_classifier_from_spec_names_a_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODERATION_KEY", raising=False)
    spec = LLMClassifierSpec(base_url="https://api.openai.com/v1", api_key_env="MODERATION_KEY")
    with pytest.raises(MissingCredential, match="MODERATION_KEY"):
        LLMClassifier.from_spec(spec)
    monkeypatch.setenv("MODERATION_KEY", "sk-x")
    llm = LLMClassifier.from_spec(spec)
    await llm.aclose()


# ---------------------------------------------------------------- apply() and sinks
async def test_apply_records_then_carries_out_actions(offline: OfflineToxicity) -> None:
    policy = ModerationPolicy(
        rules=[
            PIIRule(id="pii.card_number", entity="card_number", actions=["redact", "warn"]),
            ToxicityRule(id="tox", threshold=0.8, actions=["mute", "notify_host", "flag", "warn"]),
        ]
    )
    decision = await _check(policy, "fuck you, my card is 4111 1111 1111 1111", offline, speaker="mallory")
    assert decision.actions == ["mute", "redact", "notify_host", "flag", "warn"]
    sink = MemorySink()
    done = await apply(decision, sink)
    assert done == ["mute", "redact", "notify_host", "flag", "warn"]
    assert sink.recorded == [decision]
    assert sink.muted == ["mallory"]
    assert sink.notified == [decision] and sink.flagged == [decision]
    ((speaker, message),) = sink.warned
    assert speaker == "mallory"
    assert "card numbers" in message and "respectful" in message


async def test_apply_does_nothing_for_a_clean_line(default_moderator: Moderator) -> None:
    decision = await default_moderator.check("see you tomorrow", speaker="a", source="chat")
    sink = MemorySink()
    assert await apply(decision, sink) == []
    assert sink == MemorySink()


async def test_a_failing_sink_call_does_not_stop_the_others(offline: OfflineToxicity) -> None:
    class Broken(MemorySink):
        async def mute(self, speaker: str) -> None:
            raise RuntimeError("room service down")

    policy = ModerationPolicy(rules=[BlocklistRule(id="w", words=["spoiler"], actions=["mute", "flag"])])
    decision = await _check(policy, "spoiler alert", offline)
    sink = Broken()
    assert await apply(decision, sink) == ["flag"]
    assert sink.recorded == [decision] and sink.flagged == [decision]


async def test_disabled_policy_passes_everything(offline: OfflineToxicity) -> None:
    policy = ModerationPolicy(enabled=False, rules=ModerationPolicy.default().rules)
    decision = await _check(policy, "fuck off, 4111 1111 1111 1111", offline)
    assert decision.text == "fuck off, 4111 1111 1111 1111"
    assert decision.toxicity is None


def test_importing_the_module_loads_no_classifier() -> None:
    import subprocess
    import sys

    code = (
        "import sys, auralink.agents.meeting.moderation as m; m.Moderator(m.ModerationPolicy.default()); "
        "print(sorted(k for k in ('profanity_check', 'better_profanity', 'sklearn') if k in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]"


async def test_a_long_message_is_checked_in_bounded_time(default_moderator: Moderator) -> None:
    text = "1 " * 5000 + "x@y.io " * 500 + "+44 20 7946 0958 " * 200
    decision = await default_moderator.check(text, speaker="spammer", source="chat")
    assert decision.text.count("[email]") == 500
    assert decision.text.count("[phone]") == 200
    assert decision.elapsed_ms < 10_000


# ---------------------------------------------------------------- card numbers as speech-to-text writes them
async def _spoken(policy: ModerationPolicy, text: str, offline: OfflineToxicity) -> Decision:
    moderator = Moderator(policy, offline=offline)
    try:
        return await moderator.check(text, speaker="alice", source="speech")
    finally:
        await moderator.aclose()


@pytest.mark.parametrize(
    ("text", "expected", "excerpt"),
    [
        # what whisper-tiny.en and whisper-base made of "my card number is 4111 1111 1111 1111"
        ("Computer, my card number is 4,111,111,111.", "Computer, my card number is [card number].", "card as transcribed, ending 1111"),
        ("Computer, my card number is 411111111111111111.", "Computer, my card number is [card number].", "card as transcribed, ending 1111"),
        ("My card number is 4242-4242-4242-4242-4242", "My card number is [card number]", "card as transcribed, ending 4242"),
        ("my visa is 4111 1111 1111 1112 expiring", "my visa is [card number] expiring", "card as transcribed, ending 1112"),
        ("my card is 4111 1111 1111 1111", "my card is [card number]", "card ending 1111"),
        # the card word lost (a busy machine's VAD cut "my card" off the line): the length still tells
        ("Our number is 4,111,111,111,111.", "Our number is [card number].", "card-length number as transcribed, ending 1111"),
        ("it's 411111111111111111 okay", "it's [card number] okay", "card-length number as transcribed, ending 1111"),
    ],
)  # fmt: skip
async def test_spoken_card_numbers_are_redacted_luhn_or_not(
    text: str, expected: str, excerpt: str, offline: OfflineToxicity
) -> None:
    decision = await _spoken(PII_ONLY, text, offline)
    assert decision.text == expected
    assert [(r.entity, r.excerpt) for r in decision.records] == [("card_number", excerpt)]


@pytest.mark.parametrize("number", ["+44 20 7946 0958", "+86 138 0013 8000"])  # 12 and 13 digits
async def test_a_spoken_phone_number_is_a_phone_number_not_a_card(
    number: str, offline: OfflineToxicity
) -> None:
    decision = await _spoken(PII_ONLY, f"call {number} tomorrow", offline)
    assert decision.text == "call [phone] tomorrow"
    assert [r.entity for r in decision.records] == ["phone"]


@pytest.mark.parametrize(
    "text",
    [
        "we sold 12,345,678 units last year",  # no card word
        "The budget is 1,250,000 dollars for the card game team",  # a card word, but 7 digits
        "card 4111 1111 1111 1112",  # typed in chat, the Luhn check still holds (below)
        "the debt passed $31,400,000,000,000 this year",  # money, however long
        "that is 31,400,000,000,000 dollars in total",
    ],
)
async def test_other_numbers_in_speech_and_typed_non_luhn_cards_are_left_alone(
    text: str, offline: OfflineToxicity
) -> None:
    if text.startswith("card "):
        decision = await _check(PII_ONLY, text, offline)  # chat
    else:
        decision = await _spoken(PII_ONLY, text, offline)
    assert decision.text == text and not decision.matched
