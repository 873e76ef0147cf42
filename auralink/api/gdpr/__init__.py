"""GDPR: export everything stored about a subject as one archive, and erase it everywhere.

A subject (:class:`Subject`) is a participant identity, a phone number or a member, always
within one organisation. Where data lives:

- :mod:`.calls`: call participations, transcript lines, summaries, room events;
- :mod:`.meetings`: moderation decisions, files shared in meetings, meeting notes;
- :mod:`.members`: a member's record, logins, OIDC identities, what they created;
- :mod:`.erasable`: stores outside these tables (memory, recordings) register an
  :class:`Erasable` on ``app.state.erasables`` and are exported and erased with the rest;
- :mod:`.archive`: the zip; :mod:`.service`: the whole export and erase.

Link analytics keep visitors only as salted hashes of address and user agent, and the audit
log only ids; neither maps to a subject (see docs/api-audit-gdpr.md).
"""

from .archive import build_archive, count_records
from .erasable import Erasable, ErasableRegistry
from .service import erase_database, erase_stores, export_subject
from .subject import Subject, normalise_phone

__all__ = [
    "Erasable",
    "ErasableRegistry",
    "Subject",
    "build_archive",
    "count_records",
    "erase_database",
    "erase_stores",
    "export_subject",
    "normalise_phone",
]
