"""The export archive: one zip of JSON files plus a manifest that counts what each holds."""

from __future__ import annotations

__all__ = ["build_archive", "count_records"]

import io
import json
import zipfile
from datetime import datetime
from typing import Any


def _default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def count_records(data: Any) -> int:
    """Records in one file: items of a list, non-empty values of a mapping, 0 for null."""
    if data is None:
        return 0
    if isinstance(data, list):
        return len(data)
    if isinstance(data, dict):
        return sum(count_records(v) if isinstance(v, list | dict) else int(bool(v)) for v in data.values())
    return int(bool(data))


def build_archive(manifest: dict[str, Any], files: dict[str, Any]) -> bytes:
    """``manifest.json`` and ``<name>.json`` per file, deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, default=_default))
        for name, data in files.items():
            archive.writestr(f"{name}.json", json.dumps(data, indent=2, default=_default, ensure_ascii=False))
    return buffer.getvalue()
