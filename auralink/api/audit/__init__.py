"""The audit log: an append-only, hash-chained record of every change and every sensitive read.

- :mod:`.context`: who an entry names (actor, organisation, client address), bound to a session;
- :mod:`.tables`: which tables are audited, and which columns are too noisy to be;
- :mod:`.recorder`: session events that turn row changes into entries in the same transaction;
- :mod:`.chain`: appending in order (no gaps, no forks) and verifying the chain;
- :mod:`.reads`: :func:`audit_read` for sensitive reads, :func:`record` for other events.

Entries hold ids, action names and changed field names, never personal data, so a GDPR erase
leaves them in place (see docs/api-audit-gdpr.md).
"""

from .chain import GENESIS, ChainReport, PendingEntry, append_entries, entry_hash, verify_chain
from .context import SYSTEM, AuditContext, bind, context_of
from .reads import audit_read, record
from .recorder import install_recorder
from .tables import AUDITED, SAFE_VALUES, AuditedTable

__all__ = [
    "AUDITED",
    "GENESIS",
    "SAFE_VALUES",
    "SYSTEM",
    "AuditContext",
    "AuditedTable",
    "ChainReport",
    "PendingEntry",
    "append_entries",
    "audit_read",
    "bind",
    "context_of",
    "entry_hash",
    "install_recorder",
    "record",
    "verify_chain",
]
