"""``POST /v1/embeddings``: OpenAI embeddings from the local sentence model.

``input`` is a string or a list of strings (token arrays are refused: the ids would be the
model's own, not OpenAI's). ``encoding_format`` ``base64`` (what the openai Python SDK asks for
by default) packs the little-endian float32 vector; ``dimensions`` must equal the model's.
"""

from __future__ import annotations

__all__ = ["embeddings"]

import base64
from typing import Any

from aiohttp import web

from .http_errors import InvalidRequest
from .hub import HUB_KEY
from .schemas import EmbeddingRequest, parse_body, read_json

MAX_INPUTS = 2048


def _texts(value: Any) -> list[str]:
    texts = [value] if isinstance(value, str) else value
    if not texts:
        raise InvalidRequest("'input' is empty; give a string or a list of strings", param="input")
    if not all(isinstance(t, str) for t in texts):
        raise InvalidRequest("token arrays are not supported; send strings", param="input")
    if len(texts) > MAX_INPUTS:
        raise InvalidRequest(f"at most {MAX_INPUTS} inputs per request", param="input")
    if any(not t.strip() for t in texts):
        raise InvalidRequest("'input' contains an empty string", param="input")
    return list(texts)


async def embeddings(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    req = parse_body(EmbeddingRequest, await read_json(request))
    texts = _texts(req.input)
    embedder = hub.get_embedder(req.model)
    if req.dimensions is not None and req.dimensions != embedder.spec.dimensions:
        raise InvalidRequest(
            f"{embedder.spec.id} makes {embedder.spec.dimensions}-dimensional vectors; "
            f"dimensions={req.dimensions} is not available",
            param="dimensions",
        )
    result = await embedder.embed(texts)
    data: list[dict[str, Any]] = []
    for i, vector in enumerate(result.vectors):
        encoded: Any = (
            base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
            if req.encoding_format == "base64"
            else vector.tolist()
        )
        data.append({"object": "embedding", "index": i, "embedding": encoded})
    return web.json_response(
        {
            "object": "list",
            "data": data,
            "model": embedder.spec.id,
            "usage": {"prompt_tokens": result.tokens, "total_tokens": result.tokens},
        }
    )
