"""The one error tree of AuraLink.

Every failure the project raises on purpose is an ``AuraLinkError``; third-party failures are
wrapped at the boundary (``raise ProviderTimeout(...) from e``). HTTP status codes appear only
at the API edge, where exception handlers map these classes.

    AuraLinkError
    ├── ConfigError                  settings or catalogue are wrong; the message says how to fix it
    │   ├── SpecError                agents.yaml: file, line and field of each problem
    │   ├── UnknownAgent             a dispatch or command names an agent the catalogue lacks
    │   └── MissingCredential        a BYOK provider's key is not set; names the env var
    ├── ModelError                   an embedded model cannot be used
    │   ├── ModelMissing             the package carrying the model is not installed
    │   └── ModelIntegrityError      a model file's sha256 is not the pinned one
    ├── ProviderError                a model provider failed at run time (``retryable`` flag)
    │   └── ProviderTimeout
    └── ServiceError                 the local stack (``auralink up``) cannot run a service
        ├── PortInUse                the port a service needs is taken
        └── ServiceFailed            a service exited or never became healthy
"""

from __future__ import annotations

__all__ = [
    "AuraLinkError",
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
    "SpecError",
    "SpecIssue",
    "UnknownAgent",
]

from dataclasses import dataclass


class AuraLinkError(Exception):
    """Base of every error AuraLink raises on purpose."""


class ConfigError(AuraLinkError):
    """Settings or the agent catalogue are wrong; the message says what to change."""


@dataclass(frozen=True, slots=True)
class SpecIssue:
    """One problem in an agents.yaml file, located for a human."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class SpecError(ConfigError):
    """agents.yaml failed validation; ``issues`` lists every problem with file, line and field."""

    def __init__(self, issues: list[SpecIssue]) -> None:
        self.issues = issues
        lines = "\n".join(f"  {issue}" for issue in issues)
        super().__init__(f"{len(issues)} problem(s) in the agent catalogue:\n{lines}")


class UnknownAgent(ConfigError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        super().__init__(f"no agent named {name!r} in the catalogue (known: {', '.join(known) or 'none'})")


class MissingCredential(ConfigError):
    """A BYOK provider needs a key that is not set."""

    def __init__(self, env_var: str, *, what: str) -> None:
        self.env_var = env_var
        super().__init__(f"{what} needs the environment variable {env_var}, which is not set")


class ModelError(AuraLinkError):
    """An embedded model cannot be loaded."""


class ModelMissing(ModelError):
    def __init__(self, package: str, *, setting: str) -> None:
        self.package = package
        super().__init__(
            f"the embedded model package {package!r} is not installed "
            f"(run scripts/setup.sh, or point {setting} at another provider)"
        )


class ModelIntegrityError(ModelError):
    def __init__(self, path: str, *, expected: str, actual: str) -> None:
        super().__init__(f"{path}: sha256 {actual} does not match the pinned {expected}")


class ProviderError(AuraLinkError):
    """A model provider failed while serving a request."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        self.retryable = retryable
        super().__init__(message)


class ProviderTimeout(ProviderError):
    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class ServiceError(AuraLinkError):
    """The local stack cannot run one of its services."""


class PortInUse(ServiceError):
    def __init__(self, service: str, port: int, setting: str) -> None:
        self.port = port
        super().__init__(
            f"{service} needs port {port}, which another process is using; "
            f"stop that process or set {setting} to a free port"
        )


class ServiceFailed(ServiceError):
    def __init__(self, service: str, reason: str, *, log: str | None = None) -> None:
        self.service = service
        tail = f" (log: {log})" if log else ""
        super().__init__(f"{service} failed: {reason}{tail}")
