"""Files shared in meetings: which types are accepted, what the bytes really are, where they live.

A file is accepted only when its declared MIME type is one of the configured types
(``AURALINK_MEETING_FILE_TYPES``) **and** its bytes are that type: magic numbers for PDF and
images, a ZIP container with the right part folder for Office files (``word/``, ``xl/``,
``ppt/``), UTF-8 without NUL or binary signatures for text. A mismatch is a spoofed type (415).
Bytes live on disk under ``<data_dir>/files/<org>/<call>/<id>``, written to a temporary name and
renamed, never in the database.
"""

from __future__ import annotations

__all__ = [
    "FILE_TYPES",
    "FileType",
    "UnsupportedFile",
    "allowed_types",
    "check_file",
    "file_path",
    "safe_name",
]

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from auralink.core import Settings

from .errors import UnsupportedMedia


class UnsupportedFile(UnsupportedMedia):
    """A file whose declared type is not accepted, or whose bytes are not what it declares (415)."""


@dataclass(frozen=True, slots=True)
class FileType:
    name: str
    mime: str
    aliases: tuple[str, ...] = ()
    text: bool = False
    zip_part: str | None = None  # OOXML: the folder the container must hold


FILE_TYPES: dict[str, FileType] = {
    t.name: t
    for t in (
        FileType("pdf", "application/pdf"),
        FileType("png", "image/png"),
        FileType("jpeg", "image/jpeg", ("image/jpg", "image/pjpeg")),
        FileType("gif", "image/gif"),
        FileType("webp", "image/webp"),
        FileType("txt", "text/plain", text=True),
        FileType("md", "text/markdown", ("text/x-markdown",), text=True),
        FileType("csv", "text/csv", ("application/csv",), text=True),
        FileType("json", "application/json", text=True),
        FileType(
            "docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            zip_part="word/",
        ),
        FileType("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", zip_part="xl/"),
        FileType(
            "pptx",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            zip_part="ppt/",
        ),
        FileType("zip", "application/zip", ("application/x-zip-compressed",)),
    )
}

_MAGIC: tuple[tuple[str, tuple[bytes, ...]], ...] = (
    ("pdf", (b"%PDF-",)),
    ("png", (b"\x89PNG\r\n\x1a\n",)),
    ("jpeg", (b"\xff\xd8\xff",)),
    ("gif", (b"GIF87a", b"GIF89a")),
    ("zip", (b"PK\x03\x04", b"PK\x05\x06")),
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def allowed_types(settings: Settings) -> list[FileType]:
    return [FILE_TYPES[n] for n in settings.meeting_file_types.split(",") if n in FILE_TYPES]


def _sniff(data: bytes) -> str | None:
    """What the bytes are: a name of :data:`FILE_TYPES` (``txt`` for any UTF-8 text), or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    for name, signatures in _MAGIC:
        if any(data.startswith(sig) for sig in signatures):
            return name
    if b"\x00" in data:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "txt"


def _zip_has(data: bytes, folder: str) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return False
    return "[Content_Types].xml" in names and any(n.startswith(folder) for n in names)


def check_file(declared_mime: str, data: bytes, allowed: list[FileType]) -> FileType:
    """The accepted type of an upload, or :class:`UnsupportedFile` naming what is wrong."""
    mime = declared_mime.split(";", maxsplit=1)[0].strip().lower()
    declared = next((t for t in allowed if mime == t.mime or mime in t.aliases), None)
    if declared is None:
        names = ", ".join(t.name for t in allowed)
        raise UnsupportedFile(
            f"files of type {mime or 'unknown'!r} are not accepted here (accepted: {names})"
        )
    actual = _sniff(data)
    if declared.text:
        ok = actual == "txt"
    elif declared.zip_part is not None:
        ok = actual == "zip" and _zip_has(data, declared.zip_part)
    else:
        ok = actual == declared.name
    if not ok:
        raise UnsupportedFile(f"the file's bytes are not {declared.name}, as its declared type {mime!r} says")
    return declared


def safe_name(name: str) -> str:
    """A display name without folders or control characters, at most 255 characters."""
    base = _CONTROL.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip().lstrip(".")
    return base[:255] or "file"


def file_path(data_dir: Path, *, org_id: str, call_id: str, file_id: str) -> Path:
    """Where a file's bytes live under ``data_dir``; every part is an id the API made (never user input)."""
    return data_dir / "files" / org_id / call_id / file_id
