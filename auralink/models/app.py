"""The aiohttp application of the model server: routes, limits, and the models' lifetime.

:func:`create_app` builds the app around a :class:`ModelHub`. When the app starts, the models
begin loading in the background, so ``GET /health`` answers at once (503 and ``"loading"``
until every enabled model is ready, 200 after, 503 with the reasons if one failed). When the
app stops, loading is abandoned, Piper is stopped and the models are freed.
"""

from __future__ import annotations

__all__ = ["LOAD_TASK_KEY", "create_app"]

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable

from aiohttp import web

from auralink.core.settings import Settings

from . import registry
from .http_audio import AUDIO_BODY_LIMIT, speech, transcriptions, translations, voices
from .http_chat import chat_completions
from .http_embeddings import embeddings
from .http_errors import error_middleware, error_response
from .hub import HUB_KEY, ModelHub

LOAD_TASK_KEY = web.AppKey[asyncio.Task[None]]("load_task")


async def health(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    body = hub.health()
    if hub.status == "failed":
        body["errors"] = hub.errors()
    return web.json_response(body, status=200 if hub.status == "ready" else 503)


def _model_entry(hub: ModelHub, kind: str, model_id: str) -> dict[str, object]:
    return {"id": model_id, "object": "model", "created": hub.created, "owned_by": "auralink", "kind": kind}


def _public_id(kind: str, model_id: str) -> str:
    # the speech endpoint's model is "piper"; the voice is chosen with `voice`
    return registry.TTS_MODEL_ID if kind == "tts" else model_id


async def list_models(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    data = [_model_entry(hub, kind, _public_id(kind, model_id)) for kind, model_id in hub.ready_models()]
    return web.json_response({"object": "list", "data": data})


async def get_model(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    wanted = request.match_info["model"]
    for kind, model_id in hub.ready_models():
        if _public_id(kind, model_id) == wanted:
            return web.json_response(_model_entry(hub, kind, wanted))
    return error_response(
        404,
        f"the model {wanted!r} does not exist on this server",
        type_="invalid_request_error",
        param="model",
        code="model_not_found",
    )


async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    # OpenAI clients (and livekit-plugins-openai) read it to tag their logs and metrics
    response.headers.setdefault("x-request-id", f"req_{uuid.uuid4().hex}")


async def _models_lifetime(app: web.Application) -> AsyncIterator[None]:
    hub = app[HUB_KEY]
    task = asyncio.create_task(hub.load(), name="models-load")
    app[LOAD_TASK_KEY] = task
    yield
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await hub.aclose()


def create_app(
    settings: Settings, *, only: Iterable[str] | None = None, llm_ids: Iterable[str] = (registry.DEFAULT_LLM,)
) -> web.Application:
    """The model server app; the models load when it starts (``AppRunner.setup``)."""
    app = web.Application(middlewares=[error_middleware], client_max_size=AUDIO_BODY_LIMIT + 64 * 1024)
    app[HUB_KEY] = ModelHub(settings=settings, only=only, llm_ids=llm_ids)
    app.cleanup_ctx.append(_models_lifetime)
    app.on_response_prepare.append(_add_request_id)
    app.router.add_get("/health", health)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model}", get_model)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/audio/transcriptions", transcriptions)
    app.router.add_post("/v1/audio/translations", translations)
    app.router.add_post("/v1/audio/speech", speech)
    app.router.add_get("/v1/audio/voices", voices)
    app.router.add_post("/v1/embeddings", embeddings)
    return app
