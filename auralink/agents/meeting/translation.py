"""Real-time caption translation: providers behind one :class:`Translator` interface, and the
:class:`CaptionTranslator` that translates each final line once per listener language.

Providers:

* :class:`ApertiumTranslator`, the offline default: Debian's rule-based ``apertium`` pairs (en↔es,
  en↔ca, en↔gl, en↔eo, es↔ca, es↔pt, fr→ca, …). The installed modes are read from ``apertium -l`` at
  start; 2- and 3-letter mode codes are mapped to BCP-47 primary subtags; a pair with no direct mode
  is pivoted through a third language (ca→en via es) and the caption says so. Each line is one
  ``apertium`` run, at most ``max_concurrency`` at a time: apertium's null-flush mode (``-z``) does
  not flush through ``lt-proc -b`` in the packaged lttoolbox 3.7, so one long-lived process per mode
  cannot answer line by line (see docs/meetings.md).
* :class:`LLMTranslator`: any OpenAI-compatible chat endpoint (BYOK), any pair.
* :class:`DeepLTranslator`: DeepL's v2 ``/translate`` API (``DeepL-Auth-Key`` header, JSON body).

Listeners choose a language with the participant attribute ``auralink.language`` (a BCP-47 tag such
as ``es`` or ``pt-BR``); :func:`listener_languages` collects the languages present.
"""

from __future__ import annotations

__all__ = [
    "LANGUAGE_ATTRIBUTE",
    "STT_PROVIDER",
    "ApertiumTranslator",
    "Caption",
    "CaptionTranslator",
    "DeepLTranslator",
    "LLMTranslator",
    "Translator",
    "listener_languages",
    "primary",
]

import asyncio
import itertools
import logging
import os
import re
import shutil
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

import httpx

from auralink.core.errors import ConfigError, MissingCredential, ProviderError, ProviderTimeout
from auralink.core.tasks import TaskSet

logger = logging.getLogger("auralink.agents")

LANGUAGE_ATTRIBUTE = "auralink.language"
"""Participant attribute holding the language a listener wants captions in (BCP-47)."""

# ISO 639-2/3 codes used in apertium mode names -> BCP-47 primary subtags
_ISO3 = {
    "eng": "en", "spa": "es", "cat": "ca", "glg": "gl", "epo": "eo", "por": "pt", "fra": "fr", "ita": "it",
    "deu": "de", "oci": "oc", "arg": "an", "eus": "eu", "ron": "ro", "nld": "nl", "afr": "af", "swe": "sv",
    "dan": "da", "nob": "nb", "nno": "nn", "isl": "is", "rus": "ru", "ukr": "uk", "bel": "be", "pol": "pl",
}  # fmt: skip


def primary(tag: str) -> str:
    """The BCP-47 primary language subtag, lower case: ``pt-BR`` → ``pt``, ``eng`` → ``en``."""
    head = tag.strip().replace("_", "-").split("-")[0].lower()
    return _ISO3.get(head, head)


def listener_languages(
    attributes: Mapping[str, Mapping[str, str]], *, attribute: str = LANGUAGE_ATTRIBUTE
) -> set[str]:
    """The languages listeners asked for: ``{identity: participant attributes}`` → primary subtags."""
    return {primary(a[attribute]) for a in attributes.values() if a.get(attribute, "").strip()}


class Translator(ABC):
    """Translates one line of text between two languages (BCP-47 tags)."""

    name: str = "translator"

    @abstractmethod
    async def translate(self, text: str, *, source: str, target: str) -> str:
        """``text`` in ``target``; raises ProviderError when it cannot."""

    def supports(self, source: str, target: str) -> bool:
        """Whether this provider can translate ``source`` → ``target`` (default: any pair)."""
        return True

    def route(self, source: str, target: str) -> list[str]:
        """The languages a translation passes through, ends included (``["ca", "es", "en"]``)."""
        return [primary(source), primary(target)]

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release processes and connections; the default has none."""


# ------------------------------------------------------------------------------------------ apertium


def parse_modes(listing: str) -> dict[tuple[str, str], str]:
    """``apertium -l`` output → ``{(source, target): mode}`` for plain pair modes (variants such as
    ``eng-cat_valencia`` or ``en-eo-bytecode`` are left out)."""
    pairs: dict[tuple[str, str], str] = {}
    for raw in listing.split():
        parts = raw.split("-")
        if len(parts) != 2 or not all(p.isalpha() and 2 <= len(p) <= 3 for p in parts):
            continue
        pairs.setdefault((primary(parts[0]), primary(parts[1])), raw)
    return pairs


_SPECIAL = frozenset("\\[]^$/@<>{}")


def escape(text: str) -> str:
    """Plain text as apertium's stream format: its reserved characters backslash-escaped (what
    ``apertium-destxt`` does), whitespace collapsed, NULs removed."""
    return "".join("\\" + c if c in _SPECIAL else c for c in " ".join(text.replace("\0", " ").split()))


def unescape(text: str) -> str:
    return " ".join(re.sub(r"\\(.)", r"\1", text).split())


class _ModeProcess:
    """One long-lived ``-z`` (null-flush) pipeline for one mode, answering one line at a time.

    The pipeline is the mode file as rewritten by ``apertium-wblank-mode -z``, run under ``stdbuf
    -o0``: lt-proc's bilingual step does not flush on NUL by itself in lttoolbox 3.7.
    """

    def __init__(self, *, mode: str, script: str, timeout_s: float) -> None:
        self.mode = mode
        self._script = script
        self._timeout_s = timeout_s
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def _ensure(self) -> asyncio.subprocess.Process:
        if self._proc is None or self._proc.returncode is not None:
            env = {**os.environ, "LC_ALL": "C.UTF-8"}
            self._proc = await asyncio.create_subprocess_exec(
                "stdbuf", "-o0", "bash", "-c", self._script, "apertium", "-n", "",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                env=env,
            )  # fmt: skip
        return self._proc

    async def translate(self, text: str) -> str:
        async with self._lock:
            proc = await self._ensure()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(escape(text).encode() + b"\n\0")
                await proc.stdin.drain()
                out = await asyncio.wait_for(proc.stdout.readuntil(b"\0"), self._timeout_s)
            except TimeoutError as e:
                await self.aclose()
                raise ProviderTimeout(f"apertium {self.mode} took over {self._timeout_s:.0f} s") from e
            except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError) as e:
                await self.aclose()
                raise ProviderError(
                    f"apertium {self.mode} stopped: {type(e).__name__}", retryable=True
                ) from e
            except BaseException:
                await self.aclose()  # cancelled mid-line: the stream is out of step, start afresh
                raise
        return unescape(out[:-1].decode(errors="replace"))

    async def aclose(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 2.0)
        except TimeoutError:
            proc.kill()
            await proc.wait()


class ApertiumTranslator(Translator):
    """Offline rule-based translation by the installed ``apertium`` modes (build with :meth:`start`).

    ``streaming=True`` (the default when ``stdbuf`` and ``apertium-wblank-mode`` exist) keeps one
    null-flush pipeline per mode, started on first use; otherwise each line is one ``apertium -u``
    run, at most ``max_concurrency`` at a time.
    """

    name = "apertium"

    def __init__(
        self,
        *,
        modes: Mapping[tuple[str, str], str],
        executable: str = "apertium",
        datadir: str = "/usr/share/apertium",
        streaming: bool = True,
        max_concurrency: int = 2,
        timeout_s: float = 10.0,
        pivots: Iterable[str] = ("en", "es", "ca"),
    ) -> None:
        self.modes = dict(modes)
        self.executable = executable
        self.datadir = datadir
        self.streaming = (
            streaming
            and shutil.which("stdbuf") is not None
            and shutil.which("apertium-wblank-mode") is not None
        )
        self.timeout_s = timeout_s
        self._pivots = tuple(pivots)
        self._slots = asyncio.Semaphore(max(1, max_concurrency))
        self._streams: dict[str, _ModeProcess] = {}

    @classmethod
    async def start(
        cls,
        *,
        executable: str = "apertium",
        streaming: bool = True,
        max_concurrency: int = 2,
        timeout_s: float = 10.0,
    ) -> ApertiumTranslator:
        """Reads the installed modes from ``apertium -l``; a clear ConfigError when it is missing."""
        path = shutil.which(executable)
        if path is None:
            raise ConfigError(
                f"{executable!r} is not installed: install the Debian packages apertium and its language "
                "pairs (scripts/setup.sh), or choose another translation provider"
            )
        proc = await asyncio.create_subprocess_exec(
            path, "-l", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        out, _ = await proc.communicate()
        modes = parse_modes(out.decode())
        logger.info("apertium: %s translation modes installed", len(modes))
        return cls(
            modes=modes,
            executable=path,
            streaming=streaming,
            max_concurrency=max_concurrency,
            timeout_s=timeout_s,
        )

    def pairs(self) -> set[tuple[str, str]]:
        return set(self.modes)

    def route(self, source: str, target: str) -> list[str]:
        s, t = primary(source), primary(target)
        if s == t or (s, t) in self.modes:
            return [s, t]
        for pivot in (*self._pivots, *sorted({b for _, b in self.modes})):
            if (s, pivot) in self.modes and (pivot, t) in self.modes:
                return [s, pivot, t]
        return []

    def supports(self, source: str, target: str) -> bool:
        return bool(self.route(source, target))

    async def translate(self, text: str, *, source: str, target: str) -> str:
        hops = self.route(source, target)
        if not hops:
            raise ProviderError(f"apertium has no mode for {primary(source)}→{primary(target)} (nor a pivot)")
        out = " ".join(text.split())
        for a, b in itertools.pairwise(hops):
            if a != b and out:
                mode = self.modes[(a, b)]
                out = (
                    await (await self._stream_for(mode)).translate(out)
                    if self.streaming
                    else await self._run(mode, out)
                )
        return out

    async def warm(self, source: str, target: str) -> None:
        """Starts the pipelines a pair needs (the first line otherwise pays ~0.2 s per mode)."""
        await self.translate("Hello.", source=source, target=target)

    async def _stream_for(self, mode: str) -> _ModeProcess:
        if mode not in self._streams:
            proc = await asyncio.create_subprocess_exec(
                "apertium-wblank-mode", "-z", f"{self.datadir}/modes/{mode}.mode",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            script, err = await proc.communicate()
            if proc.returncode != 0:
                raise ProviderError(
                    f"apertium mode {mode} cannot be read: {err.decode(errors='replace')[:200]}"
                )
            self._streams.setdefault(
                mode, _ModeProcess(mode=mode, script=script.decode(), timeout_s=self.timeout_s)
            )
        return self._streams[mode]

    async def _run(self, mode: str, text: str) -> str:
        async with self._slots:
            proc = await asyncio.create_subprocess_exec(
                self.executable,
                "-u",
                mode,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                out, err = await asyncio.wait_for(proc.communicate(text.encode() + b"\n"), self.timeout_s)
            except TimeoutError as e:
                raise ProviderTimeout(f"apertium {mode} took over {self.timeout_s:.0f} s") from e
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        if proc.returncode != 0:
            raise ProviderError(
                f"apertium {mode} exited {proc.returncode}: {err.decode(errors='replace')[:200]}"
            )
        return " ".join(out.decode(errors="replace").split())

    async def aclose(self) -> None:
        streams, self._streams = list(self._streams.values()), {}
        for stream in streams:
            await stream.aclose()


# ----------------------------------------------------------------------------------------- LLM, DeepL

_LANGUAGE_NAMES = {
    "en": "English", "es": "Spanish", "ca": "Catalan", "gl": "Galician", "eo": "Esperanto", "pt": "Portuguese",
    "fr": "French", "de": "German", "it": "Italian", "nl": "Dutch", "pl": "Polish", "ru": "Russian",
    "uk": "Ukrainian", "ja": "Japanese", "zh": "Chinese", "ko": "Korean", "ar": "Arabic", "tr": "Turkish",
    "sv": "Swedish", "da": "Danish", "fi": "Finnish", "nb": "Norwegian", "cs": "Czech", "el": "Greek",
    "hu": "Hungarian", "ro": "Romanian", "hi": "Hindi", "id": "Indonesian",
}  # fmt: skip


def _language_name(tag: str) -> str:
    return f"{_LANGUAGE_NAMES.get(primary(tag), tag)} ({tag})"


class LLMTranslator(Translator):
    """Translation by any OpenAI-compatible chat model (BYOK)."""

    name = "llm"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.model = model
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s, transport=transport
        )

    async def translate(self, text: str, *, source: str, target: str) -> str:
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {
                    "role": "system",
                    "content": f"Translate the user's message from {_language_name(source)} to "
                    f"{_language_name(target)}. It is one line of live meeting captions. Answer with "
                    "the translation only.",
                },
                {"role": "user", "content": text},
            ],
        }
        try:
            r = await self._http.post("/chat/completions", json=body)
        except httpx.TimeoutException as e:
            raise ProviderTimeout(f"translation by {self.model!r} timed out") from e
        except httpx.TransportError as e:
            raise ProviderError(f"translation by {self.model!r}: {type(e).__name__}", retryable=True) from e
        if r.status_code != 200:
            raise ProviderError(
                f"translation by {self.model!r} failed: HTTP {r.status_code}",
                retryable=r.status_code >= 500 or r.status_code == 429,
            )
        try:
            return str(r.json()["choices"][0]["message"]["content"]).strip()
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise ProviderError(f"translation by {self.model!r}: unexpected response") from e

    async def aclose(self) -> None:
        await self._http.aclose()


# DeepL's documented source languages; targets add regional variants (EN-GB/EN-US, PT-PT/PT-BR, ZH-HANS/HANT)
DEEPL_LANGUAGES = frozenset(
    "ar bg cs da de el en es et fi fr he hu id it ja ko lt lv nb nl pl pt ro ru sk sl sv th tr uk vi zh".split()  # noqa: SIM905
)
_DEEPL_TARGET_DEFAULT = {"en": "EN-US", "pt": "PT-PT", "zh": "ZH-HANS"}


def deepl_target(tag: str) -> str:
    """DeepL's target_lang for a BCP-47 tag: ``en`` → ``EN-US``, ``pt-BR`` → ``PT-BR``, ``de`` → ``DE``."""
    parts = tag.strip().replace("_", "-").split("-")
    lang = primary(parts[0])
    if lang in _DEEPL_TARGET_DEFAULT:
        if len(parts) > 1 and lang in ("en", "pt"):
            return f"{lang}-{parts[1]}".upper()
        return _DEEPL_TARGET_DEFAULT[lang]
    return lang.upper()


class DeepLTranslator(Translator):
    """DeepL's v2 ``/translate`` API. Keys ending in ``:fx`` (free plan) use api-free.deepl.com."""

    name = "deepl"

    def __init__(
        self,
        *,
        api_key_env: str = "DEEPL_API_KEY",
        base_url: str | None = None,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        key = os.environ.get(api_key_env, "").strip()
        if not key:
            raise MissingCredential(api_key_env, what="DeepL translation")
        url = base_url or ("https://api-free.deepl.com" if key.endswith(":fx") else "https://api.deepl.com")
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"DeepL-Auth-Key {key}"},
            timeout=timeout_s,
            transport=transport,
        )

    def supports(self, source: str, target: str) -> bool:
        return primary(source) in DEEPL_LANGUAGES and primary(target) in DEEPL_LANGUAGES

    async def translate(self, text: str, *, source: str, target: str) -> str:
        body = {"text": [text], "source_lang": primary(source).upper(), "target_lang": deepl_target(target)}
        try:
            r = await self._http.post("/v2/translate", json=body)
        except httpx.TimeoutException as e:
            raise ProviderTimeout("DeepL translation timed out") from e
        except httpx.TransportError as e:
            raise ProviderError(f"DeepL unreachable: {type(e).__name__}", retryable=True) from e
        if r.status_code != 200:
            hint = {403: " (check DEEPL_API_KEY)", 456: " (quota exceeded)", 429: " (too many requests)"}
            raise ProviderError(
                f"DeepL translation failed: HTTP {r.status_code}{hint.get(r.status_code, '')}",
                retryable=r.status_code in (429, 500, 502, 503, 504, 529),
            )
        try:
            return str(r.json()["translations"][0]["text"])
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise ProviderError("DeepL translation: unexpected response") from e

    async def aclose(self) -> None:
        await self._http.aclose()


# ------------------------------------------------------------------------------------------ captions


@dataclass(frozen=True, slots=True)
class Caption:
    """One caption: the original line (``original=True``) or its translation into ``language``."""

    line_id: str
    speaker: str
    language: str
    text: str
    original: bool
    source_language: str
    provider: str | None = None
    via: tuple[str, ...] = ()  # pivot languages, e.g. ("es",) for ca→en through Spanish


Emit = Callable[[Caption], Awaitable[None]]

STT_PROVIDER = "whisper"
"""The provider named on a rendering the speech recogniser made itself (Whisper's speech translation)."""


class CaptionTranslator:
    """Emits each final line at once, then its translations into every listener language as they
    arrive: each (text, source, target) translated once (LRU cache, shared in flight), at most
    ``max_concurrency`` at a time, each bounded by ``timeout_s``. Translation runs in tasks this
    object owns, so a slow provider never delays the original caption nor the next line; close it
    with :meth:`aclose` (pending translations are cancelled) or wait with :meth:`drain`.

    A line may come with ``known`` renderings (Whisper's English of a speaker of another language):
    each is emitted as that language's caption without a provider call (provider ``whisper``), and
    a language the provider cannot reach from the line's own is translated from a known rendering
    instead (its caption says ``via`` that language)."""

    def __init__(
        self,
        translator: Translator,
        *,
        max_concurrency: int = 4,
        cache_size: int = 1024,
        timeout_s: float = 8.0,
    ) -> None:
        self.translator = translator
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(max(1, max_concurrency))
        self._cache: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._cache_size = cache_size
        self._inflight: dict[tuple[str, str, str], asyncio.Future[str]] = {}
        self._tasks = TaskSet()
        self._unsupported: set[tuple[str, str]] = set()
        self.translations = 0  # provider calls made
        self.cache_hits = 0
        self.failures = 0

    async def publish(
        self,
        *,
        line_id: str,
        speaker: str,
        text: str,
        source: str,
        languages: Iterable[str],
        emit: Emit,
        known: Mapping[str, str] | None = None,
    ) -> None:
        """Emits the original caption now, then each ``known`` rendering a listener wants, and
        schedules one translation per other language."""
        src = primary(source)
        renderings = {
            primary(k): v.strip() for k, v in (known or {}).items() if v.strip() and primary(k) != src
        }
        await emit(Caption(line_id, speaker, src, text, True, src))
        for lang in sorted({primary(x) for x in languages} - {src}):
            if lang in renderings:
                await emit(Caption(line_id, speaker, lang, renderings[lang], False, src, STT_PROVIDER))
                continue
            origin, from_text = src, text
            if not self.translator.supports(src, lang):
                pivot = next((k for k in sorted(renderings) if self.translator.supports(k, lang)), None)
                if pivot is None:
                    if (src, lang) not in self._unsupported:
                        self._unsupported.add((src, lang))
                        logger.warning(
                            "captions: %s cannot translate %s→%s; skipped", self.translator.name, src, lang
                        )
                    continue
                origin, from_text = pivot, renderings[pivot]
            self._tasks.spawn(
                self._one(
                    line_id=line_id,
                    speaker=speaker,
                    text=from_text,
                    src=origin,
                    lang=lang,
                    line_src=src,
                    emit=emit,
                )
            )

    async def _one(
        self, *, line_id: str, speaker: str, text: str, src: str, lang: str, emit: Emit, line_src: str = ""
    ) -> None:
        """``text`` (in ``src``) into ``lang``; ``line_src`` is the line's own language when ``text``
        is a known rendering of it (the caption then says it came via ``src``)."""
        line_src = line_src or src
        try:
            translated = await asyncio.wait_for(self.translate(text, source=src, target=lang), self.timeout_s)
        except (ProviderError, TimeoutError) as e:
            self.failures += 1
            logger.warning(
                "captions: %s %s→%s failed (%s)", self.translator.name, src, lang, type(e).__name__
            )
            return
        via = tuple(self.translator.route(src, lang)[1:-1])
        if src != line_src:
            via = (src, *via)
        await emit(Caption(line_id, speaker, lang, translated, False, line_src, self.translator.name, via))

    async def translate(self, text: str, *, source: str, target: str) -> str:
        """One translation through the cache; concurrent requests for the same line share one call."""
        key = (primary(source), primary(target), " ".join(text.split()))
        if key in self._cache:
            self.cache_hits += 1
            self._cache.move_to_end(key)
            return self._cache[key]
        if key in self._inflight:
            self.cache_hits += 1
            return await asyncio.shield(self._inflight[key])
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            async with self._slots:
                self.translations += 1
                result = await self.translator.translate(key[2], source=key[0], target=key[1])
        except BaseException as e:
            if not future.done():
                future.set_exception(
                    e if isinstance(e, Exception) else ProviderError("translation cancelled")
                )
                future.exception()  # retrieved: waiters get it from shield
            raise
        finally:
            self._inflight.pop(key, None)
        future.set_result(result)
        self._cache[key] = result
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return result

    async def drain(self) -> None:
        """Waits until every scheduled translation was emitted or dropped."""
        await self._tasks.drain()

    async def aclose(self) -> None:
        await self._tasks.aclose()
        await self.translator.aclose()
