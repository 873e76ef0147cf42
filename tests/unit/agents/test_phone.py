"""Phone calls: keypad digits become user turns, phone tools send the right LiveKit requests,
answering machines are recognised, and the agents.yaml `phone:` block is validated."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from livekit import api, rtc
from pydantic import ValidationError

from auralink.agents.phone import (
    MEDIA_STREAMS_SOURCE,
    SOURCE_ATTRIBUTE,
    DigitCollector,
    PhoneCall,
    VoicemailDetector,
    call_line,
)
from auralink.agents.phone_tools import CallLine, PhoneTools
from auralink.core import load_catalogue
from auralink.core.spec import AgentSpec, PhoneSpec

ROOT = Path(__file__).resolve().parents[3]
SIP = rtc.ParticipantKind.PARTICIPANT_KIND_SIP
STANDARD = rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD


# ---------------------------------------------------------------------- fakes
class Emitter:
    def __init__(self) -> None:
        self.handlers: dict[str, list[Any]] = {}

    def on(self, event: str, fn: Any) -> None:
        self.handlers.setdefault(event, []).append(fn)

    def off(self, event: str, fn: Any) -> None:
        self.handlers.get(event, []).remove(fn)

    def emit(self, event: str, *args: Any) -> None:
        for fn in list(self.handlers.get(event, [])):
            fn(*args)


class FakeLocal:
    def __init__(self) -> None:
        self.dtmf: list[tuple[int, str]] = []

    async def publish_dtmf(self, *, code: int, digit: str) -> None:
        self.dtmf.append((code, digit))


class FakeRoom(Emitter):
    def __init__(self, participants: list[Any] = ()) -> None:  # type: ignore[assignment]
        super().__init__()
        self.name = "call-123"
        self.local_participant = FakeLocal()
        self.remote_participants = {p.identity: p for p in participants}


def participant(identity: str, kind: int = SIP, **attributes: str) -> Any:
    return SimpleNamespace(identity=identity, kind=kind, attributes=attributes)


@dataclass
class FakeSip:
    calls: list[tuple[str, Any]] = field(default_factory=list)
    fail: bool = False
    trunks: list[str] = field(default_factory=lambda: ["ST_out1"])

    async def transfer_sip_participant(self, req: api.TransferSIPParticipantRequest) -> Any:
        self.calls.append(("transfer_sip_participant", req))
        if self.fail:
            raise api.TwirpError("unavailable", "trunk does not allow REFER", status=503)
        return api.SIPParticipantInfo()

    async def list_outbound_trunk(self, req: api.ListSIPOutboundTrunkRequest) -> Any:
        self.calls.append(("list_outbound_trunk", req))
        items = [api.SIPOutboundTrunkInfo(sip_trunk_id=t) for t in self.trunks]
        return api.ListSIPOutboundTrunkResponse(items=items)


@dataclass
class FakeRoomService:
    deleted: list[api.DeleteRoomRequest] = field(default_factory=list)

    async def delete_room(self, req: api.DeleteRoomRequest) -> Any:
        self.deleted.append(req)
        return api.DeleteRoomResponse()


class FakeAPI:
    def __init__(self) -> None:
        self.sip = FakeSip()
        self.room = FakeRoomService()


class FakeSession(Emitter):
    def __init__(self, agent_tools: list[Any] = ()) -> None:  # type: ignore[assignment]
        super().__init__()
        self.tools: list[Any] = []
        self.current_agent = SimpleNamespace(tools=list(agent_tools))
        self.replies: list[str] = []
        self.said: list[str] = []
        self.interrupts = 0
        self.user_state = "listening"
        self.history = object()

    def interrupt(self, *, force: bool = False) -> Any:
        self.interrupts += 1
        return None

    def generate_reply(self, *, user_input: str) -> None:
        self.replies.append(user_input)

    def say(self, text: str, *, allow_interruptions: bool = True) -> Any:
        self.said.append(text)

        async def played() -> None:
            await asyncio.sleep(0)

        return played()


class FakeContext:
    """The RunContext a tool call gets: the goodbye plays out before the tool goes on."""

    def __init__(self, log: list[str], session: Any = None) -> None:
        self.log = log
        self.session = session or FakeSession()

    async def wait_for_playout(self) -> None:
        self.log.append("playout")


def tools_for(
    line: CallLine, spec: PhoneSpec | None = None, **kw: Any
) -> tuple[PhoneTools, FakeAPI, list[str]]:
    lkapi, ended = FakeAPI(), []
    room = FakeRoom()
    tools = PhoneTools(
        room=room, lkapi=lkapi, line=line, spec=spec or PhoneSpec(), shutdown=ended.append, dtmf_gap_s=0, **kw
    )
    return tools, lkapi, ended


def phone_call(
    participants: list[Any], spec: PhoneSpec | None = None, session: FakeSession | None = None
) -> tuple[PhoneCall, FakeRoom, FakeSession, FakeAPI, list[str]]:
    room, sess, lkapi, ended = FakeRoom(participants), session or FakeSession(), FakeAPI(), []
    call = PhoneCall(
        room=room, session=sess, spec=spec or PhoneSpec(), lkapi=lambda: lkapi, shutdown=ended.append
    )
    call.start()
    return call, room, sess, lkapi, ended


def dtmf(digit: str, sender: Any) -> rtc.SipDTMF:
    codes = {"*": 10, "#": 11}
    return rtc.SipDTMF(
        code=codes.get(digit, int(digit) if digit.isdigit() else 12), digit=digit, participant=sender
    )


# ---------------------------------------------------------------------- keypad digits
async def test_terminator_ends_the_entry_at_once() -> None:
    entries: list[str] = []
    collector = DigitCollector(on_entry=entries.append, timeout_s=30)
    for key in "1234#":
        collector.press(key)
    assert entries == ["1234#"]
    assert collector.pending == ""
    collector.close()


async def test_a_pause_ends_the_entry_and_each_key_restarts_the_wait() -> None:
    entries: list[str] = []
    collector = DigitCollector(on_entry=entries.append, timeout_s=0.4)
    collector.press("5")
    await asyncio.sleep(0.25)
    collector.press("6")  # within the timeout of the first key: same entry
    await asyncio.sleep(0.25)
    assert entries == []
    await asyncio.sleep(0.5)
    assert entries == ["56"]
    collector.press("7")
    collector.close()  # closing drops what is pending, and no timer fires later
    await asyncio.sleep(0.6)
    assert entries == ["56"]


async def test_no_terminator_means_only_the_timeout_ends_an_entry() -> None:
    entries: list[str] = []
    collector = DigitCollector(on_entry=entries.append, timeout_s=0.2, terminator="")
    for key in "9#x":  # '#' is an ordinary key here; 'x' is not a key at all
        collector.press(key)
    await asyncio.sleep(0.5)
    assert entries == ["9#"]


async def test_caller_keys_become_one_user_turn() -> None:
    caller = participant("sip_caller", **{"sip.ruleID": "SDR_1"})
    call, room, session, _, _ = phone_call([caller])
    for key in "1234#":
        room.emit("sip_dtmf_received", dtmf(key, caller))
    assert session.replies == ["The caller pressed 1 2 3 4 # on the phone keypad."]
    assert session.interrupts == 1  # a menu being read out stops when the caller presses
    await call.aclose()


async def test_media_streams_bridge_keys_count_too_and_other_legs_do_not() -> None:
    bridge = participant("twilio-CA1", STANDARD, **{SOURCE_ATTRIBUTE: MEDIA_STREAMS_SOURCE})
    colleague = participant("human-agent-sip")
    call, room, session, _, _ = phone_call([bridge], PhoneSpec(dtmf_timeout_s=0.3))
    room.emit("sip_dtmf_received", dtmf("9", colleague))
    room.emit("sip_dtmf_received", dtmf("2", bridge))
    await asyncio.sleep(0.6)
    assert session.replies == ["The caller pressed 2 on the phone keypad."]
    await call.aclose()
    room.emit("sip_dtmf_received", dtmf("3", bridge))  # closed: no longer listening
    assert "sip_dtmf_received" not in room.handlers or not room.handlers["sip_dtmf_received"]


async def test_dtmf_off_leaves_keys_alone() -> None:
    caller = participant("sip_caller", **{"sip.ruleID": "SDR_1"})
    call, room, session, _, _ = phone_call([caller], PhoneSpec(dtmf=False))
    room.emit("sip_dtmf_received", dtmf("#", caller))
    assert session.replies == []
    await call.aclose()


# ---------------------------------------------------------------------- which calls are phone calls
def test_phone_lines_are_recognised() -> None:
    inbound = call_line(participant("a", **{"sip.ruleID": "SDR_1"}))
    outbound = call_line(participant("b"))
    bridge = call_line(participant("c", STANDARD, **{SOURCE_ATTRIBUTE: MEDIA_STREAMS_SOURCE}))
    assert inbound == CallLine("a", "sip", outbound=False)
    assert outbound == CallLine("b", "sip", outbound=True)
    assert bridge == CallLine("c", "media-streams", outbound=False)
    assert call_line(participant("browser", STANDARD)) is None


async def test_browser_calls_get_no_phone_tools() -> None:
    call, room, session, _, _ = phone_call([participant("web", STANDARD)])
    assert session.tools == []
    room.emit("participant_connected", participant("sip_late", **{"sip.ruleID": "SDR_1"}))
    assert [t.info.name for t in session.tools] == ["send_dtmf", "end_call"]
    await call.aclose()


async def test_phone_tools_skip_names_the_agent_already_has() -> None:
    own_end_call = SimpleNamespace(info=SimpleNamespace(name="end_call"))
    spec = PhoneSpec(transfer_to="+14155550100")
    call, _, session, _, _ = phone_call(
        [participant("sip_caller", **{"sip.ruleID": "SDR_1"})], spec, FakeSession([own_end_call])
    )
    assert [t.info.name for t in session.tools] == ["send_dtmf", "transfer_call"]
    await call.aclose()


# ---------------------------------------------------------------------- the tools' requests
async def test_send_dtmf_publishes_each_key_with_its_code() -> None:
    tools, _, _ = tools_for(CallLine("sip_x", "sip"))
    answer = await tools.send_dtmf("1 0*#")
    assert tools.room.local_participant.dtmf == [(1, "1"), (0, "0"), (10, "*"), (11, "#")]
    assert answer == "Pressed 1 0 * #."
    assert "Nothing was sent" in await tools.send_dtmf("12; rm -rf")
    assert len(tools.room.local_participant.dtmf) == 4


async def test_cold_transfer_sends_a_refer_request_for_the_caller() -> None:
    tools, lkapi, ended = tools_for(CallLine("sip_caller", "sip"), PhoneSpec(transfer_to="+14155550100"))
    log: list[str] = []
    answer = await tools.transfer_call(FakeContext(log), warm=False, reason="billing question")
    name, req = lkapi.sip.calls[0]
    assert name == "transfer_sip_participant"
    assert isinstance(req, api.TransferSIPParticipantRequest)
    assert (req.room_name, req.participant_identity, req.transfer_to) == (
        "call-123",
        "sip_caller",
        "tel:+14155550100",
    )
    assert req.play_dialtone is False
    assert log == ["playout"]  # "I am transferring you" is heard before the REFER
    assert ended == ["call transferred"]
    assert answer == "The caller has been transferred."


async def test_cold_transfer_to_a_sip_uri_keeps_the_uri() -> None:
    tools, lkapi, _ = tools_for(
        CallLine("sip_caller", "sip"), PhoneSpec(transfer_to="sip:desk@pbx.example.com")
    )
    await tools.transfer_call(FakeContext([]))
    assert lkapi.sip.calls[0][1].transfer_to == "sip:desk@pbx.example.com"


async def test_failed_transfer_keeps_the_caller_with_the_agent() -> None:
    tools, lkapi, ended = tools_for(CallLine("sip_caller", "sip"), PhoneSpec(transfer_to="+14155550100"))
    lkapi.sip.fail = True
    answer = await tools.transfer_call(FakeContext([]))
    assert "did not go through" in answer
    assert ended == []
    assert tools.tools()  # still on the call, tools still offered


async def test_transfer_is_only_offered_with_a_destination_on_sip_lines() -> None:
    sip, _, _ = tools_for(CallLine("s", "sip"))
    bridge, _, _ = tools_for(CallLine("m", "media-streams"), PhoneSpec(transfer_to="+14155550100"))
    assert [t.info.name for t in sip.tools()] == ["send_dtmf", "end_call"]
    assert [t.info.name for t in bridge.tools()] == ["send_dtmf", "end_call"]
    assert "cannot be transferred" in await bridge.transfer_call(FakeContext([]))


async def test_warm_transfer_dials_the_human_over_the_only_outbound_trunk() -> None:
    seen: dict[str, Any] = {}

    async def fake_warm(**kwargs: Any) -> Any:
        seen.update(kwargs)
        return SimpleNamespace(human_agent_identity="human-agent-sip")

    tools, lkapi, ended = tools_for(
        CallLine("sip_caller", "sip"), PhoneSpec(transfer_to="+14155550100"), warm_task=fake_warm
    )
    ctx = FakeContext([])
    answer = await tools.transfer_call(ctx, warm=True, reason="wants a refund")
    assert lkapi.sip.calls[0][0] == "list_outbound_trunk"
    assert seen["sip_call_to"] == "+14155550100"
    assert seen["sip_trunk_id"] == "ST_out1"
    assert seen["chat_ctx"] is ctx.session.history  # the colleague is briefed from the conversation
    assert "wants a refund" in seen["extra_instructions"]
    assert ended == ["call transferred"]
    assert "human-agent-sip" in answer


async def test_warm_transfer_needs_one_outbound_trunk_or_a_configured_one() -> None:
    async def fake_warm(**kwargs: Any) -> Any:
        raise AssertionError("must not dial")

    tools, lkapi, ended = tools_for(
        CallLine("sip_caller", "sip"), PhoneSpec(transfer_to="+14155550100"), warm_task=fake_warm
    )
    lkapi.sip.trunks = ["ST_a", "ST_b"]
    assert "set phone.transfer_trunk" in await tools.transfer_call(FakeContext([]), warm=True)
    assert ended == []

    dialled: list[str] = []

    async def declined(**kwargs: Any) -> Any:
        dialled.append(kwargs["sip_trunk_id"])
        raise RuntimeError("human agent declined")

    spec = PhoneSpec(transfer_to="+14155550100", transfer_trunk="ST_b")
    tools, lkapi, ended = tools_for(CallLine("sip_caller", "sip"), spec, warm_task=declined)
    assert "Nobody could take the call" in await tools.transfer_call(FakeContext([]), warm=True)
    assert dialled == ["ST_b"]
    assert lkapi.sip.calls == []  # a configured trunk is not looked up
    assert ended == []


async def test_end_call_says_goodbye_then_deletes_the_room() -> None:
    tools, lkapi, ended = tools_for(CallLine("sip_caller", "sip"))
    log: list[str] = []
    assert await tools.end_call(FakeContext(log)) == "Call ended."
    assert log == ["playout"]
    assert [r.room for r in lkapi.room.deleted] == ["call-123"]
    assert ended == ["agent ended the call"]
    await tools.hang_up(reason="again")  # a second hang-up does nothing
    assert len(lkapi.room.deleted) == 1


# ---------------------------------------------------------------------- voicemail
@pytest.mark.parametrize(
    "greeting",
    [
        "Hi, you've reached Sam. Please leave a message after the tone.",
        "The person you are calling is not available.",
        "Welcome to the voicemail of",
        "I can't come to the phone right now",
        "Sorry I missed you, I'll get back to you as soon as I can",
    ],
)
def test_voicemail_greetings_are_machines(greeting: str) -> None:
    assert VoicemailDetector().heard(greeting, at=1.0) == "machine"


@pytest.mark.parametrize(
    "answer", ["Hello?", "Yes, speaking.", "Hi, who is this?", "Sam here, how can I help"]
)
def test_people_answering_are_not_machines(answer: str) -> None:
    detector = VoicemailDetector(window_s=8)
    assert detector.heard(answer, at=1.0) is None
    assert detector.spoke(duration_s=0.8, at=1.5) is None
    assert detector.tick(at=5.0) is None
    assert detector.tick(at=9.5) == "human"
    assert detector.heard("please leave a message", at=10.0) == "human"  # decided once


def test_a_long_first_utterance_is_a_machine() -> None:
    detector = VoicemailDetector(long_utterance_s=5)
    assert detector.spoke(duration_s=7.2, at=8.0) == "machine"
    short_then_long = VoicemailDetector(long_utterance_s=5)
    assert short_then_long.spoke(duration_s=0.7, at=1.0) is None
    assert short_then_long.spoke(duration_s=6.0, at=8.0) is None  # only the first stretch counts


async def test_outbound_answering_machine_is_hung_up_on() -> None:
    callee = participant("sip_callee")  # no sip.ruleID: we dialled out
    call, _, session, lkapi, ended = phone_call([callee])
    session.emit("user_input_transcribed", SimpleNamespace(is_final=False, transcript="please leave"))
    assert lkapi.room.deleted == []
    session.emit(
        "user_input_transcribed", SimpleNamespace(is_final=True, transcript="Please leave a message")
    )
    await asyncio.sleep(0.05)
    assert [r.room for r in lkapi.room.deleted] == ["call-123"]
    assert ended == ["answering machine"]
    await call.aclose()


async def test_outbound_answering_machine_gets_the_message_after_the_greeting() -> None:
    spec = PhoneSpec(
        voicemail="leave_message", voicemail_message="This is Trattoria Aura, please call us back."
    )
    call, _, session, lkapi, ended = phone_call([participant("sip_callee")], spec)
    session.emit("user_state_changed", SimpleNamespace(old_state="listening", new_state="speaking"))
    session.user_state = "speaking"
    session.emit(
        "user_input_transcribed", SimpleNamespace(is_final=True, transcript="not available right now")
    )
    await asyncio.sleep(0.3)
    assert session.said == []  # the greeting is still playing: wait for the tone to pass
    session.user_state = "listening"
    await asyncio.wait_for(_until(lambda: bool(lkapi.room.deleted)), timeout=10)
    assert session.said == ["This is Trattoria Aura, please call us back."]
    assert ended == ["answering machine"]
    await call.aclose()


async def test_inbound_calls_and_ignore_never_listen_for_machines() -> None:
    inbound = participant("sip_caller", **{"sip.ruleID": "SDR_1"})
    for parts, spec in (
        ([inbound], PhoneSpec()),
        ([participant("sip_callee")], PhoneSpec(voicemail="ignore")),
    ):
        call, _, session, lkapi, _ = phone_call(parts, spec)
        session.emit("user_input_transcribed", SimpleNamespace(is_final=True, transcript="leave a message"))
        await asyncio.sleep(0.05)
        assert lkapi.room.deleted == []
        await call.aclose()


async def _until(check: Any) -> None:
    while not check():
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------------- agents.yaml
def test_phone_block_defaults_keep_old_agents_valid() -> None:
    spec = AgentSpec(name="a", instructions="hi")
    assert spec.phone == PhoneSpec()
    assert (spec.phone.dtmf, spec.phone.dtmf_terminator, spec.phone.voicemail) == (True, "#", "hang_up")
    catalogue = load_catalogue(ROOT / "agents.yaml")
    assert catalogue.agents


@pytest.mark.parametrize(
    ("block", "field", "words"),
    [
        ({"transfer_to": "0800 123"}, "transfer_to", "E.164"),
        ({"voicemail": "leave_message"}, None, "voicemail_message"),
        ({"voicemail": "record"}, "voicemail", "hang_up"),
        ({"dtmf_timeout_s": 0}, "dtmf_timeout_s", "greater than"),
        ({"dtmf_terminator": "9"}, "dtmf_terminator", "#"),
        ({"tranfer_to": "+14155550100"}, "tranfer_to", "Extra inputs"),
    ],
)
def test_bad_phone_blocks_name_the_field(block: dict[str, Any], field: str | None, words: str) -> None:
    with pytest.raises(ValidationError) as e:
        AgentSpec.model_validate({"name": "a", "instructions": "hi", "phone": block})
    error = e.value.errors()[0]
    assert error["loc"][0] == "phone"
    if field is not None:
        assert error["loc"][1] == field
    assert words in str(e.value)


def test_good_phone_block() -> None:
    spec = AgentSpec.model_validate(
        {
            "name": "a",
            "instructions": "hi",
            "phone": {
                "transfer_to": "sip:desk@pbx.example.com",
                "voicemail": "leave_message",
                "voicemail_message": "Call us back",
                "dtmf_timeout_s": 2.5,
            },
        }
    )
    assert spec.phone.transfer_to == "sip:desk@pbx.example.com"
