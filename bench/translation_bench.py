"""Offline caption translation latency: apertium en→es per line, streaming vs one run per line.

Translates ~100 meeting-like English lines (varied, none repeated, so no cache helps) into Spanish
with :class:`~auralink.agents.meeting.translation.ApertiumTranslator`:

- ``streaming``: one long-lived null-flush pipeline per mode (the default), warmed first;
- ``one-shot``: one ``apertium -u eng-spa`` process per line (the fallback);
- ``pivot``: gl→es through English on the streaming pipelines (two modes per line);
- ``captions``: the same lines through :class:`CaptionTranslator` into es, ca and gl at once, timing
  from a line's publication to its last translation.

Lines are sent one after another (a caption stream), so each figure is one line's latency. The last
line printed is one JSON object with ``apertium_p50_ms``, ``apertium_p95_ms`` and ``lines`` (the
default mode) among others.

    .venv/bin/python bench/translation_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from auralink.agents.meeting.translation import (  # noqa: E402
    ApertiumTranslator,
    Caption,
    CaptionTranslator,
)

SUBJECTS = ["the report", "the budget", "the release notes", "the new design", "the contract", "the slides"]
VERBS = ["send", "review", "update", "finish", "check", "share"]
WHEN = ["by Friday", "tomorrow", "next week", "before the meeting", "this afternoon", "on Monday"]
EXTRA = [
    "Can you",
    "I think we should",
    "Please",
    "We need to",
    "I will",
    "Let's",
]


def meeting_lines(n: int) -> list[str]:
    out = []
    for i in range(n):
        a, b, c, d = EXTRA[i % 6], VERBS[(i // 6) % 6], SUBJECTS[(i // 36 + i) % 6], WHEN[(i * 5) % 6]
        out.append(f"{a} {b} {c} {d}, there are {i + 2} open points.")
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def timed(t: ApertiumTranslator, lines: list[str], source: str, target: str) -> list[float]:
    out = []
    for text in lines:
        started = time.perf_counter()
        await t.translate(text, source=source, target=target)
        out.append((time.perf_counter() - started) * 1000)
    return out


async def captions_latency(lines: list[str]) -> list[float]:
    captions = CaptionTranslator(await ApertiumTranslator.start(), max_concurrency=3)
    done: dict[str, float] = {}

    async def emit(c: Caption) -> None:
        if not c.original:
            done[c.line_id] = time.perf_counter()

    out = []
    try:
        for lang in ("es", "ca", "gl"):
            await captions.translator.translate("Hello.", source="en", target=lang)
        for i, text in enumerate(lines):
            started = time.perf_counter()
            await captions.publish(
                line_id=str(i), speaker="u", text=text, source="en", languages=["es", "ca", "gl"], emit=emit
            )
            await captions.drain()
            out.append((done[str(i)] - started) * 1000)
    finally:
        await captions.aclose()
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="30 lines instead of 100")
    args = parser.parse_args()
    n = 30 if args.quick else 100
    lines = meeting_lines(n)
    gl_lines = [f"O informe número {i} está listo e a reunión é o luns." for i in range(n)]

    streaming = await ApertiumTranslator.start(streaming=True)
    try:
        cold_started = time.perf_counter()
        await streaming.warm("en", "es")
        cold_ms = (time.perf_counter() - cold_started) * 1000
        stream_ms = await timed(streaming, lines, "en", "es")
        await streaming.warm("gl", "es")
        pivot_ms = await timed(streaming, gl_lines, "gl", "es")
    finally:
        await streaming.aclose()
    oneshot = await ApertiumTranslator.start(streaming=False)
    oneshot_ms = await timed(oneshot, lines[: max(30, n // 2)], "en", "es")
    caption_ms = await captions_latency(lines[:30])

    result = {
        "bench": "translation",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "lines": n,
        "apertium_p50_ms": round(pct(stream_ms, 50), 2),
        "apertium_p95_ms": round(pct(stream_ms, 95), 2),
        "apertium_cold_start_ms": round(cold_ms, 1),
        "apertium_oneshot_p50_ms": round(pct(oneshot_ms, 50), 1),
        "apertium_oneshot_p95_ms": round(pct(oneshot_ms, 95), 1),
        "apertium_pivot_gl_es_p50_ms": round(pct(pivot_ms, 50), 2),
        "apertium_pivot_gl_es_p95_ms": round(pct(pivot_ms, 95), 2),
        "captions_3_languages_p50_ms": round(pct(caption_ms, 50), 2),
        "captions_3_languages_p95_ms": round(pct(caption_ms, 95), 2),
    }
    print(
        f"apertium en→es streaming: p50 {result['apertium_p50_ms']} ms, p95 {result['apertium_p95_ms']} ms; "
        f"one process per line: p50 {result['apertium_oneshot_p50_ms']} ms"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
