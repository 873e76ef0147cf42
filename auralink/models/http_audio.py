"""The audio endpoints: ``/v1/audio/transcriptions``, ``/v1/audio/translations``,
``/v1/audio/speech``, ``/v1/audio/voices``.

Transcriptions take OpenAI's multipart form (``file``, ``model``, ``language``, ``prompt``,
``temperature``, ``response_format`` = json | text | verbose_json) with any audio FFmpeg reads;
``model`` picks one of the loaded Whisper models, and a multilingual one detects the language
when ``language`` is left out. Translations take the same form without ``language`` and always
answer in English (a multilingual model only). ``verbose_json`` names the language as OpenAI
does: the spoken one's lowercase English name for a transcription, ``"english"`` for a
translation.
Speech takes OpenAI's JSON body and streams the audio back with chunked transfer encoding as
each sentence is synthesised; ``pcm`` is 24 kHz 16-bit mono little-endian, as OpenAI sends.
"""

from __future__ import annotations

__all__ = ["AUDIO_BODY_LIMIT", "speech", "transcriptions", "translations", "voices"]

import logging
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import registry
from .audio import CONTENT_TYPES, make_encoder
from .http_errors import InvalidRequest
from .hub import HUB_KEY
from .languages import language_name
from .schemas import SpeechRequest, parse_body, read_json
from .stt import Task, Transcript

logger = logging.getLogger("auralink.models")

# OpenAI's own limit for uploaded audio
AUDIO_BODY_LIMIT = 25 * 1024 * 1024
_TRANSCRIPT_FORMATS = ("json", "text", "verbose_json")


def _field_text(form: Any, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{name!r} must be a plain form field, not a file", param=name)
    return value.strip() or None


@dataclass(frozen=True, slots=True)
class _SpeechForm:
    """The fields both speech-to-text endpoints share."""

    model: str
    audio: bytes
    response_format: str
    prompt: str | None
    temperature: float | None


async def _read_speech_form(request: web.Request) -> tuple[_SpeechForm, Any]:
    if not request.content_type.startswith("multipart/"):
        raise InvalidRequest("send the audio as multipart/form-data with a 'file' field", param="file")
    form = await request.post()
    model = _field_text(form, "model")
    if model is None:
        raise InvalidRequest(
            "missing required parameter: 'model'", param="model", code="missing_required_parameter"
        )
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        raise InvalidRequest(
            "missing required parameter: 'file' (an audio file upload)",
            param="file",
            code="missing_required_parameter",
        )
    response_format = _field_text(form, "response_format") or "json"
    if response_format not in _TRANSCRIPT_FORMATS:
        raise InvalidRequest(
            f"response_format {response_format!r} is not supported; use one of "
            f"{', '.join(_TRANSCRIPT_FORMATS)}",
            param="response_format",
        )
    temperature_text = _field_text(form, "temperature")
    try:
        temperature = float(temperature_text) if temperature_text is not None else None
    except ValueError:
        raise InvalidRequest("temperature must be a number", param="temperature") from None
    if temperature is not None and not 0.0 <= temperature <= 1.0:
        raise InvalidRequest("temperature must be between 0 and 1", param="temperature")
    fields = _SpeechForm(
        model=model,
        audio=upload.file.read(),
        response_format=response_format,
        prompt=_field_text(form, "prompt"),
        temperature=temperature,
    )
    return fields, form


async def _speech_to_text(
    request: web.Request, fields: _SpeechForm, *, task: Task, language: str | None
) -> web.Response:
    hub = request.app[HUB_KEY]
    engine = hub.get_stt(fields.model, purpose="transcriptions" if task == "transcribe" else "translations")
    transcript = await engine.transcribe(
        fields.audio, language=language, prompt=fields.prompt, temperature=fields.temperature, task=task
    )
    if fields.response_format == "text":
        return web.Response(text=transcript.text + "\n", content_type="text/plain")
    if fields.response_format == "verbose_json":
        return web.json_response(_verbose(transcript))
    if task == "translate":
        return web.json_response({"text": transcript.text})
    return web.json_response(
        {"text": transcript.text, "usage": {"type": "duration", "seconds": round(transcript.duration, 3)}}
    )


async def transcriptions(request: web.Request) -> web.StreamResponse:
    fields, form = await _read_speech_form(request)
    return await _speech_to_text(request, fields, task="transcribe", language=_field_text(form, "language"))


async def translations(request: web.Request) -> web.StreamResponse:
    fields, form = await _read_speech_form(request)
    # `language` is not in OpenAI's translation form; sent anyway, it names the spoken language
    return await _speech_to_text(request, fields, task="translate", language=_field_text(form, "language"))


def _verbose(t: Transcript) -> dict[str, Any]:
    return {
        "task": t.task,
        # OpenAI: the input's language for a transcription, the output's ("english") for a translation
        "language": "english" if t.task == "translate" else language_name(t.language),
        "duration": t.duration,
        "text": t.text,
        "segments": [
            {
                "id": s.id,
                "seek": 0,
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "tokens": s.tokens,
                "temperature": s.temperature,
                "avg_logprob": s.avg_logprob,
                "compression_ratio": s.compression_ratio,
                "no_speech_prob": s.no_speech_prob,
            }
            for s in t.segments
        ],
    }


def _check_voice(voice: str | None) -> None:
    if voice is None or voice in registry.VOICES or voice.lower() in registry.OPENAI_VOICE_NAMES:
        return
    known = [*registry.VOICES, *sorted(registry.OPENAI_VOICE_NAMES)]
    raise InvalidRequest(f"unknown voice {voice!r}; use one of: {', '.join(known)}", param="voice")


async def speech(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    req = parse_body(SpeechRequest, await read_json(request))
    if not req.input.strip():
        raise InvalidRequest("'input' is empty; give the text to speak", param="input")
    fmt = req.response_format.lower()
    if fmt not in CONTENT_TYPES:
        raise InvalidRequest(
            f"response_format {req.response_format!r} is not supported; use one of "
            f"{', '.join(CONTENT_TYPES)}",
            param="response_format",
        )
    _check_voice(req.voice)
    tts = hub.get_tts(req.model)

    encoder = make_encoder(fmt)
    response = web.StreamResponse(headers={"Content-Type": encoder.content_type})
    response.enable_chunked_encoding()
    try:
        async with aclosing(tts.synthesize(req.input, speed=req.speed)) as chunks:
            async for pcm in chunks:
                data = encoder.encode(pcm)
                if not response.prepared:
                    await response.prepare(request)  # only now: an early failure still gets a JSON error
                if data:
                    await response.write(data)
        tail = encoder.flush()
        if not response.prepared:
            await response.prepare(request)
        if tail:
            await response.write(tail)
        await response.write_eof()
    except ConnectionResetError:
        logger.info("speech stream ended early: the client went away")
    except Exception:
        if not response.prepared:
            raise
        logger.exception("speech stream failed after it started")  # the client sees a short body
    finally:
        encoder.close()
    return response


async def voices(request: web.Request) -> web.Response:
    data = [
        {
            "id": v.id,
            "object": "voice",
            "language": v.language,
            "sample_rate": v.sample_rate,
            "license": v.license,
            "default": v.id == registry.DEFAULT_VOICE,
            "aliases": sorted(registry.OPENAI_VOICE_NAMES) if v.id == registry.DEFAULT_VOICE else [],
        }
        for v in registry.VOICES.values()
    ]
    return web.json_response({"object": "list", "data": data})
