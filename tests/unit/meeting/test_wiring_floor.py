"""Floor control in a meeting: the agent waits for people to stop talking before it answers, and
stops when someone talks over it for long enough (a short "mm-hm" does not stop it). What a
speaker adds while their reply waits for the floor joins that reply."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

from auralink.agents.meeting.addressing import FloorControl
from auralink.agents.meeting.wiring import Floor, _Responder
from auralink.core import AgentSpec


class _Session:
    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}
        self.interrupts = 0

    def on(self, event: str, handler: Any) -> None:
        self.handlers[event] = handler

    async def interrupt(self) -> None:
        self.interrupts += 1

    def state(self, new: str) -> None:
        self.handlers["agent_state_changed"](SimpleNamespace(new_state=new))


async def test_a_reply_waits_until_nobody_is_talking() -> None:
    session: Any = _Session()
    floor = Floor(session, control=FloorControl(group=True, quiet_s=0.2, yield_after_s=0.1))
    floor.on_speaking("ada", True)
    waiting = asyncio.ensure_future(floor.wait_for_turn(timeout_s=5))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # Ada is still talking
    floor.on_speaking("ada", False)
    await asyncio.sleep(0.1)
    assert not waiting.done()  # and the short quiet after her has not passed yet
    await asyncio.wait_for(waiting, timeout=2)
    await floor.aclose()


async def test_talking_over_the_agent_stops_it_and_a_short_interjection_does_not() -> None:
    session: Any = _Session()
    floor = Floor(session, control=FloorControl(group=True, quiet_s=0.2, yield_after_s=0.15))
    session.state("speaking")
    floor.on_speaking("bob", True)  # "mm-hm"
    await asyncio.sleep(0.05)
    floor.on_speaking("bob", False)
    await asyncio.sleep(0.3)
    assert session.interrupts == 0

    floor.on_speaking("ada", True)  # Ada talks over the agent
    await asyncio.sleep(0.4)
    assert session.interrupts == 1
    session.state("listening")
    floor.on_speaking("ada", False)
    floor.on_speaking("ada", True)  # talking while the agent is quiet interrupts nothing
    await asyncio.sleep(0.3)
    assert session.interrupts == 1
    await floor.aclose()


async def test_waiting_for_the_floor_gives_up_after_its_timeout() -> None:
    session: Any = _Session()
    floor = Floor(session, control=FloorControl(group=True, quiet_s=0.2))
    floor.on_speaking("ada", True)  # she never stops
    await asyncio.wait_for(floor.wait_for_turn(timeout_s=0.3), timeout=2)
    await floor.aclose()


class _Replies(_Session):
    """A session that also records the prompts it is asked to answer."""

    def __init__(self) -> None:
        super().__init__()
        self.prompts: list[str] = []

    def generate_reply(self, *, user_input: str) -> Any:
        self.prompts.append(user_input)
        return SimpleNamespace(add_done_callback=lambda _cb: None)


def _responder(session: Any) -> _Responder:
    spec = AgentSpec.model_validate({"name": "computer", "instructions": "You help the meeting."})
    floor = Floor(session, control=FloorControl(group=True, quiet_s=0.2, yield_after_s=0.1))
    return _Responder(spec=spec, session=session, ctx=cast(Any, None), floor=floor)


async def test_what_the_speaker_adds_while_the_reply_waits_joins_the_reply() -> None:
    """A speech-to-text cuts "Computer. … what's on the agenda?" in two: the second line is not
    addressed on its own, but it is the question."""
    session: Any = _Replies()
    responder = _responder(session)
    responder.floor.on_speaking("ada", True)
    responder.voice(speaker="ada", prompt="Ada: Computer.")
    await asyncio.sleep(0.05)
    assert responder.continues("ada", "What's on the agenda?")
    assert not responder.continues("grace", "I agree.")  # nobody waits for a reply to Grace
    responder.floor.on_speaking("ada", False)
    await _until(lambda: session.prompts)
    assert session.prompts == ["Ada: Computer. What's on the agenda?"]
    # once the reply has started, a new line is a new turn
    assert not responder.continues("ada", "And the budget?")
    await responder.aclose()


async def test_two_speakers_waiting_get_a_reply_each() -> None:
    session: Any = _Replies()
    responder = _responder(session)
    responder.floor.on_speaking("grace", True)
    responder.voice(speaker="ada", prompt="Ada: Computer, what time is it?")
    responder.voice(speaker="bob", prompt="Bob: Computer, and the date?")
    responder.floor.on_speaking("grace", False)
    await _until(lambda: len(session.prompts) == 2)
    assert sorted(session.prompts) == ["Ada: Computer, what time is it?", "Bob: Computer, and the date?"]
    await responder.aclose()


async def _until(check: Any, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "not within the timeout"
        await asyncio.sleep(0.02)
