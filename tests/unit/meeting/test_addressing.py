"""Addressing and floor control: in a group the agent answers only when spoken to, and never talks
over a human."""

from __future__ import annotations

import pytest

from auralink.agents.meeting.addressing import AddressDetector, FloorControl, phonetic_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def detector(clock: Clock | None = None) -> AddressDetector:
    return AddressDetector(
        name="Aura",
        aliases=["assistant"],
        wake_phrases=["hey aura", "ok aura"],
        continuation_s=10.0,
        clock=clock or Clock(),
    )


@pytest.mark.parametrize(
    "text",
    [
        "Aura, what's on the agenda?",
        "aura what's on the agenda",  # no punctuation from STT
        "Hey Aura, summarise the last ten minutes.",
        "hey ora summarise the last ten minutes",  # STT misheard the name
        "Ora, can you take notes?",
        "Okay Aura, what did Ben say about the budget?",
        "What do you think, Aura?",
        "Can you check the numbers Aura",
        "Thanks Aura.",
        "thank you aura",
        "Can you, Aura, read the action items back?",
        "Assistant, start the timer.",
        "Hey Awra what time is it",
    ],
)
def test_turns_that_call_the_agent_are_addressed(text: str) -> None:
    decision = detector().decide(text, speaker="u-ana")
    assert decision.addressed, (text, decision)


@pytest.mark.parametrize(
    "text",
    [
        "Aura said earlier that the budget was fine.",
        "I think Aura is right about the dates.",
        "Let's ask Aura later.",
        "Laura, can you share your screen?",  # another person, one letter away
        "Aurora borealis is on my holiday list.",
        "What time is the demo tomorrow?",
        "Ben, what do you think?",
        "The aura of that room was strange, what Aura said was funny.",
        "",
    ],
)
def test_turns_about_the_agent_or_to_others_are_not_addressed(text: str) -> None:
    decision = detector().decide(text, speaker="u-ana")
    assert not decision.addressed, (text, decision)


def test_third_person_mentions_say_why() -> None:
    assert detector().decide("Aura said earlier we agreed", speaker="u-ana").reason == "third_person"


def test_one_to_one_calls_and_chat_messages_to_the_agent_always_count() -> None:
    d = detector()
    assert d.decide("what time is it", speaker="u-ana", group=False).reason == "one_to_one"
    assert d.decide("what time is it", speaker="u-ana", chat_to_agent=True).reason == "chat"


def test_a_follow_up_question_from_the_same_person_soon_after_the_reply_counts() -> None:
    clock = Clock()
    d = detector(clock)
    assert d.decide("Aura, when is the launch?", speaker="u-ana").addressed
    d.agent_replied(to="u-ana")
    clock.now += 4
    follow = d.decide("And who owns the release notes?", speaker="u-ana")
    assert (follow.addressed, follow.reason) == (True, "continuation")
    assert d.decide("what about the budget", speaker="u-ana").addressed  # no punctuation from STT
    # not a question, another speaker, another person's name: not for the agent
    assert not d.decide("Great, that works for me.", speaker="u-ana").addressed
    assert not d.decide("And who owns the release notes?", speaker="u-ben").addressed
    assert not d.decide("Ben, can you own them?", speaker="u-ana", other_names=["Ben Ross", "Ana"]).addressed
    clock.now += 11  # the window closed
    assert not d.decide("And who owns the release notes?", speaker="u-ana").addressed


def test_phonetic_keys_merge_sound_alikes_only() -> None:
    assert phonetic_key("Aura") == phonetic_key("Ora") == phonetic_key("Awra")
    assert phonetic_key("Laura") != phonetic_key("Aura")


def test_the_agent_waits_for_a_quiet_gap_before_speaking() -> None:
    clock = Clock()
    floor = FloorControl(quiet_s=0.6, clock=clock)
    assert floor.may_speak()  # nobody has spoken yet
    floor.human_started("u-ana")
    floor.human_started("u-ben")
    assert floor.wait_s() is None and not floor.may_speak()
    assert floor.humans_speaking == {"u-ana", "u-ben"}
    clock.now += 2
    floor.human_stopped("u-ana")
    assert not floor.may_speak()  # Ben still talks
    floor.human_stopped("u-ben")
    clock.now += 0.2
    assert floor.wait_s() == pytest.approx(0.4)
    clock.now += 0.5
    assert floor.may_speak()


def test_in_a_group_the_agent_yields_to_a_human_who_keeps_talking() -> None:
    clock = Clock()
    floor = FloorControl(quiet_s=0.6, yield_after_s=0.3, clock=clock)
    floor.agent_started()
    floor.human_started("u-ana")
    assert not floor.should_yield()  # a short "mm-hm" is not a takeover
    clock.now += 0.1
    floor.human_stopped("u-ana")
    assert not floor.should_yield()
    floor.human_started("u-ben")
    clock.now += 0.4
    assert floor.should_yield()
    floor.agent_stopped()
    assert not floor.should_yield()


def test_one_to_one_leaves_barge_in_to_the_voice_pipeline() -> None:
    clock = Clock()
    floor = FloorControl(group=False, clock=clock)
    floor.agent_started()
    floor.human_started("u-ana")
    clock.now += 2
    assert not floor.should_yield()


def test_a_participant_who_leaves_mid_sentence_frees_the_floor() -> None:
    clock = Clock()
    floor = FloorControl(quiet_s=0.5, clock=clock)
    floor.human_started("u-ana")
    floor.participant_left("u-ana")
    clock.now += 0.5
    assert floor.may_speak()


def test_a_name_of_several_words_must_be_said_whole() -> None:
    d = AddressDetector(name="note taker", aliases=["scribe"])
    assert d.decide("Note taker, what did we decide about the budget?", speaker="u-ana").addressed
    assert d.decide("thanks note taker", speaker="u-ana").addressed
    assert d.decide("Scribe, read that back.", speaker="u-ana").addressed
    assert not d.decide("Note, the budget is due on Friday.", speaker="u-ana").addressed
    assert not d.decide("Please take note of this.", speaker="u-ana").addressed
    assert not d.decide("The note taker said we agreed.", speaker="u-ana").addressed
