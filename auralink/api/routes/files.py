"""Files shared in meetings: the worker uploads them, members list, download and delete them.

``POST /v1/ingest/calls/{room_sid}/files`` takes a multipart upload from the agents worker (its
worker token, as for the other reports): ``file`` plus ``sender`` (the participant identity),
``name`` and ``mime``. The declared type and the bytes must agree (:mod:`auralink.api.files`);
over ``AURALINK_MEETING_FILE_MAX_BYTES`` answers 413. Listing needs ``calls:read``; a download
needs ``files:read`` and is audited (``files.read``); deleting needs ``files:delete``.
"""

from __future__ import annotations

__all__ = ["router"]

import asyncio
import hashlib
import logging
import os
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Response, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy import select

from auralink.api.agent_store import call_toggles
from auralink.api.audit import audit_read, record
from auralink.api.auth import Principal
from auralink.api.db import Call, CallFile, is_id, new_id, utcnow
from auralink.api.deps import SessionDep, SettingsDep, require, writes
from auralink.api.errors import NotFound, PermissionDenied, TooLarge
from auralink.api.files import allowed_types, check_file, file_path, safe_name
from auralink.api.permissions import Action
from auralink.api.schemas import ErrorBody
from auralink.api.schemas.meetings import CallFilePublic, FileCreated

from .calls import _own
from .common import AUTH, MISSING
from .ingest import WorkerRoom

logger = logging.getLogger("auralink.api")

router = APIRouter(tags=["files"])

_CHUNK = 1 << 16
_Identity = Annotated[str, Form(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]*$")]


def _public(f: CallFile) -> CallFilePublic:
    return CallFilePublic(
        id=f.id,
        call_id=f.call_id,
        sender=f.sender,
        name=f.name,
        mime=f.mime,
        size=f.size,
        sha256=f.sha256,
        created_at=f.created_at,
    )


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(data)
    os.replace(partial, path)


@router.post(
    "/v1/ingest/calls/{room_sid}/files",
    status_code=201,
    responses={
        401: {"model": ErrorBody, "description": "not a worker token for this room"},
        403: {
            "model": ErrorBody,
            "description": "files are off for this organisation or agent (features.files)",
        },
        404: {"model": ErrorBody, "description": "no call of an organisation in this room yet"},
        413: {"model": ErrorBody, "description": "over AURALINK_MEETING_FILE_MAX_BYTES"},
        415: {"model": ErrorBody, "description": "a type not accepted, or bytes that are not that type"},
        422: {"model": ErrorBody, "description": "a form field is missing or malformed"},
    },
)
async def upload(
    room_sid: WorkerRoom,
    *,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="the file's bytes")],
    sender: _Identity,
    name: Annotated[str, Form(min_length=1, max_length=1000)],
    mime: Annotated[str, Form(min_length=1, max_length=127)],
) -> FileCreated:
    """A file a participant shared in the call of room ``room_sid`` (the worker reports it)."""
    call = await session.scalar(select(Call).where(Call.room_sid == room_sid))
    if call is None or call.org_id is None:
        raise NotFound("call in room", room_sid)
    if not (await call_toggles(session, org_id=call.org_id, agent=call.agent))["files"]:
        raise PermissionDenied(
            "files are off for this organisation or agent (features.files); nothing was kept"
        )
    limit = settings.meeting_file_max_bytes
    chunks: list[bytes] = []
    size = 0
    while chunk := await file.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the file is over {limit} bytes (AURALINK_MEETING_FILE_MAX_BYTES)")
        chunks.append(chunk)
    data = b"".join(chunks)
    kind = check_file(mime, data, allowed_types(settings))
    row = CallFile(
        id=new_id("fil"),
        org_id=call.org_id,
        call_id=call.id,
        sender=sender,
        name=safe_name(name),
        mime=kind.mime,
        size=size,
        sha256=hashlib.sha256(data).hexdigest(),
        created_at=utcnow(),
    )
    path = file_path(settings.data_dir, org_id=call.org_id, call_id=call.id, file_id=row.id)
    await asyncio.to_thread(_write, path, data)
    session.add(row)
    try:
        await session.commit()
    except BaseException:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    logger.info("call %s: file %s stored (%s, %d bytes)", call.id, row.id, kind.name, size)
    return FileCreated(id=row.id)


Reader = Annotated[Principal, Depends(require(Action.CALLS_READ))]


@router.get("/v1/calls/{call_id}/files", tags=["calls"], responses={**AUTH, **MISSING})
async def list_files(call_id: str, session: SessionDep, principal: Reader) -> list[CallFilePublic]:
    """The files shared in the call, oldest first (names and sizes; the bytes through download)."""
    call = await _own(session, principal, call_id)
    rows = await session.scalars(
        select(CallFile).where(CallFile.call_id == call.id).order_by(CallFile.created_at, CallFile.id)
    )
    return [_public(f) for f in rows]


async def _file(session: SessionDep, principal: Principal, call_id: str, file_id: str) -> CallFile:
    call = await _own(session, principal, call_id)
    row = await session.get(CallFile, file_id) if is_id(file_id, "fil") else None
    if row is None or row.call_id != call.id:
        raise NotFound("file", file_id)
    return row


@router.get(
    "/v1/calls/{call_id}/files/{file_id}",
    tags=["calls"],
    response_class=FileResponse,
    dependencies=[Depends(writes)],  # an audited read
    responses={
        **AUTH,
        **MISSING,
        200: {"content": {"application/octet-stream": {}}, "description": "the file, as an attachment"},
    },
)
async def download(
    call_id: str,
    file_id: str,
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require(Action.FILES_READ))],
) -> Response:
    """The file's bytes with its type, as an attachment (recorded in the audit log)."""
    row = await _file(session, principal, call_id, file_id)
    path = file_path(settings.data_dir, org_id=row.org_id, call_id=row.call_id, file_id=row.id)
    if not await asyncio.to_thread(path.is_file):
        raise NotFound("file", file_id)
    await audit_read(session, "files.read", row.id, detail={"call": row.call_id})
    return FileResponse(
        path,
        media_type=row.mime,
        filename=row.name,
        content_disposition_type="attachment",
        headers={"X-Content-Type-Options": "nosniff"},
    )


@router.delete(
    "/v1/calls/{call_id}/files/{file_id}", tags=["calls"], status_code=204, responses={**AUTH, **MISSING}
)
async def delete_file(
    call_id: str,
    file_id: str,
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require(Action.FILES_DELETE))],
) -> Response:
    """Delete the file and its bytes."""
    row = await _file(session, principal, call_id, file_id)
    path = file_path(settings.data_dir, org_id=row.org_id, call_id=row.call_id, file_id=row.id)
    await session.delete(row)
    await record(session, "files.deleted", row.id, detail={"call": row.call_id})
    await session.commit()
    await asyncio.to_thread(path.unlink, missing_ok=True)
    return Response(status_code=204)
