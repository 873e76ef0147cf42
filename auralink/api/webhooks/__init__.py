"""Outbound webhooks: signed event payloads, the outbox, and the dispatcher that delivers it.

- :mod:`.events`: the payload models (discriminated by ``type``) and the filterable types;
- :mod:`.signing`: the ``AuraLink-Signature`` scheme and :func:`verify_signature` for receivers;
- :mod:`.outbox`: :func:`enqueue`, which writes deliveries in the caller's transaction;
- :mod:`.delivery`: :class:`WebhookDispatcher`, the lifespan task that sends and retries them.

The header scheme and retry schedule are documented in docs/webhooks.md.
"""

from .delivery import WebhookDispatcher, retry_delay
from .events import (
    EVENT_TYPES,
    CallEnded,
    CallStarted,
    EventType,
    LinkUsed,
    LinkUsedData,
    ModerationFlagged,
    SummaryReady,
    TranscriptFinal,
    UsageThreshold,
    WebhookEvent,
    WebhookEventBase,
    WebhookTest,
    WebhookTestData,
    parse_event,
)
from .outbox import enqueue, enqueue_to
from .signing import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    InvalidSignature,
    new_secret,
    signature_header,
    verify_signature,
)

__all__ = [
    "EVENT_ID_HEADER",
    "EVENT_TYPES",
    "EVENT_TYPE_HEADER",
    "SIGNATURE_HEADER",
    "CallEnded",
    "CallStarted",
    "EventType",
    "InvalidSignature",
    "LinkUsed",
    "LinkUsedData",
    "ModerationFlagged",
    "SummaryReady",
    "TranscriptFinal",
    "UsageThreshold",
    "WebhookDispatcher",
    "WebhookEvent",
    "WebhookEventBase",
    "WebhookTest",
    "WebhookTestData",
    "enqueue",
    "enqueue_to",
    "new_secret",
    "parse_event",
    "retry_delay",
    "signature_header",
    "verify_signature",
]
