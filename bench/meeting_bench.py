"""Meeting captions: delay from the end of speech to the final caption, with 1, 3 and 6 people
speaking at once, and the CPU each speaker costs.

    .venv/bin/python bench/meeting_bench.py [--quick] [--rounds N]

Starts a private stack (Redis, livekit-server, model server, worker, API), creates a room with the
`notetaker` agent (per-speaker transcription on), joins a listener that publishes nothing, and for
each group size k in (1, 3, 6) joins k speakers (LiveKit participants publishing spoken WAVs).
Each round, all k speak at the same moment; a speaker's caption delay is the time from the last
frame of its speech sent to the arrival, at the listener, of its final caption (the caption
attributed to that speaker through ``lk.transcribed_track_id``). CPU: the worker's and the model
server's process trees, over the rounds of one group size, per speaker (in cores; 1.0 = a whole
core). As a baseline in the same run, the model server's transcription alone on the same WAV
(one request, no LiveKit, no VAD) sets the floor.

The last line is one JSON object: caption_p95_ms_1, caption_p95_ms_3, caption_p95_ms_6 and the
rest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from auralink.cli.stack import Stack  # noqa: E402
from auralink.testing import VoiceClient, read_wav_16k  # noqa: E402
from auralink.testing.caption_listener import CaptionListener  # noqa: E402
from auralink.testing.stack import private_stack_settings  # noqa: E402

FIXTURES = REPO / "tests/fixtures"
WAVS = ["capital_of_france.wav", "ocean_fact.wav", "budget_thursday.wav"]
PASSWORD = "bench password 0123"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _r(x: float) -> float | None:
    return None if x != x else round(x, 1)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def _cpu_tree(pid: int | None) -> float:
    """CPU seconds (user + system) of a process and its descendants, now."""
    if not pid:
        return 0.0
    todo, total = [pid], 0.0
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        todo += _children(p)
    return total


async def _token(http: httpx.AsyncClient, room: str, identity: str, *, publish: bool = True) -> str:
    body = {"identity": identity, "name": identity.title(), "can_publish": publish}
    r = await http.post(f"/v1/rooms/{room}/tokens", json=body)
    r.raise_for_status()
    token: str = r.json()["token"]
    return token


async def _baseline(models_url: str, runs: int) -> list[float]:
    """The model server's transcription alone (one request per WAV): the floor for a caption."""
    out: list[float] = []
    async with httpx.AsyncClient(base_url=models_url, timeout=60) as http:
        for i in range(runs):
            audio = (FIXTURES / WAVS[i % len(WAVS)]).read_bytes()
            t0 = time.perf_counter()
            r = await http.post(
                "/audio/transcriptions", data={"model": "whisper-tiny.en"}, files={"file": ("q.wav", audio)}
            )
            r.raise_for_status()
            out.append((time.perf_counter() - t0) * 1000)
    return out


async def _group(
    http: httpx.AsyncClient, settings: Any, k: int, rounds: int, stack: Stack
) -> tuple[list[float], float, int]:
    """Delays (ms) of every speaker's caption over ``rounds``, CPU cores per speaker, and misses."""
    r = await http.post("/v1/rooms", json={"agents": ["notetaker"], "empty_timeout": 30})
    r.raise_for_status()
    room = r.json()["name"]
    listener = CaptionListener()
    await listener.join(settings.livekit_url, await _token(http, room, "listener", publish=False))
    speakers: list[VoiceClient] = []
    delays: list[float] = []
    missed = 0
    try:
        for i in range(k):
            token = await _token(http, room, f"speaker{i}")
            # speakers only speak: decoding each other's audio in this one process would make the
            # bench, not the platform, the bottleneck at 6 speakers
            client = VoiceClient(url=settings.livekit_url, token=token, listen=False)
            speakers.append(await client.__aenter__())
        await asyncio.sleep(4.0)  # the note-taker joins and subscribes to every microphone
        cpu0, t0 = _cpu_tree(stack.pid("worker")) + _cpu_tree(stack.pid("models")), time.monotonic()
        for n in range(rounds):
            audio = [read_wav_16k(FIXTURES / WAVS[(i + n) % len(WAVS)]) for i in range(k)]
            seen_before = len(listener.finals())
            ends = await asyncio.gather(*(c.say(a) for c, a in zip(speakers, audio, strict=True)))
            deadline = time.monotonic() + 60
            want = {c.local_identity: end for c, end in zip(speakers, ends, strict=True)}
            got: dict[str, float] = {}
            while time.monotonic() < deadline and len(got) < k:
                for caption in listener.finals()[seen_before:]:
                    if (
                        caption.speaker in want
                        and caption.speaker not in got
                        and caption.at > want[caption.speaker]
                    ):
                        got[caption.speaker] = caption.at
                await asyncio.sleep(0.02)
            delays += [(got[who] - end) * 1000 for who, end in want.items() if who in got]
            missed += k - len(got)
            log(
                f"  {k} speaker(s), round {n + 1}/{rounds}: "
                + ", ".join(f"{(got[w] - e) * 1000:.0f}" for w, e in want.items() if w in got)
                + " ms"
            )
            await asyncio.sleep(1.5)  # the last lines settle before the next round
        elapsed = time.monotonic() - t0
        cpu = (_cpu_tree(stack.pid("worker")) + _cpu_tree(stack.pid("models")) - cpu0) / elapsed / k
    finally:
        for client in speakers:
            await client.aclose()
        await listener.aclose()
    return delays, cpu, missed


async def run(rounds: dict[int, int]) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="auralink-meeting-bench-"))
    settings = private_stack_settings(data, agents_file=REPO / "agents.yaml", idle_processes=1)
    stack = Stack(settings, run_dir=data / "run", on_event=lambda line: log("  " + line))
    log(f"starting the stack in {data} …")
    stack.start()
    s = stack.settings
    result: dict[str, Any] = {}
    try:
        async with httpx.AsyncClient(base_url=f"http://{s.api_host}:{s.api_port}", timeout=30) as http:
            email = f"bench-{secrets.token_hex(4)}@meeting.bench"
            owner = {"email": email, "name": "Bench", "password": PASSWORD}
            (
                await http.post("/v1/organisations", json={"name": "Meeting bench", "owner": owner})
            ).raise_for_status()
            (
                await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
            ).raise_for_status()
            base = await _baseline(s.models_base_url, 5)
            for k, n in rounds.items():
                delays, cpu, missed = await _group(http, s, k, n, stack)
                result[f"caption_p50_ms_{k}"] = _r(pct(delays, 0.5))
                result[f"caption_p95_ms_{k}"] = _r(pct(delays, 0.95))
                result[f"captions_{k}"] = len(delays)
                result[f"captions_missed_{k}"] = missed
                result[f"cpu_cores_per_speaker_{k}"] = round(cpu, 3)
    finally:
        stack.stop()
    result["baseline_stt_only_p50_ms"] = _r(pct(base, 0.5))
    result["machine"] = f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}"
    result["date"] = time.strftime("%Y-%m-%d")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 rounds per group size")
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    n = 2 if args.quick else args.rounds
    result = asyncio.run(run({1: n, 3: n, 6: max(2, n // 2)}))
    for key, value in result.items():
        print(f"{key:28} {value}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
