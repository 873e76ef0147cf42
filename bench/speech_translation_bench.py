"""What a line from a speaker of another language costs: multilingual Whisper over HTTP.

    .venv/bin/python bench/speech_translation_bench.py [--quick]

Starts ``auralink models serve --only stt`` (whisper-tiny.en and whisper-base) on a free port, then
times, one request at a time on an otherwise idle server:

- ``baseline``: whisper-tiny.en transcribing an English line (tests/fixtures/capital_of_france.wav),
  what every English speaker's line costs today;
- ``transcribe``: whisper-base transcribing a Spanish line (tests/fixtures/es_capital_of_france.wav)
  with ``language=es``, the original caption of a Spanish speaker;
- ``translate``: whisper-base's speech translation of the same line to English
  (``/v1/audio/translations``), the English caption;
- ``line``: both requests sent together, as the meeting transcriber sends them for one utterance of
  a language the caption translator has no route to English from: the time until both answered.
  (A language it has a route from, like Spanish offline, costs ``transcribe`` alone.)

Prints p50/p95 per figure and the ratios of ``transcribe`` and ``line`` to ``baseline``, then one
JSON object on the last line with ``speech_translate_p50_ms``, ``speech_translate_p95_ms``,
``multilingual_line_p50_ms``, ``multilingual_line_p95_ms``, ``baseline_p50_ms``,
``transcribe_over_baseline_p50`` and ``line_over_baseline_p50``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: int) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[q - 1]


async def _ready(http: httpx.AsyncClient, proc: subprocess.Popen[bytes], timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"the model server exited with code {proc.returncode}")
        try:
            if (await http.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("the model server did not become ready")


async def _request(http: httpx.AsyncClient, path: str, audio: bytes, **fields: str) -> str:
    r = await http.post(path, data=fields, files={"file": ("line.wav", audio, "audio/wav")})
    r.raise_for_status()
    return str(r.json()["text"])


async def _timed(n: int, call: Callable[[], Awaitable[str]]) -> tuple[list[float], str]:
    times: list[float] = []
    text = ""
    for _ in range(n):
        t0 = time.perf_counter()
        text = await call()
        times.append((time.perf_counter() - t0) * 1000)
    return times, text


async def run(n: int, port: int) -> dict[str, object]:
    english = (FIXTURES / "capital_of_france.wav").read_bytes()
    spanish = (FIXTURES / "es_capital_of_france.wav").read_bytes()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/v1", timeout=120) as http:

        async def baseline() -> str:
            return await _request(http, "/audio/transcriptions", english, model="whisper-tiny.en")

        async def transcribe() -> str:
            return await _request(http, "/audio/transcriptions", spanish, model="whisper-base", language="es")

        async def translate() -> str:
            return await _request(http, "/audio/translations", spanish, model="whisper-base", language="es")

        async def line() -> str:
            original, english_text = await asyncio.gather(transcribe(), translate())
            return f"{original} | {english_text}"

        for warm in (baseline, transcribe, translate):  # one warm-up each, not counted
            await warm()
        figures: dict[str, list[float]] = {}
        for name, call in (
            ("baseline", baseline),
            ("transcribe", transcribe),
            ("translate", translate),
            ("line", line),
        ):
            figures[name], text = await _timed(n, call)
            print(f"  {name:<11} → {text.strip()!r}")
    print(f"\n{'figure':<12}{'p50 ms':>10}{'p95 ms':>10}   (n={n})")
    for name, values in figures.items():
        print(f"{name:<12}{_pct(values, 50):>10.0f}{_pct(values, 95):>10.0f}")
    ratio = _pct(figures["line"], 50) / _pct(figures["baseline"], 50)
    alone = _pct(figures["transcribe"], 50) / _pct(figures["baseline"], 50)
    print(
        f"at p50 a line of another language costs {alone:.2f}× an English one with a text route to "
        f"English, {ratio:.2f}× with Whisper's English"
    )
    return {
        "speech_translate_p50_ms": round(_pct(figures["translate"], 50), 1),
        "speech_translate_p95_ms": round(_pct(figures["translate"], 95), 1),
        "multilingual_transcribe_p50_ms": round(_pct(figures["transcribe"], 50), 1),
        "multilingual_line_p50_ms": round(_pct(figures["line"], 50), 1),
        "multilingual_line_p95_ms": round(_pct(figures["line"], 95), 1),
        "baseline_p50_ms": round(_pct(figures["baseline"], 50), 1),
        "transcribe_over_baseline_p50": round(alone, 2),
        "line_over_baseline_p50": round(ratio, 2),
        "runs": n,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 runs per figure instead of 20")
    args = ap.parse_args()
    n = 5 if args.quick else 20
    port = _free_port()
    env = {
        **os.environ,
        "AURALINK_MODELS_PORT": str(port),
        "AURALINK_PIPER_PORT": str(_free_port()),
        "AURALINK_MODELS_STT": "whisper-tiny.en,whisper-base",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "auralink", "models", "serve", "--only", "stt"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    async def go() -> dict[str, object]:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            await _ready(http, proc)
        return await run(n, port)

    try:
        result = asyncio.run(go())
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    result.update(
        {"machine": f"{platform.machine()} {os.cpu_count()} cpu", "date": dt.date.today().isoformat()}
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
