"""Floor control in a meeting: the agent waits for people to stop talking before it answers, and
stops when someone talks over it for long enough (a short "mm-hm" does not stop it)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from auralink.agents.meeting.addressing import FloorControl
from auralink.agents.meeting.wiring import Floor


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
