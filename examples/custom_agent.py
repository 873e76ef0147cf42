"""An agent written in Python, used from agents.yaml with ``class: examples.custom_agent:BookingAgent``.

The class gets ``instructions=`` and ``tools=`` from the YAML entry and adds its own function tools.
Try it: ``auralink chat booking`` (see the commented entry at the end of agents.yaml).
"""

from __future__ import annotations

from typing import Any

from livekit.agents import Agent, RunContext, function_tool


class BookingAgent(Agent):
    def __init__(self, *, instructions: str, tools: list[Any]) -> None:
        super().__init__(instructions=instructions, tools=tools)
        self.bookings: list[dict[str, Any]] = []

    @function_tool
    async def book_table(self, context: RunContext, name: str, guests: int, when: str) -> str:
        """Book a table.

        Args:
            name: the guest's name
            guests: how many people
            when: day and time, as the guest said it
        """
        if not 1 <= guests <= 12:
            return "We can seat between 1 and 12 guests; please ask again."
        self.bookings.append({"name": name, "guests": guests, "when": when})
        return f"Booked a table for {guests} under {name}, {when}. Reference {len(self.bookings):04d}."
