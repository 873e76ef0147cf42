"""Moderation: latency of :meth:`Moderator.check` per line, the stage that runs before the LLM.

    .venv/bin/python bench/moderation_bench.py [--quick]

Builds a deterministic corpus of meeting lines (ordinary talk, lines with card numbers, emails and
phone numbers, dates and order numbers that must pass, insults and profanity) and checks each line
one at a time, as the worker does on every turn:

- ``default``: :meth:`ModerationPolicy.default` (PII redaction + offline toxicity);
- ``full``: every rule kind (PII incl. IBAN, a 50-word block list, two regexes, toxicity);
- ``batch``: :meth:`OfflineToxicity.score` on the whole corpus in one call, per line.

The model load (``warm``) is timed separately and excluded from the per-line figures. The LLM
classifier is not measured: its latency is the endpoint's. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from auralink.agents.meeting.moderation import Moderator, OfflineToxicity  # noqa: E402 - after the path tweak
from auralink.core.moderation import (  # noqa: E402
    BlocklistRule,
    ModerationPolicy,
    PIIRule,
    RegexRule,
)

BENIGN = [
    "Thanks everyone for joining, let's start with the roadmap review.",
    "I think we should move the launch to the second week of {month}.",
    "Can you share the slides after the call?",
    "The numbers for Q{q} look better than we expected, revenue is up {pct} percent.",
    "Let's meet again on {date} at {time}.",
    "Order number {order} shipped yesterday, the customer confirmed.",
    "I disagree, the migration plan has too many risks for this quarter.",
    "Could you take the action item to follow up with legal?",
    "We had {n} tickets last week and closed most of them.",
    "The class on assessment methods starts at {time} in room {room}.",
    "Version {major}.{minor}.{patch} fixed the memory leak on the server.",
    "Sorry, my connection dropped for a second, can you repeat that?",
]
PII = [
    "My card number is {card}, can you charge the deposit?",
    "Send the contract to {email} please.",
    "You can reach me on {phone} after five.",
    "Her email is {email} and her mobile is {phone}.",
    "The refund goes to card {card}.",
]
TOXIC = [
    "You are an idiot and nobody wants to hear you.",
    "Shut up, this is the dumbest shit I have heard all week.",
    "What the fuck is wrong with you people?",
    "Go to hell, you worthless moron.",
]
CARDS = ["4111 1111 1111 1111", "5500-0000-0000-0004", "3782 822463 10005", "4012888888881881"]
EMAILS = ["jane.doe@example.com", "bob at example dot org", "ops+alerts@corp.example.co.uk"]
PHONES = ["+44 20 7946 0958", "(415) 555-2671", "07700 900123", "+33 6 12 34 56 78"]
MONTHS = ["March", "June", "September", "December"]


def corpus(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        pool = BENIGN if i % 10 < 7 else (PII if i % 10 < 9 else TOXIC)
        template = rng.choice(pool)
        lines.append(
            template.format(
                month=rng.choice(MONTHS),
                q=rng.randint(1, 4),
                pct=rng.randint(2, 40),
                date=f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                time=f"{rng.randint(8, 18)}:{rng.choice(['00', '15', '30', '45'])}",
                order=rng.randint(10_000_000, 99_999_999),
                n=rng.randint(10, 400),
                room=rng.randint(100, 999),
                major=rng.randint(1, 9),
                minor=rng.randint(0, 20),
                patch=rng.randint(0, 30),
                card=rng.choice(CARDS),
                email=rng.choice(EMAILS),
                phone=rng.choice(PHONES),
            )
        )
    return lines


def full_policy() -> ModerationPolicy:
    default = ModerationPolicy.default()
    words = [f"codename{i}" for i in range(48)] + ["project falcon", "secret sauce"]
    return ModerationPolicy(
        rules=[
            *default.rules,
            PIIRule(id="pii.iban", entity="iban"),
            BlocklistRule(id="codenames", words=words, actions=["redact", "warn"]),
            RegexRule(id="employee-id", pattern=r"\bEMP-\d{6}\b", actions=["redact"]),
            RegexRule(id="ssn", pattern=r"\b\d{3}-\d{2}-\d{4}\b", actions=["redact", "flag"]),
        ]
    )


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def _timed(moderator: Moderator, lines: list[str]) -> tuple[list[float], int]:
    times: list[float] = []
    matched = 0
    for i, line in enumerate(lines):
        t = time.perf_counter()
        decision = await moderator.check(line, speaker=f"p{i % 5}", source="speech" if i % 3 else "chat")
        times.append((time.perf_counter() - t) * 1000)
        matched += decision.matched
    return times, matched


async def bench(quick: bool) -> dict[str, object]:
    lines = corpus(200 if quick else 600)
    offline = OfflineToxicity()
    t = time.perf_counter()
    await offline.warm()
    warm_ms = (time.perf_counter() - t) * 1000
    print(f"offline classifier load: {warm_ms:.0f} ms")
    result: dict[str, object] = {"warm_ms": round(warm_ms)}
    for name, policy in (("full", full_policy()), ("default", ModerationPolicy.default())):
        moderator = Moderator(policy, offline=offline, salt=b"bench")
        try:
            await _timed(moderator, lines[:20])  # let the thread pool and caches settle
            times, matched = await _timed(moderator, lines)
        finally:
            await moderator.aclose()
        p50, p95, mean = _pct(times, 50), _pct(times, 95), statistics.fmean(times)
        print(
            f"{name}: {len(lines)} lines, {matched} matched, p50 {p50:.2f} ms, p95 {p95:.2f} ms, mean {mean:.2f} ms"
        )
        result[f"{name}_p50_ms"] = round(p50, 2)
        result[f"{name}_p95_ms"] = round(p95, 2)
        result[f"{name}_matched"] = matched
    t = time.perf_counter()
    await offline.score(lines)
    batch_ms = (time.perf_counter() - t) * 1000 / len(lines)
    print(f"batch: offline toxicity for {len(lines)} lines in one call, {batch_ms:.3f} ms a line")
    result["batch_ms_per_line"] = round(batch_ms, 3)
    result["lines"] = len(lines)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 lines instead of 600")
    args = ap.parse_args()
    result = asyncio.run(bench(args.quick))
    result.update(
        {"machine": f"{platform.machine()} {os.cpu_count()} cpu", "date": dt.date.today().isoformat()}
    )
    last = {
        "check_p50_ms": result.pop("default_p50_ms"),
        "check_p95_ms": result.pop("default_p95_ms"),
        "lines": result.pop("lines"),
    }
    print(json.dumps({**result, **last}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
