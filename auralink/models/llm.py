"""The local chat model: a GGUF file run by llama-cpp-python, streamed without blocking the loop.

One :class:`ChatEngine` holds one ``Llama`` instance. Requests are serialised by an asyncio lock
(one model, one context); the generation runs in the engine's own worker thread and hands each
piece of text to the event loop through a queue, so the loop keeps serving other endpoints
while tokens are produced. A client that goes away stops the generation at the next token.

The prompt is rendered with the chat template stored in the GGUF metadata, through
llama-cpp-python's own ``Jinja2ChatFormatter`` (the same one its chat handler uses), so we
know the exact prompt token count for ``usage``. Tools are not passed to the template: the
small models served here cannot call them (see ``LLMSpec.supports_tools``).
"""

from __future__ import annotations

__all__ = ["ChatDelta", "ChatDone", "ChatEngine", "ChatParams", "ChatStarted"]

import asyncio
import threading
from collections.abc import AsyncGenerator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auralink.core.errors import ModelError

from .http_errors import InvalidRequest
from .registry import LLMSpec

#: llama.cpp repetition penalty for every request (OpenAI's API has no such field)
REPEAT_PENALTY = 1.15

_ROLE_MAP = {"developer": "system", "function": "tool"}


@dataclass(frozen=True, slots=True)
class ChatParams:
    messages: list[dict[str, str]]
    max_tokens: int | None
    temperature: float
    top_p: float
    stop: list[str]
    seed: int | None
    presence_penalty: float
    frequency_penalty: float


@dataclass(frozen=True, slots=True)
class ChatStarted:
    """The prompt fits; generation is about to start."""

    prompt_tokens: int


@dataclass(frozen=True, slots=True)
class ChatDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ChatDone:
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


ChatEvent = ChatStarted | ChatDelta | ChatDone
_END = object()


def normalise_messages(messages: list[tuple[str, str]]) -> list[dict[str, str]]:
    """OpenAI roles and contents as the GGUF chat templates expect them."""
    return [{"role": _ROLE_MAP.get(role, role), "content": text} for role, text in messages]


class ChatEngine:
    """A loaded GGUF chat model. Create with :meth:`load` (blocking: call it in a thread)."""

    def __init__(self, *, spec: LLMSpec, path: Path, threads: int) -> None:
        self.spec = spec
        self._path = path
        self._threads = threads
        self._llama: Any = None
        self._formatter: Any = None
        self._lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"llm-{spec.id}")

    def load(self) -> None:
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as e:
            raise ModelError(f"llama-cpp-python is not installed: {e}") from e
        try:
            llama = Llama(
                model_path=str(self._path),
                n_ctx=self.spec.n_ctx,
                n_threads=self._threads,
                n_threads_batch=self._threads,
                verbose=False,
            )
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"cannot load {self._path}: {e}") from e
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelError(f"{self._path} has no chat template in its metadata; it is not a chat model")
        eos_id = llama.token_eos()
        bos_id = llama.token_bos()
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=llama._model.token_get_text(eos_id) if eos_id != -1 else "",
            bos_token=llama._model.token_get_text(bos_id) if bos_id != -1 else "",
            stop_token_ids=[eos_id],
        )
        # one short generation now, so the first caller does not pay for cold weights and caches
        llama.create_completion(prompt="Hello", max_tokens=2, temperature=0.0)
        llama.reset()  # type: ignore[no-untyped-call]  # llama-cpp-python leaves it unannotated
        self._llama = llama

    async def stream(self, params: ChatParams) -> AsyncGenerator[ChatEvent, None]:
        """``ChatStarted``, then ``ChatDelta`` pieces, then one ``ChatDone``.

        Raises :class:`InvalidRequest` (before ``ChatStarted``) when the prompt does not fit.
        Closing the iterator early stops the generation and waits for the thread to let go.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancel = threading.Event()

        def put(item: object) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def run() -> None:
            try:
                for event in self._generate(params, cancel):
                    put(event)
            except BaseException as e:  # handed to the loop, raised there
                put(e)
            finally:
                put(_END)

        async with self._lock:
            future = loop.run_in_executor(self._executor, run)
            try:
                while True:
                    item = await queue.get()
                    if item is _END:
                        break
                    if isinstance(item, BaseException):
                        raise item
                    assert isinstance(item, ChatStarted | ChatDelta | ChatDone)
                    yield item
            finally:
                cancel.set()
                await asyncio.shield(future)

    def _generate(self, params: ChatParams, cancel: threading.Event) -> Iterator[ChatEvent]:
        from llama_cpp import LogitsProcessorList, StoppingCriteriaList

        llama = self._llama
        formatted = self._formatter(messages=params.messages)
        prompt = llama.tokenize(
            formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
        )
        room = self.spec.n_ctx - len(prompt)
        if room <= 0:
            raise InvalidRequest(
                f"the messages take {len(prompt)} tokens; this model's context holds {self.spec.n_ctx}",
                param="messages",
                code="context_length_exceeded",
            )
        max_tokens = min(params.max_tokens or self.spec.default_max_tokens, room)
        yield ChatStarted(prompt_tokens=len(prompt))

        sampled = 0

        def count(_ids: Any, scores: Any) -> Any:
            nonlocal sampled
            sampled += 1
            return scores

        eos_id = llama.token_eos()

        def should_stop(ids: Any, _logits: Any) -> bool:
            return cancel.is_set() or (len(ids) > 0 and int(ids[-1]) == eos_id)

        finish = "stop"
        for chunk in llama.create_completion(
            prompt=prompt,
            max_tokens=max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            stop=[*params.stop, *formatted.stop],
            seed=params.seed,
            presence_penalty=params.presence_penalty,
            frequency_penalty=params.frequency_penalty,
            # small models loop ("I'm a little bit on the edge of my seat too…") without it
            repeat_penalty=REPEAT_PENALTY,
            stream=True,
            stopping_criteria=StoppingCriteriaList([should_stop]),
            logits_processor=LogitsProcessorList([count]),
        ):
            choice = chunk["choices"][0]
            if choice["text"]:
                yield ChatDelta(choice["text"])
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
            if cancel.is_set():
                break
        yield ChatDone(finish_reason=finish, prompt_tokens=len(prompt), completion_tokens=sampled)

    def close(self) -> None:
        """Wait for a running generation to end, then free the model."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._llama is not None:
            self._llama.close()
            self._llama = None
