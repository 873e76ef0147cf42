"""The model server with its real models: OpenAI endpoints as a client sees them.

The app is started once for the module on free ports (in a thread with its own event loop), and
every test talks to it over HTTP, with httpx or with the openai SDK as any client would.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import threading
import time
import warnings
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from aiohttp import web

from auralink.core.settings import Settings
from auralink.models import create_app
from auralink.testing.ports import free_ports

LLM = "smollm2-135m-instruct"
QUESTION = "What is the capital of France?"


class _ServerThread:
    """The model server app on 127.0.0.1:port, in a thread with its own event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.runner: web.AppRunner | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="model-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self._started.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        self.runner = web.AppRunner(create_app(self.settings), access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, self.settings.models_host, self.settings.models_port).start()

    def start(self) -> None:
        self._thread.start()
        assert self._started.wait(30), "the server did not start listening"

    def stop(self) -> None:
        assert self.runner is not None
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def _wait_healthy(base: str, timeout: float = 120.0) -> dict[str, object]:
    with httpx.Client(timeout=5) as client:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                r = client.get(f"{base}/health")
                if r.status_code == 200:
                    return dict(r.json())
                assert r.status_code == 503, r.text
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    raise AssertionError(f"models not ready within {timeout}s")


@dataclass(frozen=True)
class _Server:
    base: str
    first_health: httpx.Response  # the answer to /health right after the server started listening


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Server]:
    models_port, piper_port = free_ports(2)
    settings = Settings(
        models_host="127.0.0.1",
        models_port=models_port,
        piper_port=piper_port,
        data_dir=tmp_path_factory.mktemp("models"),
    )
    thread = _ServerThread(settings)
    thread.start()
    base = f"http://127.0.0.1:{models_port}"
    try:
        first = httpx.get(f"{base}/health", timeout=10)
        _wait_healthy(base)
        yield _Server(base=base, first_health=first)
    finally:
        thread.stop()


@pytest.fixture()
def http(server: _Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base, timeout=60) as client:
        yield client


@pytest.fixture()
def oai(server: _Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{server.base}/v1", api_key="unused", max_retries=0, timeout=60) as client:
        yield client


def _pcm_stats(pcm: bytes) -> tuple[float, float]:
    """(seconds at 24 kHz, RMS) of 16-bit mono PCM."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return len(samples) / 24000, math.sqrt(float(np.mean(samples**2))) if len(samples) else 0.0


# ---------------------------------------------------------------- health and listing
def test_health_answers_503_while_the_models_load(server: _Server) -> None:
    assert server.first_health.status_code == 503
    body = server.first_health.json()
    assert body["status"] == "loading"
    assert any(m["state"] == "loading" for m in body["models"])


def test_health_says_every_model_is_ready_and_models_lists_them(http: httpx.Client) -> None:
    health = http.get("/health").json()
    assert health["status"] == "ready"
    assert {m["kind"] for m in health["models"] if m["state"] == "ready"} == {
        "llm",
        "stt",
        "tts",
        "embeddings",
    }
    ids = {m["id"] for m in http.get("/v1/models").json()["data"]}
    assert {LLM, "whisper-tiny.en", "piper", "all-minilm-l6-v2"} <= ids
    voices = http.get("/v1/audio/voices").json()["data"]
    assert voices[0]["id"] == "en_US-joe-medium" and voices[0]["sample_rate"] == 22050


# ---------------------------------------------------------------- chat
def test_chat_completion_answers_with_text_and_usage(http: httpx.Client) -> None:
    r = http.post(
        "/v1/chat/completions",
        json={"model": LLM, "messages": [{"role": "user", "content": QUESTION}], "max_tokens": 40},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["choices"][0]["message"]["content"].strip()
    assert body["choices"][0]["finish_reason"] in ("stop", "length")
    usage = body["usage"]
    assert usage["prompt_tokens"] > 5 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_streamed_chat_sends_sse_chunks_usage_and_done(http: httpx.Client) -> None:
    events: list[str] = []
    with http.stream(
        "POST",
        "/v1/chat/completions",
        json={
            "model": LLM,
            "messages": [
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": QUESTION},
            ],
            "max_tokens": 30,
            "stream": True,
            "stream_options": {"include_usage": True},
            "tools": [{"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}}}],
        },
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line[len("data: ") :] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text.strip()
    finishes = [
        c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]
    ]
    assert finishes and finishes[-1] in ("stop", "length")
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


# ---------------------------------------------------------------- speech and transcription
def test_speech_then_transcription_round_trip(http: httpx.Client) -> None:
    speech = http.post(
        "/v1/audio/speech",
        json={"model": "piper", "input": QUESTION, "voice": "alloy", "response_format": "wav"},
    )
    assert speech.status_code == 200, speech.text
    assert speech.headers["content-type"] == "audio/wav"
    assert speech.content[:4] == b"RIFF" and speech.content[8:12] == b"WAVE"
    r = http.post(
        "/v1/audio/transcriptions",
        data={"model": "whisper-tiny.en"},
        files={"file": ("speech.wav", speech.content, "audio/wav")},
    )
    assert r.status_code == 200, r.text
    text = r.json()["text"].lower()
    assert "capital" in text and "france" in text


def test_pcm_is_24khz_speech_whose_length_follows_the_text(http: httpx.Client) -> None:
    def pcm(text: str) -> bytes:
        r = http.post(
            "/v1/audio/speech",
            json={"model": "tts-1", "input": text, "voice": "en_US-joe-medium", "response_format": "pcm"},
        )
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "audio/pcm"
        return r.content

    short_s, short_rms = _pcm_stats(pcm(QUESTION))
    long_s, long_rms = _pcm_stats(
        pcm(
            f"{QUESTION} It is Paris, a large city on the river Seine. "
            "Many people visit it every year to see its museums."
        )
    )
    # about 2 s for six words at Piper's pace; a generous band, not an exact figure
    assert 0.8 < short_s < 5.0
    assert long_s > 2.5 * short_s
    assert short_rms > 300 and long_rms > 300  # speech, not silence (full scale is 32767)


def test_transcription_of_a_16khz_recording(http: httpx.Client, question_wav: Path) -> None:
    r = http.post(
        "/v1/audio/transcriptions",
        data={"model": "whisper-1", "response_format": "verbose_json"},
        files={"file": ("q.wav", question_wav.read_bytes(), "audio/wav")},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert "capital" in body["text"].lower()
    assert 1.5 < body["duration"] < 3.5
    assert body["segments"]


# ---------------------------------------------------------------- embeddings
def test_embeddings_are_unit_vectors_that_rank_meaning(http: httpx.Client) -> None:
    texts = ["The cat sits on the mat", "A cat is sitting on a mat", "Stock markets fell sharply"]
    r = http.post("/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": texts})
    assert r.status_code == 200, r.text
    body = r.json()
    vectors = np.array([d["embedding"] for d in sorted(body["data"], key=lambda d: d["index"])])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert body["usage"]["prompt_tokens"] > 10
    single = http.post("/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": texts[0]}).json()
    assert np.allclose(single["data"][0]["embedding"], vectors[0], atol=1e-4)


# ---------------------------------------------------------------- the openai SDK as a client
def test_openai_sdk_works_against_the_server(oai: openai.OpenAI) -> None:
    chat = oai.chat.completions.create(
        model=LLM, messages=[{"role": "user", "content": QUESTION}], max_tokens=30
    )
    assert chat.choices[0].message.content and chat.usage and chat.usage.completion_tokens > 0

    streamed = oai.chat.completions.create(
        model=LLM,
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=20,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(streamed)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
    assert chunks[-1].usage is not None

    with oai.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=QUESTION, response_format="mp3"
    ) as speech:
        mp3 = speech.read()
    assert len(mp3) > 1000

    transcript = oai.audio.transcriptions.create(model="whisper-1", file=("speech.mp3", io.BytesIO(mp3)))
    assert "capital" in transcript.text.lower()

    emb = oai.embeddings.create(
        model="all-minilm-l6-v2", input=["hello world", "good morning"]
    )  # base64 on the wire
    assert len(emb.data) == 2 and len(emb.data[0].embedding) == 384


# ---------------------------------------------------------------- bad input
def _wav_bytes(seconds: float = 0.5) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * seconds))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("path", "kwargs", "param"),
    [
        (
            "/v1/audio/transcriptions",
            {
                "data": {"model": "whisper-1"},
                "files": {"file": ("x.wav", b"RIFF\x00garbage" * 50, "audio/wav")},
            },
            "file",
        ),
        ("/v1/audio/transcriptions", {"data": {"model": "whisper-1"}}, "file"),
        (
            "/v1/audio/transcriptions",
            {"data": {"model": "nope"}, "files": {"file": ("x.wav", _wav_bytes(), "audio/wav")}},
            "model",
        ),
        ("/v1/audio/speech", {"json": {"model": "piper", "voice": "alloy"}}, "input"),
        ("/v1/audio/speech", {"json": {"model": "piper", "input": "   "}}, "input"),
        (
            "/v1/audio/speech",
            {"json": {"model": "piper", "input": "hi", "response_format": "ogg"}},
            "response_format",
        ),
        (
            "/v1/chat/completions",
            {"json": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}},
            "model",
        ),
        ("/v1/chat/completions", {"json": {"model": LLM}}, "messages"),
        ("/v1/embeddings", {"json": {"model": "all-minilm-l6-v2", "input": []}}, "input"),
        ("/v1/embeddings", {"json": {"model": "text-embedding-3-small", "input": "hi"}}, "model"),
    ],
    ids=[
        "corrupt-audio",
        "no-file",
        "unknown-stt-model",
        "missing-input",
        "blank-input",
        "unknown-format",
        "unknown-llm",
        "no-messages",
        "empty-embedding-input",
        "unknown-embedding-model",
    ],
)
def test_bad_input_gets_a_400_in_openai_error_shape(
    http: httpx.Client, path: str, kwargs: dict[str, object], param: str
) -> None:
    r = http.post(path, **kwargs)  # type: ignore[arg-type]
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"] and "Traceback" not in error["message"]


def test_body_that_is_not_json_or_too_big_is_refused(http: httpx.Client) -> None:
    r = http.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    big = json.dumps({"model": "all-minilm-l6-v2", "input": "a" * (3 * 1024 * 1024)})
    r = http.post("/v1/embeddings", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "error" in r.json()


def test_embeddings_in_base64_match_floats(http: httpx.Client) -> None:
    body = {"model": "all-minilm-l6-v2", "input": "The cat sits on the mat"}
    floats = http.post("/v1/embeddings", json=body).json()["data"][0]["embedding"]
    packed = http.post("/v1/embeddings", json={**body, "encoding_format": "base64"}).json()["data"][0][
        "embedding"
    ]
    assert np.allclose(np.frombuffer(base64.b64decode(packed), dtype="<f4"), floats, atol=1e-6)


# ---------------------------------------------------------------- multilingual Whisper (whisper-base)
SPANISH = Path(__file__).parents[2] / "fixtures" / "es_capital_of_france.wav"


def _spanish_file() -> dict[str, tuple[str, bytes, str]]:
    return {"file": ("es.wav", SPANISH.read_bytes(), "audio/wav")}


def test_both_whisper_models_are_loaded_and_listed(http: httpx.Client) -> None:
    stt = {m["id"]: m for m in http.get("/health").json()["models"] if m["kind"] == "stt"}
    assert set(stt) == {"whisper-tiny.en", "whisper-base"}
    assert all(m["state"] == "ready" and m["load_seconds"] is not None for m in stt.values())
    listed = {m["id"] for m in http.get("/v1/models").json()["data"] if m["kind"] == "stt"}
    assert listed == {"whisper-tiny.en", "whisper-base"}


def test_spanish_is_transcribed_in_spanish_and_detected(http: httpx.Client) -> None:
    given = http.post(
        "/v1/audio/transcriptions", data={"model": "whisper-base", "language": "es"}, files=_spanish_file()
    )
    assert given.status_code == 200, given.text
    assert "capital de francia" in given.json()["text"].lower()

    detected = http.post(
        "/v1/audio/transcriptions",
        data={"model": "whisper-base", "response_format": "verbose_json"},
        files=_spanish_file(),
    )
    assert detected.status_code == 200, detected.text
    body = detected.json()
    assert body["task"] == "transcribe" and body["language"] == "spanish"  # OpenAI names the language
    assert "francia" in body["text"].lower()


def test_spanish_speech_is_translated_to_english(http: httpx.Client) -> None:
    r = http.post(
        "/v1/audio/translations",
        data={"model": "whisper-base", "response_format": "verbose_json"},
        files=_spanish_file(),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["task"] == "translate" and body["language"] == "english"
    text = body["text"].lower()
    assert "capital" in text and "france" in text
    assert 2.0 < body["duration"] < 4.5 and body["segments"]

    plain = http.post(
        "/v1/audio/translations", data={"model": "base", "response_format": "text"}, files=_spanish_file()
    )
    assert plain.status_code == 200 and "france" in plain.text.lower()


def test_the_english_only_model_refuses_to_translate_or_hear_spanish(http: httpx.Client) -> None:
    for path, data in [
        ("/v1/audio/translations", {"model": "whisper-1"}),
        ("/v1/audio/transcriptions", {"model": "whisper-tiny.en", "language": "es"}),
    ]:
        r = http.post(path, data=data, files=_spanish_file())
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert "English-only" in error["message"] and "whisper-base" in error["message"]


@pytest.mark.parametrize(
    ("data", "files", "param"),
    [
        ({"model": "whisper-base"}, {"file": ("x.wav", b"RIFF\x00garbage" * 50, "audio/wav")}, "file"),
        ({"model": "whisper-base"}, None, "file"),
        ({"model": "whisper-large-v3"}, {"file": ("x.wav", _wav_bytes(), "audio/wav")}, "model"),
        (
            {"model": "whisper-base", "response_format": "srt"},
            {"file": ("x.wav", _wav_bytes(), "audio/wav")},
            "response_format",
        ),
    ],
    ids=["corrupt-audio", "no-file", "unknown-model", "unsupported-format"],
)
def test_bad_translation_requests_get_a_400(
    http: httpx.Client, data: dict[str, str], files: dict[str, tuple[str, bytes, str]] | None, param: str
) -> None:
    r = http.post("/v1/audio/translations", data=data, files=files)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    if param == "model":
        assert "whisper-base" in error["message"] and "whisper-tiny.en" in error["message"]


def test_openai_sdk_translates_with_whisper_base(oai: openai.OpenAI) -> None:
    with SPANISH.open("rb") as f, warnings.catch_warnings():
        # the SDK marks the endpoint deprecated because OpenAI retires its whisper-1 model
        warnings.simplefilter("ignore", DeprecationWarning)
        translation = oai.audio.translations.create(model="whisper-base", file=f)
    assert "capital" in translation.text.lower() and "france" in translation.text.lower()
