"""Request bodies of the OpenAI endpoints this server speaks, validated by pydantic.

Unknown fields are ignored (OpenAI adds fields often; clients send them), known fields are
checked, and a failure becomes an :class:`InvalidRequest` naming the offending field.
:func:`read_json` enforces the body size limit of the JSON endpoints.
"""

from __future__ import annotations

__all__ = [
    "ChatCompletionRequest",
    "ChatMessage",
    "EmbeddingRequest",
    "SpeechRequest",
    "parse_body",
    "read_json",
]

import json
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .http_errors import InvalidRequest

JSON_BODY_LIMIT = 2 * 1024 * 1024

M = TypeVar("M", bound=BaseModel)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(_Body):
    type: str
    text: str | None = None


class ChatMessage(_Body):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        """The message as plain text (non-text parts such as images are dropped)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text or "" for p in self.content if p.type in ("text", "input_text"))


class StreamOptions(_Body):
    include_usage: bool = False


class ChatCompletionRequest(_Body):
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1)
    presence_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    # Accepted and ignored by models that cannot call tools (see registry.LLMSpec.supports_tools).
    tools: list[Any] | None = None
    tool_choice: Any = None

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        stops = [self.stop] if isinstance(self.stop, str) else self.stop
        if len(stops) > 4:
            raise InvalidRequest("at most 4 stop sequences are allowed", param="stop")
        return [s for s in stops if s]


class SpeechRequest(_Body):
    model: str
    input: str = Field(max_length=4096)
    voice: str | None = None
    response_format: str = "mp3"
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    instructions: str | None = None  # accepted, not used: Piper has no style prompt


class EmbeddingRequest(_Body):
    model: str
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)


async def read_json(request: web.Request) -> Any:
    """The request's JSON body, at most :data:`JSON_BODY_LIMIT` bytes."""
    if request.content_length is not None and request.content_length > JSON_BODY_LIMIT:
        raise web.HTTPRequestEntityTooLarge(max_size=JSON_BODY_LIMIT, actual_size=request.content_length)
    raw = await request.read()
    if len(raw) > JSON_BODY_LIMIT:
        raise web.HTTPRequestEntityTooLarge(max_size=JSON_BODY_LIMIT, actual_size=len(raw))
    if not raw:
        raise InvalidRequest("the request body is empty; send a JSON object")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidRequest(f"the request body is not valid JSON: {e}") from None


def parse_body(model: type[M], data: Any) -> M:
    """Validate ``data`` as ``model``; the first problem becomes an :class:`InvalidRequest`."""
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = [str(p) for p in first["loc"]]
        param = loc[0] if loc else None
        where = ".".join(loc)
        if first["type"] == "missing":
            message = f"missing required parameter: {where!r}"
        else:
            message = f"invalid value for {where!r}: {first['msg']}"
        raise InvalidRequest(
            message,
            param=param,
            code="missing_required_parameter" if first["type"] == "missing" else "invalid_value",
        ) from None
