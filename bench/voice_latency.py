"""Caller-side voice latency through the real stack, and where the time goes.

Starts its own private stack (Redis, livekit-server, model server, worker, API), joins a room as
a Python rtc participant, and speaks N turns. For each turn it measures the time from the last
non-silent frame it sent to the first non-silent agent frame it received, and collects the agent's
own per-stage metrics (end-of-utterance delay, STT, LLM time to first token, TTS time to first
byte). As a baseline in the same run it times the model server alone on the same audio (STT, then
LLM first token, then TTS first byte, one after another): the floor the models set, without
LiveKit, VAD or turn detection; and the room alone (one participant speaks, another hears it, no
agent): the floor WebRTC on loopback sets. It also reads the RSS/PSS of the worker's job processes and the
model server.

    .venv/bin/python bench/voice_latency.py [--quick] [--turns N]

Last line: one JSON object with p50_ms, p95_ms, turns, job_rss_mb and the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
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
from auralink.testing.stack import private_stack_settings  # noqa: E402

WAVS = [REPO / "tests/fixtures/capital_of_france.wav", REPO / "tests/fixtures/ocean_fact.wav"]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _mem_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MB of one process."""
    rss = pss = 0.0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) / 1024
    except OSError:
        pass
    return rss, pss


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def _tree(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def _job_processes(worker: int | None) -> list[int]:
    """The worker's job processes: the children of its multiprocessing forkserver."""
    if not worker:
        return []
    servers = [p for p in _children(worker) if "forkserver" in _cmd(p)]
    return [c for srv in servers for c in _children(srv)]


def _cmd(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


async def _baseline(models_url: str, wav: Path, runs: int) -> list[float]:
    """Model server alone: STT of the question, then LLM to first token, then TTS to first byte."""
    import openai

    client = openai.AsyncOpenAI(base_url=models_url, api_key="local")
    audio = await asyncio.to_thread(wav.read_bytes)
    out: list[float] = []
    try:
        for _ in range(runs):
            t0 = time.perf_counter()
            tr = await client.audio.transcriptions.create(model="whisper-tiny.en", file=("q.wav", audio))
            stream = await client.chat.completions.create(
                model="smollm2-135m-instruct",
                messages=[
                    {
                        "role": "system",
                        "content": "You are Aura, a friendly voice assistant. Answer in one short sentence.",
                    },
                    {"role": "user", "content": tr.text},
                ],
                stream=True,
                max_tokens=60,
            )
            first = ""
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    first += chunk.choices[0].delta.content
                    if any(p in first for p in ".!?") or len(first) > 40:
                        break
            await stream.close()
            async with client.audio.speech.with_streaming_response.create(
                model="piper", voice="en_US-joe-medium", input=first or "Paris.", response_format="pcm"
            ) as resp:
                async for _ in resp.iter_bytes(1024):
                    break
            out.append((time.perf_counter() - t0) * 1000)
    finally:
        await client.close()
    return out


async def _transport_floor(settings: Any, runs: int) -> list[float]:
    """Room audio alone: one participant speaks, another hears it (no agent): the WebRTC floor."""
    from livekit import api

    secret = settings.livekit_api_secret.get_secret_value()

    def token(identity: str) -> str:
        grants = api.VideoGrants(room_join=True, room="transport-floor")
        return (
            api.AccessToken(settings.livekit_api_key, secret)
            .with_identity(identity)
            .with_grants(grants)
            .to_jwt()
        )

    out: list[float] = []
    wav = read_wav_16k(WAVS[0])
    async with (
        VoiceClient(url=settings.livekit_url, token=token("speaker")) as speaker,
        VoiceClient(url=settings.livekit_url, token=token("listener")) as listener,
    ):
        await asyncio.sleep(1.0)  # both subscribed
        for _ in range(runs):
            await speaker.say(wav)
            heard = await listener.wait_for_audio(after=speaker.first_speech_sent_at, timeout=10)
            out.append((heard - speaker.first_speech_sent_at) * 1000)
            await asyncio.sleep(0.5)
    return out


async def run(turns: int, baseline_runs: int) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="auralink-bench-"))
    settings = private_stack_settings(data_dir, agents_file=REPO / "agents.yaml", idle_processes=1)
    stack = Stack(
        settings, run_dir=data_dir / "run", on_event=lambda line: print("  " + line, file=sys.stderr)
    )
    print(f"starting the stack in {data_dir} …", file=sys.stderr)
    t_start = time.monotonic()
    stack.start()
    print(f"stack healthy in {time.monotonic() - t_start:.1f} s", file=sys.stderr)
    s = stack.settings
    try:
        async with httpx.AsyncClient(base_url=f"http://{s.api_host}:{s.api_port}") as http:
            r = await http.post("/v1/dev/sessions", json={"agent": "assistant"})
            r.raise_for_status()
            sess = r.json()
        latencies: list[float] = []
        job_mem: list[tuple[float, float]] = []
        async with VoiceClient(url=sess["url"], token=sess["token"]) as client:
            await client.wait_for_audio(after=0, timeout=120)
            await client.wait_until_quiet(quiet_for=0.8, timeout=60)
            for i in range(turns):
                end = await client.say(read_wav_16k(WAVS[i % len(WAVS)]))
                first = await client.wait_for_audio(after=end, timeout=90)
                latencies.append((first - end) * 1000)
                print(f"turn {i + 1}/{turns}: {latencies[-1]:.0f} ms", file=sys.stderr)
                job_mem += [_mem_mb(pid) for pid in _job_processes(stack.pid("worker"))]
                await client.wait_until_quiet(quiet_for=0.8, timeout=90)
            metrics = list(client.metrics)
        worker_pid, models_pid = stack.pid("worker"), stack.pid("models")
        worker_rss = _mem_mb(worker_pid)[0] if worker_pid else float("nan")
        models_tree = _tree(models_pid) if models_pid else []
        models_rss = sum(_mem_mb(p)[0] for p in models_tree)
        base = await _baseline(s.models_base_url, WAVS[0], baseline_runs)
        floor = await _transport_floor(s, baseline_runs)
    finally:
        stack.stop()

    def med(role: str, key: str) -> float:
        vals = [
            m["metrics"][key] * 1000
            for m in metrics
            if m.get("type") == "turn" and m.get("role") == role and key in m["metrics"]
        ]
        return round(statistics.median(vals), 1) if vals else float("nan")

    p50 = pct(latencies, 0.5)
    result = {
        "turns": len(latencies),
        "p50_ms": round(p50, 1),
        "p95_ms": round(pct(latencies, 0.95), 1),
        "min_ms": round(min(latencies), 1),
        "max_ms": round(max(latencies), 1),
        "end_of_turn_delay_ms": med("user", "end_of_turn_delay"),
        "transcription_delay_ms": med("user", "transcription_delay"),
        "llm_ttft_ms": med("assistant", "llm_node_ttft"),
        "llm_first_sentence_ms": med("assistant", "llm_node_ttfs"),
        "tts_ttfb_ms": med("assistant", "tts_node_ttfb"),
        "agent_playback_latency_ms": med("assistant", "playback_latency"),
        "agent_e2e_latency_ms": med("assistant", "e2e_latency"),
        "baseline_models_only_p50_ms": round(pct(base, 0.5), 1),
        "baseline_room_transport_p50_ms": round(pct(floor, 0.5), 1),
        "ratio_p50_vs_models_only": round(p50 / pct(base, 0.5), 2) if base else None,
        "job_rss_mb": round(max((m[0] for m in job_mem), default=float("nan")), 1),
        "job_pss_mb": round(max((m[1] for m in job_mem), default=float("nan")), 1),
        "worker_main_rss_mb": round(worker_rss, 1),
        "models_rss_mb": round(models_rss, 1),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "_turn_reports": metrics,
    }
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 turns, 2 baseline runs")
    ap.add_argument("--turns", type=int, default=10)
    ap.add_argument("--dump-turns", action="store_true", help="print every turn report to stderr")
    args = ap.parse_args()
    turns = 3 if args.quick else args.turns
    result = asyncio.run(run(turns, 2 if args.quick else 5))
    if args.dump_turns:
        print(json.dumps(result.pop("_turn_reports")), file=sys.stderr)
    else:
        result.pop("_turn_reports")
    for k, v in result.items():
        print(f"{k:28} {v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
