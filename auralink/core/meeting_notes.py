"""Meeting notes as data: transcript lines in, summary, decisions, action items, open questions
and follow-ups out (JSON and Markdown). The writers live in auralink.agents.meeting.notes; the API
stores and serves these (it imports them from here, without the agent framework)."""

from __future__ import annotations

__all__ = [
    "ActionItem",
    "Decision",
    "FollowUp",
    "MeetingNotes",
    "OpenQuestion",
    "Participant",
    "TranscriptLine",
]

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TranscriptLine(BaseModel):
    """One final line of the transcript; times are seconds from the meeting's start."""

    model_config = ConfigDict(frozen=True)

    identity: str
    name: str
    text: str
    start: float = 0.0
    end: float = 0.0


class Participant(BaseModel):
    model_config = ConfigDict(frozen=True)

    identity: str
    name: str


class ActionItem(BaseModel):
    owner: Participant | None = Field(description="who does it; None when nobody was named")
    text: str
    due: date | None = Field(default=None, description="resolved due date (ISO) when one was said")
    due_phrase: str | None = Field(default=None, description="the words that gave the due date")
    said_by: Participant | None = None
    at: float = Field(default=0.0, description="seconds from the meeting's start")


class Decision(BaseModel):
    text: str
    said_by: Participant | None = None
    at: float = 0.0


class OpenQuestion(BaseModel):
    text: str
    asked_by: Participant | None = None
    at: float = 0.0


class FollowUp(BaseModel):
    owner: Participant
    message: str
    items: list[str]


class MeetingNotes(BaseModel):
    title: str
    date: date
    timezone: str
    summary: str
    decisions: list[Decision] = []
    action_items: list[ActionItem] = []
    open_questions: list[OpenQuestion] = []
    follow_ups: list[FollowUp] = []
    writer: Literal["offline", "llm"] = "offline"

    def to_markdown(self) -> str:
        out = [
            f"# {self.title} — {self.date.isoformat()}",
            "",
            "## Summary",
            "",
            self.summary or "_Nothing said._",
        ]
        out += ["", "## Decisions", ""]
        out += [f"- {d.text}" + (f" ({d.said_by.name})" if d.said_by else "") for d in self.decisions] or [
            "_None._"
        ]
        out += ["", "## Action items", ""]
        for a in self.action_items:
            owner = a.owner.name if a.owner else "unassigned"
            due = f" — due {a.due.isoformat()} ({a.due_phrase})" if a.due else ""
            out.append(f"- [ ] **{owner}**: {a.text}{due}")
        if not self.action_items:
            out.append("_None._")
        out += ["", "## Open questions", ""]
        out += [
            f"- {q.text}" + (f" ({q.asked_by.name})" if q.asked_by else "") for q in self.open_questions
        ] or ["_None._"]
        if self.follow_ups:
            out += ["", "## Follow-ups", ""]
            for f in self.follow_ups:
                out += [f"### To {f.owner.name}", "", f.message, ""]
        return "\n".join(out).rstrip() + "\n"
