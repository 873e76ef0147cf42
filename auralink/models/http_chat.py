"""``POST /v1/chat/completions``: OpenAI chat completions on the local LLM, streamed or not.

With ``stream: true`` the answer is Server-Sent Events: a first chunk with the assistant role,
one chunk per piece of text, a chunk with ``finish_reason``, then (with
``stream_options.include_usage``) a chunk with empty ``choices`` and the ``usage``, and finally
``data: [DONE]``. Errors found before generation starts (unknown model, prompt too long) are
plain JSON errors with a 4xx/5xx status; the event stream is only opened once the model runs.
A failure after that is sent as an ``error`` event, since the status line is already out.
``tools`` and ``tool_choice`` are accepted and ignored by models that cannot call tools.
"""

from __future__ import annotations

__all__ = ["chat_completions"]

import json
import logging
import time
import uuid
from contextlib import aclosing
from typing import Any

from aiohttp import web

from .http_errors import error_body
from .hub import HUB_KEY
from .llm import ChatDelta, ChatDone, ChatEngine, ChatParams, ChatStarted, normalise_messages
from .schemas import ChatCompletionRequest, parse_body, read_json

logger = logging.getLogger("auralink.models")


def _params(req: ChatCompletionRequest, engine: ChatEngine) -> ChatParams:
    return ChatParams(
        messages=normalise_messages([(m.role, m.text()) for m in req.messages]),
        max_tokens=req.max_completion_tokens or req.max_tokens,
        temperature=engine.spec.default_temperature if req.temperature is None else req.temperature,
        top_p=0.95 if req.top_p is None else req.top_p,
        stop=req.stop_list(),
        seed=req.seed,
        presence_penalty=req.presence_penalty,
        frequency_penalty=req.frequency_penalty,
    )


def _usage(done: ChatDone) -> dict[str, int]:
    return {
        "prompt_tokens": done.prompt_tokens,
        "completion_tokens": done.completion_tokens,
        "total_tokens": done.prompt_tokens + done.completion_tokens,
    }


def _sse(body: dict[str, Any] | str) -> bytes:
    data = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return f"data: {data}\n\n".encode()


async def chat_completions(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    req = parse_body(ChatCompletionRequest, await read_json(request))
    engine = hub.get_llm(req.model)
    params = _params(req, engine)
    meta = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": engine.spec.id}
    if req.stream:
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        return await _stream(request, engine, params, meta, include_usage=include_usage)

    text: list[str] = []
    done: ChatDone | None = None
    async with aclosing(engine.stream(params)) as events:
        async for event in events:
            if isinstance(event, ChatDelta):
                text.append(event.text)
            elif isinstance(event, ChatDone):
                done = event
    assert done is not None
    return web.json_response(
        {
            **meta,
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(text)},
                    "logprobs": None,
                    "finish_reason": done.finish_reason,
                }
            ],
            "usage": _usage(done),
        }
    )


async def _stream(
    request: web.Request, engine: ChatEngine, params: ChatParams, meta: dict[str, Any], *, include_usage: bool
) -> web.StreamResponse:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _sse(
            {
                **meta,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
        )

    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    try:
        async with aclosing(engine.stream(params)) as events:
            async for event in events:
                if isinstance(event, ChatStarted):
                    await response.prepare(request)
                    await response.write(chunk({"role": "assistant", "content": ""}))
                elif isinstance(event, ChatDelta):
                    await response.write(chunk({"content": event.text}))
                elif isinstance(event, ChatDone):
                    await response.write(chunk({}, event.finish_reason))
                    if include_usage:
                        await response.write(
                            _sse(
                                {
                                    **meta,
                                    "object": "chat.completion.chunk",
                                    "choices": [],
                                    "usage": _usage(event),
                                }
                            )
                        )
        await response.write(_sse("[DONE]"))
        await response.write_eof()
    except ConnectionResetError:
        logger.info("chat stream ended early: the client went away")
    except Exception as e:
        if not response.prepared:
            raise  # nothing sent yet: the error middleware answers with a proper status
        logger.exception("chat stream failed after it started")
        error = error_body(f"generation failed: {type(e).__name__}", type_="server_error")
        try:
            await response.write(_sse(error))
            await response.write_eof()
        except ConnectionResetError:
            pass
    return response
