"""The agents.yaml v1 schema: one ``AgentSpec`` per agent, and the ``Catalogue`` that holds them.

Provider blocks are discriminated by ``provider``. ``local`` means the embedded model server;
every other provider is bring-your-own-key and names the environment variable holding its key
(``api_key_env``), which :meth:`AgentSpec.missing_credentials` checks.
Loading and line-numbered errors live in :mod:`auralink.core.catalogue`.
"""

from __future__ import annotations

__all__ = [
    "MCP_PRESET_TRANSPORTS",
    "AgentSpec",
    "Catalogue",
    "InterruptionSpec",
    "LLMSpec",
    "MCPPreset",
    "MCPServerSpec",
    "MeetingSpec",
    "MemorySpec",
    "PhoneSpec",
    "STTSpec",
    "TTSSpec",
    "ToolSpec",
    "TranslationSpec",
    "TurnSpec",
]

import os
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from .moderation import ModerationPolicy

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_IMPORT_REF = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"
_LANGUAGE_TAG = r"^[a-z]{2,3}(-[A-Z]{2})?$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BYOKSpec(_Strict):
    api_key_env: str = Field(description="environment variable holding the provider's key")

    def key(self) -> str | None:
        return os.environ.get(self.api_key_env) or None


# ---------------------------------------------------------------- speech to text
class LocalSTT(_Strict):
    provider: Literal["local"] = "local"
    model: str = Field(default="whisper-tiny.en", description="model id served by the model server")


class DeepgramSTT(BYOKSpec):
    provider: Literal["deepgram"]
    model: str = "nova-3"
    api_key_env: str = "DEEPGRAM_API_KEY"


class OpenAISTT(BYOKSpec):
    provider: Literal["openai"]
    model: str = "gpt-4o-mini-transcribe"
    base_url: str | None = Field(default=None, description="any OpenAI-compatible endpoint")
    api_key_env: str = "OPENAI_API_KEY"


class PluginSpec(BYOKSpec):
    """Any livekit-plugins-* class, e.g. ``livekit.plugins.cartesia:TTS``."""

    provider: Literal["plugin"]
    plugin: str = Field(pattern=_IMPORT_REF, description="module:Class of a livekit plugin")
    options: dict[str, Any] = Field(default_factory=dict, description="keyword arguments")
    api_key_env: str = ""

    def key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None


STTSpec = Annotated[LocalSTT | DeepgramSTT | OpenAISTT | PluginSpec, Field(discriminator="provider")]


# ---------------------------------------------------------------- language model
class _LLMCommon(_Strict):
    temperature: float = Field(default=0.4, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1, le=32768)


class LocalLLM(_LLMCommon):
    provider: Literal["local"] = "local"
    model: str = "smollm2-135m-instruct"
    max_tokens: int | None = Field(default=96, ge=1, le=4096)


class OpenAILLM(_LLMCommon, BYOKSpec):
    provider: Literal["openai"]
    model: str = "gpt-4o-mini"
    base_url: str | None = Field(default=None, description="OpenAI, Ollama, vLLM, Groq, ...")
    api_key_env: str = "OPENAI_API_KEY"


LLMSpec = Annotated[LocalLLM | OpenAILLM | PluginSpec, Field(discriminator="provider")]


# ---------------------------------------------------------------- text to speech
class LocalTTS(_Strict):
    provider: Literal["local"] = "local"
    voice: str = Field(default="en_US-joe-medium", description="a local Piper voice")
    speed: float = Field(default=1.0, gt=0.25, le=4.0)


class ElevenLabsTTS(BYOKSpec):
    provider: Literal["elevenlabs"]
    voice: str = Field(default="EXAVITQu4vr4xnSDxMaL", description="ElevenLabs voice id")
    model: str = "eleven_flash_v2_5"
    api_key_env: str = "ELEVENLABS_API_KEY"


class DeepgramTTS(BYOKSpec):
    provider: Literal["deepgram"]
    model: str = "aura-2-thalia-en"
    api_key_env: str = "DEEPGRAM_API_KEY"


class OpenAITTS(BYOKSpec):
    provider: Literal["openai"]
    model: str = "gpt-4o-mini-tts"
    voice: str = "alloy"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"


TTSSpec = Annotated[
    LocalTTS | ElevenLabsTTS | DeepgramTTS | OpenAITTS | PluginSpec, Field(discriminator="provider")
]


# ---------------------------------------------------------------- conversation behaviour
class TurnSpec(_Strict):
    """How the agent decides the user has finished speaking. All modes run locally."""

    detection: Literal["vad", "stt", "eot"] = Field(
        default="vad",
        description="vad: silence after speech; stt: the STT's end of speech; "
        "eot: LiveKit's on-device audio end-of-turn model (v1-mini)",
    )
    vad_silence_s: float = Field(
        default=0.4, ge=0.1, le=3.0, description="silence that ends a stretch of speech (Silero VAD)"
    )
    min_endpointing_delay: float = Field(default=0.35, ge=0.0, le=5.0)
    max_endpointing_delay: float = Field(default=3.0, ge=0.1, le=15.0)
    preemptive_generation: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> TurnSpec:
        if self.max_endpointing_delay < self.min_endpointing_delay:
            raise ValueError("max_endpointing_delay must be >= min_endpointing_delay")
        return self


class InterruptionSpec(_Strict):
    enabled: bool = True
    min_duration: float = Field(default=0.5, ge=0.0, le=5.0, description="seconds of speech")
    min_words: int = Field(default=0, ge=0, le=20)
    resume_false_interruption: bool = True


class ToolSpec(_Strict):
    """A function the agent may call: a built-in by name, or ``module:function`` in Python."""

    builtin: Literal["current_time", "end_call"] | None = None
    python: str | None = Field(default=None, pattern=_IMPORT_REF)

    @model_validator(mode="after")
    def _exactly_one(self) -> ToolSpec:
        if (self.builtin is None) == (self.python is None):
            raise ValueError("give exactly one of `builtin` or `python`")
        return self


class MemorySpec(_Strict):
    """Long-term memory (behaviour arrives with the memory issue; the shape is fixed now)."""

    enabled: bool = False
    scope: Literal["subject", "organisation", "agent"] = "subject"
    top_k: int = Field(default=5, ge=1, le=50)
    retention_days: int | None = Field(default=365, ge=1)


_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SIP_URI = re.compile(r"^sips?:[^\s@]+@[^\s@]+$")


class PhoneSpec(_Strict):
    """What the agent does on phone calls (SIP trunk or Twilio Media Streams); docs/telephony.md."""

    dtmf: bool = Field(default=True, description="keypad digits the caller presses become user turns")
    dtmf_timeout_s: float = Field(
        default=3.0, gt=0.2, le=30.0, description="silence after the last digit that ends the entry"
    )
    dtmf_terminator: Literal["#", "*", ""] = Field(
        default="#", description="the key that ends an entry at once ('' = only the timeout)"
    )
    transfer_to: str | None = Field(
        default=None, description="where transfer_call sends the caller: +E.164 or sip:user@host"
    )
    transfer_trunk: str | None = Field(
        default=None,
        description="LiveKit outbound trunk id for warm transfers (default: the only outbound trunk)",
    )
    voicemail: Literal["hang_up", "leave_message", "ignore"] = Field(
        default="hang_up", description="what an outbound call does when an answering machine picks up"
    )
    voicemail_message: str | None = Field(default=None, description="said after the tone (leave_message)")

    @field_validator("transfer_to")
    @classmethod
    def _destination(cls, v: str | None) -> str | None:
        if v is not None and not (_E164.match(v) or _SIP_URI.match(v)):
            raise ValueError("use +E.164 (e.g. +14155550100) or a SIP URI (sip:desk@pbx.example.com)")
        return v

    @model_validator(mode="after")
    def _message(self) -> PhoneSpec:
        if self.voicemail == "leave_message" and not (self.voicemail_message or "").strip():
            raise ValueError("voicemail: leave_message needs `voicemail_message` (what to say)")
        return self


class TranslationSpec(_Strict):
    """Who translates captions (docs/meetings.md): offline apertium, or a BYOK LLM or DeepL."""

    provider: Literal["apertium", "llm", "deepl"] = Field(
        default="apertium", description="apertium (offline, Debian packages), llm or deepl"
    )
    base_url: str | None = Field(
        default=None, pattern=r"^https?://", description="llm: an OpenAI-compatible endpoint"
    )
    model: str | None = Field(default=None, min_length=1, description="llm: the model name")
    api_key_env: str | None = Field(
        default=None,
        description="env var with the key (llm: '' for a keyless endpoint; deepl: DEEPL_API_KEY)",
    )

    @model_validator(mode="after")
    def _provider_fields(self) -> TranslationSpec:
        if self.provider == "llm" and not (self.base_url and self.model):
            raise ValueError("provider: llm needs `base_url` and `model`")
        if self.provider == "apertium" and (self.base_url or self.model or self.api_key_env):
            raise ValueError("provider: apertium runs offline; remove base_url, model and api_key_env")
        return self

    def key_env(self) -> str:
        """The env var holding this provider's key; '' when it needs none."""
        if self.provider == "deepl":
            return self.api_key_env or "DEEPL_API_KEY"
        if self.provider == "llm":
            return self.api_key_env if self.api_key_env is not None else "OPENAI_API_KEY"
        return ""


class MeetingSpec(_Strict):
    """What the agent does in a group call (docs/meetings.md): per-speaker captions and when it speaks."""

    transcribe: bool = Field(
        default=False, description="transcribe every human separately, caption and record each line"
    )
    captions: bool = Field(default=True, description="stream the lines to the room on lk.transcription")
    reply: Literal["always", "when_addressed"] = Field(
        default="always",
        description="with more than one human in the room, answer every turn or only when addressed",
    )
    aliases: list[str] = Field(
        default_factory=list, description="other names or wake phrases the agent answers to"
    )
    noise_suppression: bool = Field(
        default=False, description="denoise each speaker with DeepFilterNet3 before transcribing"
    )
    translate: bool = Field(
        default=False, description="translate each final caption into every listener's auralink.language"
    )
    translation: TranslationSpec = Field(default_factory=TranslationSpec)
    notes: bool = Field(default=False, description="write meeting notes at room end (summary, action items)")
    notes_llm: bool = Field(
        default=False, description="write the notes with the agent's own BYOK llm (else offline)"
    )
    chat: bool = Field(default=True, description="read lk.chat; answer in chat when addressed in text")
    files: bool = Field(default=False, description="keep files shared in the room (byte streams)")
    multilingual: bool = Field(
        default=False,
        description="transcribe a participant whose auralink.language is not the agent's language in "
        "that language (multilingual Whisper) and render the line in English by speech translation",
    )
    multilingual_model: str = Field(
        default="whisper-base",
        min_length=1,
        description="the multilingual Whisper: whisper-base on the local model server, whisper-1 at OpenAI",
    )
    speak_translations: list[Annotated[str, Field(pattern=_LANGUAGE_TAG)]] = Field(
        default_factory=list,
        description="languages the translations are also spoken in, one audio track each "
        "(auralink-translation-<lang>)",
    )
    translation_voices: dict[str, TTSSpec] = Field(
        default_factory=dict,
        description="the voice for each spoken translation language; the agent's own tts speaks the "
        "agent's language",
    )

    @model_validator(mode="after")
    def _ears(self) -> MeetingSpec:
        if self.reply == "when_addressed" and not self.transcribe:
            # the transcriber is what hears every participant, not only the first one
            raise ValueError("reply: when_addressed needs `transcribe: true`")
        if (self.translate or self.notes) and not self.transcribe:
            raise ValueError(
                "translate and notes work on the transcribed lines: they need `transcribe: true`"
            )
        if (self.multilingual or self.speak_translations) and not self.translate:
            raise ValueError("multilingual and speak_translations need `translate: true`")
        unknown = sorted(set(self.translation_voices) - set(self.speak_translations))
        if unknown:
            raise ValueError(f"translation_voices for {unknown}: list them in `speak_translations` too")
        return self


MCPPreset = Literal["memory", "sequential-thinking", "filesystem", "deepwiki", "supabase"]

# the transport each preset speaks; the commands and URLs behind them live in auralink.mcp.presets
MCP_PRESET_TRANSPORTS: dict[str, Literal["stdio", "http"]] = {
    "memory": "stdio",
    "sequential-thinking": "stdio",
    "filesystem": "stdio",
    "deepwiki": "http",
    "supabase": "http",
}
_PRESET_TOKEN_ENV = {"supabase": "SUPABASE_ACCESS_TOKEN"}


class MCPServerSpec(_Strict):
    """An MCP server whose tools the agent may use: a preset, a stdio command or a remote URL.

    A ``preset`` fills in the command (the npm servers installed by setup) or the URL; with
    ``filesystem``, ``args`` are the folders it exposes; remote presets may override ``url``.
    """

    name: str = Field(pattern=_NAME.pattern)
    preset: MCPPreset | None = Field(
        default=None, description="memory, sequential-thinking, filesystem, deepwiki or supabase"
    )
    transport: Literal["stdio", "http", "sse"] = "stdio"
    command: str | None = None
    args: list[str] = Field(default_factory=list, validate_default=True)
    env: dict[str, str] = Field(default_factory=dict)
    url: str | None = None
    headers_env: dict[str, str] = Field(
        default_factory=dict, description="header name -> env var holding its value"
    )
    bearer_token_env: str | None = Field(
        default=None,
        description="env var holding a token sent as `Authorization: Bearer <token>` "
        "(supabase preset: SUPABASE_ACCESS_TOKEN)",
    )
    allow: list[str] | None = None
    deny: list[str] = Field(default_factory=list)
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="before")
    @classmethod
    def _preset_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(preset := data.get("preset"), str):
            data = dict(data)
            if preset in MCP_PRESET_TRANSPORTS:
                data.setdefault("transport", MCP_PRESET_TRANSPORTS[preset])
            if preset in _PRESET_TOKEN_ENV:
                data.setdefault("bearer_token_env", _PRESET_TOKEN_ENV[preset])
        return data

    @field_validator("transport")
    @classmethod
    def _preset_transport(cls, v: str, info: ValidationInfo) -> str:
        preset = info.data.get("preset")
        if preset is not None and v != MCP_PRESET_TRANSPORTS[preset]:
            raise ValueError(f"the {preset} preset speaks {MCP_PRESET_TRANSPORTS[preset]}, not {v}")
        return v

    @field_validator("command")
    @classmethod
    def _preset_command(cls, v: str | None, info: ValidationInfo) -> str | None:
        preset = info.data.get("preset")
        if preset is not None and v and MCP_PRESET_TRANSPORTS[preset] == "stdio":
            raise ValueError(f"the {preset} preset starts its own server; remove `command`")
        return v

    @field_validator("args")
    @classmethod
    def _preset_args(cls, v: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("preset") == "filesystem" and not v:
            raise ValueError("the filesystem preset needs the folder(s) to expose, e.g. args: [./docs]")
        return v

    @model_validator(mode="after")
    def _transport_fields(self) -> MCPServerSpec:
        if self.preset is not None:
            return self
        if self.transport == "stdio" and not self.command:
            raise ValueError("a stdio MCP server needs `command` (or a `preset`)")
        if self.transport != "stdio" and not self.url:
            raise ValueError(f"a {self.transport} MCP server needs `url` (or a `preset`)")
        return self

    def credential_envs(self) -> list[tuple[str, str]]:
        """(field path inside this block, env var) for every secret this server's requests carry."""
        envs = [(f"headers_env.{header}", env) for header, env in self.headers_env.items()]
        if self.bearer_token_env:
            envs.append(("bearer_token_env", self.bearer_token_env))
        return envs


# ---------------------------------------------------------------- the agent
class AgentSpec(_Strict):
    name: str = Field(description="lowercase id: letters, digits, - and _")
    description: str = ""
    instructions: str = Field(min_length=1)
    greeting: str | None = Field(default=None, description="said when the agent joins; none = silent")
    language: str = Field(default="en", pattern=_LANGUAGE_TAG)
    stt: STTSpec = Field(default_factory=LocalSTT)
    llm: LLMSpec = Field(default_factory=LocalLLM)
    tts: TTSSpec = Field(default_factory=LocalTTS)
    turn: TurnSpec = Field(default_factory=TurnSpec)
    interruptions: InterruptionSpec = Field(default_factory=InterruptionSpec)
    tools: list[ToolSpec] = Field(default_factory=list)
    memory: MemorySpec = Field(default_factory=MemorySpec)
    mcp: list[MCPServerSpec] = Field(default_factory=list)
    phone: PhoneSpec = Field(default_factory=PhoneSpec)
    meeting: MeetingSpec = Field(default_factory=MeetingSpec)
    moderation: ModerationPolicy | None = Field(
        default=None,
        description="the agent's moderation rules (docs/moderation.md); merged under the organisation's",
    )
    agent_class: str | None = Field(
        default=None,
        alias="class",
        pattern=_IMPORT_REF,
        description="module:Class of a livekit Agent subclass to run instead of the plain agent",
    )
    langgraph: str | None = Field(
        default=None,
        pattern=_IMPORT_REF,
        description="module:factory returning a LangGraph graph used as the agent's brain",
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("use lowercase letters, digits, '-' and '_', starting with a letter")
        return v

    @model_validator(mode="after")
    def _one_brain(self) -> AgentSpec:
        if self.langgraph and self.llm.provider != "local":
            # a graph is the brain; an LLM block beside it would be silently ignored
            raise ValueError("give either `langgraph` or a non-local `llm`, not both")
        return self

    @model_validator(mode="after")
    def _languages(self) -> AgentSpec:
        meeting = self.meeting
        if meeting.multilingual and self.stt.provider not in ("local", "openai"):
            raise ValueError(
                "meeting.multilingual needs an stt with Whisper's speech translation: provider local or openai"
            )
        own = self.language.split("-")[0]
        for lang in meeting.speak_translations:
            if lang not in meeting.translation_voices and lang.split("-")[0] != own:
                raise ValueError(
                    f"meeting.speak_translations: no voice for {lang!r}; add "
                    f"meeting.translation_voices.{lang} (the agent's own tts speaks {own!r} only)"
                )
        return self

    def translation_voice(self, language: str) -> TTSSpec:
        """The voice that speaks translations into ``language`` (the spec checked there is one)."""
        return self.meeting.translation_voices.get(language, self.tts)

    def missing_credentials(self) -> list[tuple[str, str]]:
        """(field path, env var) for every BYOK key this agent needs that is not set."""
        missing: list[tuple[str, str]] = []
        for part in ("stt", "llm", "tts"):
            block = getattr(self, part)
            if isinstance(block, BYOKSpec) and block.api_key_env and block.key() is None:
                missing.append((f"{part}.api_key_env", block.api_key_env))
        if self.meeting.translate and (env := self.meeting.translation.key_env()) and not os.environ.get(env):
            missing.append(("meeting.translation.api_key_env", env))
        for lang, voice in self.meeting.translation_voices.items():
            if isinstance(voice, BYOKSpec) and voice.api_key_env and voice.key() is None:
                missing.append((f"meeting.translation_voices.{lang}.api_key_env", voice.api_key_env))
        for i, server in enumerate(self.mcp):
            for field, env in server.credential_envs():
                if not os.environ.get(env):
                    missing.append((f"mcp[{i}].{field}", env))
        return missing


class Catalogue(_Strict):
    version: Literal[1] = 1
    agents: list[AgentSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Catalogue:
        seen: set[str] = set()
        for agent in self.agents:
            if agent.name in seen:
                raise ValueError(f"agent name {agent.name!r} is used twice")
            seen.add(agent.name)
        return self

    def get(self, name: str) -> AgentSpec | None:
        return next((a for a in self.agents if a.name == name), None)

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.agents]
