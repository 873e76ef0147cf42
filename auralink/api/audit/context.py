"""Who an audit entry names: the actor, organisation and client address bound to a session.

The context lives in the SQLAlchemy session's ``info`` (not a process-wide contextvar): the
request's session is made per request (:func:`auralink.api.deps.get_session` binds the client
address, :func:`auralink.api.deps.get_principal` the caller), so a context can never leak into
another request, a background task or a test that shares the event loop. A session nobody bound
(the webhook dispatcher, the CLI, a worker report) acts as ``system``.
"""

from __future__ import annotations

__all__ = ["SYSTEM", "AuditContext", "bind", "context_of"]

from dataclasses import dataclass, replace
from typing import Any

_KEY = "auralink.audit.context"


@dataclass(frozen=True, slots=True)
class AuditContext:
    """``actor`` is ``member:<id>``, ``key:<id>``, ``anonymous`` or ``system``."""

    actor: str
    org_id: str | None = None
    ip: str | None = None

    def acting_as(self, *, actor: str, org_id: str | None) -> AuditContext:
        return replace(self, actor=actor, org_id=org_id)


SYSTEM = AuditContext(actor="system")


def _info(session: Any) -> dict[str, Any]:
    # an AsyncSession keeps its info on the sync session it wraps; both expose ``.info``
    info = session.info
    assert isinstance(info, dict)
    return info


def bind(session: Any, context: AuditContext) -> None:
    """Entries written through ``session`` (a Session or an AsyncSession) name ``context``."""
    _info(session)[_KEY] = context


def context_of(session: Any) -> AuditContext:
    context = _info(session).get(_KEY)
    return context if isinstance(context, AuditContext) else SYSTEM
