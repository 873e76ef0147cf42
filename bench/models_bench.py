"""Latency of the embedded model server, measured over HTTP as an agent sees it.

    .venv/bin/python bench/models_bench.py [--quick] [--threads N]

Starts ``auralink models serve`` on free ports, waits for ``/health``, then measures one endpoint
at a time (never concurrently, so the figures are per-request on an otherwise idle server):

- LLM: time to first token and tokens/s of a streamed chat completion (64 tokens at most);
- STT: latency of transcribing a ~2 s utterance (tests/fixtures/capital_of_france.wav);
- TTS: time to the first byte of 24 kHz PCM for one sentence;
- embeddings: latency of embedding one sentence.

Prints p50/p95 per figure, then one JSON object on the last line. The server is stopped at the
end (SIGTERM, which also stops its Piper child).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
LLM = "smollm2-135m-instruct"
SYSTEM = "You are Aura, a friendly voice assistant. Answer in one or two short sentences."
QUESTIONS = [
    "What is the capital of France?",
    "How many legs does a spider have?",
    "What colour is the sky on a clear day?",
    "Name a fruit that is yellow.",
    "What do bees make?",
    "Which planet is closest to the sun?",
]
SENTENCES = [
    "Hello, I am Aura. How can I help you today?",
    "The capital of France is Paris.",
    "Your table for two is booked for eight o'clock.",
    "I did not catch that, could you say it again?",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]


def _wait_ready(http: httpx.Client, proc: subprocess.Popen[bytes], timeout: float = 180) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"the model server exited with code {proc.returncode}")
        try:
            r = http.get("/health")
            if r.status_code == 200:
                return dict(r.json())
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the model server did not become ready")


def bench_llm(http: httpx.Client, n: int) -> tuple[list[float], list[float]]:
    ttft, tps = [], []
    for i in range(n):
        body = {
            "model": LLM,
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]},
            ],
            "max_tokens": 64,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        start = time.perf_counter()
        first = last = None
        tokens = 0
        with http.stream("POST", "/v1/chat/completions", json=body) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
                if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                    now = time.perf_counter()
                    first = first or now
                    last = now
        if first is None or last is None:
            continue
        ttft.append((first - start) * 1000)
        if tokens > 1 and last > first:
            tps.append((tokens - 1) / (last - first))
    return ttft, tps


def bench_stt(http: httpx.Client, n: int, audio: bytes) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        r = http.post(
            "/v1/audio/transcriptions",
            data={"model": "whisper-tiny.en"},
            files={"file": ("utterance.wav", audio, "audio/wav")},
        )
        r.raise_for_status()
        out.append((time.perf_counter() - start) * 1000)
    return out


def bench_tts(http: httpx.Client, n: int) -> list[float]:
    out = []
    for i in range(n):
        body = {
            "model": "piper",
            "voice": "en_US-joe-medium",
            "input": SENTENCES[i % len(SENTENCES)],
            "response_format": "pcm",
        }
        start = time.perf_counter()
        with http.stream("POST", "/v1/audio/speech", json=body) as r:
            r.raise_for_status()
            first = None
            for _ in r.iter_raw():
                first = first or time.perf_counter()
            assert first is not None, "no audio"
            out.append((first - start) * 1000)
    return out


def bench_embeddings(http: httpx.Client, n: int) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        r = http.post(
            "/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": SENTENCES[i % len(SENTENCES)]}
        )
        r.raise_for_status()
        out.append((time.perf_counter() - start) * 1000)
    return out


def _utterance(http: httpx.Client) -> bytes:
    fixture = REPO / "tests" / "fixtures" / "capital_of_france.wav"
    if fixture.is_file():
        return fixture.read_bytes()
    r = http.post(
        "/v1/audio/speech", json={"model": "piper", "input": QUESTIONS[0], "response_format": "wav"}
    )
    r.raise_for_status()
    return r.content


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 runs per endpoint instead of 20")
    ap.add_argument("--threads", type=int, help="AURALINK_MODELS_THREADS for the server (default: settings)")
    args = ap.parse_args()
    n = 5 if args.quick else 20

    port, piper_port = _free_port(), _free_port()
    env = {**os.environ, "AURALINK_MODELS_PORT": str(port), "AURALINK_PIPER_PORT": str(piper_port)}
    if args.threads:
        env["AURALINK_MODELS_THREADS"] = str(args.threads)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "auralink", "models", "serve"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    result: dict[str, object] = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            health = _wait_ready(http, proc)
            ready_s = time.perf_counter() - t0
            print(
                f"server ready in {ready_s:.1f}s (process start included); RSS {health['rss_mb']} MiB, "
                f"piper RSS {health['piper']['rss_mb'] if health.get('piper') else '-'} MiB"
            )
            for m in health["models"]:
                print(
                    f"  {m['kind']:<10} {m['id']:<24} load {m['load_seconds']}s  RSS +{m['rss_delta_mb']} MiB"
                )

            audio = _utterance(http)
            # one warm-up request per endpoint, not counted
            bench_llm(http, 1), bench_stt(http, 1, audio), bench_tts(http, 1), bench_embeddings(http, 1)

            ttft, tps = bench_llm(http, n)
            stt = bench_stt(http, n, audio)
            tts = bench_tts(http, n)
            emb = bench_embeddings(http, n)

        figures = {
            "llm_ttft_ms": ttft,
            "llm_tokens_per_s": tps,
            "stt_latency_ms": stt,
            "tts_ttfb_ms": tts,
            "embedding_latency_ms": emb,
        }
        print(f"\n{'figure':<22}{'p50':>10}{'p95':>10}   (n={n})")
        for name, values in figures.items():
            p50, p95 = _pct(values, 50), _pct(values, 95)
            print(f"{name:<22}{p50:>10.1f}{p95:>10.1f}")
            result[f"{name}_p50"] = round(p50, 1)
            result[f"{name}_p95"] = round(p95, 1)
        result.update(
            {
                "runs": n,
                "server_ready_s": round(ready_s, 2),
                "rss_mb": health["rss_mb"],
                "piper_rss_mb": health["piper"]["rss_mb"] if health.get("piper") else None,
                "load_seconds": {m["id"]: m["load_seconds"] for m in health["models"]},
                "machine": f"{platform.machine()} {os.cpu_count()} cpu",
                "date": dt.date.today().isoformat(),
            }
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
