"""The leaf package: settings, the agents.yaml schema, the error tree, logging.

It imports nothing from livekit, fastapi or chromadb, so every other package can depend on it.
"""

from .catalogue import check_credentials, load_catalogue, parse_catalogue
from .errors import (
    AuraLinkError,
    ConfigError,
    MissingCredential,
    ModelError,
    ModelIntegrityError,
    ModelMissing,
    PortInUse,
    ProviderError,
    ProviderTimeout,
    ServiceError,
    ServiceFailed,
    SpecError,
    SpecIssue,
    UnknownAgent,
)
from .logs import configure_logging
from .settings import Settings, get_settings
from .spec import AgentSpec, Catalogue

__all__ = [
    "AgentSpec",
    "AuraLinkError",
    "Catalogue",
    "ConfigError",
    "MissingCredential",
    "ModelError",
    "ModelIntegrityError",
    "ModelMissing",
    "PortInUse",
    "ProviderError",
    "ProviderTimeout",
    "ServiceError",
    "ServiceFailed",
    "Settings",
    "SpecError",
    "SpecIssue",
    "UnknownAgent",
    "check_credentials",
    "configure_logging",
    "get_settings",
    "load_catalogue",
    "parse_catalogue",
]
