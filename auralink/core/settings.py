"""Typed settings for every AuraLink process, read from the environment and ``.env``.

Environment variables win over ``.env``. LiveKit's own variable names (``LIVEKIT_URL``,
``LIVEKIT_API_KEY``, ``LIVEKIT_API_SECRET``) are used as they are, so a worker pointed at
LiveKit Cloud needs nothing AuraLink-specific; everything else is ``AURALINK_*``.
Nothing is built at import time: call :func:`get_settings`.
"""

from __future__ import annotations

__all__ = ["Settings", "get_settings"]

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDERS = {"changeme", "secret", "devkey", "replace-me"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AURALINK_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # -- where things live
    data_dir: Path = Field(default=Path(".auralink"), description="run folders, logs, dev keys")
    agents_file: Path = Field(default=Path("agents.yaml"), description="the agent catalogue")
    default_agent: str = Field(default="assistant", description="agent the dev page talks to")

    # -- LiveKit (self-hosted or Cloud)
    livekit_url: str = Field(
        default="ws://127.0.0.1:7880",
        validation_alias=AliasChoices("LIVEKIT_URL", "AURALINK_LIVEKIT_URL"),
    )
    livekit_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("LIVEKIT_API_KEY", "AURALINK_LIVEKIT_API_KEY")
    )
    livekit_api_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("LIVEKIT_API_SECRET", "AURALINK_LIVEKIT_API_SECRET"),
    )
    livekit_port: int = 7880
    livekit_rtc_tcp_port: int = 7881
    livekit_udp_port_start: int = 50000
    livekit_udp_port_end: int = 50100
    redis_port: int = 6379

    # -- the embedded model server (OpenAI-compatible HTTP)
    models_host: str = "127.0.0.1"
    models_port: int = 8811
    models_url: str | None = Field(
        default=None, description="base URL of the model server; derived from host/port if unset"
    )
    models_threads: int = Field(default=2, ge=1, description="CPU threads per local model")
    models_stt: str = Field(
        default="whisper-tiny.en,whisper-base",
        description="comma-separated speech-to-text models the model server loads (each costs memory)",
    )
    piper_port: int = Field(default=8812, description="port of the piper TTS subprocess")

    # -- the API / dev page
    api_host: str = "127.0.0.1"
    api_port: int = 8800
    database_url: str = Field(
        default="",
        description="SQLAlchemy async URL of the API's database; sqlite+aiosqlite:///<data_dir>/auralink.db if unset",
    )
    allow_signup: bool = Field(
        default=True, description="anyone may create an organisation with POST /v1/organisations"
    )
    webhook_retry_base_s: float = Field(
        default=5.0,
        gt=0,
        description="first webhook retry delay; later ones grow (x6, x24, x120, x720...) with jitter",
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=50, description="webhook delivery attempts before a delivery is failed"
    )
    webhook_allow_private_networks: bool = Field(
        default=False,
        description="let webhook URLs reach loopback, private and link-local addresses (internal "
        "receivers on a self-hosted server); cloud metadata addresses stay refused",
    )
    redis_url: str | None = Field(
        default=None,
        description="redis:// URL shared by API instances (rate limits, readiness); in-process if unset",
    )
    rate_limit_enabled: bool = Field(default=True, description="refuse callers over their rate with 429")
    rate_limit_per_minute: int = Field(
        default=600, ge=1, description="free plan: requests per minute per API key (pro x5, enterprise x20)"
    )
    rate_limit_burst: int = Field(
        default=300, ge=1, description="free plan: requests an idle API key may send at once"
    )
    rate_limit_ip_per_minute: int = Field(
        default=600, ge=1, description="requests per minute per client address without an API key"
    )
    rate_limit_ip_burst: int = Field(
        default=300, ge=1, description="requests an idle client address may send at once"
    )
    plans_file: Path | None = Field(
        default=None,
        description="YAML/JSON overriding plan quotas, per-plan key rates and unit prices (docs/api-usage.md)",
    )
    link_cache_ttl_s: float = Field(
        default=2.0,
        ge=0,
        description="seconds a share link's join-page info is cached per API process (0 = off)",
    )

    # -- the agent worker
    worker_agent_name: str = Field(
        default="auralink", description="agent_name the worker registers; dispatches name it"
    )
    worker_port: int = Field(default=8081, description="worker health/debug HTTP port (0 = any)")
    worker_idle_processes: int = Field(default=1, ge=0, description="prewarmed job processes")
    worker_ready_file: Path | None = Field(
        default=None, description="written once the worker has registered with LiveKit (readiness probe)"
    )
    api_url: str | None = Field(
        default=None,
        description="the API the worker reports calls to and the CLI manages; http://<api_host>:<api_port> if unset",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="the API key (al_…) the `auralink` CLI's management commands use",
    )

    log_level: str = "INFO"

    # -- single sign-on for dashboard members (OpenID Connect; docs/sso.md)
    oidc_issuer: str | None = Field(
        default=None, description="issuer URL of the OpenID Connect provider; SSO is off while unset"
    )
    oidc_client_id: str | None = Field(default=None, description="client id AuraLink has at the provider")
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="client secret; unset for a public client (PKCE alone)"
    )
    oidc_client_auth: str = Field(
        default="client_secret_basic",
        pattern=r"^client_secret_(basic|post)$",
        description="how the secret goes to the token endpoint: client_secret_basic or client_secret_post",
    )
    oidc_redirect_url: str | None = Field(
        default=None,
        description="callback URL registered at the provider; <request origin>/v1/auth/oidc/callback if unset",
    )
    oidc_scopes: str = Field(default="openid email profile", description="scopes asked for, space-separated")
    oidc_auto_join_org: str | None = Field(
        default=None,
        description="organisation id that a verified e-mail with no member joins on first SSO login; unset: invite only",
    )
    oidc_default_role: str = Field(
        default="viewer",
        pattern=r"^(admin|developer|viewer)$",
        description="role of members who join through AURALINK_OIDC_AUTO_JOIN_ORG",
    )

    # -- long-term memory (docs/memory.md)
    memory_backend: Literal["embedded", "http"] = Field(
        default="embedded",
        description="embedded: Chroma PersistentClient in AURALINK_MEMORY_PATH; http: a Chroma server at AURALINK_CHROMA_URL",
    )
    memory_path: Path | None = Field(
        default=None, description="folder of the embedded memory store; <data_dir>/memory if unset"
    )
    chroma_url: str = Field(
        default="http://127.0.0.1:8000", description="the Chroma server when AURALINK_MEMORY_BACKEND=http"
    )
    chroma_port: int = Field(
        default=8813,
        description="port of the Chroma server `auralink up` runs (its processes then use the http backend)",
    )
    memory_embeddings_url: str | None = Field(
        default=None,
        description="OpenAI-compatible base URL (…/v1) for memory embeddings; the model server if unset",
    )
    memory_embeddings_model: str = Field(
        default="all-minilm-l6-v2", description="embedding model memory asks for"
    )
    memory_embeddings_api_key_env: str | None = Field(
        default=None, description="name of the env var holding the embeddings endpoint's API key (BYOK)"
    )
    memory_extraction_model: str | None = Field(
        default=None,
        description="chat model that extracts facts after a call; the rule-based extractor if unset",
    )
    memory_extraction_url: str | None = Field(
        default=None,
        description="OpenAI-compatible base URL (…/v1) of that chat model; the model server if unset",
    )
    memory_extraction_api_key_env: str | None = Field(
        default=None, description="name of the env var holding the extraction endpoint's API key (BYOK)"
    )
    memory_retention_sweep_s: float = Field(
        default=6 * 3600,
        ge=0,
        description="seconds between the API's sweeps deleting memories past their agent's "
        "memory.retention_days, for subjects who never come back (0: no sweep)",
    )

    # --- telephony (auralink/telephony; docs/telephony.md)
    telephony_enabled: bool = Field(
        default=False, description="`auralink up` also runs livekit-sip for SIP trunk calls"
    )
    sip_port: int = Field(default=5060, description="livekit-sip's SIP port (UDP and TCP)")
    sip_rtp_port_start: int = Field(default=10000, description="first UDP port livekit-sip uses for RTP")
    sip_rtp_port_end: int = Field(default=10100, description="last UDP port livekit-sip uses for RTP")
    public_url: str | None = Field(
        default=None,
        description="the API's address as Twilio reaches it (https://…); TwiML stream URLs and "
        "webhook signatures use it. Unset: the request's own URL",
    )
    twilio_auth_token_env: str = Field(
        default="TWILIO_AUTH_TOKEN",
        description="name of the env var holding the Twilio auth token that signs Twilio's webhooks",
    )
    twilio_replay_window_s: float = Field(
        default=300.0,
        gt=0,
        description="seconds a Twilio webhook (CallSid + signature) is remembered per API process; "
        "the same one again within them is refused as a replay",
    )

    # --- meetings (docs/api-meetings.md)
    meeting_file_max_bytes: int = Field(
        default=25 * 1024 * 1024,
        gt=0,
        le=1 << 30,
        description="largest file a meeting participant may share (bytes); larger uploads answer 413",
    )
    meeting_file_types: str = Field(
        default="pdf,png,jpeg,gif,webp,txt,md,csv,docx,xlsx,pptx,zip",
        pattern=r"^[a-z0-9]+(,[a-z0-9]+)*$",
        description="comma-separated file types meetings accept (pdf, png, jpeg, gif, webp, txt, md, "
        "csv, json, docx, xlsx, pptx, zip); the declared type and the bytes must both match one",
    )

    @field_validator("livekit_api_secret")
    @classmethod
    def _no_placeholder_secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and v.get_secret_value().strip().lower() in _PLACEHOLDERS:
            raise ValueError("LIVEKIT_API_SECRET is a placeholder; run `auralink keys` for a real one")
        return v

    @model_validator(mode="after")
    def _derive_database_url(self) -> Settings:
        if not self.database_url.strip():
            self.database_url = f"sqlite+aiosqlite:///{(self.data_dir / 'auralink.db').absolute()}"
        return self

    @property
    def models_base_url(self) -> str:
        """The model server's OpenAI base URL (ends in ``/v1``)."""
        if self.models_url:
            return self.models_url.rstrip("/")
        return f"http://{self.models_host}:{self.models_port}/v1"

    @property
    def memory_dir(self) -> Path:
        """Where the embedded memory store keeps its files."""
        return self.memory_path or self.data_dir / "memory"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def dev_keys_file(self) -> Path:
        return self.data_dir / "livekit-dev-keys.env"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
