"""The models one server process holds: which are enabled, their loading state, and lookup by id.

:meth:`ModelHub.load` verifies each model file against its pinned sha256 and loads the models
one after another in a worker thread (so the event loop keeps answering ``/health``), while the
Piper child process starts alongside. Load time and the growth of the resident set are logged
and kept per model for ``/health``. Several speech-to-text models load side by side
(``AURALINK_MODELS_STT``), each with its own worker thread; a model whose weights ship in parts
is assembled under ``<data_dir>/models/`` first (:func:`registry.assembled_model_dir`).
Lookups raise :class:`InvalidRequest` for an id this server does not know (or, for speech to
text, does not load) and :class:`ModelNotReady` for one that is known but not (yet) loaded.
"""

from __future__ import annotations

__all__ = ["HUB_KEY", "KINDS", "ModelHub", "ModelState", "rss_mb", "stt_ids_from"]

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

from auralink.core.errors import AuraLinkError, ConfigError, ModelError
from auralink.core.settings import Settings

from . import registry
from .embeddings import Embedder
from .http_errors import InvalidRequest, ModelNotReady
from .llm import ChatEngine
from .stt import SpeechToText
from .tts import TextToSpeech

logger = logging.getLogger("auralink.models")

KINDS = ("llm", "stt", "tts", "embeddings")
State = Literal["disabled", "loading", "ready", "failed"]


@dataclass(slots=True)
class ModelState:
    kind: str
    id: str
    state: State = "loading"
    error: str | None = None
    load_seconds: float | None = None
    rss_delta_mb: float | None = None

    def public(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "state": self.state,
            "error": self.error,
            "load_seconds": self.load_seconds,
            "rss_delta_mb": self.rss_delta_mb,
        }


def rss_mb(pid: int | str = "self") -> float | None:
    """Resident set size of a process in MiB (Linux ``/proc``), None where unknown."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def _find(table: dict[str, Any], model: str) -> str | None:
    """The canonical id for ``model`` (an id or alias, case-insensitive) in a registry table."""
    wanted = model.strip().lower()
    for key, spec in table.items():
        if wanted == key.lower() or wanted in (a.lower() for a in getattr(spec, "aliases", ())):
            return key
    return None


def stt_ids_from(setting: str) -> list[str]:
    """The canonical STT ids named in ``AURALINK_MODELS_STT`` (ids or aliases, comma-separated)."""
    names = [n.strip() for n in setting.split(",") if n.strip()]
    ids = [_find(registry.STTS, n) for n in names]
    unknown = [n for n, i in zip(names, ids, strict=True) if i is None]
    if unknown or not names:
        raise ConfigError(
            f"AURALINK_MODELS_STT names unknown speech-to-text model(s) {unknown or 'none'}; "
            f"known: {', '.join(registry.STTS)}"
        )
    return list(dict.fromkeys(i for i in ids if i is not None))


class ModelHub:
    """Every model this server serves. ``only`` restricts the kinds; ``llm_ids`` picks the LLMs,
    ``stt_ids`` the speech-to-text models (default: ``settings.models_stt``)."""

    def __init__(
        self,
        *,
        settings: Settings,
        only: Iterable[str] | None = None,
        llm_ids: Iterable[str] = (registry.DEFAULT_LLM,),
        stt_ids: Iterable[str] | None = None,
    ) -> None:
        kinds = set(KINDS) if only is None else {k.strip() for k in only if k.strip()}
        unknown = kinds - set(KINDS)
        if unknown or not kinds:
            raise ConfigError(
                f"--only takes a comma-separated subset of {','.join(KINDS)}; "
                f"got {','.join(sorted(unknown)) or 'nothing'}"
            )
        llm_ids = list(llm_ids)
        missing = [m for m in llm_ids if m not in registry.LLMS]
        if missing:
            raise ConfigError(f"unknown LLM id(s) {missing}; known: {sorted(registry.LLMS)}")
        stts = stt_ids_from(settings.models_stt if stt_ids is None else ",".join(stt_ids))
        self.settings = settings
        self.kinds = kinds
        self.created = int(time.time())
        self.stts: dict[str, SpeechToText] = {}
        self.llms: dict[str, ChatEngine] = {}
        self.tts: TextToSpeech | None = None
        self.embedder: Embedder | None = None
        self.states: dict[tuple[str, str], ModelState] = {}
        self.failures: list[AuraLinkError] = []
        self._states_for("stt", stts)
        self._states_for("llm", llm_ids)
        self._states_for("tts", [registry.DEFAULT_VOICE])
        self._states_for("embeddings", [registry.DEFAULT_EMBEDDING])
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-load")
        self.loaded = asyncio.Event()

    def _states_for(self, kind: str, ids: Iterable[str]) -> None:
        for model_id in ids:
            state: State = "loading" if kind in self.kinds else "disabled"
            self.states[(kind, model_id)] = ModelState(kind=kind, id=model_id, state=state)

    # ------------------------------------------------------------------ loading
    @property
    def status(self) -> Literal["loading", "ready", "failed"]:
        enabled = [s for s in self.states.values() if s.state != "disabled"]
        if any(s.state == "failed" for s in enabled):
            return "failed"
        return "ready" if all(s.state == "ready" for s in enabled) else "loading"

    def errors(self) -> list[str]:
        return [f"{s.kind} {s.id}: {s.error}" for s in self.states.values() if s.state == "failed"]

    async def load(self) -> None:
        """Load every enabled model; failures are recorded in :attr:`states`, never raised."""
        started = time.monotonic()
        try:
            steps: list[asyncio.Future[None] | asyncio.Task[None]] = [
                asyncio.ensure_future(self._load_in_process())
            ]
            if "tts" in self.kinds:
                steps.append(asyncio.create_task(self._start_tts(), name="tts-start"))
            await asyncio.gather(*steps)
        finally:
            self.loaded.set()
        if self.status == "ready":
            logger.info(
                "models ready in %.1fs; server RSS %s MiB, piper RSS %s MiB",
                time.monotonic() - started,
                rss_mb(),
                self._piper_rss(),
            )

    async def _load_in_process(self) -> None:
        loop = asyncio.get_running_loop()
        threads = self.settings.models_threads
        for (kind, model_id), state in self.states.items():
            if state.state != "loading" or kind == "tts":
                continue
            load: Callable[[str, int], None] = {
                "stt": self._load_stt,
                "llm": self._load_llm,
                "embeddings": self._load_embedder,
            }[kind]
            before = rss_mb()
            t0 = time.monotonic()
            try:
                await loop.run_in_executor(self._executor, load, model_id, threads)
            except AuraLinkError as e:
                self._fail(state, e)
                continue
            except Exception as e:  # a third-party loader failed in a way we did not foresee
                logger.exception("loading %s %s failed", kind, model_id)
                self._fail(state, ModelError(f"{kind} {model_id} failed to load: {type(e).__name__}: {e}"))
                continue
            self._ready(state, time.monotonic() - t0, before, rss_mb())

    def _ready(self, state: ModelState, seconds: float, before: float | None, after: float | None) -> None:
        state.state = "ready"
        state.load_seconds = round(seconds, 2)
        state.rss_delta_mb = round(after - before, 1) if before is not None and after is not None else None
        logger.info("%s %s loaded in %.2fs (RSS +%s MiB)", state.kind, state.id, seconds, state.rss_delta_mb)

    def _fail(self, state: ModelState, error: AuraLinkError) -> None:
        self.failures.append(error)
        state.state = "failed"
        state.error = str(error)
        logger.error("%s %s cannot be served: %s", state.kind, state.id, error)

    def _load_stt(self, model_id: str, threads: int) -> None:
        spec = registry.STTS[model_id]
        model_dir = registry.assembled_model_dir(spec, root=self.settings.data_dir / "models")
        engine = SpeechToText(spec=spec, model_dir=model_dir, threads=threads)
        engine.load()
        self.stts[model_id] = engine

    def _load_llm(self, model_id: str, threads: int) -> None:
        spec = registry.LLMS[model_id]
        engine = ChatEngine(spec=spec, path=registry.verified_path(spec.file), threads=threads)
        engine.load()
        self.llms[model_id] = engine

    def _load_embedder(self, model_id: str, threads: int) -> None:
        spec = registry.EMBEDDINGS[model_id]
        engine = Embedder(
            spec=spec,
            model_path=registry.verified_path(spec.model),
            tokenizer_path=registry.verified_path(spec.tokenizer),
            threads=threads,
        )
        engine.load()
        self.embedder = engine

    async def _start_tts(self) -> None:
        state = self.states[("tts", registry.DEFAULT_VOICE)]
        voice = registry.VOICES[registry.DEFAULT_VOICE]
        t0 = time.monotonic()
        try:
            loop = asyncio.get_running_loop()
            model = await loop.run_in_executor(None, registry.verified_path, voice.model)
            await loop.run_in_executor(None, registry.verified_path, voice.config)
            self.tts = TextToSpeech(voice=voice, model_path=model, port=self.settings.piper_port)
            await self.tts.start()
        except AuraLinkError as e:
            self._fail(state, e)
            return
        state.state = "ready"
        state.load_seconds = round(time.monotonic() - t0, 2)
        state.rss_delta_mb = self._piper_rss()  # a separate process: its whole RSS
        logger.info(
            "tts %s ready in %.2fs (piper process RSS %s MiB)",
            voice.id,
            state.load_seconds,
            state.rss_delta_mb,
        )

    def _piper_rss(self) -> float | None:
        pid = self.tts.process.pid if self.tts is not None else None
        return rss_mb(pid) if pid is not None else None

    def health(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "models": [s.public() for s in self.states.values()],
            "rss_mb": rss_mb(),
            "piper": {
                "pid": self.tts.process.pid,
                "ready": self.tts.ready,
                "restarts": self.tts.process.restarts,
                "rss_mb": self._piper_rss(),
            }
            if self.tts is not None
            else None,
        }

    # ------------------------------------------------------------------ lookup
    def _check(self, kind: str, model_id: str) -> None:
        state = self.states.get((kind, model_id))
        if state is None:
            raise ModelNotReady(kind, state="disabled")
        if state.state != "ready":
            raise ModelNotReady(kind, state=state.state)

    def _unknown(self, kind: str, model: str, known: Iterable[str]) -> InvalidRequest:
        return InvalidRequest(
            f"the model {model!r} does not exist on this server for {kind}; "
            f"use one of: {', '.join(sorted(known))}",
            param="model",
            code="model_not_found",
        )

    def get_llm(self, model: str) -> ChatEngine:
        model_id = _find(registry.LLMS, model)
        if model_id is None:
            raise self._unknown("chat completions", model, registry.LLMS)
        self._check("llm", model_id)
        return self.llms[model_id]

    def get_stt(self, model: str, *, purpose: str = "transcriptions") -> SpeechToText:
        served = [key for kind, key in self.states if kind == "stt"]
        model_id = _find(registry.STTS, model)
        if model_id is None:
            raise self._unknown(
                purpose, model, [*served, *(a for m in served for a in registry.STTS[m].aliases)]
            )
        if model_id not in served:
            raise InvalidRequest(
                f"the model {model!r} is not loaded on this server (AURALINK_MODELS_STT); "
                f"use one of: {', '.join(served)}",
                param="model",
                code="model_not_found",
            )
        self._check("stt", model_id)
        return self.stts[model_id]

    def get_tts(self, model: str) -> TextToSpeech:
        wanted = model.strip()
        if wanted != registry.TTS_MODEL_ID and wanted not in registry.TTS_MODEL_ALIASES:
            raise self._unknown("speech", model, [registry.TTS_MODEL_ID, *registry.TTS_MODEL_ALIASES])
        self._check("tts", registry.DEFAULT_VOICE)
        assert self.tts is not None
        if not self.tts.ready:
            raise ModelNotReady("tts", state="restarting")
        return self.tts

    def get_embedder(self, model: str) -> Embedder:
        model_id = _find(registry.EMBEDDINGS, model)
        if model_id is None:
            raise self._unknown("embeddings", model, registry.EMBEDDINGS)
        self._check("embeddings", model_id)
        assert self.embedder is not None
        return self.embedder

    def ready_models(self) -> list[tuple[str, str]]:
        """(kind, id) of every model that can answer now."""
        return [key for key, s in self.states.items() if s.state == "ready"]

    # ------------------------------------------------------------------ shutdown
    async def aclose(self) -> None:
        """Stop Piper, wait for running work, and free every model."""
        if self.tts is not None:
            await self.tts.aclose()
        await asyncio.get_running_loop().run_in_executor(None, self._close_all)

    def _close_all(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)  # a model still loading finishes first
        engines: list[Any] = [
            e for e in (*self.stts.values(), self.embedder, *self.llms.values()) if e is not None
        ]
        for engine in engines:
            with contextlib.suppress(Exception):
                engine.close()


# How request handlers find the hub of their application.
HUB_KEY = web.AppKey("hub", ModelHub)
