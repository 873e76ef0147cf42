"""The meeting and moderation blocks of agents.yaml, the organisation's policy and toggles in the
dispatch, notes requests, and the reporter's meeting events (separate batches, final notes first)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from auralink.agents.meeting.notekeeper import NoteKeeper, is_notes_request
from auralink.agents.meeting.notes import MeetingNotes, OfflineNoteWriter
from auralink.agents.meeting.stage import job_policy
from auralink.agents.reporting import CallReporter
from auralink.agents.worker import apply_features
from auralink.core import AgentSpec, ConfigError, load_catalogue
from auralink.core.catalogue import dotted_path, spec_problems
from auralink.core.moderation import ModerationPolicy, PolicyError

REPO = Path(__file__).resolve().parents[3]


def _spec(**extra: Any) -> AgentSpec:
    return AgentSpec.model_validate({"name": "notetaker", "instructions": "Take notes.", **extra})


def test_the_shipped_notetaker_translates_keeps_notes_and_files_and_moderates_by_default() -> None:
    notetaker = load_catalogue(REPO / "agents.yaml").get("notetaker")
    assert notetaker is not None
    m = notetaker.meeting
    assert (m.translate, m.translation.provider, m.notes, m.files, m.chat) == (
        True,
        "apertium",
        True,
        True,
        True,
    )
    assert notetaker.moderation == ModerationPolicy.default()


def test_a_bad_moderation_rule_is_named_as_written_in_the_yaml() -> None:
    raw = {
        "name": "a",
        "instructions": "x",
        "moderation": {
            "rules": [
                {"id": "cards", "kind": "pii", "entity": "card_number"},
                {"id": "codes", "kind": "regex", "pattern": "("},
                {"id": "x", "kind": "swearing"},
            ]
        },
    }
    with pytest.raises(ValidationError) as e:
        AgentSpec.model_validate(raw)
    problems = {dotted_path(path): msg for path, msg in spec_problems(e.value, raw)}
    assert set(problems) == {"moderation.rules[1].pattern", "moderation.rules[2].kind"}
    assert "unknown kind 'swearing'" in problems["moderation.rules[2].kind"]


def test_byok_translation_names_its_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPL_API_KEY", raising=False)
    spec = _spec(meeting={"transcribe": True, "translate": True, "translation": {"provider": "deepl"}})
    assert spec.missing_credentials() == [("meeting.translation.api_key_env", "DEEPL_API_KEY")]
    keyless = _spec(
        meeting={
            "transcribe": True,
            "translate": True,
            "translation": {
                "provider": "llm",
                "base_url": "http://127.0.0.1:11434/v1",
                "model": "m",
                "api_key_env": "",
            },
        }
    )
    assert keyless.missing_credentials() == []
    with pytest.raises(ValidationError, match="needs `base_url` and `model`"):
        _spec(meeting={"transcribe": True, "translate": True, "translation": {"provider": "llm"}})
    with pytest.raises(ValidationError, match="need `transcribe: true`"):
        _spec(meeting={"notes": True})


def test_the_organisations_rules_are_a_floor_and_its_toggles_win() -> None:
    agent_rules = {"rules": [{"id": "codenames", "kind": "blocklist", "words": ["Falcon"]}]}
    spec = _spec(moderation=agent_rules)
    org = ModerationPolicy.default().model_dump(mode="json")
    merged = job_policy(spec, {"moderation": org})
    assert merged is not None
    assert [r.id for r in merged.rules] == [
        "pii.card_number",
        "pii.email",
        "pii.phone",
        "toxicity",
        "codenames",
    ]
    assert job_policy(spec, {"moderation": org, "features": {"moderation": False}}) is None
    assert job_policy(_spec(), {}) is None  # no rules anywhere: nothing is checked
    with pytest.raises(PolicyError) as e:
        job_policy(spec, {"moderation": {"rules": [{"id": "bad", "kind": "regex", "pattern": "a*"}]}})
    assert isinstance(e.value, ConfigError) and "rules[0].pattern" in str(e.value)

    translating = _spec(
        meeting={"transcribe": True, "translate": True, "multilingual": True, "speak_translations": ["en"]},
        moderation=agent_rules,
    )
    off = apply_features(translating, {"translation": False, "moderation": False})
    assert off.meeting.translate is False and off.moderation is None
    # the organisation's "translation: off" also stops Whisper's English and the spoken tracks
    assert off.meeting.multilingual is False and off.meeting.speak_translations == []
    assert AgentSpec.model_validate(off.model_dump(by_alias=True)) == off  # still a valid spec

    keeping = _spec(meeting={"transcribe": True, "notes": True, "files": True, "translate": True})
    kept = apply_features(keeping, {"notes": False, "files": False, "translation": True})
    assert (kept.meeting.notes, kept.meeting.files, kept.meeting.translate) == (False, False, True)
    assert apply_features(keeping, {"notes": True}) is keeping  # on leaves the spec as it is


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("Notetaker, notes please.", True),
        ("Can you send the notes to everyone?", True),
        ("Aura, summarise the meeting", True),
        ("I took notes yesterday.", False),
        ("The budget moves to Thursday.", False),
    ],
)
def test_notes_requests(text: str, asks: bool) -> None:
    assert is_notes_request(text) is asks


# ---------------------------------------------------------------- the reporter's meeting events
class _Api:
    """/events refuses meeting event types (an API that does not know them yet) when ``strict``."""

    def __init__(self, *, strict: bool) -> None:
        self.strict = strict
        self.batches: list[list[dict[str, Any]]] = []
        self.files: list[bytes] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/files"):
            self.files.append(request.content)
            if b"application/x-msdownload" in request.content:
                return httpx.Response(415, json={"detail": "type refused"})
            return httpx.Response(201, json={"id": "file_1"})
        events = json.loads(request.content)["events"]
        if self.strict and any(e["type"] not in ("turn", "usage", "error") for e in events):
            return httpx.Response(422, json={"detail": "unknown event type"})
        self.batches.append(events)
        return httpx.Response(200, json={})

    def events(self) -> list[dict[str, Any]]:
        return [e for b in self.batches for e in b]


def _reporter(api: _Api) -> CallReporter:
    return CallReporter(
        url="http://api.test",
        api_key="key",
        api_secret="secret-" * 6,
        room_sid="RM_test",
        room_name="room-test",
        batch_delay_s=0.01,
        max_attempts=1,
        transport=httpx.MockTransport(api.handler),
        room_started_at=datetime.now(UTC) - timedelta(seconds=5),
    )


async def test_final_notes_are_reported_before_the_reporter_flushes() -> None:
    api = _Api(strict=False)
    reporter = _reporter(api)
    reporter.start()
    keeper = NoteKeeper(
        writer=OfflineNoteWriter(),
        started_at=datetime(2026, 11, 25, 15, 0, tzinfo=UTC),
        title="Launch sync",
        report=lambda notes, final: reporter.notes(notes.model_dump(mode="json"), final=final),
    )
    keeper.add(identity="ada", name="Ada", text="I will send the budget by Friday.", start=1, end=3)
    keeper.add(
        identity="ben", name="Ben", text="The launch review moves to Thursday afternoon.", start=4, end=6
    )
    reporter.turn(role="user", speaker="ada", text="I will send the budget by Friday.")
    reporter.before_close(lambda: keeper.write(final=True))
    await reporter.aclose()
    (notes,) = [e for e in api.events() if e["type"] == "notes"]
    assert notes["final"] is True
    parsed = MeetingNotes.model_validate(notes["notes"])
    assert parsed.summary and parsed.action_items[0].owner is not None
    assert parsed.action_items[0].owner.identity == "ada"


async def test_an_api_that_refuses_meeting_events_still_gets_every_line() -> None:
    api = _Api(strict=True)
    reporter = _reporter(api)
    reporter.start()
    reporter.turn(role="user", speaker="ada", text="My card number is [card number].")
    reporter.moderation({"rule_id": "pii.card_number"}, text_redacted="My card number is [card number].")
    await reporter.aclose()
    assert [e["type"] for e in api.events()] == ["turn"]
    assert reporter.sent == 1 and reporter.dropped == 1


async def test_files_are_uploaded_as_multipart_and_refusals_give_no_id() -> None:
    api = _Api(strict=False)
    reporter = _reporter(api)
    try:
        assert (
            await reporter.upload(b"%PDF-1.7", name="budget.pdf", mime="application/pdf", sender="ada")
            == "file_1"
        )
        assert (
            await reporter.upload(b"MZ", name="x.exe", mime="application/x-msdownload", sender="ada") is None
        )
    finally:
        await reporter.aclose()
    body = api.files[0]
    assert b'name="sender"' in body and b"ada" in body and b'name="file"; filename="budget.pdf"' in body
