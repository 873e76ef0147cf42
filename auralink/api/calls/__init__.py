"""Call records: one per room session, from LiveKit's webhooks and the agents worker's reports.

- :mod:`.lifecycle`: calls made on first sight, participants in and out, calls ended (webhooks);
- :mod:`.ingest`: the worker's token and its reports (transcript lines, latency, usage, errors);
- :mod:`.search`: the filtered, paged list, latency percentiles, usage totals.

The routes (``routes/livekit_webhooks.py``, ``routes/ingest.py``, ``routes/calls.py``) stay thin
and commit; everything here only adds to the caller's session. docs/api-calls.md has the story.
"""

from .ingest import INGEST_GRANT, WORKER_IDENTITY, IngestOutcome, apply_batch, verify_worker_token
from .lifecycle import CallOrigin, apply_room_event, end_call, ensure_call
from .search import CallFilter, counts, latency_summary, list_calls, percentile, usage_totals

__all__ = [
    "INGEST_GRANT",
    "WORKER_IDENTITY",
    "CallFilter",
    "CallOrigin",
    "IngestOutcome",
    "apply_batch",
    "apply_room_event",
    "counts",
    "end_call",
    "ensure_call",
    "latency_summary",
    "list_calls",
    "percentile",
    "usage_totals",
    "verify_worker_token",
]
