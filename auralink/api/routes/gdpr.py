"""GDPR: export everything stored about a subject as one archive, and erase it everywhere.

Both act only on the caller's organisation, and both are audited: an export as a sensitive
read (``gdpr.exported``), an erase as a change (``gdpr.erased``, with the counts, in the same
transaction as the erase). Neither entry carries the subject's identity or phone number.
"""

from __future__ import annotations

__all__ = ["router"]

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from auralink.api.audit import audit_read, record
from auralink.api.auth import Principal
from auralink.api.db import utcnow
from auralink.api.deps import SessionDep, SettingsDep, require
from auralink.api.gdpr import (
    ErasableRegistry,
    Subject,
    build_archive,
    erase_database,
    erase_stores,
    export_subject,
    normalise_phone,
)
from auralink.api.permissions import Action
from auralink.api.schemas import ErrorBody, GdprErased, GdprRequest, SubjectKind

from .common import AUTH, CLASH, TOO_LARGE

logger = logging.getLogger("auralink.api")

router = APIRouter(prefix="/v1/gdpr", tags=["gdpr"], responses=AUTH)

_RETAINED = (
    "The audit log keeps the ids of actions taken (never names, numbers or transcript text) and "
    "link analytics keep visitors only as salted hashes; neither is exported or erased. "
    "See docs/api-audit-gdpr.md."
)


def _stores(request: Request) -> ErasableRegistry:
    stores = getattr(request.app.state, "erasables", None)
    return stores if isinstance(stores, ErasableRegistry) else ErasableRegistry()


def _subject(body: GdprRequest, principal: Principal) -> Subject:
    kind, value = body.subject.kind, body.subject.value
    if kind is SubjectKind.PHONE:
        value = normalise_phone(value)
    return Subject(org_id=principal.org_id, kind=kind.value, value=value)


def _target(subject: Subject) -> str:
    # ids only: a member id names a member, an identity or phone number would be personal data
    return subject.value if subject.kind == "member" else ""


@router.post(
    "/export",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}}, "description": "a zip of JSON files and a manifest"},
        422: {"model": ErrorBody, "description": "the subject's value does not fit its kind"},
        **TOO_LARGE,
    },
)
async def export(
    body: GdprRequest,
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.GDPR_EXPORT))],
) -> Response:
    """Everything stored about the subject in your organisation, as ``application/zip``.

    ``manifest.json`` counts the records of every other file; after an erase every count is 0.
    A subject nothing is stored about gets an archive with empty files, not a 404.
    """
    subject = _subject(body, principal)
    files, counts = await export_subject(session, subject, _stores(request))
    total = sum(counts.values())
    manifest = {
        "subject": {"kind": subject.kind, "value": subject.value},
        "org_id": subject.org_id,
        "generated_at": utcnow(),
        "records": counts,
        "total": total,
        "retained": _RETAINED,
    }
    await audit_read(
        session, "gdpr.exported", _target(subject), detail={"kind": subject.kind, "records": total}
    )
    logger.info("GDPR export (%s, %d records) in %s", subject.kind, total, subject.org_id)
    return Response(
        build_archive(manifest, files),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="auralink-gdpr-{subject.kind}.zip"',
            "X-AuraLink-Records": str(total),
        },
    )


@router.post(
    "/erase",
    responses={
        422: {"model": ErrorBody, "description": "the subject's value does not fit its kind"},
        **CLASH,
        **TOO_LARGE,
    },
)
async def erase(
    body: GdprRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require(Action.GDPR_ERASE))],
) -> GdprErased:
    """Remove the subject from calls, transcripts, room events, members and every registered store.

    Answers how many records went, per place; erasing again removes nothing more. A member
    who is the last owner is refused (409), one who outranks you too (403).
    """
    subject = _subject(body, principal)
    counts = await erase_database(session, subject, by=principal.role, data_dir=settings.data_dir)
    counts |= await erase_stores(subject, _stores(request))
    total = sum(counts.values())
    await session.flush()  # the rows' own entries (member.deleted …) first, then the summary
    await record(session, "gdpr.erased", _target(subject), detail={"kind": subject.kind, "erased": counts})
    await session.commit()
    logger.info("GDPR erase (%s, %d records) in %s", subject.kind, total, subject.org_id)
    return GdprErased(kind=SubjectKind(subject.kind), erased=counts, total=total)
